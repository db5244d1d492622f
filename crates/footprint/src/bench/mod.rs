//! `footprint bench`: an HTTP load generator for the ingestion path. It starts a Footprint
//! (SQLite in a temp directory, or PostgreSQL in a fresh schema) or targets `--url`, drives it
//! over keep-alive connections for a fixed time, and prints events/s and latency
//! percentiles. `--baseline` first drives a trivial handler (parse JSON, answer 202, store
//! nothing) in the same run, so the ratio to the HTTP ceiling is measured, not assumed.

mod baseline;
mod load;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use footprint_analytics::ConsentDefault;

use crate::auth::api_key;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::server::{App, serve};
use footprint_store::ScratchSchema;
pub use load::{LoadOptions, LoadReport};

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
    /// Measured seconds per target (after the warm-up).
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    #[arg(long, default_value_t = 2)]
    pub warmup_secs: u64,
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
}

/// Runs the benchmark and prints its table; returns the reports (baseline first).
pub async fn run_ingest(bench: IngestBench, base_config: &Config) -> anyhow::Result<Vec<(String, LoadReport)>> {
    let options = LoadOptions {
        mode: bench.mode,
        batch_size: if bench.mode == Mode::Batch { bench.batch_size.max(1) } else { 1 },
        connections: bench.connections.max(1),
        duration: Duration::from_secs(bench.duration_secs.max(1)),
        warmup: Duration::from_secs(bench.warmup_secs),
        users: bench.users.max(1),
    };
    println!(
        "footprint bench ingest: mode {:?}, {} event(s)/request, {} connections, {} s measured after {} s warm-up, {} users",
        options.mode, options.batch_size, options.connections, bench.duration_secs, bench.warmup_secs, options.users
    );
    let mut reports = Vec::new();
    if bench.baseline {
        let (address, stop) = baseline::start().await?;
        let report = load::drive(&format!("http://{address}"), "none", &options).await?;
        let _ = stop.send(());
        print_report("baseline", &report, None);
        reports.push(("baseline".to_owned(), report));
    }

    let (label, report) = match (&bench.url, &bench.api_key) {
        (Some(url), Some(key)) => ("remote".to_owned(), load::drive(url, key, &options).await?),
        _ => {
            let target = Target::start(base_config, bench.database_url.as_deref()).await?;
            let report = load::drive(&format!("http://{}", target.address), &target.key, &options).await;
            let stored = target.stored_events().await;
            target.stop().await;
            let report = report?;
            println!("  {} events stored by {}", stored?, target_name(bench.database_url.is_some()));
            (target_name(bench.database_url.is_some()).to_owned(), report)
        }
    };
    let baseline = reports.first().map(|(_, report)| report.events_per_sec());
    print_report(&label, &report, baseline);
    reports.push((label, report));
    Ok(reports)
}

fn target_name(postgres: bool) -> &'static str {
    if postgres { "postgres" } else { "sqlite" }
}

fn print_report(label: &str, report: &LoadReport, baseline_events_per_sec: Option<f64>) {
    let ratio = baseline_events_per_sec
        .filter(|b| *b > 0.0)
        .map(|b| format!("  ({:.0} % of baseline)", 100.0 * report.events_per_sec() / b))
        .unwrap_or_default();
    println!(
        "  {label:<9} {:>10.0} events/s {:>9.0} requests/s   p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms   {} errors{ratio}",
        report.events_per_sec(),
        report.requests_per_sec(),
        report.percentile_ms(50.0),
        report.percentile_ms(99.0),
        report.percentile_ms(100.0),
        report.errors,
    );
}

/// A Footprint started for the benchmark, with an ingest key and a granting consent default.
struct Target {
    app_state: crate::state::AppState,
    address: SocketAddr,
    key: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
    _schema: Option<ScratchSchema>,
}

impl Target {
    async fn start(base: &Config, database_url: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = base.clone();
        config.store.data_dir = dir.path().to_owned();
        config.privacy.consent_default = ConsentDefault::Grant;
        config.auth.admin_username = None;
        config.auth.admin_password = None;
        let schema = match database_url {
            Some(url) => Some(ScratchSchema::create(url, "fp_bench").await.context("cannot use --database-url")?),
            None => None,
        };
        config.store.database_url = schema.as_ref().map(|schema| crate::config::Secret::new(schema.url()));
        let app = App::build(config).await?;
        let (key, record) = api_key::generate("bench", vec!["ingest".to_owned()], SystemClock.now_us());
        app.state.store.insert_api_key(record).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app_state = app.state.clone();
        let server = tokio::spawn(serve(app, listener, async {
            let _ = stopped.await;
        }));
        Ok(Self { app_state, address, key, stop, server, _dir: dir, _schema: schema })
    }

    async fn stored_events(&self) -> anyhow::Result<u64> {
        let mut total = 0;
        let mut after = None;
        loop {
            let query = footprint_store::EventQuery { limit: 100_000, after, ..Default::default() };
            let page = self.app_state.store.events(query).await?;
            let Some(last) = page.last() else { break };
            after = Some(footprint_store::EventPosition { timestamp_us: last.timestamp_us, seq: last.seq });
            total += page.len() as u64;
        }
        Ok(total)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        if let Ok(Err(error)) = self.server.await {
            tracing::warn!(error = %error, "bench server stopped with an error");
        }
    }
}
