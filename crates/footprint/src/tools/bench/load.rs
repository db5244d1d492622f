//! The load: one task per keep-alive HTTP/1.1 connection, each sending requests back to back
//! until the deadline; latencies in an HDR histogram.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How hard and how long.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
}

/// How long each target is driven, as every bench takes it on the command line.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Timing {
    /// Measured seconds per target (after the warm-up).
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    #[arg(long, default_value_t = 2)]
    pub warmup_secs: u64,
}

impl Timing {
    /// The plan for `connections` connections (at least one, measured for a second at least).
    pub fn plan(&self, connections: usize) -> Plan {
        Plan {
            connections: connections.max(1),
            duration: Duration::from_secs(self.duration_secs.max(1)),
            warmup: Duration::from_secs(self.warmup_secs),
        }
    }
}

/// One request to send, and how many events it counts for.
pub struct Call {
    pub method: Method,
    pub path: String,
    pub body: Option<String>,
    pub units: u64,
}

/// Builds the `n`-th call of connection `connection`.
pub type CallMaker = Arc<dyn Fn(usize, u64) -> Call + Send + Sync>;

#[derive(Debug, Clone)]
pub struct LoadReport {
    pub requests: u64,
    /// Events (or other units) carried by successful requests.
    pub units: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Request latency in microseconds.
    pub latency_us: Histogram<u64>,
}

impl LoadReport {
    pub fn units_per_sec(&self) -> f64 {
        self.units as f64 / self.elapsed.as_secs_f64()
    }

    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, percentile: f64) -> f64 {
        self.latency_us.value_at_percentile(percentile) as f64 / 1000.0
    }
}

struct ConnectionReport {
    requests: u64,
    units: u64,
    errors: u64,
    latency_us: Histogram<u64>,
}

/// A keep-alive HTTP/1.1 connection to `authority` (`host:port`).
pub async fn open(authority: &str) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(authority).await.with_context(|| format!("cannot connect to {authority}"))?;
    stream.set_nodelay(true)?;
    let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(driver);
    Ok(sender)
}

/// `call` as a request to `authority` with `authorization`.
pub fn request(call: Call, authority: &str, authorization: &str) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut request = Request::builder()
        .method(call.method)
        .uri(&call.path)
        .header(HOST, authority)
        .header(AUTHORIZATION, authorization);
    if call.body.is_some() {
        request = request.header(CONTENT_TYPE, "application/json");
    }
    Ok(request.body(Full::new(Bytes::from(call.body.unwrap_or_default())))?)
}

async fn run_connection(
    authority: String,
    authorization: String,
    make: CallMaker,
    connection: usize,
    measure_from: Instant,
    deadline: Instant,
) -> anyhow::Result<ConnectionReport> {
    let mut sender = open(&authority).await?;
    let mut report = ConnectionReport {
        requests: 0,
        units: 0,
        errors: 0,
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    let mut n = 0u64;
    while Instant::now() < deadline {
        let call = make(connection, n);
        n += 1;
        let units = call.units;
        let request = request(call, &authority, &authorization)?;
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
        if status == StatusCode::OK || status == StatusCode::ACCEPTED {
            report.units += units;
        } else {
            report.errors += 1;
        }
        let micros = u64::try_from(finished.duration_since(started).as_micros()).unwrap_or(u64::MAX);
        report.latency_us.saturating_record(micros.max(1));
    }
    Ok(report)
}

/// Drives `base_url` (`http://host:port`) with the calls `make` builds, sending `authorization`
/// as the `Authorization` header.
pub async fn drive(base_url: &str, authorization: &str, plan: &Plan, make: CallMaker) -> anyhow::Result<LoadReport> {
    let authority =
        base_url.trim_end_matches('/').strip_prefix("http://").context("the URL must start with http://")?;
    let measure_from = Instant::now() + plan.warmup;
    let deadline = measure_from + plan.duration;
    let mut tasks = Vec::with_capacity(plan.connections);
    for connection in 0..plan.connections.max(1) {
        tasks.push(tokio::spawn(run_connection(
            authority.to_owned(),
            authorization.to_owned(),
            Arc::clone(&make),
            connection,
            measure_from,
            deadline,
        )));
    }
    let mut total = LoadReport {
        requests: 0,
        units: 0,
        errors: 0,
        elapsed: plan.duration,
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    for task in tasks {
        let report = task.await??;
        total.requests += report.requests;
        total.units += report.units;
        total.errors += report.errors;
        total.latency_us.add(&report.latency_us)?;
    }
    Ok(total)
}
