//! Recalibrating a classifier's probabilities on held-out rows so that predicted and observed
//! rates agree: Platt scaling (a logistic regression on the log-odds, two parameters) or
//! isotonic regression (pool-adjacent-violators, a monotone step function, interpolated between
//! its blocks, each block's rate smoothed by one pseudo-row at the overall rate). Which of the two serves is decided by cross-fitting on the held-out rows: each
//! is fitted on one half and scored (log loss) on the other, both ways, and the better one is
//! then fitted on all of them. The cross-fitted predictions are also what a model card should
//! report, since a calibrator scored on its own fitting rows looks better than it is.

use serde::{Deserialize, Serialize};

use crate::logistic::{self, LogisticConfig};

/// Probabilities are kept this far from 0 and 1 (a step function can reach them).
const EPSILON: f64 = 1e-4;

/// Fits a calibration on raw probabilities and their labels.
type Fitter = fn(&[f64], &[bool]) -> Option<Calibration>;

/// A monotone map from a raw probability to a calibrated one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibration {
    /// σ(slope · logit(p) + intercept).
    Platt { slope: f64, intercept: f64 },
    /// The block means of the isotonic fit: raw probabilities (increasing) and their calibrated
    /// values (non-decreasing), linearly interpolated between, constant beyond the ends.
    Isotonic { raw: Vec<f64>, calibrated: Vec<f64> },
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { z.exp() / (1.0 + z.exp()) }
}

fn log_loss(p: f64, label: bool) -> f64 {
    let p = p.clamp(1e-15, 1.0 - 1e-15);
    if label { -p.ln() } else { -(1.0 - p).ln() }
}

impl Calibration {
    pub fn apply(&self, probability: f64) -> f64 {
        if !probability.is_finite() {
            return probability;
        }
        let calibrated = match self {
            Calibration::Platt { slope, intercept } => sigmoid(slope * logit(probability) + intercept),
            Calibration::Isotonic { raw, calibrated } => interpolate(raw, calibrated, probability),
        };
        calibrated.clamp(EPSILON, 1.0 - EPSILON)
    }

    pub fn method(&self) -> &'static str {
        match self {
            Calibration::Platt { .. } => "platt",
            Calibration::Isotonic { .. } => "isotonic",
        }
    }

    /// Platt scaling on `probabilities` (raw) and their `labels`; `None` with one class only.
    pub fn platt(probabilities: &[f64], labels: &[bool]) -> Option<Self> {
        let rows: Vec<Vec<f64>> = probabilities.iter().map(|p| vec![logit(*p)]).collect();
        let config = LogisticConfig { l2: 1e-6, standardize: false, ..LogisticConfig::default() };
        let model = logistic::fit(&rows, labels, &config).ok()?;
        Some(Calibration::Platt { slope: model.weights[0], intercept: model.intercept })
    }

    /// Isotonic regression by pool-adjacent-violators; `None` when empty.
    pub fn isotonic(probabilities: &[f64], labels: &[bool]) -> Option<Self> {
        if probabilities.is_empty() || probabilities.len() != labels.len() {
            return None;
        }
        let mut order: Vec<usize> = (0..probabilities.len()).collect();
        order.sort_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]));
        // Blocks: (sum of raw, sum of labels, rows); equal raw values start in one block.
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        let mut last_raw = f64::NAN;
        for index in order {
            let (raw, label) = (probabilities[index], f64::from(u8::from(labels[index])));
            match blocks.last_mut() {
                Some(block) if raw == last_raw => {
                    block.0 += raw;
                    block.1 += label;
                    block.2 += 1.0;
                }
                _ => blocks.push((raw, label, 1.0)),
            }
            last_raw = raw;
            while blocks.len() >= 2 {
                let (b, a) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
                if a.1 / a.2 < b.1 / b.2 {
                    break;
                }
                blocks.pop();
                let merged = blocks.last_mut().expect("two blocks");
                merged.0 += b.0;
                merged.1 += b.1;
                merged.2 += b.2;
            }
        }
        // Each block's rate is smoothed with one pseudo-row at the overall rate, so a small block
        // at an end says "rarely", not "never" (a 0 or 1 there costs unbounded log loss on the
        // next rows); the running maximum keeps the map non-decreasing after the smoothing.
        let overall = labels.iter().filter(|l| **l).count() as f64 / labels.len() as f64;
        let mut calibrated: Vec<f64> = blocks.iter().map(|b| (b.1 + overall) / (b.2 + 1.0)).collect();
        for i in 1..calibrated.len() {
            calibrated[i] = calibrated[i].max(calibrated[i - 1]);
        }
        Some(Calibration::Isotonic { raw: blocks.iter().map(|b| b.0 / b.2).collect(), calibrated })
    }

    /// The better of Platt and isotonic by cross-fitted log loss, refitted on all rows, with
    /// the cross-fitted calibrated probabilities (each half scored by a map fitted on the other
    /// half: what the rows look like to a calibrator that has not seen them). `halves` says
    /// which half each row is in (e.g. earlier and later days). `None` when either half lacks a
    /// class.
    pub fn choose(probabilities: &[f64], labels: &[bool], halves: &[bool]) -> Option<(Self, Vec<f64>)> {
        let mut best: Option<(f64, Vec<f64>, Fitter)> = None;
        let fitters: [Fitter; 2] = [Calibration::platt, Calibration::isotonic];
        for fitter in fitters {
            let mut crossed = vec![f64::NAN; probabilities.len()];
            for side in [false, true] {
                let (fit_p, fit_y): (Vec<f64>, Vec<bool>) = probabilities
                    .iter()
                    .zip(labels)
                    .zip(halves)
                    .filter(|(_, half)| **half == side)
                    .map(|((p, y), _)| (*p, *y))
                    .unzip();
                if !fit_y.contains(&true) || !fit_y.contains(&false) {
                    return None;
                }
                let map = fitter(&fit_p, &fit_y)?;
                for (index, half) in halves.iter().enumerate() {
                    if *half != side {
                        crossed[index] = map.apply(probabilities[index]);
                    }
                }
            }
            let loss: f64 = crossed.iter().zip(labels).map(|(p, y)| log_loss(*p, *y)).sum();
            if best.as_ref().is_none_or(|(lowest, _, _)| loss < *lowest) {
                best = Some((loss, crossed, fitter));
            }
        }
        let (_, crossed, fitter) = best?;
        Some((fitter(probabilities, labels)?, crossed))
    }
}

/// Linear interpolation of (xs, ys) at x, constant beyond the ends.
fn interpolate(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    match xs.iter().position(|&at| at >= x) {
        None => ys.last().copied().unwrap_or(x),
        Some(0) => ys[0],
        Some(i) => {
            let (x0, x1, y0, y1) = (xs[i - 1], xs[i], ys[i - 1], ys[i]);
            if x1 > x0 { y0 + (y1 - y0) * (x - x0) / (x1 - x0) } else { y1 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_pools_hand_computed_violators() {
        // Sorted raw 0.1, 0.2, 0.3, 0.4 with labels 1, 0, 0, 1: the first three pool (1 of 3),
        // the last stands alone (1 of 1). Smoothed by a pseudo-row at the overall 1/2:
        // (1 + 0.5) / 4 = 0.375 and (1 + 0.5) / 2 = 0.75.
        let map = Calibration::isotonic(&[0.3, 0.1, 0.4, 0.2], &[false, true, true, false]).unwrap();
        let Calibration::Isotonic { raw, calibrated } = &map else { panic!("isotonic") };
        assert_eq!(calibrated.len(), 2);
        assert!((raw[0] - 0.2).abs() < 1e-12 && (calibrated[0] - 0.375).abs() < 1e-12, "{map:?}");
        assert!((raw[1] - 0.4).abs() < 1e-12 && (calibrated[1] - 0.75).abs() < 1e-12);
        // Halfway between the block means 0.2 and 0.4: halfway between 0.375 and 0.75.
        assert!((map.apply(0.3) - 0.5625).abs() < 1e-12);
        assert_eq!(map.apply(0.05), 0.375);
        assert_eq!(map.apply(0.9), 0.75);
    }

    #[test]
    fn platt_undoes_an_overconfident_model() {
        // True probability q; the model reports σ(2·logit(q)) (twice too sure). Platt should
        // find slope ≈ 0.5, intercept ≈ 0.
        let mut probabilities = Vec::new();
        let mut labels = Vec::new();
        let mut rng = crate::rng::SplitMix64::new(3);
        for _ in 0..20_000 {
            let q = 0.05 + 0.9 * rng.next_f64();
            probabilities.push(sigmoid(2.0 * logit(q)));
            labels.push(rng.next_f64() < q);
        }
        let Some(Calibration::Platt { slope, intercept }) = Calibration::platt(&probabilities, &labels) else {
            panic!("platt")
        };
        assert!((slope - 0.5).abs() < 0.05, "{slope}");
        assert!(intercept.abs() < 0.05, "{intercept}");
        let halves: Vec<bool> = (0..probabilities.len()).map(|i| i % 2 == 0).collect();
        let (chosen, crossed) = Calibration::choose(&probabilities, &labels, &halves).unwrap();
        assert_eq!(crossed.len(), probabilities.len());
        assert!(crossed.iter().all(|p| (0.0..=1.0).contains(p)));
        // Either method fixes it: the calibrated 0.9-ish predictions are about 0.75 now.
        let raw = sigmoid(2.0 * logit(0.75));
        assert!((chosen.apply(raw) - 0.75).abs() < 0.05, "{chosen:?}");
    }

    #[test]
    fn isotonic_never_says_never_and_stays_monotone() {
        // The lowest block is all no (0 of 2), then a violator-free run; the overall rate is 3/5.
        let map = Calibration::isotonic(&[0.1, 0.15, 0.5, 0.6, 0.9], &[false, false, true, true, true]).unwrap();
        let Calibration::Isotonic { calibrated, .. } = &map else { panic!("isotonic") };
        // Equal rates pool: two blocks, 0 of 2 and 3 of 3. Smoothed: (0 + 0.6) / 3 = 0.2 instead
        // of 0, and (3 + 0.6) / 4 = 0.9 instead of 1.
        assert!((map.apply(0.05) - 0.2).abs() < 1e-12, "{map:?}");
        assert!((map.apply(0.95) - 0.9).abs() < 1e-12, "{map:?}");
        assert!(calibrated.windows(2).all(|w| w[0] <= w[1]), "{calibrated:?}");
        assert!(calibrated.iter().all(|c| *c > 0.0 && *c < 1.0));
    }

    #[test]
    fn one_class_halves_give_no_calibration() {
        assert!(Calibration::choose(&[0.2, 0.8], &[true, true], &[false, true]).is_none());
    }
}
