//! Seed 003's side of the demo: accounts for one tracked user in ten (provisioned from JSON
//! lines through `automation provision-users`' service, tiers drawn 60 % free, 25 % premium,
//! 10 % enterprise, 5 % vip, invitations left in the outbox), their requests per hour over the
//! last week (five API calls per tracked action, counted against their tier's limit by the
//! same counter requests use), a few logins of the printed accounts (one after two wrong
//! passwords from another network), the churn model trained and waited for, and the tier
//! analysis and analytics report recorded as automation runs.

use std::collections::BTreeMap;
use std::time::Duration;

use footprint_analytics::Tier;
use footprint_analytics::rng::SplitMix64;
use footprint_store::ModelRecord;
use serde_json::json;

use super::accounts::DemoAccount;
use super::population::{self, DemoUser};
use crate::accounts::provisioning::{self, Format};
use crate::accounts::risk::LoginContext;
use crate::accounts::service as accounts;
use crate::app::state::AppState;
use crate::insights::churn;
use crate::jobs::automation::{self, Job};
use crate::kernel::error::ApiError;
use crate::kernel::time::{DAY_US, HOUR_US};

/// API calls an application makes per tracked action (track it, read the profile and the
/// recommendations, ask the next action, check consent).
const CALLS_PER_ACTION: i64 = 5;
const TRAINING_WAIT: Duration = Duration::from_secs(600);

/// What this stage did.
#[derive(Debug, Clone)]
pub struct Seed003Report {
    pub provisioned: usize,
    pub invitations: usize,
    pub logins: usize,
    /// The trained churn model, or why there is none (too small a demo).
    pub churn_model: Result<String, String>,
}

fn tier(rng: &mut SplitMix64) -> Tier {
    match rng.next_f64() {
        x if x < 0.60 => Tier::Free,
        x if x < 0.85 => Tier::Premium,
        x if x < 0.95 => Tier::Enterprise,
        _ => Tier::Vip,
    }
}

pub async fn load(
    state: &AppState,
    users: &[DemoUser],
    seed: u64,
    now_us: i64,
    printed: &[DemoAccount],
) -> anyhow::Result<Seed003Report> {
    let mut report = Seed003Report { provisioned: 0, invitations: 0, logins: 0, churn_model: Err(String::new()) };
    let mut rng = SplitMix64::new(seed ^ 0x5EED_0003);
    let chosen: Vec<(&DemoUser, Tier)> =
        users.iter().filter(|user| user.consents && user.index % 10 == 5).map(|user| (user, tier(&mut rng))).collect();
    let lines: Vec<String> = chosen
        .iter()
        .map(|(user, tier)| {
            json!({
                "user_id": user.user_id, "email": format!("{}@example.com", user.user_id), "tier": tier.as_str(),
                "profile_data": {"display_name": format!("Demo {}", user.index), "language": "en", "timezone": "UTC"},
            })
            .to_string()
        })
        .collect();
    let provisioned = provisioning::provision(state, lines.join("\n").as_bytes(), Format::JsonLines, &|_| {}).await?;
    anyhow::ensure!(provisioned.rejected.is_empty(), "demo accounts refused: {:?}", provisioned.rejected);
    report.provisioned = provisioned.created + provisioned.updated + provisioned.unchanged;
    report.invitations = provisioned.invitations;

    // Their requests per hour over the last week, from their own generated activity.
    let week_ago = now_us - 7 * DAY_US;
    for (user, tier) in &chosen {
        let limit = i64::from(state.config.tiers.limits(*tier).requests_per_hour);
        let mut per_hour: BTreeMap<i64, i64> = BTreeMap::new();
        for event in population::events(user, seed, now_us) {
            let at = event["timestamp"].as_str().and_then(|t| crate::kernel::time::instant("timestamp", t).ok());
            if let Some(at) = at.filter(|at| *at >= week_ago) {
                *per_hour.entry(at.div_euclid(HOUR_US) * HOUR_US).or_default() += CALLS_PER_ACTION;
            }
        }
        let key = state.keys.pseudonymizer.user_key(&user.user_id);
        for (hour, requests) in per_hour {
            for n in 0..requests {
                state.usage.count(&key, hour + n, limit > 0 && n >= limit);
            }
        }
    }
    state.usage.flush(state.store.as_ref()).await?;

    // Logins: each printed account once; the user's after two wrong passwords from elsewhere.
    let context = |device: &str| LoginContext {
        ip_address: None,
        user_agent: Some("footprint demo".to_owned()),
        device_id: Some(device.to_owned()),
    };
    let elsewhere = "203.0.113.7".parse().ok();
    for account in printed {
        let Some(password) = &account.password else { continue };
        if account.role == footprint_analytics::Role::User {
            for _ in 0..2 {
                let wrong = "not the password".to_owned();
                let refused = accounts::login(state, &account.username, wrong, elsewhere, &context("unknown")).await;
                debug_assert!(refused.is_err());
            }
        }
        let home = "198.51.100.20".parse().ok();
        let right = password.expose().to_owned();
        if accounts::login(state, &account.username, right, home, &context("demo-laptop")).await.is_ok() {
            report.logins += 1;
        }
    }

    report.churn_model = train_churn(state).await;
    for job in [Job::Tiers, Job::Analytics] {
        automation::run(state, job, "demo", None, None, &|_| {}).await?;
    }
    Ok(report)
}

/// Trains the churn model and waits for it; `Err` says why there is none.
async fn train_churn(state: &AppState) -> Result<String, String> {
    let started: ModelRecord = match churn::start_training(state, "footprint demo").await {
        Ok(started) => started,
        Err(ApiError::InsufficientData { message, .. }) => return Err(message),
        // A run under way (started by a schedule): wait for it instead.
        Err(ApiError::Conflict(message)) => {
            let training = footprint_store::ModelFilter {
                name: Some(churn::MODEL_TYPE.to_owned()),
                status: Some("training".to_owned()),
                ..footprint_store::ModelFilter::default()
            };
            match state.store.models(training).await.map_err(|e| e.to_string())?.into_iter().next() {
                Some(running) => running,
                None => return Err(message),
            }
        }
        Err(error) => return Err(error.to_string()),
    };
    let deadline = tokio::time::Instant::now() + TRAINING_WAIT;
    loop {
        let record = match state.store.model(&started.model_id).await {
            Ok(Some(record)) => record,
            Ok(None) => return Err("the churn model vanished from the registry".to_owned()),
            Err(error) => return Err(error.to_string()),
        };
        match record.status.as_str() {
            "training" if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            "ready" => return Ok(record.model_id),
            "training" => return Err(format!("training took over {} s", TRAINING_WAIT.as_secs())),
            _ => return Err(record.error.unwrap_or_else(|| "training failed".to_owned())),
        }
    }
}

/// The stage's lines of the demo's summary.
pub fn summary(report: &Seed003Report) -> String {
    let churn = match &report.churn_model {
        Ok(model) => format!("churn model {model} ready"),
        Err(reason) => format!("no churn model ({reason})"),
    };
    format!(
        "  {} accounts of tracked users ({} invitations in the outbox), {} logins; {churn}",
        report.provisioned, report.invitations, report.logins
    )
}
