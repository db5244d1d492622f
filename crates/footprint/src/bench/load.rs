//! The load itself: one task per keep-alive HTTP/1.1 connection, each sending requests back
//! to back until the deadline, latencies in an HDR histogram.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Mode;

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub mode: Mode,
    pub batch_size: usize,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub users: u64,
}

#[derive(Debug, Clone)]
pub struct LoadReport {
    pub requests: u64,
    pub events: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Request latency in microseconds.
    pub latency_us: Histogram<u64>,
}

impl LoadReport {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, percentile: f64) -> f64 {
        self.latency_us.value_at_percentile(percentile) as f64 / 1000.0
    }
}

const EVENT_TYPES: [&str; 8] =
    ["page_view", "page_view", "page_view", "click", "search", "add_to_cart", "checkout", "purchase"];
const CATEGORIES: [&str; 6] = ["shoes", "books", "garden", "music", "kitchen", "toys"];

/// A realistic event of ~300 bytes; `n` makes its message id unique.
fn write_event(out: &mut String, connection: usize, n: u64, users: u64) {
    // A cheap, deterministic spread over users, skewed towards low ids as real traffic is.
    let mixed = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (connection as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let user = (mixed % users) * (mixed % users) / users;
    let event_type = EVENT_TYPES[(mixed >> 8) as usize % EVENT_TYPES.len()];
    let category = CATEGORIES[(mixed >> 16) as usize % CATEGORIES.len()];
    let _ = write!(
        out,
        r#"{{"user_id":"user-{user}","type":"{event_type}","message_id":"c{connection}-{n}","properties":{{"page":"/{category}/item-{item}","category":"{category}","element_id":"btn-{element}","price":{price}.99,"referrer":"https://www.example.org/search?q={category}"}},"context":{{"user_agent":"Mozilla/5.0 (X11; Linux x86_64) Footprint-Bench/1.0","ip":"198.51.100.{ip}"}}}}"#,
        item = (mixed >> 24) % 5000,
        element = (mixed >> 32) % 40,
        price = (mixed >> 40) % 200,
        ip = (mixed >> 48) % 250,
    );
}

fn request_body(options: &LoadOptions, connection: usize, counter: &mut u64) -> String {
    let mut body = String::with_capacity(350 * options.batch_size + 16);
    match options.mode {
        Mode::Single => {
            write_event(&mut body, connection, *counter, options.users);
            *counter += 1;
        }
        Mode::Batch => {
            body.push_str(r#"{"batch":["#);
            for index in 0..options.batch_size {
                if index > 0 {
                    body.push(',');
                }
                write_event(&mut body, connection, *counter, options.users);
                *counter += 1;
            }
            body.push_str("]}");
        }
    }
    body
}

struct ConnectionReport {
    requests: u64,
    errors: u64,
    latency_us: Histogram<u64>,
}

/// What one connection does: where it sends, and the window in which it measures.
struct ConnectionPlan {
    authority: String,
    path: &'static str,
    authorization: String,
    options: LoadOptions,
    connection: usize,
    measure_from: Instant,
    deadline: Instant,
}

async fn run_connection(plan: ConnectionPlan) -> anyhow::Result<ConnectionReport> {
    let ConnectionPlan { authority, path, authorization, options, connection, measure_from, deadline } = plan;
    let stream = TcpStream::connect(&authority).await.with_context(|| format!("cannot connect to {authority}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(driver);
    let mut report =
        ConnectionReport { requests: 0, errors: 0, latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)? };
    let mut counter = 0u64;
    while Instant::now() < deadline {
        let body = request_body(&options, connection, &mut counter);
        let request = Request::post(path)
            .header(HOST, &authority)
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, &authorization)
            .body(Full::new(Bytes::from(body)))?;
        let started = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        let finished = Instant::now();
        if started < measure_from {
            continue;
        }
        report.requests += 1;
        if status != StatusCode::OK && status != StatusCode::ACCEPTED {
            report.errors += 1;
        }
        let micros = u64::try_from(finished.duration_since(started).as_micros()).unwrap_or(u64::MAX);
        report.latency_us.saturating_record(micros.max(1));
    }
    Ok(report)
}

/// Drives `base_url` (`http://host:port`) with `options`; `api_key` is sent as a bearer token.
pub async fn drive(base_url: &str, api_key: &str, options: &LoadOptions) -> anyhow::Result<LoadReport> {
    let authority =
        base_url.trim_end_matches('/').strip_prefix("http://").context("the URL must start with http://")?;
    let path = match options.mode {
        Mode::Single => "/api/track",
        Mode::Batch => "/api/track/batch",
    };
    let measure_from = Instant::now() + options.warmup;
    let deadline = measure_from + options.duration;
    let mut tasks = Vec::with_capacity(options.connections);
    for connection in 0..options.connections {
        tasks.push(tokio::spawn(run_connection(ConnectionPlan {
            authority: authority.to_owned(),
            path,
            authorization: format!("Bearer {api_key}"),
            options: options.clone(),
            connection,
            measure_from,
            deadline,
        })));
    }
    let mut total = LoadReport {
        requests: 0,
        events: 0,
        errors: 0,
        elapsed: options.duration,
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    for task in tasks {
        let report = task.await??;
        total.requests += report.requests;
        total.errors += report.errors;
        total.latency_us.add(&report.latency_us)?;
    }
    total.events = (total.requests - total.errors) * options.batch_size as u64;
    Ok(total)
}
