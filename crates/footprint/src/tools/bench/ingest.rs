//! `footprint bench ingest`: events per second into `POST /api/track` or `/api/track/batch`.

use std::fmt::Write as _;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use hyper::Method;

use super::load::{Call, CallMaker, LoadReport, Timing, drive};
use super::soak::{SoakPlan, soak};
use super::target::Target;
use super::{baseline, print_row};
use crate::app::config::Config;
use crate::kernel::clock::Clock as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// One event per `POST /api/track`.
    Single,
    /// `--batch-size` events per `POST /api/track/batch`.
    Batch,
}

#[derive(Debug, Clone, Args)]
pub struct IngestBench {
    #[arg(long, value_enum, default_value_t = Mode::Single)]
    pub mode: Mode,
    /// Events per request in batch mode.
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    #[command(flatten)]
    pub timing: Timing,
    /// Distinct users the generated events belong to.
    #[arg(long, default_value_t = 10_000)]
    pub users: u64,
    /// Also drive the trivial baseline handler first and print the ratio.
    #[arg(long)]
    pub baseline: bool,
    /// Drive an already running Footprint instead of starting one (needs --api-key).
    #[arg(long, requires = "api_key")]
    pub url: Option<String>,
    /// An ingest API key for --url.
    #[arg(long)]
    pub api_key: Option<String>,
    /// Start Footprint on this PostgreSQL database (in a fresh schema, dropped afterwards)
    /// instead of SQLite in a temporary directory.
    #[arg(long, conflicts_with = "url")]
    pub database_url: Option<String>,
    /// Also read while ingesting, over this many more connections: `/stats/usage`, seed 002's
    /// prediction, the profile and the next actions of frequent users in turn, with their
    /// latency and the processing lag (events acknowledged but not processed) every second.
    #[arg(long, default_value_t = 0, conflicts_with = "url")]
    pub reads: usize,
    /// Also measure, in the same run, what the storage engine allows without Footprint: the same
    /// rows appended in batches of the same size to a table without indexes (SQLite: one writer,
    /// WAL, synchronous=FULL; PostgreSQL: binary COPY over 8 connections).
    #[arg(long, conflicts_with = "url")]
    pub ceiling: bool,
    /// A soak instead of a peak: this many seconds at --rate events per second, with a line every
    /// 10 s (requests/s, latency, errors, resident memory, processing lag).
    #[arg(long, conflicts_with = "url", requires = "rate")]
    pub soak_secs: Option<u64>,
    /// Events per second the soak sends (e.g. 80 % of the measured peak).
    #[arg(long)]
    pub rate: Option<f64>,
}

/// The rows the ceiling writes: the generated events as the events table stores them.
fn ceiling_rows(state: &crate::app::state::AppState, users: u64) -> Vec<footprint_store::ceiling::RawRow> {
    let now_us = crate::kernel::clock::SystemClock.now_us();
    (0..20_000u64)
        .map(|n| {
            let mut text = String::new();
            write_event(&mut text, 0, n, users);
            let event: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let field = |name: &str| event[name].as_str().unwrap_or_default().to_owned();
            footprint_store::ceiling::RawRow {
                event_id: ulid::Ulid::new().to_string(),
                user_key: state.keys.pseudonymizer.user_key(&field("user_id")),
                message_id: field("message_id"),
                session_id: ulid::Ulid::new().to_string(),
                event_type: field("type"),
                properties: event["properties"].to_string(),
                context: event["context"].to_string(),
                ts_us: now_us + n as i64,
                received_us: now_us + n as i64,
            }
        })
        .collect()
}

/// The raw store's ceiling for the target's backend (see `--ceiling`).
async fn ceiling(
    rows: Vec<footprint_store::ceiling::RawRow>,
    backend: &str,
    database_url: Option<&str>,
    batch: usize,
    duration: std::time::Duration,
) -> anyhow::Result<f64> {
    let report = match database_url {
        Some(url) => {
            let schema = footprint_store::ScratchSchema::create(url, "fp_ceiling").await?;
            footprint_store::ceiling::postgres(&schema.url(), rows, batch, 8, duration).await?
        }
        None => {
            let dir = tempfile::tempdir()?;
            footprint_store::ceiling::sqlite(dir.path(), rows, batch, duration).await?
        }
    };
    let rate = report.rows_per_sec();
    println!(
        "  {:<44} {:>10.0} rows/s   ({} rows in batches of {batch}, no index, nothing else)",
        format!("raw {backend} ceiling"),
        rate,
        report.rows
    );
    Ok(rate)
}

/// The reads driven beside the ingestion, in turn: what a dashboard and an app ask.
fn read_calls(users: u64) -> CallMaker {
    Arc::new(move |connection, n| {
        let mixed = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (connection as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        // Among the most frequent users of the generated traffic, so that they exist.
        let user = mixed % users.clamp(1, 50);
        let path = match n % 4 {
            0 => "/stats/usage".to_owned(),
            1 => format!("/predict_next_action/user-{user}"),
            2 => format!("/api/profile/user-{user}"),
            _ => format!("/api/v1/users/user-{user}/next-actions?k=3"),
        };
        Call { method: Method::GET, path, body: None, units: 1 }
    })
}

/// The processing lag (events acknowledged, not yet processed) every second until `stop`:
/// the largest seen and the last.
async fn sample_lag(state: crate::app::state::AppState, mut stop: tokio::sync::watch::Receiver<bool>) -> (i64, i64) {
    let (mut largest, mut last) = (0, 0);
    loop {
        tokio::select! {
            _ = stop.changed() => return (largest, last),
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        let (Ok(stored), Ok(processed)) = (
            state.store.max_event_seq().await,
            state.store.processing_watermark(crate::tracking::processing::SEQUENCES).await,
        ) else {
            continue;
        };
        last = stored - processed;
        largest = largest.max(last);
    }
}

const EVENT_TYPES: [&str; 8] =
    ["page_view", "page_view", "page_view", "click", "search", "add_to_cart", "checkout", "purchase"];
const CATEGORIES: [&str; 6] = ["shoes", "books", "garden", "music", "kitchen", "toys"];

/// A realistic event of ~330 bytes; `n` makes its message id unique.
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

fn event_calls(mode: Mode, batch_size: usize, users: u64) -> CallMaker {
    Arc::new(move |connection, n| {
        let mut body = String::with_capacity(350 * batch_size + 16);
        match mode {
            Mode::Single => {
                write_event(&mut body, connection, n, users);
                Call { method: Method::POST, path: "/api/track".to_owned(), body: Some(body), units: 1 }
            }
            Mode::Batch => {
                body.push_str(r#"{"batch":["#);
                for index in 0..batch_size {
                    if index > 0 {
                        body.push(',');
                    }
                    write_event(&mut body, connection, n * batch_size as u64 + index as u64, users);
                }
                body.push_str("]}");
                Call {
                    method: Method::POST,
                    path: "/api/track/batch".to_owned(),
                    body: Some(body),
                    units: batch_size as u64,
                }
            }
        }
    })
}

pub async fn run(bench: IngestBench, base_config: &Config) -> anyhow::Result<Vec<(String, LoadReport)>> {
    let batch_size = if bench.mode == Mode::Batch { bench.batch_size.max(1) } else { 1 };
    let plan = bench.timing.plan(bench.connections);
    let calls = event_calls(bench.mode, batch_size, bench.users.max(1));
    println!(
        "footprint bench ingest: mode {:?}, {batch_size} event(s)/request, {} connections, {} s measured after {} s warm-up, {} users",
        bench.mode, plan.connections, bench.timing.duration_secs, bench.timing.warmup_secs, bench.users
    );
    let mut reports = Vec::new();
    if bench.baseline {
        let (address, stop) = baseline::start().await?;
        let report = drive(&format!("http://{address}"), "Bearer none", &plan, Arc::clone(&calls)).await?;
        let _ = stop.send(());
        print_row("baseline", "events/s", &report, None);
        reports.push(("baseline".to_owned(), report));
    }
    let (label, report) = match (&bench.url, &bench.api_key) {
        (Some(url), Some(key)) => ("remote".to_owned(), drive(url, &format!("Bearer {key}"), &plan, calls).await?),
        _ => {
            let target = Target::start(base_config, bench.database_url.as_deref()).await?;
            let (url, key) = (target.url(), format!("Bearer {}", target.key));
            if let (Some(secs), Some(rate)) = (bench.soak_secs, bench.rate) {
                let requests_per_sec = rate / batch_size as f64;
                println!("  soak: {rate:.0} events/s ({requests_per_sec:.0} requests/s) for {secs} s");
                let state = target.state.clone();
                let lag = || {
                    let state = state.clone();
                    async move {
                        let stored = state.store.max_event_seq().await.ok()?;
                        let processed =
                            state.store.processing_watermark(crate::tracking::processing::SEQUENCES).await.ok()?;
                        Some(stored - processed)
                    }
                };
                let plan = SoakPlan {
                    connections: bench.connections,
                    requests_per_sec,
                    duration: std::time::Duration::from_secs(secs),
                };
                let summary = soak(&url, &key, plan, calls, lag).await?;
                let stored = target.stored_events().await?;
                target.stop().await;
                println!(
                    "  soak over: {} requests, {} errors, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; RSS {:.1} MiB at 10 s, {:.1} MiB at the end, {:.1} MiB at most; {stored} events stored",
                    summary.requests,
                    summary.errors,
                    summary.latency_us.value_at_percentile(50.0) as f64 / 1000.0,
                    summary.latency_us.value_at_percentile(99.0) as f64 / 1000.0,
                    summary.latency_us.max() as f64 / 1000.0,
                    summary.rss_first_mib,
                    summary.rss_last_mib,
                    summary.rss_max_mib,
                );
                return Ok(reports);
            }
            let ingest = drive(&url, &key, &plan, calls);
            let report = if bench.reads > 0 {
                let token = format!("Bearer {}", target.admin_token().await?);
                let read_plan = bench.timing.plan(bench.reads);
                let (stop, stopped) = tokio::sync::watch::channel(false);
                let sampler = tokio::spawn(sample_lag(target.state.clone(), stopped));
                let reads = drive(&url, &token, &read_plan, read_calls(bench.users));
                let (report, reads) = tokio::join!(ingest, reads);
                let _ = stop.send(true);
                let (largest, last) = sampler.await.unwrap_or_default();
                let reads = reads?;
                print_row("reads while ingesting", "reads/s", &reads, None);
                println!("  processing lag: at most {largest} events, {last} at the end of the run");
                reports.push(("reads".to_owned(), reads));
                report
            } else {
                ingest.await
            };
            let stored = target.stored_events().await;
            let rows = bench.ceiling.then(|| ceiling_rows(&target.state, bench.users.max(1)));
            let backend = target.backend();
            target.stop().await;
            println!("  {} events stored by {backend}", stored?);
            let report = report?;
            // Measured once Footprint has stopped, so that nothing else runs meanwhile.
            let raw = match rows {
                Some(rows) => {
                    Some(ceiling(rows, backend, bench.database_url.as_deref(), batch_size, plan.duration).await?)
                }
                None => None,
            };
            if let Some(raw) = raw.filter(|raw| *raw > 0.0) {
                println!(
                    "  {backend} ingestion: {:.0} % of the raw store's ceiling",
                    100.0 * report.units_per_sec() / raw
                );
            }
            (backend.to_owned(), report)
        }
    };
    let baseline = reports.iter().find(|(label, _)| label == "baseline").map(|(_, report)| report.units_per_sec());
    print_row(&label, "events/s", &report, baseline);
    reports.push((label, report));
    Ok(reports)
}
