//! Seed 003's `churn_predictor` in the model registry: trained in the background from the
//! users' activity per day that processing keeps (users who refused `improvement` left out), on
//! time-ordered windows (`footprint_analytics::churn::train`: the family — logistic or trees —
//! chosen on the latest horizon whose outcome is known, then refitted on every day), with its
//! held-out ROC AUC, Brier score and calibration stored for `GET /api/ml/models/{id}/performance`;
//! and a user's churn risk from the newest ready version.

use std::collections::{BTreeMap, HashSet};

use footprint_analytics::churn::{self, ActiveDay, ChurnConfig, ChurnModel, FeatureSet, History, Trained};
use footprint_analytics::time::day_index;
use footprint_store::{ModelFilter, ModelRecord, UserDay, UserRecord};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::registry::{AccuracyPoint, CHURN_PREDICTOR, MetricsView, PerformanceView, Trends};
use crate::kernel::time::DAY_US;

pub const MODEL_TYPE: &str = CHURN_PREDICTOR.model_type;
/// The background job training runs are recorded under.
pub const JOB: &str = "churn training";
const PAGE: u32 = 10_000;

/// The model's settings from the configuration.
pub fn config(state: &AppState) -> ChurnConfig {
    let insights = &state.config.insights;
    ChurnConfig {
        horizon_days: insights.churn_horizon_days,
        history_days: insights.churn_history_days,
        max_training_rows: insights.churn_max_training_rows,
        min_users: insights.churn_min_users,
        ..ChurnConfig::default()
    }
}

fn active_day(day: &UserDay) -> ActiveDay {
    ActiveDay {
        day: day.day,
        events: u32::try_from(day.events.max(0)).unwrap_or(u32::MAX),
        sessions: u32::try_from(day.sessions.max(0)).unwrap_or(u32::MAX),
        session_seconds: day.session_seconds.max(0.0),
        amount: day.amount,
    }
}

/// A user's history from their kept days (the first seen day from the account's first event).
pub fn history_of(days: &[UserDay]) -> Option<History> {
    let first_seen = days.iter().filter_map(|day| day.first_seen_us).map(day_index).min();
    let first_kept = days.iter().map(|day| day.day).min();
    let first = match (first_seen, first_kept) {
        (Some(seen), Some(kept)) => seen.min(kept),
        (seen, kept) => seen.or(kept)?,
    };
    Some(History::new(first, days.iter().map(active_day).collect()))
}

/// Every user's history from `from_day` on, but those in `left_out` (pseudonyms), in
/// pseudonym order.
pub async fn histories(
    state: &AppState,
    from_day: i64,
    left_out: &HashSet<String>,
) -> Result<Vec<(String, History)>, ApiError> {
    let mut histories = Vec::new();
    each_users_days(state, from_day, |days| {
        if let Some(first) = days.first()
            && !left_out.contains(&first.user_key)
            && let Some(history) = history_of(days)
        {
            histories.push((first.user_key.clone(), history));
        }
    })
    .await?;
    Ok(histories)
}

/// Calls `each` with every user's kept days from `from_day` on (a user at a time, in pseudonym
/// order, days in order), reading the store a page at a time.
pub async fn each_users_days(
    state: &AppState,
    from_day: i64,
    mut each: impl FnMut(&[UserDay]),
) -> Result<(), ApiError> {
    let mut current: Vec<UserDay> = Vec::new();
    let mut after = None;
    loop {
        let page = state.store.user_days_after(after.clone(), from_day, PAGE).await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|day| (day.user_key.clone(), day.day));
        for day in page {
            if current.first().is_some_and(|first| first.user_key != day.user_key) {
                each(&current);
                current.clear();
            }
            current.push(day);
        }
        if !full {
            break;
        }
    }
    if !current.is_empty() {
        each(&current);
    }
    Ok(())
}

/// The newest ready churn model, if any.
pub async fn ready_model(state: &AppState) -> Result<Option<(ModelRecord, ChurnModel)>, ApiError> {
    let filter =
        ModelFilter { name: Some(MODEL_TYPE.to_owned()), status: Some("ready".to_owned()), ..ModelFilter::default() };
    let Some(record) = state.store.models(filter).await?.into_iter().max_by_key(|m| m.version) else {
        return Ok(None);
    };
    let model: ChurnModel = serde_json::from_str(&record.parameters).map_err(ApiError::internal)?;
    Ok(Some((record, model)))
}

/// Users active in the horizon before the validation cut-off: who a training run can check.
fn checkable(histories: &[(String, History)], cutoff: i64, horizon: u32) -> u64 {
    histories.iter().filter(|(_, h)| h.active_between(cutoff - i64::from(horizon), cutoff) > 0).count() as u64
}

/// Registers a `churn_predictor` version in `training`, trains it in the background and
/// returns it. `INSUFFICIENT_DATA` when too few users were active before the latest cut-off
/// whose outcome is known; 409 while another version trains.
pub async fn start_training(state: &AppState, actor: &str) -> Result<ModelRecord, ApiError> {
    let training = ModelFilter {
        name: Some(MODEL_TYPE.to_owned()),
        status: Some("training".to_owned()),
        ..ModelFilter::default()
    };
    if let Some(running) = state.store.models(training).await?.first() {
        return Err(ApiError::Conflict(format!("churn model {} is training; wait for it", running.model_id)));
    }
    state.processor.catch_up(state.config.processing.catch_up_timeout_ms).await?;
    let config = config(state);
    let insights = &state.config.insights;
    let now_us = state.clock.now_us();
    // Today is not over: the last day a label may use is yesterday.
    let end_day = day_index(now_us);
    let from_day = end_day
        - i64::from(insights.churn_training_days)
        - i64::from(config.horizon_days)
        - i64::from(config.history_days);
    let refusing: HashSet<String> = state.store.refusing_improvement().await?.into_iter().collect();
    let histories = histories(state, from_day, &refusing).await?;
    let cutoff = end_day - i64::from(config.horizon_days);
    let available = checkable(&histories, cutoff, config.horizon_days);
    let needed = config.min_users as u64;
    if available < needed {
        return Err(ApiError::InsufficientData {
            message: format!(
                "the churn model needs {needed} users active in the {} days before {} (the latest day whose {}-day outcome is known); there are {available}",
                config.horizon_days,
                rfc3339(cutoff * DAY_US),
                config.horizon_days
            ),
            needed,
            available,
        });
    }
    let model_id = format!("model-{}", ulid::Ulid::new().to_string().to_lowercase());
    let record = ModelRecord {
        hyperparameters: json!({
            "horizonDays": config.horizon_days, "historyDays": config.history_days,
            "trainingDays": insights.churn_training_days, "maxTrainingRows": config.max_training_rows,
            "minUsers": config.min_users, "l2": config.l2, "trees": config.trees, "startedBy": actor,
        })
        .to_string(),
        data_window: json!({"from": rfc3339(from_day * DAY_US), "to": rfc3339(end_day * DAY_US)}).to_string(),
        ..ModelRecord::registered(&model_id, MODEL_TYPE, MODEL_TYPE, "training", now_us)
    };
    if state.tasks.is_stopping() {
        return Err(ApiError::Unavailable {
            message: "the server is shutting down".to_owned(),
            retry_after_secs: None,
        });
    }
    let stored = state.store.create_model(record).await?;
    let background = state.clone();
    let mut model = stored.clone();
    let started = state.tasks.run(JOB, async move {
        let timeout = background.config.ml.training_timeout_secs;
        let histories: Vec<History> = histories.into_iter().map(|(_, history)| history).collect();
        // The first rows need a whole look-back of the days read (the trend reads 56 days).
        let start_day = from_day + i64::from(config.history_days).max(56);
        let fit = tokio::task::spawn_blocking(move || {
            churn::train(&histories, start_day, end_day, &config, FeatureSet::Full)
        });
        let outcome = match tokio::time::timeout(timeout, fit).await {
            Ok(Ok(Ok(trained))) => {
                model.status = "ready".to_owned();
                model.metrics = metrics(&trained).to_string();
                model.parameters = serde_json::to_string(&trained.model).unwrap_or_default();
                model.rows_used = i64::try_from(trained.model.rows).unwrap_or(i64::MAX);
                Ok(())
            }
            Ok(Ok(Err(error))) => Err(error.to_string()),
            Ok(Err(error)) => Err(format!("the training run failed: {error}")),
            Err(_) => Err(format!("the run took longer than ml.training_timeout_secs ({} s)", timeout.as_secs())),
        };
        if let Err(error) = &outcome {
            model.status = "error".to_owned();
            model.error = Some(error.clone());
        }
        model.trained_at_us = Some(background.clock.now_us());
        let trained = model.clone();
        if let Err(error) = background.store.update_model(model).await {
            return Err(format!("the trained churn model could not be stored: {error}"));
        }
        crate::webhooks::model_trained(&background, &trained).await;
        outcome
    });
    if started.is_err() {
        let mut model = stored;
        model.status = "error".to_owned();
        model.error = Some(crate::kernel::registry::INTERRUPTED.to_owned());
        state.store.update_model(model).await?;
        return Err(ApiError::Unavailable {
            message: "the server is shutting down".to_owned(),
            retry_after_secs: None,
        });
    }
    Ok(stored)
}

/// What is stored with a trained model: the validation's figures, and the performance view.
fn metrics(trained: &Trained) -> Value {
    let check = &trained.validation;
    let overall = MetricsView::of(check.metrics);
    let confusion = overall.as_ref().map(|o| o.metrics.confusion);
    let importance: BTreeMap<String, f64> = importance(&trained.model);
    let cutoff = crate::kernel::time::day_text(check.cutoff_day);
    let performance = PerformanceView {
        confusion_matrix: [
            [confusion.map(|c| c.tn), confusion.map(|c| c.fp)],
            [confusion.map(|c| c.fn_), confusion.map(|c| c.tp)],
        ],
        overall: overall.clone(),
        by_month: BTreeMap::from([(cutoff[..7].to_owned(), overall.clone())]),
        by_segment: BTreeMap::from([
            ("new_users".to_owned(), MetricsView::of(check.new_users)),
            ("returning_users".to_owned(), MetricsView::of(check.returning_users)),
        ]),
        feature_importance: json!(importance),
        evaluated_on: check.users,
        calibration: Some(json!(check.calibration)),
        after_training: None,
    };
    let trends = Trends {
        accuracy_over_time: vec![AccuracyPoint {
            date: cutoff.clone(),
            accuracy: check.metrics.map(|m| m.accuracy),
            n: check.users,
        }],
    };
    json!({
        "validation": {
            "cutoff": cutoff, "horizonDays": check.horizon_days, "users": check.users, "churned": check.churned,
            "roc_auc": check.metrics.and_then(|m| m.roc_auc), "brier": check.metrics.map(|m| m.brier),
            "log_loss": check.metrics.map(|m| m.log_loss), "accuracy": check.metrics.map(|m| m.accuracy),
        },
        "calibration": check.calibration,
        "family": trained.model.hazard.kind(),
        "activeRows": trained.model.active_rows,
        "featureImportance": importance,
        "performance": performance,
        "trends": trends,
    })
}

/// Each feature's importance: for the logistic hazard the absolute standardised weight, for
/// trees the share of splits on it.
fn importance(model: &ChurnModel) -> BTreeMap<String, f64> {
    let values: Vec<f64> = match &model.hazard {
        churn::Hazard::Logistic(logistic) => logistic.standardized_weights.iter().map(|w| w.abs()).collect(),
        churn::Hazard::Trees(trees) => trees.split_shares(),
    };
    model.feature_names.iter().cloned().zip(values).collect()
}

/// A reason behind a user's churn risk.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChurnFactor {
    pub feature: String,
    /// What the feature says of this user, in words.
    pub description: String,
    /// `raises` or `lowers` the churn risk.
    pub effect: &'static str,
    /// The push on the daily chance of activity, in log-odds.
    pub log_odds: f64,
}

/// A user's churn risk.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChurnRisk {
    /// P(no event in the next `horizon_days` days).
    pub probability: f64,
    pub horizon_days: u32,
    /// `low` (< 0.3), `medium` (< 0.6) or `high`.
    pub level: &'static str,
    /// `active` (an event within the horizon), or `lapsed` (none for `horizon_days` or more:
    /// churned by the label's definition; the probability says whether they stay away).
    pub status: &'static str,
    pub days_since_last_activity: Option<i64>,
    /// Expected active days in the horizon (the model simulated forward, 200 paths).
    pub expected_active_days: f64,
    pub factors: Vec<ChurnFactor>,
    pub model: ChurnModelSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChurnModelSummary {
    pub id: String,
    pub version: i64,
    pub trained_at: Option<String>,
    /// `logistic` or `trees`.
    pub family: String,
    /// On its validation cut-off.
    pub roc_auc: Option<f64>,
    pub brier: Option<f64>,
}

/// What a feature's value says, in words.
fn describe(feature: &str, value: f64) -> String {
    match feature {
        "log_recency" => format!("last active {:.0} days ago", value.exp()),
        "inverse_recency" => format!("last active {:.0} days ago", 1.0 / value.max(1e-9)),
        "log_tenure" => format!("first seen {:.0} days ago", value.exp() - 1.0),
        "active_7" => format!("active on {:.0} % of the last 7 days", 100.0 * value),
        "active_28" => format!("active on {:.0} % of the last 28 days", 100.0 * value),
        "active_window" => format!("active on {:.0} % of the days looked back on", 100.0 * value),
        "trend_28" => format!("{:+.0} active days in the last 28 days against the 28 before", 28.0 * value),
        "log_overdue" => format!("away {:.1} times their usual gap between active days", value.exp()),
        "log_events_per_day" => format!("{:.1} events per active day", value.exp() - 1.0),
        "log_events_per_session" => format!("{:.1} events per session", value.exp() - 1.0),
        "log_session_minutes" => format!("sessions of {:.1} minutes on average", value.exp() - 1.0),
        "log_amount_per_day" => format!("{:.2} spent per active day", value.exp() - 1.0),
        "weekday_affinity" => format!("uses this weekday {:.1} times as often as an average day", value.exp()),
        "active_yesterday" => if value > 0.5 { "active yesterday" } else { "not active yesterday" }.to_owned(),
        "inverse_recency_by_tenure" | "log_recency_by_tenure" => {
            "how recent, given how long they have been here".to_owned()
        }
        "inverse_recency_by_frequency" | "log_recency_by_frequency" => {
            "how recent, given how often they come".to_owned()
        }
        other => format!("{other} = {value:.3}"),
    }
}

/// Where the horizon starts: tomorrow when the user was already active today (today is then
/// known), else today (still open).
pub fn cutoff(history: &History, today: i64) -> i64 {
    if history.is_active(today) { today + 1 } else { today }
}

/// The churn risk of a user today from a ready model; `None` for a user with no kept day.
/// `days` are the user's kept days.
pub fn risk(record: &ModelRecord, model: &ChurnModel, days: &[UserDay], today: i64, horizon: u32) -> Option<ChurnRisk> {
    let history = history_of(days)?;
    let start = cutoff(&history, today);
    let probability = model.churn_probability(&history, start, horizon)?;
    let since = history.last_day().map(|last| today - last);
    let expected = model.expected_active_days(&history, start, horizon, 200, 1);
    let factors = model
        .contributions(&history, start)
        .into_iter()
        .filter(|c| c.log_odds.abs() > 1e-6)
        .take(5)
        .map(|c| ChurnFactor {
            description: describe(&c.feature, c.value),
            effect: if c.log_odds < 0.0 { "raises" } else { "lowers" },
            log_odds: c.log_odds,
            feature: c.feature,
        })
        .collect();
    let metrics: Value = serde_json::from_str(&record.metrics).unwrap_or(Value::Null);
    let validation = metrics.get("validation");
    Some(ChurnRisk {
        probability,
        horizon_days: horizon,
        level: match probability {
            p if p < 0.3 => "low",
            p if p < 0.6 => "medium",
            _ => "high",
        },
        status: if since.is_some_and(|days| days < i64::from(horizon)) { "active" } else { "lapsed" },
        days_since_last_activity: since,
        expected_active_days: expected,
        factors,
        model: ChurnModelSummary {
            id: record.model_id.clone(),
            version: record.version,
            trained_at: record.trained_at_us.map(rfc3339),
            family: metrics.get("family").and_then(Value::as_str).unwrap_or("logistic").to_owned(),
            roc_auc: validation.and_then(|v| v.get("roc_auc")).and_then(Value::as_f64),
            brier: validation.and_then(|v| v.get("brier")).and_then(Value::as_f64),
        },
    })
}

/// The churn probability of each user active within the horizon before `today`, by pseudonym.
pub fn score_active(
    model: &ChurnModel,
    histories: &[(String, History)],
    today: i64,
    horizon: u32,
) -> Vec<(String, f64)> {
    histories
        .iter()
        .filter(|(_, history)| history.active_between(today - i64::from(horizon), today) > 0)
        .filter_map(|(key, history)| {
            model.churn_probability(history, cutoff(history, today), horizon).map(|p| (key.clone(), p))
        })
        .collect()
}

/// The probability alone (no simulation, no factors).
pub fn probability(model: &ChurnModel, days: &[UserDay], today: i64, horizon: u32) -> Option<f64> {
    let history = history_of(days)?;
    model.churn_probability(&history, cutoff(&history, today), horizon)
}

/// A user's kept days (all of them: the first and last say how long they stayed and how long
/// they are gone, beyond the model's look-back).
pub async fn user_days(state: &AppState, user: &UserRecord) -> Result<Vec<UserDay>, ApiError> {
    Ok(state.store.user_days(&user.user_key, 0).await?)
}
