//! The operator's commands: set up the store, create an API key, create an admin.

use std::io::BufRead;

use footprint_analytics::{Role, Tier};

use super::{AdminCreate, Scope};
use crate::accounts::api_key;
use crate::accounts::service::{self as accounts, NewUserRequest};
use crate::app::config::Config;
use crate::app::secrets::open_store;
use crate::app::server::App;
use crate::kernel::clock::{Clock, SystemClock};

pub(super) async fn setup_db(config: Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let admins = app.state.store.count_admins().await?;
    println!(
        "store ready ({}); schema up to date; instance secrets in place; {admins} admin account(s)",
        app.state.store.backend()
    );
    app.shutdown().await;
    Ok(())
}

pub(super) async fn create_key(
    config: Config,
    scope: Scope,
    name: &str,
    tier: Tier,
    origins: &[String],
) -> anyhow::Result<()> {
    let browser = matches!(scope, Scope::Browser);
    if browser && origins.is_empty() {
        anyhow::bail!("a browser key needs the sites it runs on: --origin https://shop.example (repeatable)");
    }
    if !browser && !origins.is_empty() {
        anyhow::bail!("--origin is for --scope browser only");
    }
    let store = open_store(&config).await?;
    let (secret, record) = if browser {
        api_key::generate_browser(name, origins, tier, SystemClock.now_us())
    } else {
        api_key::generate(name, vec![scope.name().to_owned()], tier, SystemClock.now_us())
    };
    let key_id = record.key_id.clone();
    store.insert_api_key(record).await?;
    store
        .record_audit(footprint_store::AuditEntry {
            at_us: SystemClock.now_us(),
            action: "api_key.create".to_owned(),
            actor: Some("cli".to_owned()),
            subject: Some(key_id.clone()),
            outcome: "success".to_owned(),
            detail: serde_json::json!({"name": name, "scope": scope.name(), "tier": tier.as_str(), "origins": origins})
                .to_string(),
        })
        .await?;
    println!("{secret}");
    if browser {
        eprintln!("Publishable key {key_id} ({name}, for {}) created. Put it in your pages:", origins.join(", "));
        eprintln!(r#"<script defer src="https://<footprint host>/footprint.js" data-key="{secret}"></script>"#);
        return Ok(());
    }
    eprintln!(
        "API key {key_id} ({name}, scope {}, tier {tier}) created. It is shown only now: store it safely.",
        scope.name()
    );
    eprintln!("Use it as: Authorization: Bearer <key>   or   X-API-Key: <key>");
    Ok(())
}

pub(super) async fn create_admin(config: Config, args: AdminCreate) -> anyhow::Result<()> {
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
        tier: Some(app.state.config.tiers.admin_tier),
        profile: None,
    };
    let result = accounts::create_account(&app.state, request, "cli").await;
    app.shutdown().await;
    let created = result.map_err(|error| anyhow::anyhow!("{error}"))?;
    println!("admin {} created", created.user_id);
    Ok(())
}

/// Fits the first match model, or records an empty version with the reason (see
/// `Command::InitModel`).
pub(super) async fn init_model(config: Config, force: bool) -> anyhow::Result<()> {
    use crate::matching::model;
    let app = App::build(config).await?;
    let result = async {
        if let Some(existing) = model::latest(&app.state).await?
            && !force
        {
            println!(
                "{} version {} exists ({}); nothing to do (--force fits again)",
                existing.name, existing.version, existing.status
            );
            return Ok::<(), crate::kernel::error::ApiError>(());
        }
        match model::update(&app.state, "cli").await {
            Ok(report) => println!(
                "{} version {} fitted on {} decided matches: {}",
                report.model.name,
                report.model.version,
                report.rows_used,
                serde_json::to_string(&report.weights).unwrap_or_default()
            ),
            Err(crate::kernel::error::ApiError::InsufficientData { message, needed, available }) => {
                let stored = model::record_empty(&app.state, &message, needed, available).await?;
                println!("{} version {} recorded empty: {message}", stored.name, stored.version);
            }
            Err(error) => return Err(error),
        }
        Ok(())
    }
    .await;
    app.shutdown().await;
    result.map_err(|error| anyhow::anyhow!("{error}"))
}
