//! The command line: `footprint [serve]` (here, with its shutdown signal), `setup-db`, `keys
//! create` and `admin create` (`admin.rs`), `automation` (`automation.rs`), `backup` and
//! `restore` (`backup.rs`), `export` and `import` (`transfer.rs`), `bench`, `eval` and `demo` (`tools/`).

mod admin;
pub mod automation;
pub mod backup;
pub mod progress;
pub mod transfer;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use tokio::net::TcpListener;

use crate::app::config::{Config, ENVIRONMENT};
use crate::app::server::{App, serve};

#[derive(Debug, Parser)]
#[command(
    name = "footprint",
    version,
    about = "Footprint: self-hosted user behaviour tracking, profiling and prediction"
)]
pub struct Cli {
    /// TOML configuration file (overrides FOOTPRINT_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    #[command(
        after_help = "Example:\n  footprint serve                     # or just: footprint\n  PORT=9000 DATABASE_URL=postgres://footprint@db/footprint footprint serve"
    )]
    Serve,
    /// Create or migrate the store, generate the instance secrets, create the configured admin.
    #[command(
        after_help = "Example:\n  FOOTPRINT_ADMIN_USERNAME=admin FOOTPRINT_ADMIN_PASSWORD=change-me-now footprint setup-db"
    )]
    SetupDb,
    /// Manage API keys for server-to-server calls.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage admin accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Evaluate models offline on datasets (accuracy tables).
    #[command(subcommand)]
    Eval(crate::tools::eval::EvalCommand),
    /// Measure throughput and latency (run a release build: cargo run --release -- bench …).
    #[command(subcommand)]
    Bench(crate::tools::bench::BenchCommand),
    /// Draw a chart, or a user's or a segment's dashboard, from the store's data into files.
    #[command(
        after_help = "Example:\n  footprint visualize activity_timeline --user user123 --format png\n  footprint visualize dashboard --cluster 0 --theme dark --out ./charts"
    )]
    Visualize(VisualizeArgs),
    /// Seed 003's automation: provisioning, tier analysis, the analytics report (each recorded
    /// like a scheduled run).
    #[command(subcommand)]
    Automation(automation::AutomationCommand),
    /// Load a realistic generated dataset (users, sessions, matches, attendance, a trained model,
    /// segments, one account of each role) so that every page and endpoint has something to show.
    #[command(after_help = "Example:\n  footprint demo --users 500 --seed 7 && footprint serve")]
    Demo(crate::tools::demo::DemoArgs),
    /// Copy the embedded store while the server runs (consistent, checked by opening the copy),
    /// with the instance's secrets beside it. PostgreSQL: use pg_dump.
    #[command(after_help = "Example:\n  footprint backup --out /backups/footprint-2026-12-07.db")]
    Backup(backup::BackupArgs),
    /// Restore a backup into an empty data directory.
    #[command(
        after_help = "Example:\n  FOOTPRINT_DATA_DIR=/srv/footprint footprint restore /backups/footprint-2026-12-07.db"
    )]
    Restore(backup::RestoreArgs),
    /// Write stored events as JSON lines or CSV (filters: --type, --from, --to), and with --all
    /// the accounts, attendance records and consents before them.
    #[command(
        after_help = "Examples:\n  footprint export --out purchases.jsonl --type purchase --from 2026-11-01T00:00:00Z\n  footprint export --all --out everything.jsonl"
    )]
    Export(transfer::ExportArgs),
    /// Ingest JSON lines (or CSV) of events through the usual validation, consent and durable
    /// path (idempotent through message_id), and the accounts, attendance records and consents
    /// of an export, with a report of what was refused and why. Into a SQLite store without
    /// events, a bulk load: one transaction, indexes built at the end, visible when it ends
    /// (stop the server on those files first: it could not write meanwhile).
    #[command(
        after_help = "Example:\n  footprint import events.jsonl.gz\n  footprint export | FOOTPRINT_DATA_DIR=/srv/other footprint import - --json"
    )]
    Import(transfer::ImportArgs),
    /// Seed 001's `python init_model.py`: fit the first match model from the decided matches
    /// stored, or record an explicit empty version saying why it could not be fitted (never a
    /// made-up weight). Nothing to do when a version exists, unless --force.
    ///
    /// Example: footprint init-model
    InitModel(InitModelArgs),
}

#[derive(Debug, Args)]
pub struct InitModelArgs {
    /// Fit (or record why not) even when a version already exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct VisualizeArgs {
    /// A chart (cluster_scatter, user_cluster_radar, behavior_patterns_heatmap, activity_timeline,
    /// preference_radar, user_engagement_bar, content_preferences_breakdown,
    /// hourly_activity_heatmap, feature_usage_pie, cluster_comparison) or `dashboard`.
    pub kind: String,
    /// The user the chart or dashboard is about.
    #[arg(long)]
    pub user: Option<String>,
    /// A segment of the latest run (`3` or `cluster_3`).
    #[arg(long)]
    pub cluster: Option<String>,
    /// svg or png (default: both).
    #[arg(long, value_enum)]
    pub format: Option<ChartFormat>,
    /// light or dark (default: visualization.chart_theme).
    #[arg(long)]
    pub theme: Option<String>,
    /// Pixels (default: visualization.plot_size).
    #[arg(long)]
    pub width: Option<u32>,
    #[arg(long)]
    pub height: Option<u32>,
    /// Where the files go (default: visualization.output_path).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChartFormat {
    Svg,
    Png,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print it once (only its hash is stored).
    #[command(
        after_help = "Example:\n  footprint keys create --scope ingest --name web-backend\n  footprint keys create --scope browser --origin https://shop.example --name shop"
    )]
    Create {
        /// What the key may do.
        #[arg(long, value_enum, default_value_t = Scope::Ingest)]
        scope: Scope,
        /// A name to recognise the key by.
        #[arg(long, default_value = "default")]
        name: String,
        /// The tier whose hourly request limit the key's calls count against: free, premium,
        /// enterprise or vip (unlimited, the default: ingestion from a server is not throttled
        /// unless asked).
        #[arg(long, default_value = "vip", value_parser = parse_tier)]
        tier: footprint_analytics::Tier,
        /// For `--scope browser` (required there, repeatable): a site the tracker runs on, as
        /// scheme://host[:port], e.g. `--origin https://shop.example --origin https://www.shop.example`.
        #[arg(long = "origin", value_parser = parse_origin)]
        origins: Vec<String>,
    },
}

fn parse_origin(text: &str) -> Result<String, String> {
    crate::accounts::api_key::origin(text)
}

fn parse_tier(text: &str) -> Result<footprint_analytics::Tier, String> {
    text.parse().map_err(|error: footprint_analytics::InvalidValue| error.to_string())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Scope {
    /// Track events and record consent for any user.
    Ingest,
    /// Read `/metrics` (for a Prometheus scraper when `server.metrics_access` asks for a token).
    Metrics,
    /// A publishable key for the browser tracker (`fp_pub_…`, safe to put in a page): it may
    /// only send events to `/api/collect`, from the origins given with `--origin`.
    Browser,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Ingest => crate::accounts::SCOPE_INGEST,
            Scope::Metrics => crate::accounts::SCOPE_METRICS,
            Scope::Browser => crate::accounts::SCOPE_BROWSER,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account; the password is read from FOOTPRINT_ADMIN_PASSWORD or standard input.
    #[command(
        after_help = "Example:\n  FOOTPRINT_ADMIN_PASSWORD=… footprint admin create --username ops --email ops@example.com"
    )]
    Create(AdminCreate),
}

#[derive(Debug, Args)]
pub struct AdminCreate {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub email: Option<String>,
}

impl Cli {
    /// Parses the process arguments; `--help` also lists the environment variables.
    pub fn parse_args() -> Self {
        let mut help =
            String::from("Environment (a TOML file given by --config or FOOTPRINT_CONFIG may set the same):\n");
        for (name, description) in ENVIRONMENT {
            help.push_str(&format!("  {name:<26} {description}\n"));
        }
        let matches = Cli::command().after_help(help).get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
    }
}

pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => run_server(config).await,
        Command::SetupDb => admin::setup_db(config).await,
        Command::Keys(KeysCommand::Create { scope, name, tier, origins }) => {
            admin::create_key(config, scope, &name, tier, &origins).await
        }
        Command::Admin(AdminCommand::Create(args)) => admin::create_admin(config, args).await,
        Command::Eval(eval) => tokio::task::spawn_blocking(move || crate::tools::eval::run(eval)).await?,
        Command::Bench(bench) => crate::tools::bench::run(bench, &config).await,
        Command::Visualize(args) => visualize(config, args).await,
        Command::Demo(args) => crate::tools::demo::run(args, config).await,
        Command::Automation(command) => automation::run(command, config).await,
        Command::Backup(args) => tokio::task::spawn_blocking(move || backup::backup(&config, &args).map(drop)).await?,
        Command::Restore(args) => {
            tokio::task::spawn_blocking(move || backup::restore(&config, &args).map(drop)).await?
        }
        Command::Export(args) => transfer::export(config, args).await,
        Command::InitModel(args) => admin::init_model(config, args.force).await,
        Command::Import(args) => transfer::import(config, args).await,
    }
}

/// `footprint visualize`: the files written, one per line.
async fn visualize(mut config: Config, args: VisualizeArgs) -> anyhow::Result<()> {
    use crate::dashboard::visualization::{BehaviorVisualization, Formats};
    let look = &mut config.visualization;
    if let Some(theme) = args.theme {
        look.chart_theme = theme;
    }
    if let Some(out) = args.out {
        look.output_path = out;
    }
    look.plot_size.width = args.width.unwrap_or(look.plot_size.width);
    look.plot_size.height = args.height.unwrap_or(look.plot_size.height);
    let app = App::build(config).await?;
    let formats = match args.format {
        None => Formats::SvgAndPng,
        Some(ChartFormat::Svg) => Formats::Svg,
        Some(ChartFormat::Png) => Formats::Png,
    };
    let visualizer = BehaviorVisualization::new(app.state.clone()).writing(formats);
    let written = match (args.kind.as_str(), &args.user, &args.cluster) {
        ("dashboard", Some(user), _) => visualizer.create_user_dashboard(user).await.map(|d| {
            let mut files = vec![d.page];
            files.extend(d.charts.into_iter().flat_map(|c| c.files));
            files
        }),
        ("dashboard", None, Some(cluster)) => visualizer.create_cluster_dashboard(cluster).await.map(|d| {
            let mut files = vec![d.page];
            files.extend(d.charts.into_iter().flat_map(|c| c.files));
            files
        }),
        ("dashboard", None, None) => {
            app.shutdown().await;
            anyhow::bail!("visualize dashboard: name a user (--user ID) or a segment (--cluster ID)");
        }
        (kind, user, cluster) => {
            visualizer.create_visualization(kind, user.as_deref(), cluster.as_deref()).await.map(|v| v.files)
        }
    };
    app.shutdown().await;
    let files = written.map_err(|error| anyhow::anyhow!("{error}"))?;
    for file in files {
        println!("{}", file.display());
    }
    Ok(())
}

async fn run_server(config: Config) -> anyhow::Result<()> {
    let address = (config.server.host.clone(), config.server.port);
    let app = App::build(config).await?;
    let listener = TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {}:{} (set HOST and PORT)", address.0, address.1))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, store = app.state.store.backend(), "footprint listening");
    // A stable line on stdout for scripts and tests that start the binary.
    println!("footprint listening on http://{local}");
    std::io::stdout().flush()?;
    serve(app, listener, shutdown_signal()).await
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests and draining the ingestion queue");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every `Example:` line of every command's help, as the words `footprint` would get.
    fn examples(command: &clap::Command, found: &mut Vec<(String, Vec<String>)>) {
        if let Some(help) = command.get_after_help() {
            let text = help.to_string();
            for line in text.lines().skip_while(|line| !line.starts_with("Example")).skip(1) {
                // One command per line: the part before `&&` or `|`, without the environment and
                // the `cargo run --release --` prefix.
                let command_line = line.split("&&").next().unwrap_or_default().split('|').next().unwrap_or_default();
                let words: Vec<String> = command_line
                    .split_whitespace()
                    .skip_while(|word| word.contains('='))
                    .take_while(|word| !word.starts_with('#'))
                    .map(str::to_owned)
                    .collect();
                let start = words.iter().position(|word| word == "footprint" || word == "--").map_or(0, |at| at + 1);
                let mut args = vec!["footprint".to_owned()];
                args.extend(words[start..].iter().cloned());
                found.push((line.trim().to_owned(), args));
            }
        }
        for sub in command.get_subcommands() {
            examples(sub, found);
        }
    }

    #[test]
    fn every_example_in_the_help_parses() {
        let mut found = Vec::new();
        examples(&Cli::command(), &mut found);
        assert!(found.len() >= 30, "the examples were found: {}", found.len());
        for (line, args) in found {
            if let Err(error) = Cli::try_parse_from(&args) {
                panic!("the example `{line}` does not parse: {error}");
            }
        }
    }
}
