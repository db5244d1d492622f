//! `footprint bench limits`: what counting a request against its tier costs — the in-process
//! limiter, and the Redis one (one Lua script per request) one call at a time and from many
//! tasks at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use crate::accounts::limits::{LocalLimiter, RateLimiter, RedisLimiter, WINDOW};
use crate::kernel::clock::{Clock, SystemClock};

#[derive(Debug, Clone, Args)]
pub struct LimitsBench {
    /// Checks timed with the in-process limiter.
    #[arg(long, default_value_t = 200_000)]
    pub local_checks: u32,
    /// Checks timed with the Redis limiter (one at a time, then as many again from `--tasks`).
    #[arg(long, default_value_t = 20_000)]
    pub redis_checks: u32,
    /// Concurrent callers for the second Redis run.
    #[arg(long, default_value_t = 16)]
    pub tasks: u32,
    /// Distinct callers the checks cycle through.
    #[arg(long, default_value_t = 10_000)]
    pub callers: u32,
    /// Redis to measure against (default: `REDIS_URL`, else redis://127.0.0.1:6379).
    #[arg(long)]
    pub redis_url: Option<String>,
}

/// The enterprise tier's limit: the callers stay under it, so every check is a full one.
const LIMIT: u32 = 50_000;

fn percentile(sorted: &[Duration], share: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * share).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(label: &str, mut times: Vec<Duration>, wall: Duration) {
    times.sort_unstable();
    let n = times.len();
    println!(
        "  {label:<34} {n:>8} checks  p50 {:>7.1} µs  p99 {:>7.1} µs  {:>9.0} checks/s",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6,
        n as f64 / wall.as_secs_f64().max(1e-9),
    );
}

async fn timed(limiter: &dyn RateLimiter, checks: u32, callers: u32, offset: u32) -> Vec<Duration> {
    let mut times = Vec::with_capacity(checks as usize);
    for n in 0..checks {
        let key = format!("bench:user:{}", (n + offset) % callers.max(1));
        let started = Instant::now();
        let decision = limiter.check(&key, LIMIT, WINDOW, SystemClock.now_us()).await;
        times.push(started.elapsed());
        std::hint::black_box(decision);
    }
    times
}

pub async fn run(bench: LimitsBench) -> anyhow::Result<()> {
    println!("rate limiter, {LIMIT} requests per hour, {} callers", bench.callers);
    let local = LocalLimiter::default();
    let started = Instant::now();
    let times = timed(&local, bench.local_checks, bench.callers, 0).await;
    report("in-process (one caller at a time)", times, started.elapsed());

    let url = bench
        .redis_url
        .clone()
        .or_else(|| std::env::var("REDIS_URL").ok())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("fp-bench-{}:", ulid::Ulid::new());
    let redis = Arc::new(RedisLimiter::connect(&url, &prefix).await?);
    let started = Instant::now();
    let times = timed(redis.as_ref(), bench.redis_checks, bench.callers, 0).await;
    report("redis (one at a time)", times, started.elapsed());
    let per_task = bench.redis_checks / bench.tasks.max(1);
    let started = Instant::now();
    let mut handles = Vec::new();
    for task in 0..bench.tasks.max(1) {
        let redis = Arc::clone(&redis);
        let callers = bench.callers;
        handles.push(tokio::spawn(async move { timed(redis.as_ref(), per_task, callers, task * per_task).await }));
    }
    let mut times = Vec::new();
    for handle in handles {
        times.extend(handle.await?);
    }
    report(&format!("redis ({} tasks at once)", bench.tasks), times, started.elapsed());
    anyhow::ensure!(!redis.degraded(), "redis failed during the run: the figures above are not Redis's");
    Ok(())
}
