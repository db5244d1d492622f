//! The command line: `footprint [serve]`, `setup-db`, `keys create`, `admin create`, `bench`.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use footprint_analytics::Role;
use tokio::net::TcpListener;

use crate::accounts::api_key;
use crate::accounts::principal::SCOPE_INGEST;
use crate::accounts::service::{self as accounts, NewUserRequest};
use crate::app::config::{Config, ENVIRONMENT};
use crate::app::secrets::open_store;
use crate::app::server::{App, serve};
use crate::kernel::clock::{Clock, SystemClock};

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
    Serve,
    /// Create or migrate the store, generate the instance secrets, create the configured admin.
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
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print it once (only its hash is stored).
    Create {
        /// What the key may do.
        #[arg(long, value_enum, default_value_t = Scope::Ingest)]
        scope: Scope,
        /// A name to recognise the key by.
        #[arg(long, default_value = "default")]
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Scope {
    /// Track events and record consent for any user.
    Ingest,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account; the password is read from FOOTPRINT_ADMIN_PASSWORD or standard input.
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
        Command::SetupDb => setup_db(config).await,
        Command::Keys(KeysCommand::Create { scope, name }) => create_key(config, scope, &name).await,
        Command::Admin(AdminCommand::Create(args)) => create_admin(config, args).await,
        Command::Eval(eval) => tokio::task::spawn_blocking(move || crate::tools::eval::run(eval)).await?,
        Command::Bench(bench) => crate::tools::bench::run(bench, &config).await,
    }
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

async fn setup_db(config: Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let admins = app.state.store.count_admins().await?;
    println!(
        "store ready ({}); schema up to date; instance secrets in place; {admins} admin account(s)",
        app.state.store.backend()
    );
    app.shutdown().await;
    Ok(())
}

async fn create_key(config: Config, scope: Scope, name: &str) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let scopes = match scope {
        Scope::Ingest => vec![SCOPE_INGEST.to_owned()],
    };
    let (secret, record) = api_key::generate(name, scopes, SystemClock.now_us());
    let key_id = record.key_id.clone();
    store.insert_api_key(record).await?;
    store
        .record_audit(footprint_store::AuditEntry {
            at_us: SystemClock.now_us(),
            action: "api_key.create".to_owned(),
            actor: Some("cli".to_owned()),
            subject: Some(key_id.clone()),
            outcome: "success".to_owned(),
            detail: serde_json::json!({"name": name, "scope": "ingest"}).to_string(),
        })
        .await?;
    println!("{secret}");
    eprintln!("API key {key_id} ({name}, scope ingest) created. It is shown only now: store it safely.");
    eprintln!("Use it as: Authorization: Bearer <key>   or   X-API-Key: <key>");
    Ok(())
}

async fn create_admin(config: Config, args: AdminCreate) -> anyhow::Result<()> {
    let password = match config.auth.admin_password.as_ref().map(|p| p.expose().to_owned()) {
        Some(password) => password,
        None => {
            eprint!("password for {}: ", args.username);
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let app = App::build(config).await?;
    let request = NewUserRequest {
        user_id: None,
        username: Some(args.username),
        email: args.email,
        password: crate::app::config::Secret::new(password),
        role: Some(Role::Admin),
        tier: None,
        profile: None,
    };
    let result = accounts::create_account(&app.state, request, "cli").await;
    app.shutdown().await;
    let created = result.map_err(|error| anyhow::anyhow!("{error}"))?;
    println!("admin {} created", created.user_id);
    Ok(())
}
