//! A user's activity far from their own baseline (SPEC §4 "user activity spikes/drops against
//! their own baseline"):
//!
//! - a **spike**: a day with many more events than the user's previous days make likely (a
//!   script, a bot, a shared account, a campaign), judged against a negative binomial fitted by
//!   moments to their daily counts (zeros included), Poisson when the counts are not
//!   over-dispersed;
//! - a **drop**: a user active on most days who has gone silent for several days in a row; the
//!   chance of such a silence is the smoothed share of silent days in their baseline, raised to
//!   the length of the silence.
//!
//! Each anomaly carries its p-value under the user's own baseline; the threshold `alpha` is the
//! expected false-positive rate per user and day.

use serde::Serialize;
use statrs::distribution::{DiscreteCDF, NegativeBinomial, Poisson};

/// How much baseline is needed, and how unlikely a day must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivitySettings {
    /// Days of baseline before the day judged (or before the silence).
    pub baseline_days: usize,
    /// Active days needed in the baseline to judge a spike.
    pub min_active_days: usize,
    /// Fewer events than this on a day is never a spike, however quiet the user was.
    pub min_spike_events: u64,
    /// Share of the baseline's days a user must have been active on for a silence to count.
    pub regular_share: f64,
    /// The p-value below which a day is reported: the expected false-positive rate.
    pub alpha: f64,
}

impl Default for ActivitySettings {
    fn default() -> Self {
        Self { baseline_days: 28, min_active_days: 7, min_spike_events: 20, regular_share: 0.7, alpha: 1e-4 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    ActivitySpike,
    ActivityDrop,
}

impl ActivityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::ActivitySpike => "activity_spike",
            ActivityKind::ActivityDrop => "activity_drop",
        }
    }
}

/// One unusual stretch of a user's activity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityAnomaly {
    pub kind: ActivityKind,
    /// The day of the spike, or the first silent day of the drop (days since 1970-01-01).
    pub first_day: i64,
    /// The silent days in a row (1 for a spike).
    pub days: u32,
    /// Events on the day (0 for a drop).
    pub events: u64,
    /// Mean events per day in the baseline.
    pub baseline_mean: f64,
    /// Active days in the baseline, of `baseline_days`.
    pub baseline_active_days: usize,
    /// The chance of a day (or a silence) at least as extreme under the user's baseline.
    pub p_value: f64,
    /// `high` (p < α/100), `medium` (p < α/10) or `low`.
    pub severity: &'static str,
}

fn severity(p_value: f64, alpha: f64) -> &'static str {
    if p_value < alpha / 100.0 {
        "high"
    } else if p_value < alpha / 10.0 {
        "medium"
    } else {
        "low"
    }
}

/// P(X ≥ `count`) for the count distribution fitted by moments to `baseline`.
pub fn upper_tail(baseline: &[u64], count: u64) -> Option<f64> {
    if baseline.is_empty() {
        return None;
    }
    if count == 0 {
        return Some(1.0);
    }
    let n = baseline.len() as f64;
    let mean = baseline.iter().sum::<u64>() as f64 / n;
    let variance = if baseline.len() > 1 {
        baseline.iter().map(|&c| (c as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        mean
    };
    // A baseline of silent days: any event at all is beyond it, but how far is not measurable.
    let mean = mean.max(1.0 / n);
    let tail = if variance > mean * 1.000_001 {
        let r = mean * mean / (variance - mean);
        let distribution = NegativeBinomial::new(r, r / (r + mean)).ok()?;
        distribution.sf(count - 1)
    } else {
        Poisson::new(mean).ok()?.sf(count - 1)
    };
    Some(tail.clamp(0.0, 1.0))
}

/// The anomaly, if any, in a user's daily event counts ending on the day judged. `counts` are
/// consecutive days, oldest first, zeros included, the last one the day judged; days before the
/// user was first seen are left out by the caller.
pub fn unusual_activity(
    counts: &[u64],
    first_day_of_counts: i64,
    settings: &ActivitySettings,
) -> Option<ActivityAnomaly> {
    let last = counts.len().checked_sub(1)?;
    let last_day = first_day_of_counts + last as i64;
    spike(counts, last_day, settings).or_else(|| drop(counts, last_day, settings))
}

fn spike(counts: &[u64], last_day: i64, settings: &ActivitySettings) -> Option<ActivityAnomaly> {
    let (&today, before) = counts.split_last()?;
    let baseline = &before[before.len().saturating_sub(settings.baseline_days)..];
    let active = baseline.iter().filter(|&&c| c > 0).count();
    if today < settings.min_spike_events || baseline.len() < settings.baseline_days || active < settings.min_active_days
    {
        return None;
    }
    let mean = baseline.iter().sum::<u64>() as f64 / baseline.len() as f64;
    if (today as f64) < 3.0 * mean {
        return None;
    }
    let p_value = upper_tail(baseline, today)?;
    (p_value < settings.alpha).then(|| ActivityAnomaly {
        kind: ActivityKind::ActivitySpike,
        first_day: last_day,
        days: 1,
        events: today,
        baseline_mean: mean,
        baseline_active_days: active,
        p_value,
        severity: severity(p_value, settings.alpha),
    })
}

fn drop(counts: &[u64], last_day: i64, settings: &ActivitySettings) -> Option<ActivityAnomaly> {
    let silent = counts.iter().rev().take_while(|&&c| c == 0).count();
    if silent == 0 {
        return None;
    }
    let before = &counts[..counts.len() - silent];
    if before.len() < settings.baseline_days {
        return None;
    }
    let baseline = &before[before.len() - settings.baseline_days..];
    let active = baseline.iter().filter(|&&c| c > 0).count();
    if (active as f64) < settings.regular_share * baseline.len() as f64 {
        return None;
    }
    let n = baseline.len() as f64;
    // The smoothed chance of a silent day, for days taken as independent.
    let quiet = (baseline.len() - active) as f64 + 0.5;
    let p_day = quiet / (n + 1.0);
    let p_value = p_day.powi(i32::try_from(silent).unwrap_or(i32::MAX));
    let days = u32::try_from(silent).unwrap_or(u32::MAX);
    (p_value < settings.alpha).then(|| ActivityAnomaly {
        kind: ActivityKind::ActivityDrop,
        first_day: last_day - i64::from(days) + 1,
        days,
        events: 0,
        baseline_mean: baseline.iter().sum::<u64>() as f64 / n,
        baseline_active_days: active,
        p_value,
        severity: severity(p_value, settings.alpha),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upper_tail_is_poisson_when_counts_are_not_over_dispersed() {
        // Mean 4, variance 0: Poisson(4). P(X ≥ 1) = 1 − e^−4; P(X ≥ 12) by hand from the pmf.
        let baseline = [4; 28];
        let p1 = upper_tail(&baseline, 1).unwrap();
        assert!((p1 - (1.0 - (-4.0f64).exp())).abs() < 1e-12, "{p1}");
        let mut below = 0.0;
        let mut term = (-4.0f64).exp();
        for k in 0..12 {
            if k > 0 {
                term *= 4.0 / k as f64;
            }
            below += term;
        }
        let p12 = upper_tail(&baseline, 12).unwrap();
        assert!((p12 - (1.0 - below)).abs() < 1e-12, "{p12} vs {}", 1.0 - below);
        assert_eq!(upper_tail(&baseline, 0), Some(1.0));
    }

    #[test]
    fn the_upper_tail_widens_with_over_dispersion() {
        // Same mean 4, sample variance 28·16/27 (half the days 0, half 8): a much fatter tail.
        let baseline: Vec<u64> = (0..28).map(|d| if d % 2 == 0 { 0 } else { 8 }).collect();
        let dispersed = upper_tail(&baseline, 20).unwrap();
        let poisson = upper_tail(&[4; 28], 20).unwrap();
        assert!(dispersed > 100.0 * poisson, "{dispersed} vs {poisson}");
        // NB with r = m²/(v − m), p = r/(r + m): P(X ≥ 1) = 1 − p^r.
        let variance = 28.0 * 16.0 / 27.0;
        let r = 16.0 / (variance - 4.0);
        let p = r / (r + 4.0);
        let p1 = upper_tail(&baseline, 1).unwrap();
        assert!((p1 - (1.0 - f64::powf(p, r))).abs() < 1e-9, "{p1}");
    }

    #[test]
    fn a_day_of_scripted_traffic_is_a_spike_and_an_ordinary_busy_day_is_not() {
        let settings = ActivitySettings::default();
        // 28 days of 3–6 events (mean 4.5), then 90 events.
        let mut counts: Vec<u64> = (0..28).map(|d| 3 + d % 4).collect();
        counts.push(90);
        let found = unusual_activity(&counts, 100, &settings).expect("a spike");
        assert_eq!(found.kind, ActivityKind::ActivitySpike);
        assert_eq!((found.first_day, found.days, found.events), (128, 1, 90));
        assert!((found.baseline_mean - 4.5).abs() < 1e-12);
        assert_eq!(found.baseline_active_days, 28);
        assert_eq!(found.severity, "high");
        // Twice the usual is within what such a user does.
        *counts.last_mut().unwrap() = 9;
        assert_eq!(unusual_activity(&counts, 100, &settings), None);
        // Too little history: no judgement.
        assert_eq!(unusual_activity(&[3, 4, 90], 100, &settings), None);
    }

    #[test]
    fn a_bursty_user_needs_a_bigger_day_to_be_a_spike() {
        let settings = ActivitySettings::default();
        // Mostly quiet with bursts of 40: a day of 45 is their normal.
        let mut counts: Vec<u64> = (0..28).map(|d| if d % 4 == 0 { 40 } else { 1 }).collect();
        counts.push(45);
        assert_eq!(unusual_activity(&counts, 0, &settings), None);
    }

    #[test]
    fn a_regular_user_silent_for_days_is_a_drop_once_the_silence_is_unlikely() {
        let settings = ActivitySettings::default();
        // Active 27 of 28 days: a silent day has chance 1.5/29.
        let mut counts: Vec<u64> = (0..28).map(|d| if d == 10 { 0 } else { 5 }).collect();
        let p_day: f64 = 1.5 / 29.0;
        counts.extend([0, 0, 0]);
        // Three days: (1.5/29)³ = 1.4e-4, not below 1e-4.
        assert_eq!(unusual_activity(&counts, 0, &settings), None);
        counts.push(0);
        let found = unusual_activity(&counts, 0, &settings).expect("a drop after four silent days");
        assert_eq!(found.kind, ActivityKind::ActivityDrop);
        assert_eq!((found.first_day, found.days, found.events), (28, 4, 0));
        assert!((found.p_value - p_day.powi(4)).abs() < 1e-15, "{}", found.p_value);
        assert_eq!(found.baseline_active_days, 27);
        assert_eq!(found.severity, "medium");
        // An occasional user's silence says nothing.
        let mut occasional: Vec<u64> = (0..28).map(|d| u64::from(d % 3 == 0)).collect();
        occasional.extend([0; 6]);
        assert_eq!(unusual_activity(&occasional, 0, &settings), None);
    }
}
