//! Small-sample statistics: Wilson intervals, additive moments with Pearson's r, chi-square
//! against a uniform distribution, the Poisson binomial distribution, robust z-scores and ordinary
//! least squares. Every function returns `None` (or an empty/neutral value) instead of panicking
//! when a statistic is undefined for its input.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF, FisherSnedecor, Normal, StudentsT};

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

/// A chi-square goodness-of-fit test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChiSquare {
    pub statistic: f64,
    pub degrees_of_freedom: usize,
    pub p_value: f64,
}

/// Pearson's χ² = Σ (observed − expected)² / expected against equal expected counts in every bin,
/// with bins − 1 degrees of freedom. `None` with fewer than 2 bins or no observations.
pub fn chi_square_uniform(counts: &[u64]) -> Option<ChiSquare> {
    let total: u128 = counts.iter().map(|&count| u128::from(count)).sum();
    if counts.len() < 2 || total == 0 {
        return None;
    }
    let expected = total as f64 / counts.len() as f64;
    let statistic: f64 = counts.iter().map(|&count| (count as f64 - expected).powi(2) / expected).sum();
    let degrees_of_freedom = counts.len() - 1;
    let p_value = ChiSquared::new(degrees_of_freedom as f64).ok()?.sf(statistic).clamp(0.0, 1.0);
    Some(ChiSquare { statistic, degrees_of_freedom, p_value })
}

/// Pearson's χ² test of independence on a contingency table (rows × columns of counts), with
/// (rows − 1)(columns − 1) degrees of freedom. Rows or columns summing to zero are dropped.
/// `None` when fewer than 2 rows or columns remain.
pub fn chi_square_independence(table: &[Vec<u64>]) -> Option<ChiSquare> {
    let columns = table.iter().map(Vec::len).max().unwrap_or(0);
    let column_totals: Vec<f64> =
        (0..columns).map(|c| table.iter().map(|row| row.get(c).copied().unwrap_or(0) as f64).sum()).collect();
    let kept_columns: Vec<usize> = (0..columns).filter(|&c| column_totals[c] > 0.0).collect();
    let rows: Vec<&Vec<u64>> = table.iter().filter(|row| row.iter().any(|&count| count > 0)).collect();
    if rows.len() < 2 || kept_columns.len() < 2 {
        return None;
    }
    let total: f64 = kept_columns.iter().map(|&c| column_totals[c]).sum();
    let mut statistic = 0.0;
    for row in &rows {
        let row_total: f64 = kept_columns.iter().map(|&c| row.get(c).copied().unwrap_or(0) as f64).sum();
        for &c in &kept_columns {
            let expected = row_total * column_totals[c] / total;
            statistic += (row.get(c).copied().unwrap_or(0) as f64 - expected).powi(2) / expected;
        }
    }
    let degrees_of_freedom = (rows.len() - 1) * (kept_columns.len() - 1);
    let p_value = ChiSquared::new(degrees_of_freedom as f64).ok()?.sf(statistic).clamp(0.0, 1.0);
    Some(ChiSquare { statistic, degrees_of_freedom, p_value })
}

/// A linear trend in a proportion over time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProportionTrend {
    /// Change of the proportion per unit of time (the least-squares slope of the outcomes).
    pub slope: f64,
    pub z: f64,
    pub p_value: f64,
    pub observations: usize,
}

/// The Cochran–Armitage test for a trend in a proportion: each outcome with its time `t`,
/// T = Σ (t − t̄)·y, Var(T) = ȳ(1 − ȳ)·Σ (t − t̄)² under no trend. `None` with fewer than 3
/// outcomes, all at one time, or all the same.
pub fn proportion_trend(times: &[f64], outcomes: &[bool]) -> Option<ProportionTrend> {
    let n = times.len();
    if n < 3 || outcomes.len() != n {
        return None;
    }
    let mean_t = times.iter().sum::<f64>() / n as f64;
    let mean_y = outcomes.iter().filter(|y| **y).count() as f64 / n as f64;
    let spread: f64 = times.iter().map(|t| (t - mean_t).powi(2)).sum();
    let variance = mean_y * (1.0 - mean_y) * spread;
    if !(spread > 0.0 && variance > 0.0) {
        return None;
    }
    let statistic: f64 = times.iter().zip(outcomes).filter(|(_, y)| **y).map(|(t, _)| t - mean_t).sum();
    let z = statistic / variance.sqrt();
    Some(ProportionTrend { slope: statistic / spread, z, p_value: two_sided_normal_p(z), observations: n })
}

/// Probabilities outside [0, 1] are clamped into it; NaN stays NaN.
fn clamp_probability(p: f64) -> f64 {
    if p.is_nan() { p } else { p.clamp(0.0, 1.0) }
}

/// The exact distribution of the number of successes among independent trials with the given
/// success probabilities: element k is P(k successes), for k in 0..=n. Built trial by trial,
/// P'(k) = P(k)·(1 − p) + P(k − 1)·p, in O(n²). Out-of-range probabilities are clamped to [0, 1];
/// a NaN one makes the result NaN.
pub fn poisson_binomial(probabilities: &[f64]) -> Vec<f64> {
    let mut pmf = Vec::with_capacity(probabilities.len() + 1);
    pmf.push(1.0);
    for &raw in probabilities {
        let p = clamp_probability(raw);
        pmf.push(0.0);
        for successes in (1..pmf.len()).rev() {
            pmf[successes] = pmf[successes] * (1.0 - p) + pmf[successes - 1] * p;
        }
        pmf[0] *= 1.0 - p;
    }
    pmf
}

/// The central interval of the Poisson binomial distribution: the smallest `lower` with
/// P(X ≤ lower) ≥ (1 − confidence)/2 and the largest `upper` with P(X ≥ upper) ≥ (1 − confidence)/2.
/// A confidence outside [0, 1] is clamped; a NaN confidence gives the whole range (0, n).
pub fn poisson_binomial_interval(probabilities: &[f64], confidence: f64) -> (u64, u64) {
    let pmf = poisson_binomial(probabilities);
    let max_successes = probabilities.len() as u64;
    let tail = (1.0 - clamp_probability(confidence)) / 2.0;
    let mut lower = 0;
    let mut cumulative = 0.0;
    for (successes, probability) in pmf.iter().enumerate() {
        cumulative += probability;
        if cumulative >= tail {
            lower = successes as u64;
            break;
        }
    }
    let mut upper = max_successes;
    let mut upper_tail = 0.0;
    for (successes, probability) in pmf.iter().enumerate().rev() {
        upper_tail += probability;
        if upper_tail >= tail {
            upper = successes as u64;
            break;
        }
    }
    // Exactly, lower ≤ upper whenever tail ≤ ½; rounding must not turn the interval around.
    (lower.min(upper), upper.max(lower))
}

/// The mean Σp of the Poisson binomial distribution.
pub fn poisson_binomial_mean(probabilities: &[f64]) -> f64 {
    probabilities.iter().map(|&p| clamp_probability(p)).sum()
}

/// The variance Σp(1 − p) of the Poisson binomial distribution.
pub fn poisson_binomial_variance(probabilities: &[f64]) -> f64 {
    probabilities.iter().map(|&p| clamp_probability(p)).map(|p| p * (1.0 - p)).sum()
}

/// How many standard deviations an observed count of successes lies from its expectation under
/// independent trials with the given probabilities: (observed − Σp) / √Σp(1 − p). `None` when the
/// variance is 0 (every outcome certain) or the result is not finite.
pub fn binomial_z(observed: f64, probabilities: &[f64]) -> Option<f64> {
    let variance = poisson_binomial_variance(probabilities);
    if variance.is_nan() || variance <= 0.0 {
        return None;
    }
    let z = (observed - poisson_binomial_mean(probabilities)) / variance.sqrt();
    z.is_finite().then_some(z)
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

/// An ordinary least squares fit with an intercept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OlsFit {
    /// The intercept first, then one coefficient per feature.
    pub coefficients: Vec<f64>,
    pub r_squared: f64,
    /// 1 − (1 − R²)(n − 1)/(n − k − 1).
    pub adjusted_r_squared: f64,
    /// (R²/k) / ((1 − R²)/(n − k − 1)); infinite for an exact fit.
    pub f_statistic: f64,
    /// P(F(k, n − k − 1) ≥ f_statistic): the test that every feature coefficient is 0.
    pub f_p_value: f64,
    /// Observations.
    pub n: usize,
    /// Features, not counting the intercept.
    pub k: usize,
}

/// Ordinary least squares of `y` on the `rows` (one row of k features per observation) plus an
/// intercept. Solves the normal equations on centred features — scaled to a correlation matrix so
/// that a column's units do not matter to the singularity test — by Gaussian elimination; the
/// intercept is then ȳ − Σ βⱼ x̄ⱼ. `None` without features, with ragged rows, non-finite values,
/// n ≤ k + 1, a constant `y`, or features that are (nearly) collinear or constant.
pub fn ols(rows: &[Vec<f64>], y: &[f64]) -> Option<OlsFit> {
    let n = rows.len();
    let k = rows.first()?.len();
    if k == 0 || n != y.len() || n <= k + 1 || rows.iter().any(|row| row.len() != k) {
        return None;
    }
    if y.iter().chain(rows.iter().flatten()).any(|value| !value.is_finite()) {
        return None;
    }
    let n_f64 = n as f64;
    let mut feature_means = vec![0.0; k];
    for row in rows {
        for (mean, value) in feature_means.iter_mut().zip(row) {
            *mean += value / n_f64;
        }
    }
    let mean_y = y.iter().sum::<f64>() / n_f64;
    let mut cross = vec![0.0; k * k];
    let mut cross_y = vec![0.0; k];
    for (row, &target) in rows.iter().zip(y) {
        let centred: Vec<f64> = row.iter().zip(&feature_means).map(|(value, mean)| value - mean).collect();
        for (i, &xi) in centred.iter().enumerate() {
            cross_y[i] += xi * (target - mean_y);
            for (j, &xj) in centred.iter().enumerate() {
                cross[i * k + j] += xi * xj;
            }
        }
    }
    let norms: Vec<f64> = (0..k).map(|i| cross[i * k + i].sqrt()).collect();
    if norms.iter().any(|norm| !(*norm > 0.0 && norm.is_finite())) {
        return None;
    }
    for i in 0..k {
        cross_y[i] /= norms[i];
        for j in 0..k {
            cross[i * k + j] /= norms[i] * norms[j];
        }
    }
    let scaled = solve_linear_system(cross, cross_y, 1e-10)?;
    let slopes: Vec<f64> = scaled.iter().zip(&norms).map(|(b, norm)| b / norm).collect();
    let intercept = mean_y - slopes.iter().zip(&feature_means).map(|(slope, mean)| slope * mean).sum::<f64>();

    let mut residual_ss = 0.0;
    let mut total_ss = 0.0;
    for (row, &target) in rows.iter().zip(y) {
        let fitted = intercept + row.iter().zip(&slopes).map(|(x, slope)| x * slope).sum::<f64>();
        residual_ss += (target - fitted).powi(2);
        total_ss += (target - mean_y).powi(2);
    }
    if !has_spread(total_ss, y.iter().map(|v| v * v).sum()) {
        return None;
    }
    let r_squared = (1.0 - residual_ss / total_ss).clamp(0.0, 1.0);
    let residual_freedom = (n - k - 1) as f64;
    let adjusted_r_squared = 1.0 - (1.0 - r_squared) * (n_f64 - 1.0) / residual_freedom;
    let f_statistic = (r_squared / k as f64) / ((1.0 - r_squared) / residual_freedom);
    let f_p_value = f_survival(f_statistic, k as f64, residual_freedom)?;
    let mut coefficients = Vec::with_capacity(k + 1);
    coefficients.push(intercept);
    coefficients.extend(slopes);
    if coefficients.iter().any(|c| !c.is_finite()) {
        return None;
    }
    Some(OlsFit { coefficients, r_squared, adjusted_r_squared, f_statistic, f_p_value, n, k })
}

/// P(F ≥ statistic) for Fisher–Snedecor's F; 0 for an infinite or astronomically large statistic,
/// where statrs's ratio d₁x/(d₁x + d₂) would overflow to NaN.
fn f_survival(statistic: f64, freedom_1: f64, freedom_2: f64) -> Option<f64> {
    if statistic.is_nan() {
        return None;
    }
    if statistic > 1e200 {
        return Some(0.0);
    }
    let distribution = FisherSnedecor::new(freedom_1, freedom_2).ok()?;
    Some(distribution.sf(statistic.max(0.0)).clamp(0.0, 1.0))
}

/// Solves the square system `matrix · x = rhs` (`matrix` row-major, dim = `rhs.len()`) by Gaussian
/// elimination with partial pivoting. `None` when a pivot is at most `relative_tolerance` times the
/// largest entry of the matrix (singular for practical purposes), on a size mismatch, or when the
/// solution is not finite. Meant for the small systems of regressions (dimension ≲ 30).
pub(crate) fn solve_linear_system(
    mut matrix: Vec<f64>,
    mut rhs: Vec<f64>,
    relative_tolerance: f64,
) -> Option<Vec<f64>> {
    let dim = rhs.len();
    if matrix.len() != dim * dim {
        return None;
    }
    let largest = matrix.iter().fold(0.0_f64, |largest, value| largest.max(value.abs()));
    if !(largest > 0.0 && largest.is_finite()) {
        return None;
    }
    let threshold = relative_tolerance * largest;
    for column in 0..dim {
        let pivot_row =
            (column..dim).max_by(|&a, &b| matrix[a * dim + column].abs().total_cmp(&matrix[b * dim + column].abs()))?;
        let pivot_size = matrix[pivot_row * dim + column].abs();
        if pivot_size.is_nan() || pivot_size <= threshold {
            return None;
        }
        if pivot_row != column {
            for j in 0..dim {
                matrix.swap(pivot_row * dim + j, column * dim + j);
            }
            rhs.swap(pivot_row, column);
        }
        let pivot = matrix[column * dim + column];
        for row in column + 1..dim {
            let factor = matrix[row * dim + column] / pivot;
            if factor == 0.0 {
                continue;
            }
            for j in column..dim {
                matrix[row * dim + j] -= factor * matrix[column * dim + j];
            }
            rhs[row] -= factor * rhs[column];
        }
    }
    let mut solution = vec![0.0; dim];
    for row in (0..dim).rev() {
        let known: f64 = (row + 1..dim).map(|j| matrix[row * dim + j] * solution[j]).sum();
        solution[row] = (rhs[row] - known) / matrix[row * dim + row];
    }
    solution.iter().all(|value| value.is_finite()).then_some(solution)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= tolerance
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

    fn moments_of(pairs: &[(f64, f64)]) -> Moments {
        let mut moments = Moments::default();
        for &(x, y) in pairs {
            moments.push(x, y);
        }
        moments
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
    fn chi_square_against_uniform() {
        // Expected 15 per bin: (25 + 25 + 25 + 225)/15 = 20; with 3 degrees of freedom
        // P(χ² ≥ 20) = erfc(√10) + √(40/π)·e⁻¹⁰ = 0.000169742.
        let test = chi_square_uniform(&[10, 10, 10, 30]).unwrap();
        assert!(close(test.statistic, 20.0, 1e-12));
        assert_eq!(test.degrees_of_freedom, 3);
        assert!(close(test.p_value, 0.000169742, 1e-8), "{}", test.p_value);
        assert_eq!(chi_square_uniform(&[5, 5]).unwrap().p_value, 1.0);
        assert_eq!(chi_square_uniform(&[0, 0, 0]), None);
        assert_eq!(chi_square_uniform(&[7]), None);
        assert!(chi_square_uniform(&[u64::MAX, u64::MAX, 0]).is_some());
    }

    #[test]
    fn poisson_binomial_by_hand() {
        assert_eq!(poisson_binomial(&[0.5, 0.5]), vec![0.25, 0.5, 0.25]);
        assert_eq!(poisson_binomial(&[]), vec![1.0]);
        // [0.2, 0.5]: P(0) = 0.8·0.5, P(1) = 0.2·0.5 + 0.8·0.5, P(2) = 0.2·0.5.
        let pmf = poisson_binomial(&[0.2, 0.5]);
        for (actual, expected) in pmf.iter().zip([0.4, 0.5, 0.1]) {
            assert!(close(*actual, expected, 1e-15));
        }
        assert_eq!(poisson_binomial(&[1.5, -1.0]), vec![0.0, 1.0, 0.0], "clamped to 1 and 0");
        assert!(close(poisson_binomial_mean(&[0.2, 0.5]), 0.7, 1e-15));
        assert!(close(poisson_binomial_variance(&[0.2, 0.5]), 0.16 + 0.25, 1e-15));
    }

    #[test]
    fn poisson_binomial_central_interval() {
        // Binomial(4, ½) = [1, 4, 6, 4, 1]/16: the 2.5% tails end at 1 and 3 (P(X ≤ 0) = 1/16 ≥ 2.5%).
        assert_eq!(poisson_binomial_interval(&[0.5; 4], 0.95), (0, 4));
        // With an 80% interval the tails are 10%: P(X ≤ 0) = 6.25% < 10% ≤ P(X ≤ 1) = 31.25%.
        assert_eq!(poisson_binomial_interval(&[0.5; 4], 0.8), (1, 3));
        assert_eq!(poisson_binomial_interval(&[1.0, 1.0, 0.0], 0.95), (2, 2));
        assert_eq!(poisson_binomial_interval(&[], 0.95), (0, 0));
        assert_eq!(poisson_binomial_interval(&[0.5; 3], f64::NAN), (0, 3));
    }

    #[test]
    fn binomial_z_score() {
        // Σp = 2, Σp(1 − p) = 1: observing 4 is two standard deviations above.
        assert_eq!(binomial_z(4.0, &[0.5; 4]), Some(2.0));
        assert_eq!(binomial_z(1.0, &[1.0, 0.0]), None);
        assert_eq!(binomial_z(1.0, &[]), None);
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

    #[test]
    fn ols_recovers_an_exact_line() {
        let rows: Vec<Vec<f64>> = (0..6).map(|x| vec![x as f64]).collect();
        let y: Vec<f64> = (0..6).map(|x| 1.0 + 2.0 * x as f64).collect();
        let fit = ols(&rows, &y).unwrap();
        assert!(close(fit.coefficients[0], 1.0, 1e-12) && close(fit.coefficients[1], 2.0, 1e-12));
        assert!(close(fit.r_squared, 1.0, 1e-12));
        assert!(fit.f_p_value < 1e-12);
        assert_eq!((fit.n, fit.k), (6, 1));
    }

    #[test]
    fn ols_simple_regression_matches_pearson() {
        // As above: β = Sxy/Sxx = 0.6, intercept 4 − 0.6·3 = 2.2, R² = r² = 0.6,
        // F = 0.6/(0.4/3) = 4.5 = t², so the F test's p equals the correlation test's 0.124027.
        let rows = vec![vec![1.0], vec![2.0], vec![3.0], vec![4.0], vec![5.0]];
        let fit = ols(&rows, &[2.0, 4.0, 5.0, 4.0, 5.0]).unwrap();
        assert!(close(fit.coefficients[0], 2.2, 1e-12) && close(fit.coefficients[1], 0.6, 1e-12));
        assert!(close(fit.r_squared, 0.6, 1e-12));
        assert!(close(fit.adjusted_r_squared, 1.0 - 0.4 * 4.0 / 3.0, 1e-12));
        assert!(close(fit.f_statistic, 4.5, 1e-10));
        assert!(close(fit.f_p_value, 0.124027, 1e-6), "{}", fit.f_p_value);
    }

    #[test]
    fn ols_with_two_orthogonal_features() {
        // x₁ = [−1, −1, 1, 1] and x₂ = [−1, 1, −1, 1] are centred and orthogonal, so each slope is
        // Σxy/Σx²: β₁ = (−1 − 2 + 4 + 7)/4 = 2, β₂ = (−1 + 2 − 4 + 7)/4 = 1, intercept ȳ = 3.5.
        // SST = 6.25 + 2.25 + 0.25 + 12.25 = 21, SSR = 4·2² + 4·1² = 20: R² = 20/21,
        // adjusted 1 − (1/21)·3/1 = 6/7, F = (20/2)/(1/1) = 10, and for F(2, d₂)
        // P(F ≥ f) = (d₂/(d₂ + 2f))^(d₂/2) = 21^(−1/2) = 0.218218.
        let rows = vec![vec![-1.0, -1.0], vec![-1.0, 1.0], vec![1.0, -1.0], vec![1.0, 1.0]];
        let fit = ols(&rows, &[1.0, 2.0, 4.0, 7.0]).unwrap();
        for (actual, expected) in fit.coefficients.iter().zip([3.5, 2.0, 1.0]) {
            assert!(close(*actual, expected, 1e-12));
        }
        assert!(close(fit.r_squared, 20.0 / 21.0, 1e-12));
        assert!(close(fit.adjusted_r_squared, 6.0 / 7.0, 1e-12));
        assert!(close(fit.f_statistic, 10.0, 1e-9));
        assert!(close(fit.f_p_value, 21.0_f64.powf(-0.5), 1e-9), "{}", fit.f_p_value);
    }

    #[test]
    fn ols_refuses_undefined_fits() {
        let y = [1.0, 2.0, 3.0, 5.0];
        assert_eq!(ols(&[vec![1.0], vec![2.0]], &[1.0, 2.0]), None, "n ≤ k + 1");
        assert_eq!(ols(&[vec![1.0, 2.0], vec![2.0, 4.0], vec![3.0, 6.0], vec![4.0, 8.0]], &y), None, "collinear");
        assert_eq!(ols(&[vec![1.0], vec![1.0], vec![1.0], vec![1.0]], &y), None, "constant feature");
        assert_eq!(ols(&[vec![1.0], vec![2.0], vec![3.0], vec![4.0]], &[2.0; 4]), None, "constant y");
        assert_eq!(ols(&[vec![1.0], vec![2.0, 0.0], vec![3.0], vec![4.0]], &y), None, "ragged");
        assert_eq!(ols(&[vec![1.0], vec![f64::NAN], vec![3.0], vec![4.0]], &y), None);
        assert_eq!(ols(&[vec![1.0], vec![2.0], vec![3.0]], &y), None, "length mismatch");
        assert_eq!(ols(&[], &[]), None);
        assert_eq!(ols(&[vec![], vec![], vec![]], &[1.0, 2.0, 3.0]), None, "no features");
        let huge = ols(&[vec![1.0], vec![2.0], vec![3.0], vec![4.0]], &[1e300, -1e300, 1e300, -1e300]);
        assert!(huge.is_none_or(|fit| fit.r_squared.is_finite()));
    }

    #[test]
    fn the_solver_pivots_and_detects_singularity() {
        // 0·a + 1·b = 2 and 1·a + 1·b = 3 needs a row swap: a = 1, b = 2.
        assert_eq!(solve_linear_system(vec![0.0, 1.0, 1.0, 1.0], vec![2.0, 3.0], 1e-12), Some(vec![1.0, 2.0]));
        assert_eq!(solve_linear_system(vec![1.0, 2.0, 2.0, 4.0], vec![1.0, 2.0], 1e-12), None);
        assert_eq!(solve_linear_system(vec![1.0, 2.0, 3.0], vec![1.0, 2.0], 1e-12), None);
        assert_eq!(solve_linear_system(vec![], vec![], 1e-12), None);
    }

    proptest! {
        #[test]
        fn poisson_binomial_is_a_distribution(probabilities in prop::collection::vec(0.0..=1.0_f64, 0..60)) {
            let pmf = poisson_binomial(&probabilities);
            prop_assert_eq!(pmf.len(), probabilities.len() + 1);
            prop_assert!(pmf.iter().all(|&p| p >= 0.0));
            prop_assert!((pmf.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            let mean: f64 = pmf.iter().enumerate().map(|(k, p)| k as f64 * p).sum();
            prop_assert!((mean - poisson_binomial_mean(&probabilities)).abs() < 1e-8);
            let (lower, upper) = poisson_binomial_interval(&probabilities, 0.9);
            prop_assert!(lower <= upper && upper <= probabilities.len() as u64);
        }

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

        #[test]
        fn ols_never_panics(rows in prop::collection::vec(prop::collection::vec(prop::num::f64::ANY, 0..4), 0..8), y in prop::collection::vec(prop::num::f64::ANY, 0..8)) {
            if let Some(fit) = ols(&rows, &y) {
                prop_assert!((0.0..=1.0).contains(&fit.r_squared));
                prop_assert!((0.0..=1.0).contains(&fit.f_p_value));
            }
        }
    }

    #[test]
    fn chi_square_independence_matches_a_hand_computed_table() {
        // [[10, 20], [30, 40]]: expected [[12, 18], [28, 42]];
        // χ² = 4/12 + 4/18 + 4/28 + 4/42 = 0.79365, 1 df, p = 0.37300.
        let test = chi_square_independence(&[vec![10, 20], vec![30, 40]]).unwrap();
        assert!((test.statistic - 0.793_650_8).abs() < 1e-6, "{test:?}");
        assert_eq!(test.degrees_of_freedom, 1);
        assert!((test.p_value - 0.373_0).abs() < 1e-3, "{test:?}");
        // An empty row is dropped; one row left is no test.
        assert_eq!(chi_square_independence(&[vec![10, 20], vec![0, 0]]), None);
    }

    #[test]
    fn proportion_trend_matches_a_hand_computed_case() {
        // t = [0, 0, 1, 1], y = [0, 1, 1, 1]: ȳ = 0.75, Σ(t − t̄)² = 1, T = 0.5,
        // z = 0.5 / √0.1875 = 1.154 70, p = 0.248 18.
        let trend = proportion_trend(&[0.0, 0.0, 1.0, 1.0], &[false, true, true, true]).unwrap();
        assert!((trend.slope - 0.5).abs() < 1e-12);
        assert!((trend.z - 1.154_700_5).abs() < 1e-6);
        assert!((trend.p_value - 0.248_18).abs() < 1e-4, "{trend:?}");
        assert_eq!(proportion_trend(&[1.0, 1.0, 1.0], &[true, false, true]), None);
        assert_eq!(proportion_trend(&[0.0, 1.0, 2.0], &[true, true, true]), None);
    }
}
