//! Seed 003's daily analytics report (`footprint automation generate-analytics`, and the
//! `analytics` job at 02:00): over the last 24 hours, requests per tier, logins and security
//! events from the audit log; events and active users of yesterday and today (UTC days); the
//! churn-risk distribution of the users
//! active within the churn horizon; and the latest segments' sizes. Aggregates only: it names
//! no user, so it can be kept with the run that made it.

use std::collections::{BTreeMap, HashMap, HashSet};

use footprint_analytics::segmentation::SegmentModel;
use footprint_analytics::time::day_index;
use footprint_store::{DayWindow, UserPageQuery};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::insights::churn;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::time::DAY_US;

/// Audit entries read for the report (the newest).
const AUDIT_READ: u32 = 20_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TierLine {
    pub accounts: i64,
    pub requests: i64,
    pub limited: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecurityLine {
    pub logins_succeeded: i64,
    pub logins_failed: i64,
    /// Logins that had to pass a second step (a factor, a risk score over the threshold).
    pub second_steps_required: i64,
    pub lockouts: i64,
    /// Every audited action in the window and its count.
    #[schema(value_type = Object)]
    pub by_action: BTreeMap<String, i64>,
    /// Audit entries read (the newest, at most 20 000) and whether the window reached beyond them.
    pub entries_read: usize,
    pub window_complete: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChurnLine {
    /// Users active within the horizon who were scored.
    pub users_scored: usize,
    pub horizon_days: u32,
    pub model_id: Option<String>,
    /// Users per tenth of probability, [0, 0.1) first.
    pub histogram: Vec<usize>,
    pub mean_probability: Option<f64>,
    /// Users above 0.7.
    pub high_risk: usize,
    /// Why nothing was scored, when nothing was.
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SegmentLine {
    pub segment_id: usize,
    pub name: String,
    pub size: usize,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnalyticsReport {
    pub generated_at: String,
    /// Requests, logins and security events are those of `[from, to)`, the 24 hours before.
    pub from: String,
    pub to: String,
    pub users: i64,
    pub accounts: i64,
    /// Processed events and distinct active users of the last whole UTC day (`yesterday`), and
    /// of today so far: they are kept per day.
    pub yesterday: String,
    pub events_yesterday: i64,
    pub active_users_yesterday: i64,
    pub events_today: i64,
    pub active_users_today: i64,
    #[schema(value_type = Object)]
    pub usage_per_tier: BTreeMap<String, TierLine>,
    pub security: SecurityLine,
    pub churn: ChurnLine,
    pub segments: Vec<SegmentLine>,
}

/// Makes the report of the 24 hours before now.
pub async fn generate(state: &AppState) -> Result<AnalyticsReport, ApiError> {
    state.processor.catch_up(state.config.processing.catch_up_timeout_ms).await?;
    let now_us = state.clock.now_us();
    let from_us = now_us - DAY_US;
    let counts = state.store.count_users().await?;
    let today_us = now_us.div_euclid(DAY_US) * DAY_US;
    let yesterday_us = today_us - DAY_US;
    let days = state.store.daily_type_counts(yesterday_us, today_us + DAY_US).await?;
    let events_on = |day_us: i64| days.iter().filter(|count| count.day_us == day_us).map(|count| count.events).sum();
    let windows = [
        DayWindow { from_us: yesterday_us, to_us: today_us },
        DayWindow { from_us: today_us, to_us: today_us + DAY_US },
    ];
    let active = state.store.active_users(&windows).await?;

    // Requests per tier: every account's tier, and what each caller spent.
    let mut tiers: HashMap<String, String> = HashMap::new();
    let mut usage_per_tier: BTreeMap<String, TierLine> = BTreeMap::new();
    let mut after = None;
    loop {
        let page = state.store.users_page(UserPageQuery { search: None, after_user_id: after, limit: 1000 }).await?;
        let full = page.len() == 1000;
        after = page.last().map(|user| user.user_id.clone());
        for user in page.into_iter().filter(|user| user.has_account()) {
            usage_per_tier.entry(user.tier.as_str().to_owned()).or_default().accounts += 1;
            tiers.insert(user.user_key, user.tier.as_str().to_owned());
        }
        if !full {
            break;
        }
    }
    for caller in state.store.usage_by_caller(from_us).await? {
        let tier = tiers.get(&caller.caller_key).cloned().unwrap_or_else(|| "api keys".to_owned());
        let line = usage_per_tier.entry(tier).or_default();
        line.requests += caller.requests;
        line.limited += caller.limited;
    }

    let audit = state.store.audit_log(AUDIT_READ).await?;
    let mut security = SecurityLine {
        entries_read: audit.len(),
        window_complete: audit.len() < AUDIT_READ as usize || audit.last().is_some_and(|e| e.at_us < from_us),
        ..SecurityLine::default()
    };
    for entry in audit.iter().filter(|entry| entry.at_us >= from_us && entry.at_us < now_us) {
        *security.by_action.entry(entry.action.clone()).or_default() += 1;
        match (entry.action.as_str(), entry.outcome.as_str()) {
            ("login", "success") | ("login.mfa", "success") => security.logins_succeeded += 1,
            ("login", "locked") => security.lockouts += 1,
            ("login", "mfa_required") => security.second_steps_required += 1,
            ("login", _) => security.logins_failed += 1,
            _ => {}
        }
    }

    let churn = churn_distribution(state, now_us).await?;
    let segments = match state.store.cluster_runs(1).await?.first() {
        Some(run) => {
            let model: SegmentModel = serde_json::from_str(&run.model).map_err(ApiError::internal)?;
            model
                .segments
                .iter()
                .enumerate()
                .map(|(segment_id, s)| SegmentLine { segment_id, name: s.name.clone(), size: s.size })
                .collect()
        }
        None => Vec::new(),
    };
    Ok(AnalyticsReport {
        generated_at: rfc3339(now_us),
        from: rfc3339(from_us),
        to: rfc3339(now_us),
        users: counts.users,
        accounts: counts.accounts,
        yesterday: rfc3339(yesterday_us)[..10].to_owned(),
        events_yesterday: events_on(yesterday_us),
        active_users_yesterday: active.first().copied().unwrap_or(0),
        events_today: events_on(today_us),
        active_users_today: active.get(1).copied().unwrap_or(0),
        usage_per_tier,
        security,
        churn,
        segments,
    })
}

/// The churn probabilities of every user active within the horizon, from the newest model:
/// kept five minutes (scoring 100 000 users takes seconds; an erasure purges it).
pub async fn churn_distribution(state: &AppState, now_us: i64) -> Result<ChurnLine, ApiError> {
    let model = churn::ready_model(state).await?.map(|(record, _)| record.model_id).unwrap_or_default();
    let key = format!("churn-distribution:{model}:{}", day_index(now_us));
    crate::kernel::cache::memo(
        state.cache.as_ref(),
        &key,
        std::time::Duration::from_secs(300),
        score_active(state, now_us),
    )
    .await
}

async fn score_active(state: &AppState, now_us: i64) -> Result<ChurnLine, ApiError> {
    let horizon = state.config.insights.churn_horizon_days;
    let mut line = ChurnLine { horizon_days: horizon, histogram: vec![0; 10], ..ChurnLine::default() };
    let Some((record, model)) = churn::ready_model(state).await? else {
        line.note = Some("no churn model is trained yet".to_owned());
        return Ok(line);
    };
    line.model_id = Some(record.model_id);
    let today = day_index(now_us);
    let from_day = today - i64::from(model.history_days) - 1;
    let histories = churn::histories(state, from_day, &HashSet::new()).await?;
    let probabilities = tokio::task::spawn_blocking(move || {
        churn::score_active(&model, &histories, today, horizon).into_iter().map(|(_, p)| p).collect::<Vec<f64>>()
    })
    .await
    .map_err(ApiError::internal)?;
    for p in &probabilities {
        line.histogram[((p * 10.0) as usize).min(9)] += 1;
    }
    line.users_scored = probabilities.len();
    line.high_risk = probabilities.iter().filter(|&&p| p > 0.7).count();
    line.mean_probability =
        (!probabilities.is_empty()).then(|| probabilities.iter().sum::<f64>() / probabilities.len() as f64);
    if probabilities.is_empty() {
        line.note = Some(format!("no user was active in the last {horizon} days"));
    }
    Ok(line)
}
