//! Tests on counts: χ² goodness of fit against a uniform distribution, χ² of independence on a
//! contingency table, and the Cochran–Armitage test for a trend in a proportion.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::two_sided_normal_p;

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

/// The two-sided p-value of the two-proportion z-test of rate `a` (of `n_a`) against rate `b`
/// (of `n_b`), with the pooled rate's standard error. `None` when either side is empty or the
/// pooled rate is 0 or 1.
pub fn two_proportion_p(a: f64, n_a: f64, b: f64, n_b: f64) -> Option<f64> {
    if !(n_a > 0.0 && n_b > 0.0) {
        return None;
    }
    let pooled = (a * n_a + b * n_b) / (n_a + n_b);
    let se = (pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)).sqrt();
    (se > 0.0).then(|| two_sided_normal_p((a - b) / se))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= tolerance
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

    #[test]
    fn two_proportion_test_by_hand() {
        // 30/50 against 20/50: pooled 0.5, se = √(0.25·0.04) = 0.1, z = 2, p = 0.0455.
        assert!((two_proportion_p(0.6, 50.0, 0.4, 50.0).unwrap() - 0.045_500).abs() < 1e-5);
        assert_eq!(two_proportion_p(0.6, 0.0, 0.4, 50.0), None);
        assert_eq!(two_proportion_p(1.0, 10.0, 1.0, 10.0), None);
    }
}
