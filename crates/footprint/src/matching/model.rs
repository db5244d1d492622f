//! Seed 001's model feedback loop: `POST /api/ml/update` refits the `match_optimizer`, a
//! regularised logistic model of acceptance on the match score and the constraint
//! satisfactions, from decided matches of users who consented to `improvement`, and keeps each
//! fit as a new version in the model registry.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use footprint_analytics::logistic::{self, BinaryMetrics, LogisticConfig, LogisticModel};
use footprint_analytics::rng::SplitMix64;
use footprint_store::{ModelFilter, ModelRecord};
use serde::Serialize;
use serde_json::{Value, json};

use crate::accounts::audit;
use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::time::DAY_US;
use crate::tracking::consent;
use crate::tracking::schema as matching;

pub const MODEL_NAME: &str = "match_optimizer";
pub const MODEL_TYPE: &str = crate::kernel::registry::MATCH_CLASSIFIER.model_type;
const SCORE: &str = "match_score";

/// The training set: one row per decided match, features in `features` order.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingSet {
    pub features: Vec<String>,
    pub rows: Vec<Vec<f64>>,
    pub labels: Vec<bool>,
    /// Whether each row is held out for validation.
    pub held_out: Vec<bool>,
}

/// Decides which rows validate: a hash of the match, so a match stays on its side across refits.
fn held_out(user_key: &str, match_id: &str, fraction: f64) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in user_key.bytes().chain([0]).chain(match_id.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    SplitMix64::new(hash).next_f64() < fraction
}

/// Builds the rows: the match score and every constraint seen; a constraint a proposal did not
/// carry takes the mean of those that did.
pub fn training_set(matches: &[(matching::ProposalRow, bool)], validation_fraction: f64) -> TrainingSet {
    let constraint_names: BTreeSet<&String> =
        matches.iter().flat_map(|(row, _)| row.proposal.constraints.keys()).collect();
    let mut features = vec![SCORE.to_owned()];
    features.extend(constraint_names.iter().map(|name| (*name).clone()));
    let mut sums: HashMap<&str, (f64, f64)> = HashMap::new();
    for (row, _) in matches {
        if row.proposal.match_score.is_finite() {
            let entry = sums.entry(SCORE).or_default();
            entry.0 += row.proposal.match_score;
            entry.1 += 1.0;
        }
        for (name, value) in &row.proposal.constraints {
            let entry = sums.entry(name.as_str()).or_default();
            entry.0 += value;
            entry.1 += 1.0;
        }
    }
    let mean = |name: &str| sums.get(name).filter(|(_, n)| *n > 0.0).map_or(0.0, |(sum, n)| sum / n);
    let mut set =
        TrainingSet { features: features.clone(), rows: Vec::new(), labels: Vec::new(), held_out: Vec::new() };
    for (row, accepted) in matches {
        let values = features
            .iter()
            .map(|name| {
                let value = if name == SCORE {
                    Some(row.proposal.match_score)
                } else {
                    row.proposal.constraints.get(name).copied()
                };
                value.filter(|v| v.is_finite()).unwrap_or_else(|| mean(name))
            })
            .collect();
        set.rows.push(values);
        set.labels.push(*accepted);
        set.held_out.push(held_out(&row.user_key, &row.match_id, validation_fraction));
    }
    set
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub model_id: String,
    pub name: String,
    pub version: i64,
    pub trained_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpdateReport {
    /// `success`.
    pub status: &'static str,
    pub model: ModelSummary,
    /// Change in log-odds of acceptance per unit of each feature.
    pub weights: BTreeMap<String, f64>,
    /// Per standard deviation of each feature: comparable across features.
    pub standardized_weights: BTreeMap<String, f64>,
    pub intercept: f64,
    pub metrics: Value,
    pub rows_used: u64,
    /// Decided matches left out because their user did not consent to `improvement`.
    pub rows_without_consent: u64,
    pub data_window: Value,
}

/// Refits the model and stores it as a new version.
pub async fn update(state: &AppState, actor: &str) -> Result<UpdateReport, ApiError> {
    let config = state.config.match_model.clone();
    let now_us = state.clock.now_us();
    let from_us = (config.window_days > 0).then(|| now_us - i64::from(config.window_days) * DAY_US);

    let mut consents: HashMap<String, bool> = HashMap::new();
    let mut decided = Vec::new();
    let mut without_consent = 0u64;
    for (row, decision) in matching::matches_in(state, from_us, None).await? {
        let Some(decision) = decision else { continue };
        let allowed = match consents.get(&row.user_id) {
            Some(allowed) => *allowed,
            None => {
                let allowed = consent::current(state, &row.user_id).await?.improvement;
                consents.insert(row.user_id.clone(), allowed);
                allowed
            }
        };
        if allowed {
            decided.push((row, decision.accepted));
        } else {
            without_consent += 1;
        }
    }
    let needed = u64::from(config.min_training_rows);
    let available = decided.len() as u64;
    let accepted = decided.iter().filter(|(_, accepted)| *accepted).count();
    if available < needed {
        return Err(ApiError::InsufficientData {
            message: format!(
                "refitting {MODEL_NAME} needs at least {needed} decided matches of users who consented to improvement; there are {available}"
            ),
            needed,
            available,
        });
    }
    if accepted == 0 || accepted == decided.len() {
        return Err(ApiError::InsufficientData {
            message: format!(
                "refitting {MODEL_NAME} needs both accepted and rejected matches; all {available} have the same decision"
            ),
            needed,
            available,
        });
    }

    let set = training_set(&decided, config.validation_fraction);
    let hyper = LogisticConfig { l2: config.l2, ..LogisticConfig::default() };
    let fit_set = set.clone();
    let (model, train_metrics, validation_metrics) = tokio::task::spawn_blocking(move || fit(&fit_set, &hyper))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::Validation(format!("the model could not be fitted: {error}")))?;

    let data_window = json!({
        "from": from_us.map(rfc3339),
        "to": rfc3339(now_us),
        "days": (config.window_days > 0).then_some(config.window_days),
    });
    let metrics = json!({"train": train_metrics, "validation": validation_metrics});
    let weights: BTreeMap<String, f64> = set.features.iter().cloned().zip(model.weights.iter().copied()).collect();
    let standardized: BTreeMap<String, f64> =
        set.features.iter().cloned().zip(model.standardized_weights.iter().copied()).collect();
    let parameters = json!({"features": set.features, "model": model});
    let record = ModelRecord {
        hyperparameters: json!({"l2": config.l2, "validation_fraction": config.validation_fraction}).to_string(),
        data_window: data_window.to_string(),
        metrics: metrics.to_string(),
        parameters: parameters.to_string(),
        rows_used: i64::try_from(available).unwrap_or(i64::MAX),
        trained_at_us: Some(now_us),
        ..ModelRecord::registered(&ulid::Ulid::new().to_string(), MODEL_NAME, MODEL_TYPE, "ready", now_us)
    };
    let stored = state.store.create_model(record).await?;
    audit::record(
        state,
        "ml.update",
        Some(actor),
        None,
        "success",
        json!({"model": MODEL_NAME, "version": stored.version, "rows_used": available}),
    )
    .await;
    Ok(UpdateReport {
        status: "success",
        model: ModelSummary {
            model_id: stored.model_id,
            name: stored.name,
            version: stored.version,
            trained_at: stored.trained_at_us.map(rfc3339),
        },
        weights,
        standardized_weights: standardized,
        intercept: model.intercept,
        metrics,
        rows_used: available,
        rows_without_consent: without_consent,
        data_window,
    })
}

type Fitted = (LogisticModel, Option<BinaryMetrics>, Option<BinaryMetrics>);

fn fit(set: &TrainingSet, config: &LogisticConfig) -> Result<Fitted, logistic::FitError> {
    let pick = |validation: bool| -> (Vec<Vec<f64>>, Vec<bool>) {
        set.rows
            .iter()
            .zip(&set.labels)
            .zip(&set.held_out)
            .filter(|(_, held)| **held == validation)
            .map(|((row, label), _)| (row.clone(), *label))
            .unzip()
    };
    let (train_rows, train_labels) = pick(false);
    let (validation_rows, validation_labels) = pick(true);
    // With too few rows on one side, or one class only in training, train on everything.
    let both_classes = train_labels.iter().any(|l| *l) && train_labels.iter().any(|l| !*l);
    let (model, validated) = if both_classes && train_rows.len() >= 4 {
        (logistic::fit(&train_rows, &train_labels, config)?, true)
    } else {
        (logistic::fit(&set.rows, &set.labels, config)?, false)
    };
    let score = |rows: &[Vec<f64>], labels: &[bool]| {
        let probabilities: Vec<f64> = rows.iter().map(|row| model.predict_proba(row)).collect();
        BinaryMetrics::compute(&probabilities, labels)
    };
    let train = if validated { score(&train_rows, &train_labels) } else { score(&set.rows, &set.labels) };
    let validation = if validated { score(&validation_rows, &validation_labels) } else { None };
    Ok((model, train, validation))
}

/// Records a version that could not be fitted, with the reason and the counts, and no weights
/// (`status` `empty`): what `footprint init-model` leaves when there is too little data.
pub async fn record_empty(
    state: &AppState,
    reason: &str,
    needed: u64,
    available: u64,
) -> Result<ModelRecord, ApiError> {
    let now_us = state.clock.now_us();
    let record = ModelRecord {
        metrics: json!({"reason": reason, "needed": needed, "available": available}).to_string(),
        error: Some(reason.to_owned()),
        trained_at_us: Some(now_us),
        ..ModelRecord::registered(&ulid::Ulid::new().to_string(), MODEL_NAME, MODEL_TYPE, "empty", now_us)
    };
    let stored = state.store.create_model(record).await?;
    audit::record(
        state,
        "ml.init",
        Some("cli"),
        None,
        "empty",
        json!({"model": MODEL_NAME, "version": stored.version}),
    )
    .await;
    Ok(stored)
}

/// The latest stored version, if any.
pub async fn latest(state: &AppState) -> Result<Option<ModelRecord>, ApiError> {
    let filter = ModelFilter { name: Some(MODEL_NAME.to_owned()), ..ModelFilter::default() };
    Ok(state.store.models(filter).await?.into_iter().max_by_key(|model| model.version))
}
