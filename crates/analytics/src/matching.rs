//! Seed 001's match metrics, as additive statistics: a [`MatchStats`] can be built from raw
//! events, merged with another (another day, another store's aggregates), stored as JSON when
//! the raw events expire, and read out as the three reports of `/api/metrics/*`.
//!
//! A *match* is a proposal joined to the latest decision on it (same user, same match id).
//! Acceptance and constraint statistics count proposals; satisfaction counts feedback events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::{Mean, Moments, wilson_interval};

/// A proposal and what is known of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub match_score: f64,
    /// Satisfaction of each constraint, usually in 0..1.
    pub constraints: BTreeMap<String, f64>,
}

/// The decision on a proposal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub accepted: bool,
    pub decision_time_seconds: Option<f64>,
}

/// A user's feedback on a match.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// 1..=5; other values are ignored.
    pub rating: u8,
    pub aspects: BTreeMap<String, f64>,
}

/// How one numeric variable relates to acceptance, over decided proposals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VariableStats {
    /// x = the variable, y = 1 when accepted.
    pub moments: Moments,
    pub accepted: Mean,
    pub rejected: Mean,
}

impl VariableStats {
    fn push(&mut self, value: f64, accepted: bool) {
        self.moments.push(value, if accepted { 1.0 } else { 0.0 });
        if accepted { self.accepted.push(value) } else { self.rejected.push(value) }
    }

    fn merge(&mut self, other: &VariableStats) {
        self.moments.merge(&other.moments);
        self.accepted.merge(&other.accepted);
        self.rejected.merge(&other.rejected);
    }
}

/// Everything the three metric reports need, additive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MatchStats {
    pub proposed: u64,
    pub decided: u64,
    pub accepted: u64,
    pub decision_time: Mean,
    pub match_score: VariableStats,
    pub constraints: BTreeMap<String, VariableStats>,
    /// Counts of ratings 1..=5.
    pub ratings: [u64; 5],
    pub aspects: BTreeMap<String, Mean>,
}

impl MatchStats {
    /// Counts a proposal and, if there is one, its decision.
    pub fn add_match(&mut self, proposal: &Proposal, decision: Option<&Decision>) {
        self.proposed += 1;
        let Some(decision) = decision else { return };
        self.decided += 1;
        if decision.accepted {
            self.accepted += 1;
        }
        if let Some(seconds) = decision.decision_time_seconds.filter(|s| s.is_finite()) {
            self.decision_time.push(seconds);
        }
        if proposal.match_score.is_finite() {
            self.match_score.push(proposal.match_score, decision.accepted);
        }
        for (name, value) in &proposal.constraints {
            if value.is_finite() {
                self.constraints.entry(name.clone()).or_default().push(*value, decision.accepted);
            }
        }
    }

    pub fn add_feedback(&mut self, feedback: &Feedback) {
        if !(1..=5).contains(&feedback.rating) {
            return;
        }
        self.ratings[usize::from(feedback.rating - 1)] += 1;
        for (name, value) in &feedback.aspects {
            if value.is_finite() {
                self.aspects.entry(name.clone()).or_default().push(*value);
            }
        }
    }

    pub fn merge(&mut self, other: &MatchStats) {
        self.proposed += other.proposed;
        self.decided += other.decided;
        self.accepted += other.accepted;
        self.decision_time.merge(&other.decision_time);
        self.match_score.merge(&other.match_score);
        for (name, stats) in &other.constraints {
            self.constraints.entry(name.clone()).or_default().merge(stats);
        }
        for (mine, theirs) in self.ratings.iter_mut().zip(other.ratings) {
            *mine += theirs;
        }
        for (name, mean) in &other.aspects {
            self.aspects.entry(name.clone()).or_default().merge(mean);
        }
    }

    /// Proposed, decided, accepted, and the acceptance rate among decided matches with its
    /// Wilson interval at `confidence`.
    pub fn acceptance(&self, confidence: f64) -> AcceptanceReport {
        let rate = ratio(self.accepted, self.decided);
        AcceptanceReport {
            proposed: self.proposed,
            decided: self.decided,
            accepted: self.accepted,
            // Read back from stored aggregates: counts that do not add up must not panic.
            rejected: self.decided.saturating_sub(self.accepted),
            pending: self.proposed.saturating_sub(self.decided),
            acceptance_rate: rate,
            confidence_interval: wilson_interval(self.accepted, self.decided, confidence).map(|(low, high)| Interval {
                level: confidence,
                low,
                high,
            }),
            decision_rate: ratio(self.decided, self.proposed),
            mean_decision_time_seconds: self.decision_time.mean(),
        }
    }

    pub fn satisfaction(&self) -> SatisfactionReport {
        let mut rating = Mean::default();
        for (index, count) in self.ratings.iter().enumerate() {
            for _ in 0..*count {
                rating.push(index as f64 + 1.0);
            }
        }
        SatisfactionReport {
            count: self.ratings.iter().sum(),
            mean_rating: rating.mean(),
            std_dev: rating.std_dev(),
            distribution: (1..=5).map(|r| (r.to_string(), self.ratings[r - 1])).collect(),
            aspects: self
                .aspects
                .iter()
                .map(|(name, mean)| (name.clone(), AspectSummary { mean: mean.mean(), count: mean.n }))
                .collect(),
        }
    }

    /// For the match score and each constraint: how it relates to acceptance.
    pub fn constraints(&self) -> ConstraintsReport {
        ConstraintsReport {
            decided: self.decided,
            match_score: VariableReport::from_stats("match_score", &self.match_score),
            constraints: self.constraints.iter().map(|(name, stats)| VariableReport::from_stats(name, stats)).collect(),
        }
    }
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub level: f64,
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AcceptanceReport {
    pub proposed: u64,
    pub decided: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Proposed and not decided yet.
    pub pending: u64,
    /// accepted / decided; null without decisions.
    pub acceptance_rate: Option<f64>,
    /// Wilson score interval of the acceptance rate.
    pub confidence_interval: Option<Interval>,
    /// decided / proposed.
    pub decision_rate: Option<f64>,
    pub mean_decision_time_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AspectSummary {
    pub mean: Option<f64>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SatisfactionReport {
    pub count: u64,
    pub mean_rating: Option<f64>,
    /// Sample standard deviation of the ratings.
    pub std_dev: Option<f64>,
    /// Ratings "1".."5" → count.
    pub distribution: BTreeMap<String, u64>,
    pub aspects: BTreeMap<String, AspectSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariableReport {
    pub name: String,
    /// Decided proposals that carried this variable.
    pub sample_size: u64,
    pub mean_accepted: Option<f64>,
    pub mean_rejected: Option<f64>,
    /// Point-biserial correlation with acceptance (Pearson's r against 0/1).
    pub correlation: Option<f64>,
    /// Two-sided p-value of r = 0 (t-test, n − 2 degrees of freedom).
    pub p_value: Option<f64>,
}

impl VariableReport {
    fn from_stats(name: &str, stats: &VariableStats) -> Self {
        let correlation = stats.moments.correlation();
        VariableReport {
            name: name.to_owned(),
            sample_size: stats.moments.n,
            mean_accepted: stats.accepted.mean(),
            mean_rejected: stats.rejected.mean(),
            correlation: correlation.as_ref().map(|c| c.r),
            p_value: correlation.as_ref().map(|c| c.p_value),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConstraintsReport {
    pub decided: u64,
    pub match_score: VariableReport,
    pub constraints: Vec<VariableReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(score: f64, location: f64, skills: f64) -> Proposal {
        Proposal {
            match_score: score,
            constraints: [("location".to_owned(), location), ("skills".to_owned(), skills)].into(),
        }
    }

    fn decision(accepted: bool, seconds: f64) -> Decision {
        Decision { accepted, decision_time_seconds: Some(seconds) }
    }

    /// Five proposals, four decided (3 accepted), one pending.
    fn fixture() -> MatchStats {
        let mut stats = MatchStats::default();
        stats.add_match(&proposal(0.9, 0.9, 0.8), Some(&decision(true, 10.0)));
        stats.add_match(&proposal(0.8, 0.8, 0.2), Some(&decision(true, 20.0)));
        stats.add_match(&proposal(0.7, 0.7, 0.9), Some(&decision(true, 30.0)));
        stats.add_match(&proposal(0.4, 0.2, 0.8), Some(&decision(false, 40.0)));
        stats.add_match(&proposal(0.5, 0.5, 0.5), None);
        stats.add_feedback(&Feedback { rating: 4, aspects: [("relevance".to_owned(), 5.0)].into() });
        stats.add_feedback(&Feedback { rating: 2, aspects: [("relevance".to_owned(), 2.0)].into() });
        stats.add_feedback(&Feedback { rating: 9, aspects: BTreeMap::new() });
        stats
    }

    #[test]
    fn acceptance_counts_and_a_wilson_interval() {
        let report = fixture().acceptance(0.95);
        assert_eq!(
            (report.proposed, report.decided, report.accepted, report.rejected, report.pending),
            (5, 4, 3, 1, 1)
        );
        assert_eq!(report.acceptance_rate, Some(0.75));
        assert_eq!(report.decision_rate, Some(0.8));
        assert_eq!(report.mean_decision_time_seconds, Some(25.0));
        // Wilson, 3 of 4, z = 1.959964: centre (0.75 + z²/8) / (1 + z²/4), half-width
        // z·sqrt(0.75·0.25/4 + z²/64) / (1 + z²/4) → 0.3006 … 0.9544.
        let interval = report.confidence_interval.unwrap();
        assert!((interval.low - 0.3006).abs() < 1e-3, "{interval:?}");
        assert!((interval.high - 0.9544).abs() < 1e-3, "{interval:?}");
    }

    #[test]
    fn satisfaction_ignores_ratings_out_of_range() {
        let report = fixture().satisfaction();
        assert_eq!(report.count, 2);
        assert_eq!(report.mean_rating, Some(3.0));
        assert_eq!(report.distribution["4"], 1);
        assert_eq!(report.distribution["5"], 0);
        assert_eq!(report.aspects["relevance"], AspectSummary { mean: Some(3.5), count: 2 });
    }

    #[test]
    fn constraints_relate_to_acceptance() {
        let report = fixture().constraints();
        let location = &report.constraints[0];
        assert_eq!(location.name, "location");
        assert_eq!(location.sample_size, 4);
        assert!((location.mean_accepted.unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(location.mean_rejected, Some(0.2));
        // x = [0.9, 0.8, 0.7, 0.2], y = [1, 1, 1, 0]: mean x 0.65, mean y 0.75;
        // Sxy = Σ(x − 0.65)(y − 0.75) = 0.25·(0.25 + 0.15 + 0.05) + 0.45·0.75 = 0.45,
        // Sxx = 0.29, Syy = 0.75 → r = 0.45 / sqrt(0.29 · 0.75) = 0.96490;
        // t = r·sqrt(2 / (1 − r²)) = 5.196 with 2 degrees of freedom → p = 0.0351.
        assert!((location.correlation.unwrap() - 0.96490).abs() < 1e-4, "{location:?}");
        assert!((location.p_value.unwrap() - 0.0351).abs() < 1e-3, "{location:?}");
        assert_eq!(report.match_score.sample_size, 4);
    }

    #[test]
    fn merging_equals_adding_everything_to_one() {
        let mut first = MatchStats::default();
        first.add_match(&proposal(0.9, 0.9, 0.8), Some(&decision(true, 10.0)));
        first.add_feedback(&Feedback { rating: 4, aspects: [("relevance".to_owned(), 5.0)].into() });
        let mut second = MatchStats::default();
        second.add_match(&proposal(0.8, 0.8, 0.2), Some(&decision(true, 20.0)));
        second.add_match(&proposal(0.7, 0.7, 0.9), Some(&decision(true, 30.0)));
        second.add_match(&proposal(0.4, 0.2, 0.8), Some(&decision(false, 40.0)));
        second.add_match(&proposal(0.5, 0.5, 0.5), None);
        second.add_feedback(&Feedback { rating: 2, aspects: [("relevance".to_owned(), 2.0)].into() });
        first.merge(&second);
        let whole = fixture();
        assert_eq!(first.acceptance(0.95), whole.acceptance(0.95));
        assert_eq!(first.satisfaction(), whole.satisfaction());
        let json = serde_json::to_string(&first).unwrap();
        let back: MatchStats = serde_json::from_str(&json).unwrap();
        let (merged, expected) = (back.constraints(), whole.constraints());
        assert_eq!(merged.constraints.len(), expected.constraints.len());
        for (merged, expected) in merged.constraints.iter().zip(&expected.constraints) {
            assert_eq!((&merged.name, merged.sample_size), (&expected.name, expected.sample_size));
            // Sums in another order differ in the last bits only.
            assert!((merged.correlation.unwrap() - expected.correlation.unwrap()).abs() < 1e-12);
            assert!((merged.mean_accepted.unwrap() - expected.mean_accepted.unwrap()).abs() < 1e-12);
        }
    }
}
