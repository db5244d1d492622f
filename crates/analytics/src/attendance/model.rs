//! Training the attendance model and explaining its predictions.
//!
//! The examples are split by whole days: the latest days (about `validation_fraction` of the
//! examples) validate, the earlier ones train, and nothing computed for training — the overall
//! rate, the event types, the attributes' levels and fill-ins — looks at a validation row. Two
//! families are fitted on the training days: the regularised logistic regression and
//! gradient-boosted trees (their number chosen on the last eighth of the training days). The one
//! with the lower validation log loss serves, recalibrated on the validation days (Platt or
//! isotonic, whichever cross-fits better). The validation figures reported are cross-fitted:
//! each half of the validation days is scored with a calibration fitted on the other half.
//! Then the chosen family is refitted on every day (trees: their number scaled by the rows
//! added) and keeps that calibration and threshold: the latest days are the most like the ones
//! to come, and leaving them out costs more than the small change of sharpness the refit brings.
//! The model fitted before the refit is kept ([`AttendanceModel::held_out`]) to score the
//! validation days honestly.

use serde::{Deserialize, Serialize};

use super::features::{Example, FeatureSpace, History, examples_of, known};
use super::{DAY_US, EventInfo, RegistrationInfo};
use crate::calibration::Calibration;
use crate::logistic::{self, BinaryMetrics, CalibrationBin, FitError, LogisticConfig, LogisticModel};
use crate::trees::{self, Trees, TreesConfig};

/// Below this many training rows `Auto` fits the logistic regression only: boosted trees on a
/// few thousand registrations mostly learn noise (on the generated history of 2 700 they rank
/// worse than the regression), and the regression keeps its weights and intervals.
pub const MIN_TREES_ROWS: usize = 5_000;

/// The model family that serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Logistic,
    Trees,
}

/// Which family to train: both and the better on validation (`Auto`; trees only from
/// [`MIN_TREES_ROWS`] training rows), or one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FamilyChoice {
    #[default]
    Auto,
    Logistic,
    Trees,
}

/// A trained attendance model, serialisable into the registry. Models stored before the trees
/// and the calibration have neither: they serve the logistic regression as it was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttendanceModel {
    pub space: FeatureSpace,
    /// Always fitted; serves when `trees` is `None`.
    pub model: LogisticModel,
    #[serde(default)]
    pub trees: Option<Trees>,
    #[serde(default)]
    pub calibration: Option<Calibration>,
    /// Below this probability of attending, a registration is flagged as a likely no-show.
    #[serde(default)]
    pub no_show_threshold: Option<f64>,
    /// The same family fitted on the training days only, before the refit on every day: what
    /// scores the validation days, which the served model has learnt from. `None` in models
    /// stored before the refit (they were never refitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out: Option<Box<AttendanceModel>>,
}

/// How well the model finds no-shows (the class an organiser acts on) at its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoShowMetrics {
    /// A registration is flagged when its probability of attending is below this.
    pub threshold: f64,
    pub flagged: usize,
    pub no_shows: usize,
    /// Flagged registrations that were no-shows, over flagged ones (0 when none is flagged).
    pub precision: f64,
    /// No-shows flagged, over all no-shows (0 when there is none).
    pub recall: f64,
}

impl NoShowMetrics {
    pub fn compute(probabilities: &[f64], attended: &[bool], threshold: f64) -> Self {
        let flagged = probabilities.iter().filter(|p| **p < threshold).count();
        let no_shows = attended.iter().filter(|a| !**a).count();
        let hits = probabilities.iter().zip(attended).filter(|(p, a)| **p < threshold && !**a).count();
        let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        Self { threshold, flagged, no_shows, precision: ratio(hits, flagged), recall: ratio(hits, no_shows) }
    }

    /// The threshold (among the distinct predictions) with the best F1 for no-shows.
    pub fn best_threshold(probabilities: &[f64], attended: &[bool]) -> Option<f64> {
        let mut order: Vec<usize> = (0..probabilities.len()).collect();
        order.sort_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]));
        let no_shows = attended.iter().filter(|a| !**a).count();
        if no_shows == 0 {
            return None;
        }
        let (mut hits, mut best) = (0usize, None::<(f64, f64)>);
        for (rank, &index) in order.iter().enumerate() {
            hits += usize::from(!attended[index]);
            // Flagging the rank + 1 lowest: the threshold lies just above this prediction.
            let next = order.get(rank + 1).map(|&i| probabilities[i]);
            if next == Some(probabilities[index]) {
                continue;
            }
            let flagged = rank + 1;
            let f1 = 2.0 * hits as f64 / (flagged + no_shows) as f64;
            let threshold = next.map_or(1.0, |n| (n + probabilities[index]) / 2.0);
            if best.is_none_or(|(top, _)| f1 > top) {
                best = Some((f1, threshold));
            }
        }
        best.map(|(_, threshold)| threshold)
    }
}

/// One family's figures on the validation days (raw, before calibration).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyScore {
    pub family: Family,
    pub validation: Option<BinaryMetrics>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Training {
    pub model: AttendanceModel,
    pub family: Family,
    pub train: Option<BinaryMetrics>,
    /// The served (calibrated) model on the validation days, cross-fitted.
    pub validation: Option<BinaryMetrics>,
    pub train_rows: usize,
    pub validation_rows: usize,
    /// The first validation day (midnight UTC).
    pub validation_from_us: Option<i64>,
    pub families: Vec<FamilyScore>,
    /// Predicted against observed on the validation days (cross-fitted), tenths of probability.
    pub calibration_table: Vec<CalibrationBin>,
    pub no_shows: Option<NoShowMetrics>,
}

/// Settings of [`train`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    pub logistic: LogisticConfig,
    pub trees: TreesConfig,
    /// About this share of the examples, by whole days from the latest, validates (0–0.9).
    pub validation_fraction: f64,
    pub family: FamilyChoice,
    /// Refit the chosen family on the validation days too (the served model); off, the model
    /// fitted on the training days serves.
    pub refit: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            logistic: LogisticConfig::default(),
            trees: TreesConfig {
                max_depth: 4,
                min_leaf_rows: 40,
                learning_rate: 0.05,
                rounds: 400,
                // As many bins as a byte holds: lead times and ages are continuous, and 64
                // quantiles cost 0.001–0.002 of AUC on the appointments table.
                bins: 255,
                ..TreesConfig::default()
            },
            validation_fraction: 0.2,
            family: FamilyChoice::Auto,
            refit: true,
        }
    }
}

/// Where the latest whole days holding about `fraction` of the examples start: the index of the
/// first example of the day of the example at `(1 − fraction)·n` (so no day is split). `starts`
/// is in time order. 0 when that day is the first one (nothing would be left to train on).
pub fn validation_start(starts: &[i64], fraction: f64) -> usize {
    if starts.is_empty() || fraction <= 0.0 {
        return starts.len();
    }
    let at = ((starts.len() as f64) * (1.0 - fraction.clamp(0.0, 0.9))).round() as usize;
    let Some(&start) = starts.get(at.min(starts.len() - 1)) else {
        return starts.len();
    };
    let day = start.div_euclid(DAY_US) * DAY_US;
    starts.partition_point(|s| *s < day)
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Fit(#[from] FitError),
    #[error("no registration with a known outcome to train on before the validation days")]
    NoTrainingRows,
}

/// Trains on the earlier days and validates on the latest ones (see the module).
pub fn train(
    events: &[EventInfo],
    registrations: &[RegistrationInfo],
    options: &TrainOptions,
) -> Result<Training, TrainError> {
    let known = known(events, registrations);
    let starts: Vec<i64> = known.iter().map(|(e, _)| e.start_us).collect();
    let cut = validation_start(&starts, options.validation_fraction);
    if cut == 0 {
        return Err(TrainError::NoTrainingRows);
    }
    let space = FeatureSpace::fit(&known[..cut]);
    let (examples, _) = examples_of(&space, &known);
    train_examples(&examples, cut, space, options)
}

fn rows_and_labels(part: &[Example]) -> (Vec<Vec<f64>>, Vec<bool>) {
    (part.iter().map(|e| e.features.clone()).collect(), part.iter().map(|e| e.attended).collect())
}

/// Fits and chooses on examples already laid out in `space`, the first `cut` training.
fn train_examples(
    examples: &[Example],
    cut: usize,
    space: FeatureSpace,
    options: &TrainOptions,
) -> Result<Training, TrainError> {
    let (train_part, validation_part) = examples.split_at(cut);
    let (rows, labels) = rows_and_labels(train_part);
    let logistic_model = logistic::fit(&rows, &labels, &options.logistic)?;
    let trees_model = if options.family == FamilyChoice::Logistic
        || (options.family == FamilyChoice::Auto && train_part.len() < MIN_TREES_ROWS)
    {
        None
    } else {
        // The number of trees is chosen on the last eighth of the training days.
        let starts: Vec<i64> = train_part.iter().map(|e| e.event_start_us).collect();
        let inner = validation_start(&starts, 0.125);
        Some(if inner > 0 && inner < train_part.len() {
            trees::fit_validated(&rows[..inner], &labels[..inner], &rows[inner..], &labels[inner..], &options.trees)?
        } else {
            trees::fit(&rows, &labels, None, &TreesConfig { rounds: options.trees.rounds / 4, ..options.trees })?
        })
    };
    let (validation_rows, validation_labels) = rows_and_labels(validation_part);
    let raw = |model: &AttendanceModel, rows: &[Vec<f64>]| -> Vec<f64> {
        rows.iter().map(|row| model.raw_probability(row)).collect()
    };
    let logistic_served = AttendanceModel {
        space: space.clone(),
        model: logistic_model.clone(),
        trees: None,
        calibration: None,
        no_show_threshold: None,
        held_out: None,
    };
    let trees_served =
        trees_model.clone().map(|trees| AttendanceModel { trees: Some(trees), ..logistic_served.clone() });
    let mut families = vec![FamilyScore {
        family: Family::Logistic,
        validation: BinaryMetrics::compute(&raw(&logistic_served, &validation_rows), &validation_labels),
    }];
    if let Some(model) = &trees_served {
        families.push(FamilyScore {
            family: Family::Trees,
            validation: BinaryMetrics::compute(&raw(model, &validation_rows), &validation_labels),
        });
    }
    let chosen = match options.family {
        FamilyChoice::Logistic => Family::Logistic,
        FamilyChoice::Trees => Family::Trees,
        FamilyChoice::Auto => families
            .iter()
            .filter_map(|f| f.validation.map(|v| (f.family, v.log_loss)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(Family::Logistic, |(family, _)| family),
    };
    let mut model = match (chosen, trees_served) {
        (Family::Trees, Some(model)) => model,
        _ => logistic_served,
    };
    let family = model.family();
    // Recalibration on the validation days, halves by day; the reported figures cross-fitted.
    let validation_raw = raw(&model, &validation_rows);
    let middle_day = validation_part
        .get(validation_part.len() / 2)
        .map(|e| e.event_start_us.div_euclid(DAY_US) * DAY_US)
        .unwrap_or(i64::MAX);
    let halves: Vec<bool> = validation_part.iter().map(|e| e.event_start_us >= middle_day).collect();
    let (validation_probabilities, calibration) =
        match Calibration::choose(&validation_raw, &validation_labels, &halves) {
            Some((calibration, crossed)) => (crossed, Some(calibration)),
            None => (validation_raw.clone(), None),
        };
    model.calibration = calibration;
    model.no_show_threshold = NoShowMetrics::best_threshold(&validation_probabilities, &validation_labels);
    let train_probabilities: Vec<f64> = rows.iter().map(|row| model.probability(row)).collect();
    let validation = BinaryMetrics::compute(&validation_probabilities, &validation_labels);
    let calibration_table = logistic::calibration(&validation_probabilities, &validation_labels, 10);
    let no_shows = model
        .no_show_threshold
        .map(|threshold| NoShowMetrics::compute(&validation_probabilities, &validation_labels, threshold));
    if options.refit && !validation_part.is_empty() {
        model = refit(model, examples, cut, options)?;
    }
    Ok(Training {
        family,
        train: BinaryMetrics::compute(&train_probabilities, &labels),
        validation,
        train_rows: train_part.len(),
        validation_rows: validation_part.len(),
        validation_from_us: validation_part.first().map(|e| e.event_start_us.div_euclid(DAY_US) * DAY_US),
        families,
        calibration_table,
        no_shows,
        model,
    })
}

/// The served model, fitted on the first `trained_on` examples, refitted on all of them (its
/// family, calibration and threshold kept); the model fitted before is kept as `held_out`.
fn refit(
    fitted: AttendanceModel,
    examples: &[Example],
    trained_on: usize,
    options: &TrainOptions,
) -> Result<AttendanceModel, TrainError> {
    let (rows, labels) = rows_and_labels(examples);
    let logistic_model = logistic::fit(&rows, &labels, &options.logistic)?;
    let trees_model = match &fitted.trees {
        Some(trees) => {
            let scale = rows.len() as f64 / trained_on.max(1) as f64;
            let rounds = ((trees.trees.len().max(1) as f64) * scale).round() as usize;
            Some(trees::fit(&rows, &labels, None, &TreesConfig { rounds, ..options.trees })?)
        }
        None => None,
    };
    Ok(AttendanceModel {
        space: fitted.space.clone(),
        model: logistic_model,
        trees: trees_model,
        calibration: fitted.calibration.clone(),
        no_show_threshold: fitted.no_show_threshold,
        held_out: Some(Box::new(fitted)),
    })
}

/// One feature's push on a prediction, in log-odds before calibration: for the logistic
/// regression weight × (value − training mean); for trees the changes of node value along the
/// prediction's paths at the splits on this feature.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    pub feature: String,
    pub value: f64,
    pub contribution: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonPrediction {
    pub probability: f64,
    /// The 95 % interval of the probability from the logistic regression's coefficient
    /// uncertainty (through the calibration); `None` for trees.
    pub interval: Option<(f64, f64)>,
    /// Largest pushes first.
    pub contributions: Vec<Contribution>,
}

impl AttendanceModel {
    pub fn family(&self) -> Family {
        if self.trees.is_some() { Family::Trees } else { Family::Logistic }
    }

    /// The family's probability before calibration.
    pub fn raw_probability(&self, features: &[f64]) -> f64 {
        match &self.trees {
            Some(trees) => trees.predict_proba(features),
            None => self.model.predict_proba(features),
        }
    }

    /// The served probability of attending.
    pub fn probability(&self, features: &[f64]) -> f64 {
        let raw = self.raw_probability(features);
        self.calibration.as_ref().map_or(raw, |calibration| calibration.apply(raw))
    }

    pub fn predict(&self, event: &EventInfo, registered_at_us: i64, history: &History) -> PersonPrediction {
        self.explain(self.space.features(event, registered_at_us, history))
    }

    /// The prediction for a feature vector laid out in this model's space.
    pub fn explain(&self, features: Vec<f64>) -> PersonPrediction {
        let probability = self.probability(&features);
        let (interval, pushes) = match &self.trees {
            Some(trees) => (None, trees.contributions(&features).1),
            None => {
                let interval =
                    self.model.probability_interval(&features, 0.95).map(|(low, high)| match &self.calibration {
                        Some(calibration) => (calibration.apply(low), calibration.apply(high)),
                        None => (low, high),
                    });
                let pushes = features
                    .iter()
                    .enumerate()
                    .map(|(i, value)| self.model.weights[i] * (value - self.model.means.get(i).copied().unwrap_or(0.0)))
                    .collect();
                (interval, pushes)
            }
        };
        let mut contributions: Vec<Contribution> = features
            .iter()
            .zip(pushes)
            .enumerate()
            .map(|(i, (value, contribution))| Contribution {
                feature: self.space.names[i].clone(),
                value: *value,
                contribution,
            })
            .collect();
        contributions.sort_by(|a, b| {
            b.contribution.abs().total_cmp(&a.contribution.abs()).then_with(|| a.feature.cmp(&b.feature))
        });
        PersonPrediction { probability, interval, contributions }
    }

    /// Each feature's importance: the logistic regression's standardised weight (signed), or
    /// the trees' share of splits.
    pub fn importance(&self) -> Vec<(String, f64)> {
        let values = match &self.trees {
            Some(trees) => trees.split_shares(),
            None => self.model.standardized_weights.clone(),
        };
        self.space.names.iter().cloned().zip(values).collect()
    }
}

/// Scores examples already laid out in `model.space` with the served probability.
pub fn score(model: &AttendanceModel, examples: &[Example]) -> Vec<f64> {
    examples.iter().map(|e| model.probability(&e.features)).collect()
}
