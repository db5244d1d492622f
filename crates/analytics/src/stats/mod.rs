//! Small-sample statistics. Every function returns `None` (or an empty/neutral value) instead of
//! panicking when a statistic is undefined for its input.
//!
//! Here: normal quantiles and p-values, Wilson intervals, additive moments with Pearson's r and
//! its t-test, means, medians and robust z-scores. `counts` holds the tests on counts (χ² against
//! uniform and of independence, the Cochran–Armitage trend), `poisson_binomial` the distribution
//! of a count of independent successes, `regression` ordinary least squares.

mod counts;
mod poisson_binomial;
mod regression;

pub use counts::*;
pub use poisson_binomial::*;
pub(crate) use regression::solve_linear_system;
pub use regression::{OlsFit, independent_columns, ols};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// The median absolute deviation times this estimates σ for normal data.
const MAD_TO_SIGMA: f64 = 1.4826;

/// The quantile `p` of the standard normal distribution; `None` unless 0 < p < 1.
pub fn normal_quantile(p: f64) -> Option<f64> {
    if !(p > 0.0 && p < 1.0) {
        return None;
    }
    Some(Normal::standard().inverse_cdf(p))
}

/// P(|Z| ≥ |z|) for a standard normal Z; NaN for a NaN `z`.
pub fn two_sided_normal_p(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    (2.0 * Normal::standard().sf(z.abs())).clamp(0.0, 1.0)
}

/// The Wilson score interval for a binomial proportion: the set of p whose score test does not
/// reject `successes / trials` at the given confidence. Unlike the Wald interval it stays inside
/// [0, 1] and behaves at 0 or `trials` successes. `None` when `trials` is 0, `successes` exceeds
/// it or `confidence` is not in (0, 1).
pub fn wilson_interval(successes: u64, trials: u64, confidence: f64) -> Option<(f64, f64)> {
    if trials == 0 || successes > trials || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0)?;
    let n = trials as f64;
    let proportion = successes as f64 / n;
    let denominator = 1.0 + z * z / n;
    let centre = (proportion + z * z / (2.0 * n)) / denominator;
    let half_width = z / denominator * (proportion * (1.0 - proportion) / n + z * z / (4.0 * n * n)).sqrt();
    // At 0 or `trials` successes the bound is exactly 0 or 1; rounding would leave ~1e-17.
    let lower = if successes == 0 { 0.0 } else { (centre - half_width).max(0.0) };
    let upper = if successes == trials { 1.0 } else { (centre + half_width).min(1.0) };
    Some((lower, upper))
}

/// Pearson's r with the two-sided p-value of H0: ρ = 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    pub r: f64,
    pub n: u64,
    pub p_value: f64,
}

/// Additive sufficient statistics of two variables: pushing values one by one and merging partial
/// results (per user, per day, per shard) give the same totals. With `y` in {0, 1} the correlation
/// is the point-biserial correlation.
///
/// Raw sums lose precision when a variable's spread is tiny next to its mean (e.g. epoch
/// timestamps); centre such values before pushing them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    pub n: u64,
    pub sum_x: f64,
    pub sum_y: f64,
    pub sum_xx: f64,
    pub sum_yy: f64,
    pub sum_xy: f64,
}

impl Moments {
    pub fn push(&mut self, x: f64, y: f64) {
        self.n = self.n.saturating_add(1);
        self.sum_x += x;
        self.sum_y += y;
        self.sum_xx += x * x;
        self.sum_yy += y * y;
        self.sum_xy += x * y;
    }

    pub fn merge(&mut self, other: &Moments) {
        self.n = self.n.saturating_add(other.n);
        self.sum_x += other.sum_x;
        self.sum_y += other.sum_y;
        self.sum_xx += other.sum_xx;
        self.sum_yy += other.sum_yy;
        self.sum_xy += other.sum_xy;
    }

    pub fn mean_x(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum_x / self.n as f64)
    }

    pub fn mean_y(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum_y / self.n as f64)
    }

    /// Pearson's r = Sxy / √(Sxx·Syy) on centred sums, tested with t = r·√((n − 2)/(1 − r²)),
    /// which follows Student's t with n − 2 degrees of freedom under ρ = 0. `None` with fewer than
    /// 3 pairs or when either variable has no variance (relative to its sum of squares, so that
    /// rounding in a constant column does not pass for spread). |r| within 1e-12 of 1 is taken as
    /// ±1, with p-value 0.
    pub fn correlation(&self) -> Option<Correlation> {
        if self.n < 3 {
            return None;
        }
        let n = self.n as f64;
        let centred_xx = self.sum_xx - self.sum_x * self.sum_x / n;
        let centred_yy = self.sum_yy - self.sum_y * self.sum_y / n;
        let centred_xy = self.sum_xy - self.sum_x * self.sum_y / n;
        if !has_spread(centred_xx, self.sum_xx) || !has_spread(centred_yy, self.sum_yy) {
            return None;
        }
        let mut r = (centred_xy / (centred_xx.sqrt() * centred_yy.sqrt())).clamp(-1.0, 1.0);
        if !r.is_finite() {
            return None;
        }
        // Raw sums leave an exact line a few ulps short of ±1, which t would turn into a p of 1e-8.
        if 1.0 - r.abs() < 1e-12 {
            r = r.signum();
        }
        let p_value = if r.abs() >= 1.0 {
            0.0
        } else {
            let freedom = n - 2.0;
            let t = r * (freedom / (1.0 - r * r)).sqrt();
            two_sided_t_p(t, freedom)?
        };
        Some(Correlation { r, n: self.n, p_value })
    }
}

/// Whether a centred sum of squares is a real spread rather than cancellation noise.
fn has_spread(centred: f64, raw: f64) -> bool {
    centred.is_finite() && centred > 1e-12 * raw.abs()
}

/// P(|T| ≥ |t|) for Student's t with `freedom` degrees of freedom.
fn two_sided_t_p(t: f64, freedom: f64) -> Option<f64> {
    if t.is_nan() {
        return None;
    }
    let distribution = StudentsT::new(0.0, 1.0, freedom).ok()?;
    Some((2.0 * distribution.sf(t.abs())).clamp(0.0, 1.0))
}

/// Additive count, sum and sum of squares of one variable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Mean {
    pub n: u64,
    pub sum: f64,
    pub sum_squares: f64,
}

impl Mean {
    pub fn push(&mut self, value: f64) {
        self.n = self.n.saturating_add(1);
        self.sum += value;
        self.sum_squares += value * value;
    }

    pub fn merge(&mut self, other: &Mean) {
        self.n = self.n.saturating_add(other.n);
        self.sum += other.sum;
        self.sum_squares += other.sum_squares;
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// The sample variance (divisor n − 1); `None` with fewer than 2 values.
    pub fn variance(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        Some(((self.sum_squares - self.sum * self.sum / n) / (n - 1.0)).max(0.0))
    }

    pub fn std_dev(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }
}

/// The median (the mean of the middle two for an even count); `None` when empty or any value is NaN.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|value| value.is_nan()) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 { Some(sorted[middle]) } else { Some((sorted[middle - 1] + sorted[middle]) / 2.0) }
}

/// Robust z-scores: (x − median) / (1.4826 · MAD), where MAD is the median absolute deviation from
/// the median, so one outlier does not inflate the scale that judges it. All `None` with fewer
/// than 3 values, a NaN, or a MAD of 0 (more than half the values equal); a value whose score is
/// not finite (an infinity) gets `None`.
pub fn robust_z(values: &[f64]) -> Vec<Option<f64>> {
    let none = vec![None; values.len()];
    if values.len() < 3 {
        return none;
    }
    let Some(centre) = median(values) else { return none };
    let deviations: Vec<f64> = values.iter().map(|value| (value - centre).abs()).collect();
    let Some(mad) = median(&deviations) else { return none };
    let scale = MAD_TO_SIGMA * mad;
    if !(scale > 0.0 && scale.is_finite()) {
        return none;
    }
    values.iter().map(|value| Some((value - centre) / scale).filter(|z| z.is_finite())).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= tolerance
    }

    fn moments_of(pairs: &[(f64, f64)]) -> Moments {
        let mut moments = Moments::default();
        for &(x, y) in pairs {
            moments.push(x, y);
        }
        moments
    }

    #[test]
    fn wilson_for_eight_of_ten() {
        // z = 1.959964; centre = (0.8 + z²/20)/(1 + z²/10) = 0.71674,
        // half width = z/(1 + z²/10)·√(0.016 + z²/400) = 0.22658.
        let (low, high) = wilson_interval(8, 10, 0.95).unwrap();
        assert!(close(low, 0.4902, 1e-4) && close(high, 0.9433, 1e-4), "{low} {high}");
        let (low, high) = wilson_interval(0, 10, 0.95).unwrap();
        assert_eq!(low, 0.0);
        assert!(high > 0.0 && high < 0.35);
        assert_eq!(wilson_interval(10, 10, 0.95).unwrap().1, 1.0);
    }

    #[test]
    fn wilson_rejects_undefined_inputs() {
        assert_eq!(wilson_interval(0, 0, 0.95), None);
        assert_eq!(wilson_interval(11, 10, 0.95), None);
        assert_eq!(wilson_interval(5, 10, 1.0), None);
        assert_eq!(wilson_interval(5, 10, 0.0), None);
        assert_eq!(wilson_interval(5, 10, f64::NAN), None);
    }

    #[test]
    fn normal_helpers() {
        assert!(close(normal_quantile(0.975).unwrap(), 1.959964, 1e-6));
        assert!(close(normal_quantile(0.5).unwrap(), 0.0, 1e-12));
        assert_eq!(normal_quantile(0.0), None);
        assert_eq!(normal_quantile(1.0), None);
        assert_eq!(normal_quantile(f64::NAN), None);
        assert!(close(two_sided_normal_p(1.959964), 0.05, 1e-6));
        assert!(close(two_sided_normal_p(-1.959964), 0.05, 1e-6));
        assert_eq!(two_sided_normal_p(0.0), 1.0);
        assert_eq!(two_sided_normal_p(f64::INFINITY), 0.0);
        assert!(two_sided_normal_p(f64::NAN).is_nan());
    }

    #[test]
    fn pearson_on_five_points() {
        // x̄ = 3, ȳ = 4: Sxy = 4 + 0 + 0 + 0 + 2 = 6, Sxx = 10, Syy = 4 + 0 + 1 + 0 + 1 = 6,
        // r = 6/√60 = 0.774597; t = r·√(3/(1 − 0.6)) = √4.5 = 2.12132, and with 3 degrees of
        // freedom P(|T| ≥ t) = 1 − (2/π)(u/(1 + u²) + atan u) for u = t/√3, = 0.124027.
        let moments = moments_of(&[(1.0, 2.0), (2.0, 4.0), (3.0, 5.0), (4.0, 4.0), (5.0, 5.0)]);
        let correlation = moments.correlation().unwrap();
        assert!(close(correlation.r, 0.774597, 1e-6));
        assert_eq!(correlation.n, 5);
        assert!(close(correlation.p_value, 0.124027, 1e-6), "{}", correlation.p_value);
        assert_eq!(moments.mean_x(), Some(3.0));
        assert_eq!(moments.mean_y(), Some(4.0));
    }

    #[test]
    fn point_biserial_and_degenerate_correlations() {
        // x̄ = 2.75, ȳ = ½: Sxy = 0.875 + 0.375 + 0.125 + 1.125 = 2.5, Sxx = 8.75, Syy = 1, so
        // r = 2.5/√8.75 = 0.845154, t = r·√(2/(1 − r²)) = √5, and with 2 degrees of freedom
        // P(|T| ≥ t) = 1 − t/√(2 + t²) = 1 − √(5/7) = 0.154846.
        let groups = moments_of(&[(1.0, 0.0), (2.0, 0.0), (3.0, 1.0), (5.0, 1.0)]);
        let correlation = groups.correlation().unwrap();
        assert!(close(correlation.r, 2.5 / 8.75_f64.sqrt(), 1e-12));
        assert!(close(correlation.p_value, 1.0 - (5.0_f64 / 7.0).sqrt(), 1e-9), "{}", correlation.p_value);
        let line = moments_of(&[(1.0, 3.0), (2.0, 1.0), (3.0, -1.0)]).correlation().unwrap();
        assert_eq!((line.r, line.p_value), (-1.0, 0.0));
        assert_eq!(moments_of(&[(1.0, 0.0), (2.0, 1.0)]).correlation(), None, "n < 3");
        assert_eq!(moments_of(&[(0.1, 0.0), (0.1, 1.0), (0.1, 1.0)]).correlation(), None, "constant x");
        assert_eq!(Moments::default().mean_x(), None);
        assert_eq!(moments_of(&[(f64::NAN, 1.0), (1.0, 0.0), (2.0, 1.0)]).correlation(), None);
    }

    #[test]
    fn mean_and_sample_variance() {
        let mut mean = Mean::default();
        assert_eq!((mean.mean(), mean.variance()), (None, None));
        for value in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            mean.push(value);
        }
        // Mean 5, squared deviations sum to 32, sample variance 32/7.
        assert_eq!(mean.mean(), Some(5.0));
        assert!(close(mean.variance().unwrap(), 32.0 / 7.0, 1e-12));
        assert!(close(mean.std_dev().unwrap(), (32.0_f64 / 7.0).sqrt(), 1e-12));
    }

    #[test]
    fn median_and_robust_z() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
        // Median 3, absolute deviations [2, 1, 0, 1, 97] → MAD 1, scale 1.4826.
        let scores = robust_z(&[1.0, 2.0, 3.0, 4.0, 100.0]);
        assert!(close(scores[0].unwrap(), -2.0 / 1.4826, 1e-12));
        assert_eq!(scores[2], Some(0.0));
        assert!(close(scores[4].unwrap(), 97.0 / 1.4826, 1e-9));
        assert_eq!(robust_z(&[1.0, 1.0, 1.0, 5.0]), vec![None; 4], "MAD 0");
        assert_eq!(robust_z(&[1.0, 2.0]), vec![None; 2]);
        let with_infinity = robust_z(&[1.0, 2.0, 3.0, 4.0, f64::INFINITY]);
        assert_eq!(with_infinity[4], None);
        assert!(with_infinity[0].is_some());
    }

    proptest! {
        #[test]
        fn merging_moments_equals_pushing_everything(
            pairs in prop::collection::vec((-1e3..1e3_f64, -1e3..1e3_f64), 0..40),
            split in 0usize..40,
        ) {
            let split = split.min(pairs.len());
            let mut merged = moments_of(&pairs[..split]);
            merged.merge(&moments_of(&pairs[split..]));
            let all = moments_of(&pairs);
            prop_assert_eq!(merged.n, all.n);
            for (a, b) in [
                (merged.sum_x, all.sum_x), (merged.sum_y, all.sum_y), (merged.sum_xx, all.sum_xx),
                (merged.sum_yy, all.sum_yy), (merged.sum_xy, all.sum_xy),
            ] {
                prop_assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()));
            }
            if let (Some(a), Some(b)) = (merged.correlation(), all.correlation()) {
                prop_assert!((a.r - b.r).abs() < 1e-6);
                prop_assert!((0.0..=1.0).contains(&a.p_value));
            }
        }

        #[test]
        fn wilson_contains_the_proportion(trials in 1u64..10_000, successes_fraction in 0.0..=1.0_f64, confidence in 0.5..0.999_f64) {
            let successes = ((trials as f64) * successes_fraction) as u64;
            let (low, high) = wilson_interval(successes, trials, confidence).unwrap();
            let proportion = successes as f64 / trials as f64;
            prop_assert!(0.0 <= low && low <= proportion + 1e-12 && proportion <= high + 1e-12 && high <= 1.0);
        }
    }
}
