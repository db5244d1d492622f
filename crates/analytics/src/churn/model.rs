//! The daily hazard: training rows, the fit, the horizon's churn probability, the simulated
//! count of active days, each feature's contribution, and the time-ordered validation.

use serde::{Deserialize, Serialize};

use super::{ChurnConfig, FeatureSet, History};
use crate::logistic::{self, BinaryMetrics, CalibrationBin, FitError, LogisticConfig, LogisticModel};
use crate::rng::SplitMix64;
use crate::trees::{self, Trees, TreesConfig};

/// The family of the daily hazard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HazardKind {
    /// An L2-regularised logistic regression on standardised features.
    Logistic,
    /// Gradient-boosted trees ([`crate::trees`]), the number of trees chosen on the latest
    /// eighth of the training days.
    Trees,
}

/// A fitted daily hazard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Hazard {
    Logistic(LogisticModel),
    Trees(Trees),
}

impl Hazard {
    pub fn kind(&self) -> HazardKind {
        match self {
            Hazard::Logistic(_) => HazardKind::Logistic,
            Hazard::Trees(_) => HazardKind::Trees,
        }
    }

    pub fn predict_proba(&self, features: &[f64]) -> f64 {
        match self {
            Hazard::Logistic(model) => model.predict_proba(features),
            Hazard::Trees(model) => model.predict_proba(features),
        }
    }
}

/// A fitted daily hazard: P(active on day c) from the features of day c.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnModel {
    pub feature_set: FeatureSet,
    pub feature_names: Vec<String>,
    pub history_days: u32,
    pub hazard: Hazard,
    /// The training mean of each feature (what a contribution is measured against).
    pub feature_means: Vec<f64>,
    /// The days whose activity it was fitted on: `[from_day, to_day)`.
    pub from_day: i64,
    pub to_day: i64,
    /// User-days it was fitted on, and how many of them were active.
    pub rows: usize,
    pub active_rows: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChurnError {
    #[error("{0}")]
    Fit(#[from] FitError),
    #[error("no user-day to fit on between the first activity and the cut-off")]
    NoRows,
    #[error(
        "{eligible} users were active before the validation cut-off ({churned} of them churned); at least {needed} of each are needed"
    )]
    TooFewUsers { eligible: usize, churned: usize, needed: usize },
}

/// One feature's push on a user's daily chance of activity, in log-odds (for the logistic
/// hazard against the average user-day of training, for trees along their paths): negative
/// values raise the churn risk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    pub feature: String,
    pub value: f64,
    /// The training mean of the feature.
    pub typical: f64,
    pub log_odds: f64,
}

/// Training rows: every user-day `c` in `[from_day, to_day)` after the user's first day, its
/// features from the activity before `c` and its label "active on c". When there are more than
/// `max_rows`, each is kept with the same chance, decided by a hash of (user, day) and `seed`.
pub fn hazard_rows(
    histories: &[History],
    from_day: i64,
    to_day: i64,
    config: &ChurnConfig,
    set: FeatureSet,
    seed: u64,
) -> (Vec<Vec<f64>>, Vec<bool>, Vec<i64>) {
    let candidates: i64 = histories.iter().map(|h| (to_day - from_day.max(h.first_day() + 1)).max(0)).sum();
    let keep = if candidates as usize > config.max_training_rows {
        config.max_training_rows as f64 / candidates as f64
    } else {
        1.0
    };
    let window = i64::from(config.history_days);
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    let mut days = Vec::new();
    for (user_index, history) in histories.iter().enumerate() {
        for day in from_day.max(history.first_day() + 1)..to_day {
            if keep < 1.0 {
                let mut rng =
                    SplitMix64::new(seed ^ (user_index as u64).wrapping_mul(0x9E37_79B9) ^ (day as u64) << 32);
                if rng.next_f64() >= keep {
                    continue;
                }
            }
            if let Some(features) = history.features(day, day, window, set) {
                rows.push(features);
                labels.push(history.is_active(day));
                days.push(day);
            }
        }
    }
    (rows, labels, days)
}

/// Fits the hazard on the user-days of `[from_day, to_day)`.
pub fn fit(
    histories: &[History],
    from_day: i64,
    to_day: i64,
    config: &ChurnConfig,
    set: FeatureSet,
    kind: HazardKind,
) -> Result<ChurnModel, ChurnError> {
    let (rows, labels, days) = hazard_rows(histories, from_day, to_day, config, set, 0x00C0_FFEE);
    if rows.is_empty() {
        return Err(ChurnError::NoRows);
    }
    let hazard = match kind {
        HazardKind::Logistic => Hazard::Logistic(logistic::fit(
            &rows,
            &labels,
            &LogisticConfig { l2: config.l2, ..LogisticConfig::default() },
        )?),
        HazardKind::Trees => {
            // The latest eighth of the days chooses the number of trees.
            let split_day = to_day - ((to_day - from_day) / 8).max(1);
            let (mut fit_rows, mut fit_labels, mut check_rows, mut check_labels) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for ((row, label), day) in rows.iter().zip(&labels).zip(&days) {
                if *day < split_day {
                    fit_rows.push(row.clone());
                    fit_labels.push(*label);
                } else {
                    check_rows.push(row.clone());
                    check_labels.push(*label);
                }
            }
            let usable = |labels: &[bool]| labels.iter().any(|&l| l) && labels.iter().any(|&l| !l);
            if usable(&fit_labels) && usable(&check_labels) {
                Hazard::Trees(trees::fit_validated(&fit_rows, &fit_labels, &check_rows, &check_labels, &config.trees)?)
            } else {
                Hazard::Trees(trees::fit(&rows, &labels, None, &TreesConfig { rounds: 100, ..config.trees })?)
            }
        }
    };
    let n = rows.len() as f64;
    let feature_means = (0..rows[0].len()).map(|j| rows.iter().map(|row| row[j]).sum::<f64>() / n).collect();
    Ok(ChurnModel {
        feature_set: set,
        feature_names: set.names().iter().map(|name| (*name).to_owned()).collect(),
        history_days: config.history_days,
        hazard,
        feature_means,
        from_day,
        to_day,
        rows: rows.len(),
        active_rows: labels.iter().filter(|&&active| active).count(),
    })
}

impl ChurnModel {
    /// P(active on `day`) given the activity before `known_until`.
    pub fn activity_probability(&self, history: &History, day: i64, known_until: i64) -> Option<f64> {
        let features = history.features(day, known_until, i64::from(self.history_days), self.feature_set)?;
        Some(self.hazard.predict_proba(&features))
    }

    /// P(no activity in `[cutoff, cutoff + horizon_days)`) given the activity before `cutoff`:
    /// the product of the daily chances of inactivity along the path with no activity.
    pub fn churn_probability(&self, history: &History, cutoff: i64, horizon_days: u32) -> Option<f64> {
        let mut stays_away = 1.0;
        for day in cutoff..cutoff + i64::from(horizon_days) {
            stays_away *= 1.0 - self.activity_probability(history, day, cutoff)?;
        }
        Some(stays_away)
    }

    /// The expected number of active days in `[cutoff, cutoff + horizon_days)`, by simulating
    /// `paths` futures from the activity before `cutoff` (a simulated active day is the user's
    /// typical day of the window: their mean events, sessions and amount).
    pub fn expected_active_days(
        &self,
        history: &History,
        cutoff: i64,
        horizon_days: u32,
        paths: usize,
        seed: u64,
    ) -> f64 {
        let window = i64::from(self.history_days);
        let known = history.until(cutoff);
        let (from, to) = (known.index(cutoff - window), known.days.len());
        let mut rng = SplitMix64::new(seed);
        let mut total = 0usize;
        for _ in 0..paths.max(1) {
            let mut path = known.clone();
            for day in cutoff..cutoff + i64::from(horizon_days) {
                let Some(features) = path.features(day, day, window, self.feature_set) else { continue };
                if rng.next_f64() < self.hazard.predict_proba(&features) {
                    let typical = known.typical_day(from, to, day);
                    path.push(typical);
                    total += 1;
                }
            }
        }
        total as f64 / paths.max(1) as f64
    }

    /// Each feature's contribution at `cutoff` (from the activity before it), largest push first.
    pub fn contributions(&self, history: &History, cutoff: i64) -> Vec<Contribution> {
        let Some(features) = history.features(cutoff, cutoff, i64::from(self.history_days), self.feature_set) else {
            return Vec::new();
        };
        let pushes: Vec<f64> = match &self.hazard {
            Hazard::Logistic(model) => features
                .iter()
                .zip(&model.weights)
                .zip(&self.feature_means)
                .map(|((x, w), mean)| w * (x - mean))
                .collect(),
            Hazard::Trees(model) => model.contributions(&features).1,
        };
        let mut contributions: Vec<Contribution> = features
            .iter()
            .enumerate()
            .map(|(index, &value)| Contribution {
                feature: self.feature_names[index].clone(),
                value,
                typical: self.feature_means.get(index).copied().unwrap_or(f64::NAN),
                log_odds: pushes[index],
            })
            .collect();
        contributions.sort_by(|a, b| b.log_odds.abs().total_cmp(&a.log_odds.abs()));
        contributions
    }
}

/// Who is scored at a cut-off and what happened to them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scored {
    /// Index into the histories.
    pub user: usize,
    pub churn_probability: f64,
    pub churned: bool,
    /// Under 30 days since first seen.
    pub new_user: bool,
}

/// How a model's churn probabilities fared at one cut-off.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    pub cutoff_day: i64,
    pub horizon_days: u32,
    pub users: usize,
    pub churned: usize,
    /// Of the positive class "churned".
    pub metrics: Option<BinaryMetrics>,
    pub calibration: Vec<CalibrationBin>,
    pub new_users: Option<BinaryMetrics>,
    pub returning_users: Option<BinaryMetrics>,
}

/// Scores the users active within `active_within` days before `cutoff` (every user seen before
/// it when `None`) by their churn probability over `horizon_days`, against what happened.
pub fn score_at(
    model: &ChurnModel,
    histories: &[History],
    cutoff: i64,
    horizon_days: u32,
    active_within: Option<u32>,
) -> Vec<Scored> {
    let mut scored = Vec::new();
    for (user, history) in histories.iter().enumerate() {
        if history.first_day() >= cutoff {
            continue;
        }
        if let Some(within) = active_within
            && history.active_between(cutoff - i64::from(within), cutoff) == 0
        {
            continue;
        }
        let Some(churn_probability) = model.churn_probability(history, cutoff, horizon_days) else { continue };
        scored.push(Scored {
            user,
            churn_probability,
            churned: history.active_between(cutoff, cutoff + i64::from(horizon_days)) == 0,
            new_user: cutoff - history.first_day() < 30,
        });
    }
    scored
}

/// The validation of scores at a cut-off.
pub fn validation(scored: &[Scored], cutoff_day: i64, horizon_days: u32) -> Validation {
    let metrics_of = |filter: &dyn Fn(&Scored) -> bool| {
        let (probabilities, labels): (Vec<f64>, Vec<bool>) =
            scored.iter().filter(|s| filter(s)).map(|s| (s.churn_probability, s.churned)).unzip();
        BinaryMetrics::compute(&probabilities, &labels)
    };
    let (probabilities, labels): (Vec<f64>, Vec<bool>) =
        scored.iter().map(|s| (s.churn_probability, s.churned)).unzip();
    Validation {
        cutoff_day,
        horizon_days,
        users: scored.len(),
        churned: labels.iter().filter(|&&churned| churned).count(),
        metrics: BinaryMetrics::compute(&probabilities, &labels),
        calibration: logistic::calibration(&probabilities, &labels, 10),
        new_users: metrics_of(&|s| s.new_user),
        returning_users: metrics_of(&|s| !s.new_user),
    }
}

/// A model ready to serve and how the same specification did on the latest data it could be
/// checked on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trained {
    /// Fitted on every user-day up to `end_day`, of the family that validated better.
    pub model: ChurnModel,
    /// The same specification fitted on the user-days before `end_day − horizon`, scored at that
    /// cut-off on the users active in the horizon before it, against the horizon after it.
    pub validation: Validation,
}

/// Fits and validates on time-ordered data: the validation cut-off is `end_day − horizon` (the
/// latest whose outcome is known), the checked models see only the days before it, the family
/// with the lower Brier score there is kept, and the served model is refitted on every day up
/// to `end_day` (exclusive). Rows start at `start_day` (or the first day anyone was seen): the
/// histories must hold every active day from a look-back before it, or a user seen long ago
/// would look inactive on the days that were not read.
pub fn train(
    histories: &[History],
    start_day: i64,
    end_day: i64,
    config: &ChurnConfig,
    set: FeatureSet,
) -> Result<Trained, ChurnError> {
    let horizon = config.horizon_days;
    let cutoff = end_day - i64::from(horizon);
    let start = (histories.iter().map(History::first_day).min().unwrap_or(cutoff) + 1).max(start_day);
    let mut candidates = Vec::new();
    for kind in [HazardKind::Logistic, HazardKind::Trees] {
        let checked = match fit(histories, start, cutoff, config, set, kind) {
            Ok(checked) => checked,
            Err(ChurnError::Fit(_)) if !candidates.is_empty() => continue,
            Err(error) => return Err(error),
        };
        let scored = score_at(&checked, histories, cutoff, horizon, Some(horizon));
        candidates.push((kind, validation(&scored, cutoff, horizon)));
    }
    let brier = |v: &Validation| v.metrics.map_or(f64::INFINITY, |m| m.brier);
    let (kind, check) =
        candidates.into_iter().min_by(|a, b| brier(&a.1).total_cmp(&brier(&b.1))).ok_or(ChurnError::NoRows)?;
    let survived = check.users - check.churned;
    if check.churned.min(survived) < config.min_users.min(check.users.max(1)) || check.users < config.min_users {
        return Err(ChurnError::TooFewUsers {
            eligible: check.users,
            churned: check.churned,
            needed: config.min_users,
        });
    }
    let model = fit(histories, start, end_day, config, set, kind)?;
    Ok(Trained { model, validation: check })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::{ActiveDay, FeatureSet};

    fn day(day: i64) -> ActiveDay {
        ActiveDay { day, events: 3, sessions: 1, session_seconds: 300.0, amount: 0.0 }
    }

    /// Users of two kinds: loyal ones active every 2nd day, and leavers active every 3rd day
    /// until a day of their own, then gone.
    fn population(n: usize, end: i64) -> Vec<History> {
        let mut rng = SplitMix64::new(7);
        (0..n)
            .map(|i| {
                let start = rng.below(30) as i64;
                let days: Vec<ActiveDay> = if i % 2 == 0 {
                    (start..end).filter(|d| (d - start) % 2 == 0).map(day).collect()
                } else {
                    let stop = start + 20 + rng.below((end - start - 20) as usize) as i64;
                    (start..stop).filter(|d| (d - start) % 3 == 0).map(day).collect()
                };
                History::new(start, days)
            })
            .collect()
    }

    #[test]
    fn the_horizon_probability_is_the_product_of_the_daily_ones() {
        let histories = population(200, 150);
        let model = fit(&histories, 1, 120, &ChurnConfig::default(), FeatureSet::Full, HazardKind::Logistic).unwrap();
        let history = &histories[1];
        let cutoff = 120;
        let mut product = 1.0;
        for d in cutoff..cutoff + 10 {
            product *= 1.0 - model.activity_probability(history, d, cutoff).unwrap();
        }
        assert!((model.churn_probability(history, cutoff, 10).unwrap() - product).abs() < 1e-12);
        // A longer horizon can only make churn less likely.
        assert!(model.churn_probability(history, cutoff, 20).unwrap() <= product);
    }

    #[test]
    fn simulation_agrees_with_the_exact_chance_of_no_activity() {
        // With many paths, the share of paths with no active day approaches the exact product;
        // the expected count lies between 0 and the horizon.
        let histories = population(200, 150);
        let model = fit(&histories, 1, 120, &ChurnConfig::default(), FeatureSet::Full, HazardKind::Logistic).unwrap();
        let history = histories[2].until(120);
        let exact_none = model.churn_probability(&history, 120, 14).unwrap();
        let expected = model.expected_active_days(&history, 120, 14, 4000, 1);
        assert!((0.0..=14.0).contains(&expected));
        // A user active every 2nd day is expected on about half of the days.
        assert!((expected - 7.0).abs() < 2.5, "{expected}");
        assert!(exact_none < 0.05, "{exact_none}");
    }

    #[test]
    fn validation_separates_leavers_from_stayers() {
        let histories = population(400, 200);
        let config = ChurnConfig { horizon_days: 30, min_users: 20, ..ChurnConfig::default() };
        let trained = train(&histories, 0, 200, &config, FeatureSet::Full).unwrap();
        let metrics = trained.validation.metrics.unwrap();
        assert!(metrics.roc_auc.unwrap() > 0.9, "{metrics:?}");
        assert_eq!(trained.validation.cutoff_day, 170);
        assert_eq!(trained.model.to_day, 200);
        // Only users active in the 30 days before the cut-off are scored.
        let active = histories.iter().filter(|h| h.active_between(140, 170) > 0).count();
        assert_eq!(trained.validation.users, active);
        // Recency pushes a leaver long gone towards churn.
        let leaver = histories.iter().position(|h| h.last_day().unwrap() < 150).unwrap();
        let factors = trained.model.contributions(&histories[leaver], 170);
        let recency = factors.iter().find(|c| c.feature == "log_recency").unwrap();
        assert!(recency.value > recency.typical);
    }

    #[test]
    fn too_few_users_is_an_error_that_says_how_many() {
        let histories = population(6, 200);
        let error = train(&histories, 0, 200, &ChurnConfig::default(), FeatureSet::Full).unwrap_err();
        assert!(matches!(error, ChurnError::TooFewUsers { needed: 30, .. }), "{error}");
    }

    #[test]
    fn sampling_keeps_the_row_budget_and_is_reproducible() {
        let histories = population(100, 150);
        let config = ChurnConfig { max_training_rows: 2_000, ..ChurnConfig::default() };
        let (rows, labels, _) = hazard_rows(&histories, 1, 150, &config, FeatureSet::Rfm, 3);
        assert!(rows.len() > 1_500 && rows.len() < 2_500, "{}", rows.len());
        assert_eq!(rows.len(), labels.len());
        assert_eq!(rows[0].len(), FeatureSet::Rfm.names().len());
        assert_eq!(hazard_rows(&histories, 1, 150, &config, FeatureSet::Rfm, 3).0, rows);
    }
}
