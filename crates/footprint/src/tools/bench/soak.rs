//! `footprint bench ingest --soak-secs N`: a steady load at a fixed rate for a long time, with,
//! every 10 s, the requests answered, their latency, the errors, the process's resident memory
//! (the server and the load generator share the process) and the processing lag. Each
//! connection sends on its own schedule (rate ÷ connections), one request at a time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use hyper::StatusCode;

use super::load::{CallMaker, open, request};

/// How often a line is printed.
const EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub struct SoakPlan {
    pub connections: usize,
    /// Requests per second over all connections.
    pub requests_per_sec: f64,
    pub duration: Duration,
}

/// What the whole soak saw.
#[derive(Debug, Clone)]
pub struct SoakSummary {
    pub requests: u64,
    pub errors: u64,
    /// Resident memory at the first and last line, and the most seen, in MiB.
    pub rss_first_mib: f64,
    pub rss_last_mib: f64,
    pub rss_max_mib: f64,
    pub latency_us: Histogram<u64>,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
}

/// The resident memory of this process, in MiB (Linux; 0 elsewhere).
pub fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// What every connection of a soak shares.
struct Shared {
    authority: String,
    authorization: String,
    make: CallMaker,
    /// Between two requests of one connection.
    period: Duration,
    deadline: Instant,
    counters: Counters,
    /// Latencies since the last line, in microseconds.
    window: Mutex<Histogram<u64>>,
}

async fn connection_loop(shared: Arc<Shared>, connection: usize) -> anyhow::Result<()> {
    let Shared { authority, authorization, make, period, deadline, counters, window } = &*shared;
    let (period, deadline) = (*period, *deadline);
    let mut sender = open(authority).await?;
    // Connections start spread over one period, not all at once.
    let mut next = Instant::now() + period.mul_f64((connection as f64 * 0.618_034).fract());
    let mut n = 0u64;
    loop {
        tokio::time::sleep_until(next.into()).await;
        if Instant::now() >= deadline {
            return Ok(());
        }
        next += period;
        let call = make(connection, n);
        n += 1;
        let started = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request(call, authority, authorization)?).await?;
        let status = response.status();
        response.into_body().collect().await?;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
        counters.requests.fetch_add(1, Ordering::Relaxed);
        if status != StatusCode::OK && status != StatusCode::ACCEPTED {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut window) = window.lock() {
            window.saturating_record(micros);
        }
    }
}

/// Drives `base_url` at the plan's rate; `lag` says the processing lag when a line is printed.
pub async fn soak<F, Fut>(
    base_url: &str,
    authorization: &str,
    plan: SoakPlan,
    make: CallMaker,
    lag: F,
) -> anyhow::Result<SoakSummary>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<i64>>,
{
    let authority = base_url.trim_end_matches('/').strip_prefix("http://").unwrap_or(base_url).to_owned();
    let connections = plan.connections.max(1);
    let period = Duration::from_secs_f64(connections as f64 / plan.requests_per_sec.max(0.001));
    let started = Instant::now();
    let deadline = started + plan.duration;
    let shared = Arc::new(Shared {
        authority,
        authorization: authorization.to_owned(),
        make,
        period,
        deadline,
        counters: Counters::default(),
        window: Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?),
    });
    let mut tasks = Vec::new();
    for connection in 0..connections {
        tasks.push(tokio::spawn(connection_loop(Arc::clone(&shared), connection)));
    }
    let (counters, window) = (&shared.counters, &shared.window);
    let mut summary = SoakSummary {
        requests: 0,
        errors: 0,
        rss_first_mib: 0.0,
        rss_last_mib: 0.0,
        rss_max_mib: 0.0,
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    let mut line = 0u32;
    let mut previous = (0u64, 0u64);
    while Instant::now() < deadline {
        tokio::time::sleep(EVERY.min(deadline.saturating_duration_since(Instant::now()))).await;
        line += 1;
        let taken = match window.lock() {
            Ok(mut window) => {
                let taken = window.clone();
                window.reset();
                taken
            }
            Err(_) => anyhow::bail!("a connection panicked"),
        };
        summary.latency_us.add(&taken)?;
        let (requests, errors) = (counters.requests.load(Ordering::Relaxed), counters.errors.load(Ordering::Relaxed));
        let rss = rss_mib();
        if line == 1 {
            summary.rss_first_mib = rss;
        }
        summary.rss_last_mib = rss;
        summary.rss_max_mib = summary.rss_max_mib.max(rss);
        println!(
            "  {:>5} s  {:>8.0} requests/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  {:>4} errors  RSS {:>6.1} MiB  processing lag {}",
            started.elapsed().as_secs(),
            (requests - previous.0) as f64 / EVERY.as_secs_f64(),
            taken.value_at_percentile(50.0) as f64 / 1000.0,
            taken.value_at_percentile(99.0) as f64 / 1000.0,
            taken.max() as f64 / 1000.0,
            errors - previous.1,
            rss,
            lag().await.map_or_else(|| "?".to_owned(), |lag| format!("{lag} events")),
        );
        previous = (requests, errors);
    }
    for task in tasks {
        task.await??;
    }
    summary.requests = counters.requests.load(Ordering::Relaxed);
    summary.errors = counters.errors.load(Ordering::Relaxed);
    Ok(summary)
}
