//! Ordinary least squares with its F-test, and the small linear solver it (and the logistic
//! regression) uses.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, FisherSnedecor};

use super::has_spread;

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

/// The columns (each one variable's values over the observations) that are neither (nearly)
/// constant nor (nearly) linear combinations of the columns kept before them, by index: a
/// greedy Cholesky factorisation of their correlation matrix keeps a column when more than
/// 1e-8 of its variance is left after projecting it on the columns already kept.
pub fn independent_columns(columns: &[Vec<f64>]) -> Vec<usize> {
    let centred: Vec<Vec<f64>> = columns
        .iter()
        .map(|column| {
            let mean = column.iter().sum::<f64>() / column.len().max(1) as f64;
            column.iter().map(|value| value - mean).collect()
        })
        .collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut kept: Vec<usize> = Vec::new();
    let mut norms: Vec<f64> = Vec::new();
    // Rows of the lower-triangular factor of the kept columns' correlation matrix.
    let mut factor: Vec<Vec<f64>> = Vec::new();
    for (index, column) in centred.iter().enumerate() {
        let spread = dot(column, column);
        if !has_spread(spread, dot(&columns[index], &columns[index])) {
            continue;
        }
        let norm = spread.sqrt();
        let mut projection: Vec<f64> = Vec::with_capacity(kept.len());
        for (row, (&other, &other_norm)) in factor.iter().zip(kept.iter().zip(&norms)) {
            let correlation = dot(&centred[other], column) / (other_norm * norm);
            let done: f64 = row.iter().zip(&projection).map(|(l, v)| l * v).sum();
            projection.push((correlation - done) / row[row.len() - 1]);
        }
        let left = 1.0 - projection.iter().map(|v| v * v).sum::<f64>();
        if left > 1e-8 && left.is_finite() {
            projection.push(left.sqrt());
            factor.push(projection);
            kept.push(index);
            norms.push(norm);
        }
    }
    kept
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

    /// `n` rows of `k` finite features and their targets: shapes OLS fits.
    fn regression_problem() -> impl Strategy<Value = (Vec<Vec<f64>>, Vec<f64>)> {
        (1usize..4, 0usize..12).prop_flat_map(|(k, extra)| {
            let n = k + 2 + extra;
            (
                prop::collection::vec(prop::collection::vec(-100.0..100.0_f64, k), n),
                prop::collection::vec(-100.0..100.0_f64, n),
            )
        })
    }

    proptest! {
        #[test]
        fn a_fit_explains_a_share_of_the_variance_and_its_f_test_is_a_probability((rows, y) in regression_problem()) {
            // Continuous random features are linearly independent (almost surely): a fit exists.
            let fit = ols(&rows, &y).expect("a well-posed problem is fitted");
            prop_assert!((0.0..=1.0 + 1e-9).contains(&fit.r_squared), "R² = {}", fit.r_squared);
            prop_assert!((0.0..=1.0).contains(&fit.f_p_value), "p = {}", fit.f_p_value);
        }

        #[test]
        fn ols_refuses_rather_than_panics_on_any_input(
            rows in prop::collection::vec(prop::collection::vec(prop::num::f64::ANY, 0..4), 0..8),
            y in prop::collection::vec(prop::num::f64::ANY, 0..8),
        ) {
            let shaped = !rows.is_empty() && rows.iter().all(|row| !row.is_empty() && row.len() == rows[0].len());
            let finite = rows.iter().flatten().chain(&y).all(|value| value.is_finite());
            if !(shaped && finite && rows.len() == y.len()) {
                prop_assert!(ols(&rows, &y).is_none());
            }
        }
    }
}
