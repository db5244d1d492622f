//! `footprint bench`: HTTP load generators. Each starts a Footprint in-process (SQLite in a temp
//! directory, or PostgreSQL in a fresh schema) or targets `--url`, drives it over keep-alive
//! connections for a fixed time, and prints throughput and latency percentiles.
//!
//! - `ingest`: events into the tracking routes; `--baseline` first drives a trivial handler
//!   (parse JSON, answer 202, store nothing) so the ratio to the HTTP ceiling is measured.
//! - `interactions`: seed 002's submit route, and both next-action routes for users with long
//!   histories.
//! - `attendance`: seed 004's `/api/ml` routes on a generated attendance history.
//! - `limits`: the tiers' rate limiter alone, in-process and on Redis.
//! - `cluster`: several `footprint serve` processes on one PostgreSQL and Redis, one killed and
//!   restarted under load.

mod attendance;
mod baseline;
mod cluster;
mod dashboard;
mod ingest;
mod interactions;
mod kmeans;
mod limits;
mod load;
mod login;
mod profiles;
mod soak;
mod target;

use clap::Subcommand;

use crate::app::config::Config;
pub use ingest::{IngestBench, Mode};
pub use interactions::InteractionsBench;
pub use load::LoadReport;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Load the ingestion path over HTTP and print events/s and p50/p99 latency.
    #[command(after_help = "Example:\n  cargo run --release -- bench ingest --mode batch --baseline")]
    Ingest(IngestBench),
    /// Seed 002's routes: submit throughput, and both prediction routes for users with N interactions.
    #[command(after_help = "Example:\n  cargo run --release -- bench interactions --baseline")]
    Interactions(InteractionsBench),
    /// k-means alone on generated blobs (default 100 000 × 32, k = 8), median of several runs.
    #[command(after_help = "Example:\n  cargo run --release -- bench kmeans")]
    Kmeans(kmeans::KMeansBench),
    /// Full recompute of profiles, habits and segments from generated events (no store), with peak memory.
    #[command(after_help = "Example:\n  cargo run --release -- bench profiles")]
    Profiles(profiles::ProfilesBench),
    /// Seed 004's /api/ml routes on a generated attendance history: import, training, predictions, analyses.
    #[command(after_help = "Example:\n  cargo run --release -- bench attendance --members 5000")]
    Attendance(attendance::AttendanceBench),
    /// The dashboard's overview page and every chart, on a generated store (default 100 000 users, 1 M events).
    #[command(
        after_help = "Example:\n  cargo run --release -- bench dashboard --users 100000 --events 1000000 --days 90"
    )]
    Dashboard(dashboard::DashboardBench),
    /// What counting a request against its tier costs: the in-process limiter and the Redis one.
    #[command(after_help = "Example:\n  REDIS_URL=redis://127.0.0.1:6379 cargo run --release -- bench limits")]
    Limits(limits::LimitsBench),
    /// Several `footprint serve` nodes on one PostgreSQL and Redis under batch load, one killed and
    /// restarted: throughput, latency, retries, and every acknowledged event stored once.
    #[command(
        after_help = "Example:\n  cargo run --release -- bench cluster --nodes 3 --duration-secs 20 --kill-after-secs 8"
    )]
    Cluster(cluster::ClusterBench),
    /// The login's server time with risk scoring (p50/p99).
    #[command(after_help = "Example:\n  cargo run --release -- bench login")]
    Login(login::LoginBench),
}

pub async fn run(command: BenchCommand, config: &Config) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(bench) => ingest::run(bench, config).await.map(|_| ()),
        BenchCommand::Interactions(bench) => interactions::run(bench, config).await,
        BenchCommand::Kmeans(bench) => kmeans::run(&bench),
        BenchCommand::Profiles(bench) => profiles::run(&bench),
        BenchCommand::Attendance(bench) => attendance::run(bench, config).await,
        BenchCommand::Dashboard(bench) => dashboard::run(bench, config).await,
        BenchCommand::Limits(bench) => limits::run(bench).await,
        BenchCommand::Login(bench) => login::run(bench, config).await,
        BenchCommand::Cluster(bench) => cluster::run(bench, config).await,
    }
}

/// One line of a result table; with a baseline, the ratio to it.
fn print_row(label: &str, unit: &str, report: &LoadReport, baseline_per_sec: Option<f64>) {
    let ratio = baseline_per_sec
        .filter(|baseline| *baseline > 0.0)
        .map(|baseline| format!("  ({:.0} % of baseline)", 100.0 * report.units_per_sec() / baseline))
        .unwrap_or_default();
    println!(
        "  {label:<44} {:>10.0} {unit} {:>9.0} requests/s   p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms   {} errors{ratio}",
        report.units_per_sec(),
        report.requests_per_sec(),
        report.percentile_ms(50.0),
        report.percentile_ms(99.0),
        report.percentile_ms(100.0),
        report.errors,
    );
}
