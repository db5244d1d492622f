//! L2-regularised logistic regression for small dense problems, fitted by Newton–Raphson (IRLS),
//! and the usual metrics of a binary classifier (confusion at 0.5, ROC AUC, Brier, log loss).

use serde::{Deserialize, Serialize};

use crate::stats::solve_linear_system;

/// Parameters of [`fit`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticConfig {
    /// Strength λ of the penalty (λ/2)·Σw² on the feature weights (never on the intercept);
    /// scikit-learn's `C` is 1/λ. 0 fits plain maximum likelihood, which diverges on separable data.
    pub l2: f64,
    pub max_iterations: usize,
    /// The fit has converged when no coefficient moves by more than this in a Newton step.
    pub tolerance: f64,
    /// Fit on features scaled to mean 0 and standard deviation 1, so that the penalty treats
    /// every feature alike whatever its unit. The model still predicts from raw features.
    pub standardize: bool,
}

impl Default for LogisticConfig {
    fn default() -> Self {
        Self { l2: 1.0, max_iterations: 100, tolerance: 1e-8, standardize: true }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("no rows to fit")]
    Empty,
    #[error("{rows} rows but {labels} labels")]
    LengthMismatch { rows: usize, labels: usize },
    #[error("row {row} has {found} features, expected {expected}")]
    RaggedRows { row: usize, expected: usize, found: usize },
    #[error("row {row} has a non-finite value")]
    NonFinite { row: usize },
    #[error("every label is {label}: a model needs both classes")]
    OneClass { label: bool },
    #[error("invalid config: {0}")]
    InvalidConfig(&'static str),
    #[error("the newton system is singular (constant or collinear features without l2)")]
    Singular,
    #[error("did not converge in {iterations} iterations")]
    DidNotConverge { iterations: usize },
}

/// A fitted model: P(y) = σ(intercept + Σ weightsⱼ·xⱼ) on raw features, equivalently
/// σ(standardized_intercept + Σ standardized_weightsⱼ·(xⱼ − meansⱼ)/scalesⱼ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    pub intercept: f64,
    /// On the original feature scale: the change in log-odds per unit of each feature.
    pub weights: Vec<f64>,
    pub standardized_intercept: f64,
    /// Per standard deviation of each feature: comparable across features.
    pub standardized_weights: Vec<f64>,
    /// The feature means used to standardise (0 without standardisation).
    pub means: Vec<f64>,
    /// The feature standard deviations used to standardise (1 without standardisation or for a
    /// constant feature).
    pub scales: Vec<f64>,
    /// Newton steps taken.
    pub iterations: usize,
    /// The inverse of the penalised log loss's Hessian at the fit, on the standardised scale
    /// (a Laplace approximation: with the L2 penalty it is narrower than the unpenalised
    /// maximum-likelihood covariance),
    /// intercept first, row-major ((k + 1)²): the coefficients' approximate covariance. Empty
    /// when the Hessian could not be inverted (or for a model stored before it was kept).
    #[serde(default)]
    pub covariance: Vec<f64>,
}

impl LogisticModel {
    /// The central interval, at `level`, of the probability for `features`, from the
    /// coefficients' covariance (a normal interval on the log-odds, mapped through σ).
    /// `None` without a covariance or for features of the wrong length.
    pub fn probability_interval(&self, features: &[f64], level: f64) -> Option<(f64, f64)> {
        let dim = self.weights.len() + 1;
        if features.len() != self.weights.len() || self.covariance.len() != dim * dim {
            return None;
        }
        let mut extended = Vec::with_capacity(dim);
        extended.push(1.0);
        extended.extend(features.iter().zip(&self.means).zip(&self.scales).map(|((x, m), s)| (x - m) / s));
        let mut variance = 0.0;
        for (i, xi) in extended.iter().enumerate() {
            for (j, xj) in extended.iter().enumerate() {
                variance += xi * self.covariance[i * dim + j] * xj;
            }
        }
        let quantile = crate::stats::normal_quantile(0.5 + level / 2.0)?;
        let logit = self.intercept + features.iter().zip(&self.weights).map(|(x, w)| x * w).sum::<f64>();
        let half = quantile * variance.max(0.0).sqrt();
        Some((sigmoid(logit - half), sigmoid(logit + half)))
    }

    /// The probability of the positive class; NaN when `features` does not have one value per weight.
    pub fn predict_proba(&self, features: &[f64]) -> f64 {
        if features.len() != self.weights.len() {
            return f64::NAN;
        }
        sigmoid(self.intercept + features.iter().zip(&self.weights).map(|(x, w)| x * w).sum::<f64>())
    }
}

/// σ(z) = 1/(1 + e^(−z)), computed without overflow for large |z|.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// ln(1 + e^a) without overflow: the log loss of a row whose wrong-class margin is `a`.
fn softplus(a: f64) -> f64 {
    a.max(0.0) + (-a.abs()).exp().ln_1p()
}

/// The design matrix the optimiser sees: rows of k (possibly standardised) features, row-major.
struct Design {
    values: Vec<f64>,
    k: usize,
    targets: Vec<f64>,
}

impl Design {
    fn row(&self, index: usize) -> &[f64] {
        &self.values[index * self.k..(index + 1) * self.k]
    }

    fn linear(&self, index: usize, coefficients: &[f64]) -> f64 {
        coefficients[0] + self.row(index).iter().zip(&coefficients[1..]).map(|(x, w)| x * w).sum::<f64>()
    }

    /// Σ log loss + (λ/2)·Σw², the intercept `coefficients[0]` unpenalised.
    fn objective(&self, coefficients: &[f64], l2: f64) -> f64 {
        let loss: f64 = (0..self.targets.len())
            .map(|index| {
                let z = self.linear(index, coefficients);
                if self.targets[index] > 0.5 { softplus(-z) } else { softplus(z) }
            })
            .sum();
        loss + 0.5 * l2 * coefficients[1..].iter().map(|w| w * w).sum::<f64>()
    }

    /// The gradient Xᵀ(p − y) + λw and Hessian XᵀWX + λI (W = p(1 − p)) of the objective, with a
    /// leading column of ones for the intercept; the Hessian row-major.
    fn gradient_and_hessian(&self, coefficients: &[f64], l2: f64) -> (Vec<f64>, Vec<f64>) {
        let dim = self.k + 1;
        let mut gradient = vec![0.0; dim];
        let mut hessian = vec![0.0; dim * dim];
        let mut extended = vec![1.0; dim];
        for (index, target) in self.targets.iter().enumerate() {
            extended[1..].copy_from_slice(self.row(index));
            let p = sigmoid(self.linear(index, coefficients));
            let weight = p * (1.0 - p);
            for (i, &xi) in extended.iter().enumerate() {
                gradient[i] += (p - target) * xi;
                for (j, &xj) in extended.iter().enumerate() {
                    hessian[i * dim + j] += weight * xi * xj;
                }
            }
        }
        for feature in 1..dim {
            gradient[feature] += l2 * coefficients[feature];
            hessian[feature * dim + feature] += l2;
        }
        (gradient, hessian)
    }
}

/// Checks the input and returns the number of features.
fn validate(rows: &[Vec<f64>], labels: &[bool], config: &LogisticConfig) -> Result<usize, FitError> {
    if !(config.l2 >= 0.0 && config.l2.is_finite()) {
        return Err(FitError::InvalidConfig("l2 must be finite and non-negative"));
    }
    if config.tolerance.is_nan() || config.tolerance < 0.0 {
        return Err(FitError::InvalidConfig("tolerance must be non-negative"));
    }
    validate_rows(rows, labels)
}

/// Checks rows of finite features, all of one length, with a label each and both classes among
/// the labels; returns the number of features. Shared by the classifiers of this crate.
pub(crate) fn validate_rows(rows: &[Vec<f64>], labels: &[bool]) -> Result<usize, FitError> {
    let first = rows.first().ok_or(FitError::Empty)?;
    if rows.len() != labels.len() {
        return Err(FitError::LengthMismatch { rows: rows.len(), labels: labels.len() });
    }
    let k = first.len();
    for (row, values) in rows.iter().enumerate() {
        if values.len() != k {
            return Err(FitError::RaggedRows { row, expected: k, found: values.len() });
        }
        if values.iter().any(|value| !value.is_finite()) {
            return Err(FitError::NonFinite { row });
        }
    }
    if labels.iter().all(|&label| label == labels[0]) {
        return Err(FitError::OneClass { label: labels[0] });
    }
    Ok(k)
}

/// Column means and population standard deviations; a constant column keeps scale 1.
fn column_scaling(rows: &[Vec<f64>], k: usize) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len() as f64;
    let mut means = vec![0.0; k];
    for row in rows {
        for (mean, value) in means.iter_mut().zip(row) {
            *mean += value / n;
        }
    }
    let mut scales = vec![0.0; k];
    for row in rows {
        for ((scale, value), mean) in scales.iter_mut().zip(row).zip(&means) {
            *scale += (value - mean).powi(2) / n;
        }
    }
    for scale in &mut scales {
        *scale = if scale.sqrt() > 1e-12 && scale.is_finite() { scale.sqrt() } else { 1.0 };
    }
    (means, scales)
}

/// Fits an L2-regularised logistic regression by Newton–Raphson: each step solves
/// H·Δ = g for the Hessian H and gradient g of the penalised log loss (the IRLS step), halving
/// it until the objective does not increase, and stops when no coefficient moves by more than
/// `tolerance`. The objective is convex (strictly when `l2` > 0), so the result does not depend
/// on the starting point, which is the intercept-only fit logit(ȳ).
pub fn fit(rows: &[Vec<f64>], labels: &[bool], config: &LogisticConfig) -> Result<LogisticModel, FitError> {
    let k = validate(rows, labels, config)?;
    let (means, scales) = if config.standardize { column_scaling(rows, k) } else { (vec![0.0; k], vec![1.0; k]) };
    let values = rows
        .iter()
        .flat_map(|row| row.iter().zip(&means).zip(&scales).map(|((value, mean), scale)| (value - mean) / scale))
        .collect();
    let targets: Vec<f64> = labels.iter().map(|&label| if label { 1.0 } else { 0.0 }).collect();
    let positive_rate = targets.iter().sum::<f64>() / targets.len() as f64;
    let design = Design { values, k, targets };

    let mut coefficients = vec![0.0; k + 1];
    coefficients[0] = (positive_rate / (1.0 - positive_rate)).ln();
    let mut objective = design.objective(&coefficients, config.l2);
    for iteration in 1..=config.max_iterations {
        let (gradient, hessian) = design.gradient_and_hessian(&coefficients, config.l2);
        let step = solve_linear_system(hessian, gradient, 1e-14).ok_or(FitError::Singular)?;
        let largest_move = step.iter().fold(0.0_f64, |largest, delta| largest.max(delta.abs()));
        let mut fraction = 1.0;
        let mut accepted = None;
        for _ in 0..40 {
            let candidate: Vec<f64> = coefficients.iter().zip(&step).map(|(c, delta)| c - fraction * delta).collect();
            let candidate_objective = design.objective(&candidate, config.l2);
            // A hair of slack: at the optimum, rounding alone can make a tiny step look uphill.
            if candidate_objective <= objective + 1e-12 * objective.abs().max(1.0) {
                accepted = Some((candidate, candidate_objective));
                break;
            }
            fraction /= 2.0;
        }
        let Some((candidate, candidate_objective)) = accepted else {
            return Err(FitError::DidNotConverge { iterations: iteration });
        };
        coefficients = candidate;
        objective = candidate_objective;
        if largest_move <= config.tolerance {
            let (_, hessian) = design.gradient_and_hessian(&coefficients, config.l2);
            return model(&coefficients, means, scales, iteration, invert(&hessian, k + 1));
        }
    }
    Err(FitError::DidNotConverge { iterations: config.max_iterations })
}

/// Maps coefficients fitted on standardised features back to raw ones:
/// wⱼ = w̃ⱼ/sⱼ and b = b̃ − Σ w̃ⱼ·mⱼ/sⱼ.
fn model(
    coefficients: &[f64],
    means: Vec<f64>,
    scales: Vec<f64>,
    iterations: usize,
    covariance: Vec<f64>,
) -> Result<LogisticModel, FitError> {
    let standardized_intercept = coefficients[0];
    let standardized_weights = coefficients[1..].to_vec();
    let weights: Vec<f64> = standardized_weights.iter().zip(&scales).map(|(w, scale)| w / scale).collect();
    let intercept = standardized_intercept - weights.iter().zip(&means).map(|(w, mean)| w * mean).sum::<f64>();
    if !intercept.is_finite() || weights.iter().any(|w| !w.is_finite()) {
        return Err(FitError::DidNotConverge { iterations });
    }
    Ok(LogisticModel {
        intercept,
        weights,
        standardized_intercept,
        standardized_weights,
        means,
        scales,
        iterations,
        covariance,
    })
}

/// The inverse of a dim × dim matrix (row-major), column by column; empty when singular.
fn invert(matrix: &[f64], dim: usize) -> Vec<f64> {
    let mut inverse = vec![0.0; dim * dim];
    for column in 0..dim {
        let mut unit = vec![0.0; dim];
        unit[column] = 1.0;
        let Some(solved) = solve_linear_system(matrix.to_vec(), unit, 1e-14) else {
            return Vec::new();
        };
        for (row, value) in solved.into_iter().enumerate() {
            inverse[row * dim + column] = value;
        }
    }
    inverse
}

mod curves;
mod metrics;

pub use curves::*;
pub use metrics::*;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::rng::SplitMix64;

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= tolerance
    }

    /// Three features on different scales; the label depends on feature 0 only.
    fn generated(n_rows: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<bool>) {
        let mut rng = SplitMix64::new(seed);
        let mut rows = Vec::with_capacity(n_rows);
        let mut labels = Vec::with_capacity(n_rows);
        for _ in 0..n_rows {
            let signal = rng.next_f64() * 2.0 - 1.0;
            let noise = rng.next_f64() * 2.0 - 1.0;
            let wide_noise = 100.0 * rng.next_f64();
            labels.push(rng.next_f64() < sigmoid(4.0 * signal));
            rows.push(vec![signal, noise, wide_noise]);
        }
        (rows, labels)
    }

    #[test]
    fn the_informative_feature_dominates() {
        let (rows, labels) = generated(600, 11);
        let model = fit(&rows, &labels, &LogisticConfig::default()).unwrap();
        let [signal, noise, wide_noise] = model.standardized_weights[..] else { panic!("three weights") };
        assert!(signal > 1.0, "{model:?}");
        assert!(signal.abs() > 5.0 * noise.abs().max(wide_noise.abs()), "{model:?}");
        // Raw-scale and standardised coefficients give the same prediction.
        let row = &rows[0];
        let standardized: f64 = model.standardized_intercept
            + (0..3).map(|j| model.standardized_weights[j] * (row[j] - model.means[j]) / model.scales[j]).sum::<f64>();
        assert!(close(model.predict_proba(row), sigmoid(standardized), 1e-12));
        assert!(close(model.weights[2], model.standardized_weights[2] / model.scales[2], 1e-15));
    }

    #[test]
    fn maximum_likelihood_on_a_two_by_two_table() {
        // Without penalty the fit reproduces the table: at x = 0 one positive in four gives
        // intercept logit(1/4) = −ln 3; at x = 1 three in four give logit(3/4) = ln 3, so the
        // weight is the log odds ratio ln 9.
        let rows: Vec<Vec<f64>> = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0].iter().map(|&x| vec![x]).collect();
        let labels = [true, false, false, false, true, true, true, false];
        let config = LogisticConfig { l2: 0.0, standardize: false, ..LogisticConfig::default() };
        let model = fit(&rows, &labels, &config).unwrap();
        assert!(close(model.intercept, -(3.0_f64.ln()), 1e-9), "{model:?}");
        assert!(close(model.weights[0], 9.0_f64.ln(), 1e-9), "{model:?}");
        let standardized = fit(&rows, &labels, &LogisticConfig { l2: 0.0, ..LogisticConfig::default() }).unwrap();
        assert!(close(standardized.intercept, model.intercept, 1e-9));
        assert!(close(standardized.weights[0], model.weights[0], 1e-9));
        assert!(close(standardized.predict_proba(&[1.0]), 0.75, 1e-9));
    }

    #[test]
    fn an_intercept_only_model_predicts_the_base_rate() {
        let rows = vec![Vec::new(); 4];
        let model = fit(&rows, &[true, true, true, false], &LogisticConfig::default()).unwrap();
        assert!(close(model.intercept, 3.0_f64.ln(), 1e-12));
        assert!(close(model.predict_proba(&[]), 0.75, 1e-12));
        assert!(model.predict_proba(&[1.0]).is_nan(), "wrong number of features");
    }

    #[test]
    fn the_penalty_makes_separable_data_converge() {
        let rows = vec![vec![-2.0], vec![-1.0], vec![1.0], vec![2.0]];
        let labels = [false, false, true, true];
        let model = fit(&rows, &labels, &LogisticConfig::default()).unwrap();
        assert!(model.weights[0] > 0.0 && model.weights[0].is_finite());
        assert!(model.predict_proba(&[2.0]) > 0.5 && model.predict_proba(&[-2.0]) < 0.5);
        let stronger = fit(&rows, &labels, &LogisticConfig { l2: 10.0, ..LogisticConfig::default() }).unwrap();
        assert!(stronger.weights[0] < model.weights[0], "more penalty, smaller weight");
        let unpenalised = fit(&rows, &labels, &LogisticConfig { l2: 0.0, ..LogisticConfig::default() });
        assert!(matches!(unpenalised, Err(FitError::DidNotConverge { .. } | FitError::Singular)), "{unpenalised:?}");
    }

    #[test]
    fn invalid_input_is_an_error() {
        let config = LogisticConfig::default();
        assert_eq!(fit(&[], &[], &config), Err(FitError::Empty));
        assert_eq!(fit(&[vec![1.0]], &[true, false], &config), Err(FitError::LengthMismatch { rows: 1, labels: 2 }));
        assert_eq!(
            fit(&[vec![1.0], vec![1.0, 2.0]], &[true, false], &config),
            Err(FitError::RaggedRows { row: 1, expected: 1, found: 2 })
        );
        assert_eq!(fit(&[vec![1.0], vec![f64::NAN]], &[true, false], &config), Err(FitError::NonFinite { row: 1 }));
        assert_eq!(fit(&[vec![1.0], vec![2.0]], &[true, true], &config), Err(FitError::OneClass { label: true }));
        let negative = LogisticConfig { l2: -1.0, ..config };
        assert!(matches!(fit(&[vec![1.0], vec![2.0]], &[true, false], &negative), Err(FitError::InvalidConfig(_))));
        let no_iterations = LogisticConfig { max_iterations: 0, ..config };
        assert_eq!(
            fit(&[vec![1.0], vec![2.0]], &[true, false], &no_iterations),
            Err(FitError::DidNotConverge { iterations: 0 })
        );
        let collinear = LogisticConfig { l2: 0.0, standardize: false, ..config };
        let rows = vec![vec![1.0, 2.0], vec![2.0, 4.0], vec![3.0, 6.0], vec![4.0, 8.0]];
        assert_eq!(fit(&rows, &[true, false, false, true], &collinear), Err(FitError::Singular));
    }

    #[test]
    fn config_and_model_round_trip_through_json() {
        let config: LogisticConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, LogisticConfig::default());
        let config: LogisticConfig = serde_json::from_str(r#"{"l2": 0.5}"#).unwrap();
        assert_eq!(config.l2, 0.5);
        assert!(serde_json::from_str::<LogisticConfig>(r#"{"lambda": 0.5}"#).is_err());
        let (rows, labels) = generated(100, 3);
        let model = fit(&rows, &labels, &config).unwrap();
        let stored = serde_json::to_string(&model).unwrap();
        assert_eq!(serde_json::from_str::<LogisticModel>(&stored).unwrap(), model);
    }

    #[test]
    fn metrics_on_four_rows() {
        // At 0.5 only 0.8 is predicted positive: tp 1, fn 1 (0.35), tn 2. AUC: of the four
        // (positive, negative) pairs only 0.35 < 0.4 is misordered, 3/4. Brier:
        // (0.01 + 0.16 + 0.4225 + 0.04)/4 = 0.158125; log loss: −(ln 0.9 + ln 0.6 + ln 0.35 + ln 0.8)/4.
        let metrics = BinaryMetrics::compute(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert_eq!(metrics.confusion, Confusion { tp: 1, fp: 0, tn: 2, fn_: 1 });
        assert_eq!(metrics.n, 4);
        assert_eq!((metrics.accuracy, metrics.precision, metrics.recall), (0.75, 1.0, 0.5));
        assert!(close(metrics.f1, 2.0 / 3.0, 1e-12));
        assert!(close(metrics.roc_auc.unwrap(), 0.75, 1e-12));
        assert!(close(metrics.brier, 0.158125, 1e-12));
        let log_loss = -(0.9_f64.ln() + 0.6_f64.ln() + 0.35_f64.ln() + 0.8_f64.ln()) / 4.0;
        assert!(close(metrics.log_loss, log_loss, 1e-12));
    }

    #[test]
    fn metrics_edge_cases() {
        // A tie between a positive and a negative counts half.
        let tied = BinaryMetrics::compute(&[0.5, 0.5, 0.9], &[false, true, true]).unwrap();
        assert!(close(tied.roc_auc.unwrap(), 0.75, 1e-12));
        let one_class = BinaryMetrics::compute(&[0.2, 0.3], &[false, false]).unwrap();
        assert_eq!((one_class.roc_auc, one_class.precision, one_class.recall, one_class.f1), (None, 0.0, 0.0, 0.0));
        assert!(BinaryMetrics::compute(&[0.0, 1.0], &[true, false]).unwrap().log_loss.is_finite());
        assert_eq!(BinaryMetrics::compute(&[], &[]), None);
        assert_eq!(BinaryMetrics::compute(&[0.5], &[true, false]), None);
        assert_eq!(BinaryMetrics::compute(&[f64::NAN], &[true]), None);
        assert_eq!(BinaryMetrics::compute(&[1.5], &[true]), None);
    }

    proptest! {
        #[test]
        fn a_fit_predicts_probabilities_for_any_well_posed_problem(
            (rows, labels) in (1usize..4, 4usize..20).prop_flat_map(|(k, n)| (
                prop::collection::vec(prop::collection::vec(-10.0..10.0_f64, k), n),
                prop::collection::vec(any::<bool>(), n),
            )),
        ) {
            let fitted = fit(&rows, &labels, &LogisticConfig::default());
            if labels.iter().all(|&label| label == labels[0]) {
                let one_class = matches!(fitted, Err(FitError::OneClass { .. }));
                prop_assert!(one_class, "one class must be refused as such");
            } else {
                // With the L2 penalty the objective is strictly convex: a fit always exists.
                let model = fitted.expect("two classes and finite features are fitted");
                for row in &rows {
                    let p = model.predict_proba(row);
                    prop_assert!((0.0..=1.0).contains(&p), "p = {p}");
                }
            }
        }

        #[test]
        fn fitting_refuses_rather_than_panics_on_any_input(
            rows in prop::collection::vec(prop::collection::vec(prop::num::f64::ANY, 0..3), 0..8),
            labels in prop::collection::vec(any::<bool>(), 0..8),
        ) {
            let finite = rows.iter().flatten().all(|value| value.is_finite());
            if !finite || rows.len() != labels.len() {
                prop_assert!(fit(&rows, &labels, &LogisticConfig::default()).is_err());
            }
        }

        #[test]
        fn auc_is_a_probability_and_flips_with_the_scores(
            pairs in prop::collection::vec((0.0..=1.0_f64, any::<bool>()), 1..40),
        ) {
            let (probabilities, labels): (Vec<f64>, Vec<bool>) = pairs.into_iter().unzip();
            let metrics = BinaryMetrics::compute(&probabilities, &labels).unwrap();
            let flipped: Vec<f64> = probabilities.iter().map(|p| 1.0 - p).collect();
            let flipped_metrics = BinaryMetrics::compute(&flipped, &labels).unwrap();
            if let (Some(auc), Some(flipped_auc)) = (metrics.roc_auc, flipped_metrics.roc_auc) {
                prop_assert!((0.0..=1.0).contains(&auc));
                prop_assert!((auc + flipped_auc - 1.0).abs() < 1e-9);
            }
            prop_assert!((0.0..=1.0).contains(&metrics.brier));
        }
    }
}
