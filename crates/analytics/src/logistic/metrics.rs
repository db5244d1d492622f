//! How well probabilities predict binary labels: the confusion counts at 0.5, accuracy,
//! precision, recall, F1, ROC AUC, Brier score and log loss, and the calibration table.

use serde::{Deserialize, Serialize};

/// Counts at the threshold 0.5 (a probability of exactly 0.5 predicts positive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
}

/// How well probabilities predict binary labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinaryMetrics {
    pub n: usize,
    pub accuracy: f64,
    /// tp/(tp + fp); 0 when nothing is predicted positive.
    pub precision: f64,
    /// tp/(tp + fn); 0 when no label is positive.
    pub recall: f64,
    /// The harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// P(a random positive scores above a random negative), ties counting ½; `None` unless both
    /// classes are present.
    pub roc_auc: Option<f64>,
    /// The mean of (p − y)².
    pub brier: f64,
    /// The mean of −ln p(true class), with p clipped to [1e-15, 1 − 1e-15].
    pub log_loss: f64,
    pub confusion: Confusion,
}

impl BinaryMetrics {
    /// `None` when empty, when the lengths differ, or when a probability is NaN or outside [0, 1].
    pub fn compute(probabilities: &[f64], labels: &[bool]) -> Option<BinaryMetrics> {
        if probabilities.is_empty()
            || probabilities.len() != labels.len()
            || probabilities.iter().any(|p| !(0.0..=1.0).contains(p))
        {
            return None;
        }
        let n = probabilities.len();
        let mut confusion = Confusion::default();
        let (mut brier, mut log_loss) = (0.0, 0.0);
        for (&p, &label) in probabilities.iter().zip(labels) {
            match (p >= 0.5, label) {
                (true, true) => confusion.tp += 1,
                (true, false) => confusion.fp += 1,
                (false, false) => confusion.tn += 1,
                (false, true) => confusion.fn_ += 1,
            }
            let target = if label { 1.0 } else { 0.0 };
            brier += (p - target).powi(2);
            let clipped = p.clamp(1e-15, 1.0 - 1e-15);
            log_loss -= if label { clipped.ln() } else { (1.0 - clipped).ln() };
        }
        let ratio = |numerator: usize, denominator: usize| {
            if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
        };
        let precision = ratio(confusion.tp, confusion.tp + confusion.fp);
        let recall = ratio(confusion.tp, confusion.tp + confusion.fn_);
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        Some(BinaryMetrics {
            n,
            accuracy: ratio(confusion.tp + confusion.tn, n),
            precision,
            recall,
            f1,
            roc_auc: roc_auc(probabilities, labels),
            brier: brier / n as f64,
            log_loss: log_loss / n as f64,
            confusion,
        })
    }
}

/// The area under the ROC curve as the Mann–Whitney U of the positives over n₊·n₋:
/// U = (sum of the positives' ranks) − n₊(n₊ + 1)/2, tied scores sharing their mean rank.
fn roc_auc(probabilities: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&label| label).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && probabilities[order[end]] == probabilities[order[start]] {
            end += 1;
        }
        // Ranks start + 1..=end share their mean.
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        positive_rank_sum += mean_rank * order[start..end].iter().filter(|&&index| labels[index]).count() as f64;
        start = end;
    }
    let (positives, negatives) = (positives as f64, negatives as f64);
    Some((positive_rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// One bin of a calibration table: predictions in [low, high).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub low: f64,
    pub high: f64,
    pub count: usize,
    pub mean_predicted: Option<f64>,
    pub observed_rate: Option<f64>,
}

/// Predictions grouped into `bins` equal-width bins of probability (the last one includes 1),
/// with the mean prediction and the observed rate of each: a calibrated model has them equal.
/// Empty when the lengths differ.
pub fn calibration(probabilities: &[f64], labels: &[bool], bins: usize) -> Vec<CalibrationBin> {
    if probabilities.len() != labels.len() {
        return Vec::new();
    }
    let bins = bins.max(1);
    let mut sums = vec![(0usize, 0.0f64, 0usize); bins];
    for (p, y) in probabilities.iter().zip(labels) {
        if !(0.0..=1.0).contains(p) {
            continue;
        }
        let bin = ((p * bins as f64) as usize).min(bins - 1);
        sums[bin].0 += 1;
        sums[bin].1 += p;
        sums[bin].2 += usize::from(*y);
    }
    sums.iter()
        .enumerate()
        .map(|(i, (count, total, positives))| CalibrationBin {
            low: i as f64 / bins as f64,
            high: (i + 1) as f64 / bins as f64,
            count: *count,
            mean_predicted: (*count > 0).then(|| total / *count as f64),
            observed_rate: (*count > 0).then(|| *positives as f64 / *count as f64),
        })
        .collect()
}

#[cfg(test)]
mod calibration_tests {
    use super::*;
    use crate::logistic::{LogisticConfig, fit};

    #[test]
    fn the_probability_interval_matches_the_textbook_standard_error() {
        // One binary feature, no penalty: group 0 has 10 positives in 40, so the log-odds of
        // group 0 has standard error √(1/(40·0.25·0.75)) = 0.365 15 and the 95 % interval of
        // its probability is σ(−1.098 61 ± 1.959 96·0.365 15) = (0.140 13, 0.405 44).
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40 {
            rows.push(vec![0.0]);
            labels.push(i < 10);
            rows.push(vec![1.0]);
            labels.push(i < 30);
        }
        let config = LogisticConfig { l2: 0.0, ..LogisticConfig::default() };
        let model = fit(&rows, &labels, &config).unwrap();
        assert!((model.predict_proba(&[0.0]) - 0.25).abs() < 1e-9);
        let (low, high) = model.probability_interval(&[0.0], 0.95).unwrap();
        assert!((low - 0.140_13).abs() < 1e-4, "{low}");
        assert!((high - 0.405_44).abs() < 1e-4, "{high}");
        assert_eq!(model.probability_interval(&[0.0, 1.0], 0.95), None);
    }

    #[test]
    fn calibration_bins_hand_computed_predictions() {
        let probabilities = [0.05, 0.15, 0.12, 0.5, 1.0, 0.95];
        let labels = [false, true, false, true, true, false];
        let table = calibration(&probabilities, &labels, 10);
        assert_eq!(table.len(), 10);
        assert_eq!((table[0].count, table[0].observed_rate), (1, Some(0.0)));
        assert_eq!(table[1].count, 2);
        assert!((table[1].mean_predicted.unwrap() - 0.135).abs() < 1e-12);
        assert_eq!(table[1].observed_rate, Some(0.5));
        assert_eq!((table[5].count, table[5].observed_rate), (1, Some(1.0)));
        assert_eq!(table[9].count, 2, "1.0 falls in the last bin");
        assert!((table[9].mean_predicted.unwrap() - 0.975).abs() < 1e-12);
        assert_eq!((table[3].count, table[3].mean_predicted), (0, None));
    }
}
