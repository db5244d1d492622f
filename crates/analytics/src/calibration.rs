//! Recalibrating a classifier's probabilities on held-out rows so that predicted and observed
//! rates agree: Platt scaling (a logistic regression on the log-odds, two parameters) or
//! isotonic regression (pool-adjacent-violators, a monotone step function, interpolated between
//! its blocks). Which of the two serves is decided by cross-fitting on the held-out rows: each
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
        Some(Calibration::Isotonic {
            raw: blocks.iter().map(|b| b.0 / b.2).collect(),
            calibrated: blocks.iter().map(|b| b.1 / b.2).collect(),
        })
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
        // Sorted raw 0.1, 0.2, 0.3, 0.4 with labels 1, 0, 0, 1: the first three pool to 1/3.
        let map = Calibration::isotonic(&[0.3, 0.1, 0.4, 0.2], &[false, true, true, false]).unwrap();
        let Calibration::Isotonic { raw, calibrated } = &map else { panic!("isotonic") };
        assert_eq!(calibrated.len(), 2);
        assert!((raw[0] - 0.2).abs() < 1e-12 && (calibrated[0] - 1.0 / 3.0).abs() < 1e-12, "{map:?}");
        assert!((raw[1] - 0.4).abs() < 1e-12 && (calibrated[1] - 1.0).abs() < 1e-12);
        // Halfway between the block means 0.2 and 0.4: halfway between 1/3 and 1 (clamped below 1).
        assert!((map.apply(0.3) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(map.apply(0.05), 1.0 / 3.0);
        assert_eq!(map.apply(0.9), 1.0 - EPSILON);
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
    fn one_class_halves_give_no_calibration() {
        assert!(Calibration::choose(&[0.2, 0.8], &[true, true], &[false, true]).is_none());
    }
}
