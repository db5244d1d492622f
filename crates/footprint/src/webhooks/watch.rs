//! The happenings found by looking rather than by an event arriving, for the scheduler to run
//! every `webhooks.watch_interval_secs`:
//!
//! - `churn.risk_crossed`: a user's churn probability (from the newest ready churn model, for
//!   users active within its horizon) crossed the webhook's `churn_threshold`, upwards or back
//!   down. A webhook's first look only notes where each user stands; a user first scored later
//!   is announced when they start above the threshold.
//! - `anomaly.detected`: a user's activity far from their own baseline on the last complete day
//!   (`insights::anomalies`: a spike, or a regular user gone silent), and attendance far from
//!   expectation in the last 7 days (seed 004's anomalies).
//!
//! What each webhook was told is kept as marks (`WebhookStore::mark_and_queue`): a happening is
//! announced once, by one node, however often and wherever the watch runs. No user data leaves
//! for a user whose analytics consent does not hold. The watch looks only once processing has
//! caught up with the events stored when it began.

use std::collections::{HashMap, HashSet};

use footprint_analytics::time::day_index;
use footprint_store::{WebhookMark, WebhookRecord};
use serde::Serialize;
use serde_json::{Value, json};

use super::service::{Consents, DEFAULT_CHURN_THRESHOLD, Kind, delivery, hooks_for};
use crate::app::state::AppState;
use crate::attendance::model::{Anomaly, AnomalyRequest};
use crate::insights::{self, churn};
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::time::DAY_US;

/// The scheduler's name for the watch.
pub const JOB: &str = "webhook watch";
/// The mark of a webhook's first look at churn.
const CHURN_LOOKED: &str = "churn:looked";
/// The attendance looked at: the last week.
const ATTENDANCE_DAYS: i64 = 7;

/// What one watch queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Watched {
    pub churn_crossings: usize,
    pub anomalies: usize,
    /// Events stored but not processed yet when the watch looked: when not 0, it looked no
    /// further (a user whose latest events are not folded in would look silent) and waits for
    /// its next run.
    pub behind: u64,
}

/// Looks for churn crossings and anomalies for the webhooks that want them, once processing
/// has folded in every event stored when the watch began.
pub async fn watch(state: &AppState) -> Result<Watched, ApiError> {
    let now_us = state.clock.now_us();
    let churn_hooks = hooks_for(state, Kind::ChurnRiskCrossed).await?;
    let anomaly_hooks = hooks_for(state, Kind::AnomalyDetected).await?;
    if churn_hooks.is_empty() && anomaly_hooks.is_empty() {
        return Ok(Watched::default());
    }
    // What the watch reads is what processing kept: after a bulk import, or under a load
    // processing does not keep up with, users would look silent and their risk high.
    let processing = &state.config.processing;
    let behind = state.processor.catch_up_for_read(u64::MAX, processing.catch_up_timeout_ms).await?;
    if behind > 0 {
        tracing::info!(behind, "webhook watch waits for processing to catch up");
        return Ok(Watched { behind, ..Watched::default() });
    }
    Ok(Watched {
        churn_crossings: churn_crossings(state, &churn_hooks, now_us).await?,
        anomalies: anomalies(state, &anomaly_hooks, now_us).await?,
        behind: 0,
    })
}

fn mark(hook: &WebhookRecord, subject: String, state: &str, user_id: Option<String>, at_us: i64) -> WebhookMark {
    WebhookMark { webhook_id: hook.webhook_id.clone(), subject, state: state.to_owned(), user_id, at_us }
}

async fn churn_crossings(state: &AppState, hooks: &[WebhookRecord], now_us: i64) -> Result<usize, ApiError> {
    if hooks.is_empty() {
        return Ok(0);
    }
    let Some((record, model)) = churn::ready_model(state).await? else { return Ok(0) };
    let horizon = state.config.insights.churn_horizon_days;
    let today = day_index(now_us);
    let from_day = today - i64::from(model.history_days) - 1;
    let histories = churn::histories(state, from_day, &HashSet::new()).await?;
    let scored = tokio::task::spawn_blocking(move || churn::score_active(&model, &histories, today, horizon))
        .await
        .map_err(ApiError::internal)?;
    let keys: Vec<String> = scored.iter().map(|(key, _)| key.clone()).collect();
    let ids: HashMap<String, String> = state.store.user_ids_of(&keys).await?.into_iter().collect();
    let mut consents = Consents::default();
    let mut queued = 0;
    for hook in hooks {
        let threshold = hook.churn_threshold.unwrap_or(DEFAULT_CHURN_THRESHOLD);
        let marks = state.store.webhook_marks(&hook.webhook_id).await?;
        let first_look = !marks.contains_key(CHURN_LOOKED);
        let mut changes = Vec::new();
        if first_look {
            changes.push((mark(hook, CHURN_LOOKED.to_owned(), "yes", None, now_us), None));
        }
        for (key, probability) in &scored {
            let Some(user_id) = ids.get(key) else { continue };
            let side = if *probability >= threshold { "above" } else { "below" };
            let subject = format!("churn:{key}");
            let before = marks.get(&subject).map(String::as_str);
            if before == Some(side) {
                continue;
            }
            let crossed = !first_look && (before.is_some() || side == "above");
            let told = if crossed && consents.hold(state, user_id).await? {
                let data = json!({
                    "user_id": user_id,
                    "direction": if side == "above" { "up" } else { "down" },
                    "probability": probability,
                    "threshold": threshold,
                    "previous_side": before,
                    "horizon_days": horizon,
                    "model_id": record.model_id,
                    "model_version": record.version,
                });
                Some(delivery(hook, Kind::ChurnRiskCrossed, Some(user_id), data, now_us))
            } else {
                None
            };
            changes.push((mark(hook, subject, side, Some(user_id.clone()), now_us), told));
        }
        queued += state.store.mark_and_queue(changes).await?;
    }
    if queued > 0 {
        state.webhooks_wake.notify_one();
    }
    Ok(queued)
}

/// An anomaly to announce: its subject (what makes it the same anomaly next time), the user it
/// is about, and what is sent.
struct Found {
    subject: String,
    user_id: Option<String>,
    data: Value,
}

async fn anomalies(state: &AppState, hooks: &[WebhookRecord], now_us: i64) -> Result<usize, ApiError> {
    if hooks.is_empty() {
        return Ok(0);
    }
    let mut found = activity_anomalies(state, now_us).await?;
    // The attendance analysis has its own time budget: when it fails, users' activity is
    // still announced, and the next run tries the attendance again.
    match attendance_anomalies(state, now_us).await {
        Ok(more) => found.extend(more),
        Err(error) => tracing::warn!(error = %error, "webhook watch: the attendance anomalies could not be computed"),
    }
    let mut consents = Consents::default();
    let mut allowed = Vec::new();
    for item in found {
        let consenting = match &item.user_id {
            Some(user_id) => consents.hold(state, user_id).await?,
            None => true,
        };
        if consenting {
            allowed.push(item);
        }
    }
    let mut queued = 0;
    for hook in hooks {
        let marks = state.store.webhook_marks(&hook.webhook_id).await?;
        let changes: Vec<_> = allowed
            .iter()
            .filter(|item| !marks.contains_key(&item.subject))
            .map(|item| {
                let told = delivery(hook, Kind::AnomalyDetected, item.user_id.as_deref(), item.data.clone(), now_us);
                (mark(hook, item.subject.clone(), "reported", item.user_id.clone(), now_us), Some(told))
            })
            .collect();
        queued += state.store.mark_and_queue(changes).await?;
    }
    if queued > 0 {
        state.webhooks_wake.notify_one();
    }
    Ok(queued)
}

/// Users' activity far from their own baseline on the last complete day.
async fn activity_anomalies(state: &AppState, now_us: i64) -> Result<Vec<Found>, ApiError> {
    let (_, found) = insights::anomalies::activity_anomalies(state, day_index(now_us) - 1).await?;
    Ok(found
        .into_iter()
        .map(|found| Found {
            subject: format!("{}:{}:{}", found.view.kind, found.user_key, found.first_day),
            user_id: Some(found.view.user_id.clone()),
            data: serde_json::to_value(&found.view).unwrap_or_default(),
        })
        .collect())
}

/// Seed 004's anomalies of the last week, with the request's defaults (medium sensitivity).
async fn attendance_anomalies(state: &AppState, now_us: i64) -> Result<Vec<Found>, ApiError> {
    let request = AnomalyRequest {
        timeframe: Some(json!({"start": rfc3339(now_us - ATTENDANCE_DAYS * DAY_US), "end": rfc3339(now_us)})),
        ..AnomalyRequest::default()
    };
    let report = crate::attendance::model::anomalies(state, request).await?;
    Ok(report
        .anomalies
        .into_iter()
        .map(|anomaly| {
            let (id, user_id) = match &anomaly {
                Anomaly::Event(event) => (event.head.id.clone(), None),
                Anomaly::User(user) => (user.head.id.clone(), Some(user.user_id.clone())),
            };
            Found {
                subject: format!("attendance:{id}"),
                user_id,
                data: serde_json::to_value(&anomaly).unwrap_or_default(),
            }
        })
        .collect())
}
