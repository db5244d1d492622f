//! The Poisson binomial distribution: the number of successes among independent trials with
//! their own probabilities (who of the registrants comes).

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
    central_interval(&poisson_binomial(probabilities), confidence)
}

/// The central interval of a distribution over 0..=n given by its probabilities (the rule of
/// [`poisson_binomial_interval`]), for a caller that already has them.
pub fn central_interval(pmf: &[f64], confidence: f64) -> (u64, u64) {
    let max_successes = pmf.len().saturating_sub(1) as u64;
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= tolerance
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
        // Binomial(4, ½) = [1, 4, 6, 4, 1]/16: P(X ≤ 0) = 1/16 ≥ 2.5 %, so the 95 % interval is the whole 0..4.
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
    }
}
