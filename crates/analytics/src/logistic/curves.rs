//! The ROC curve of a binary classifier's scores against the outcomes (the calibration table
//! is in `metrics`).

/// The ROC curve: (false-positive rate, true-positive rate) at every distinct threshold, from
/// (0, 0) to (1, 1); tied scores move both rates at once. Empty unless both classes are present
/// and every score is finite.
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    let positives = labels.iter().filter(|l| **l).count();
    let negatives = labels.len() - positives;
    if scores.len() != labels.len() || positives == 0 || negatives == 0 || scores.iter().any(|s| !s.is_finite()) {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut index = 0;
    while index < order.len() {
        let threshold = scores[order[index]];
        while index < order.len() && scores[order[index]] == threshold {
            if labels[order[index]] {
                tp += 1
            } else {
                fp += 1
            }
            index += 1;
        }
        points.push((fp as f64 / negatives as f64, tp as f64 / positives as f64));
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roc_curve_steps_through_each_threshold() {
        // Scores 0.9 (+), 0.8 (−), 0.7 (+), 0.2 (−): thresholds at each score.
        let curve = roc_curve(&[0.9, 0.8, 0.7, 0.2], &[true, false, true, false]);
        assert_eq!(curve, [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]);
        // Ties move both rates at once.
        assert_eq!(roc_curve(&[0.5, 0.5], &[true, false]), [(0.0, 0.0), (1.0, 1.0)]);
        assert!(roc_curve(&[0.5, 0.4], &[true, true]).is_empty(), "one class only");
    }

    #[test]
    fn the_area_under_the_curve_is_the_auc() {
        let scores = [0.9, 0.8, 0.7, 0.6, 0.55, 0.4, 0.3, 0.1];
        let labels = [true, true, false, true, false, false, true, false];
        let curve = roc_curve(&scores, &labels);
        let area: f64 = curve.windows(2).map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0).sum();
        let auc = crate::logistic::BinaryMetrics::compute(&scores, &labels).unwrap().roc_auc.unwrap();
        assert!((area - auc).abs() < 1e-12, "{area} {auc}");
    }
}
