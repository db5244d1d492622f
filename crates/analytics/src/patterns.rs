//! A user's habits, found in their events: frequent action sequences within sessions
//! (PrefixSpan), temporal habits (peak hours and days, and how far they stand out from a
//! uniform spread: chi-square), session habits, streaks of active days, and the last 7 days
//! against the user's own baseline.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::stats::{chi_square_uniform, median, two_sided_normal_p};

use crate::time::{WEEK_US, day_index, hour_of_day, weekday};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PatternConfig {
    pub session_gap_secs: i64,
    /// Fewest sessions a sequence must appear in (as a subsequence).
    pub min_support: usize,
    /// Longest sequence looked for.
    pub max_length: usize,
    /// Most sequences reported (the most supported, then the longest).
    pub max_sequences: usize,
    /// Significance level for temporal habits and changes.
    pub alpha: f64,
}

impl Default for PatternConfig {
    fn default() -> Self {
        Self { session_gap_secs: 1_800, min_support: 2, max_length: 4, max_sequences: 20, alpha: 0.05 }
    }
}

/// A sequence of actions found in `support` sessions (in that order, not necessarily adjacent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrequentSequence {
    pub actions: Vec<String>,
    pub support: usize,
    /// support / sessions.
    pub share: f64,
}

/// Frequent sequential patterns by PrefixSpan (Pei et al., 2001): grow each frequent prefix by
/// the items frequent in its projected database, up to `max_length`. Support counts sequences
/// (sessions), not occurrences.
pub fn prefixspan(sequences: &[Vec<String>], min_support: usize, max_length: usize) -> Vec<FrequentSequence> {
    let mut names: Vec<String> = Vec::new();
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let encoded: Vec<Vec<u32>> = sequences
        .iter()
        .map(|sequence| {
            sequence
                .iter()
                .map(|action| {
                    *ids.entry(action.as_str()).or_insert_with(|| {
                        names.push(action.clone());
                        (names.len() - 1) as u32
                    })
                })
                .collect()
        })
        .collect();
    let min_support = min_support.max(1);
    let mut found: Vec<(Vec<u32>, usize)> = Vec::new();
    // A projection: (sequence, position after the prefix's last match).
    let start: Vec<(usize, usize)> = (0..encoded.len()).map(|index| (index, 0)).collect();
    grow(&encoded, &start, &mut Vec::new(), min_support, max_length, &mut found);
    let total = sequences.len().max(1) as f64;
    let mut result: Vec<FrequentSequence> = found
        .into_iter()
        .map(|(pattern, support)| FrequentSequence {
            actions: pattern.iter().map(|&id| names[id as usize].clone()).collect(),
            support,
            share: support as f64 / total,
        })
        .collect();
    result.sort_by(|a, b| {
        b.support.cmp(&a.support).then(b.actions.len().cmp(&a.actions.len())).then_with(|| a.actions.cmp(&b.actions))
    });
    result
}

fn grow(
    sequences: &[Vec<u32>],
    projection: &[(usize, usize)],
    prefix: &mut Vec<u32>,
    min_support: usize,
    max_length: usize,
    found: &mut Vec<(Vec<u32>, usize)>,
) {
    if prefix.len() >= max_length {
        return;
    }
    // Each item's support in the projected database: once per sequence.
    let mut support: BTreeMap<u32, usize> = BTreeMap::new();
    for &(index, from) in projection {
        let mut seen = std::collections::HashSet::new();
        for &item in &sequences[index][from..] {
            if seen.insert(item) {
                *support.entry(item).or_default() += 1;
            }
        }
    }
    for (item, count) in support {
        if count < min_support {
            continue;
        }
        prefix.push(item);
        found.push((prefix.clone(), count));
        let next: Vec<(usize, usize)> = projection
            .iter()
            .filter_map(|&(index, from)| {
                sequences[index][from..].iter().position(|&x| x == item).map(|at| (index, from + at + 1))
            })
            .collect();
        grow(sequences, &next, prefix, min_support, max_length, found);
        prefix.pop();
    }
}

/// A peak of the hour-of-day or day-of-week spread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    /// Hour 0–23 (UTC), or day 0–6 with Monday = 0.
    pub slot: usize,
    pub events: u64,
    /// This slot's share of events over the share under a uniform spread.
    pub lift: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemporalHabit {
    /// Slots holding clearly more than their share (lift ≥ 1.5), most first.
    pub peaks: Vec<Peak>,
    pub chi_square: Option<f64>,
    /// Chance of a spread at least this uneven if events were uniform over the slots.
    pub p_value: Option<f64>,
    /// p < alpha.
    pub significant: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionShare {
    pub action: String,
    pub sessions: usize,
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionHabits {
    pub sessions: usize,
    pub median_length_seconds: Option<f64>,
    pub median_events: Option<f64>,
    /// Most common first actions (up to 3).
    pub first_actions: Vec<ActionShare>,
    pub last_actions: Vec<ActionShare>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Streaks {
    /// Consecutive active days ending today (or yesterday: today may not be over).
    pub current_days: u64,
    pub longest_days: u64,
}

/// The last 7 days against the user's own earlier weeks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentChange {
    pub last_7_days: u64,
    /// Mean events per 7 days before that (over the user's tenure, at most 12 weeks).
    pub baseline_per_7_days: Option<f64>,
    pub baseline_weeks: f64,
    /// last_7_days / baseline − 1.
    pub change: Option<f64>,
    /// (last − baseline) / sqrt(baseline): Poisson z.
    pub z: Option<f64>,
    pub p_value: Option<f64>,
    /// `increase`, `decrease`, `stable`, or `insufficient_history` under two weeks of baseline.
    pub direction: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Patterns {
    pub events: usize,
    pub frequent_sequences: Vec<FrequentSequence>,
    pub hours: TemporalHabit,
    pub days: TemporalHabit,
    pub session_habits: SessionHabits,
    pub streaks: Streaks,
    pub recent_change: RecentChange,
}

fn temporal(counts: &[u64], alpha: f64) -> TemporalHabit {
    let total: u64 = counts.iter().sum();
    let uniform = total as f64 / counts.len() as f64;
    let mut peaks: Vec<Peak> = counts
        .iter()
        .enumerate()
        .filter(|(_, count)| uniform > 0.0 && **count as f64 / uniform >= 1.5)
        .map(|(slot, count)| Peak { slot, events: *count, lift: *count as f64 / uniform })
        .collect();
    peaks.sort_by(|a, b| b.events.cmp(&a.events).then(a.slot.cmp(&b.slot)));
    let test = chi_square_uniform(counts);
    TemporalHabit {
        peaks,
        chi_square: test.as_ref().map(|t| t.statistic),
        p_value: test.as_ref().map(|t| t.p_value),
        significant: test.is_some_and(|t| t.p_value < alpha),
    }
}

fn top_actions(actions: &[&str], sessions: usize) -> Vec<ActionShare> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    actions.iter().for_each(|action| *counts.entry(action).or_default() += 1);
    let mut ranked: Vec<ActionShare> = counts
        .into_iter()
        .map(|(action, count)| ActionShare {
            action: action.to_owned(),
            sessions: count,
            share: count as f64 / sessions.max(1) as f64,
        })
        .collect();
    ranked.sort_by(|a, b| b.sessions.cmp(&a.sessions).then_with(|| a.action.cmp(&b.action)));
    ranked.truncate(3);
    ranked
}

/// The habits in `events` — (action, time) pairs, any order — as of `now_us`.
pub fn detect(events: &[(String, i64)], now_us: i64, config: &PatternConfig) -> Patterns {
    let mut sorted: Vec<&(String, i64)> = events.iter().collect();
    sorted.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let gap = config.session_gap_secs.max(1) * 1_000_000;
    let mut sessions: Vec<Vec<&(String, i64)>> = Vec::new();
    for event in &sorted {
        match sessions.last_mut() {
            Some(session) if event.1 - session.last().map_or(i64::MIN, |last| last.1) < gap => session.push(event),
            _ => sessions.push(vec![event]),
        }
    }
    let action_sequences: Vec<Vec<String>> =
        sessions.iter().map(|session| session.iter().map(|(action, _)| action.clone()).collect()).collect();
    let mut frequent_sequences = prefixspan(&action_sequences, config.min_support, config.max_length);
    // Single actions say little as "sequences": keep patterns of two actions or more.
    frequent_sequences.retain(|sequence| sequence.actions.len() >= 2);
    frequent_sequences.truncate(config.max_sequences);

    let mut hours = [0u64; 24];
    let mut days = [0u64; 7];
    for (_, at) in &sorted {
        hours[hour_of_day(*at)] += 1;
        days[weekday(*at)] += 1;
    }

    let firsts: Vec<&str> = sessions.iter().filter_map(|s| s.first().map(|e| e.0.as_str())).collect();
    let lasts: Vec<&str> = sessions.iter().filter_map(|s| s.last().map(|e| e.0.as_str())).collect();
    let session_habits = SessionHabits {
        sessions: sessions.len(),
        median_length_seconds: median(
            &sessions
                .iter()
                .map(|s| (s.last().map_or(0, |e| e.1) - s.first().map_or(0, |e| e.1)) as f64 / 1e6)
                .collect::<Vec<_>>(),
        ),
        median_events: median(&sessions.iter().map(|s| s.len() as f64).collect::<Vec<_>>()),
        first_actions: top_actions(&firsts, sessions.len()),
        last_actions: top_actions(&lasts, sessions.len()),
    };

    let mut active: Vec<i64> = sorted.iter().map(|(_, at)| day_index(*at)).collect();
    active.dedup();
    let mut longest = 0u64;
    let mut run = 0u64;
    for (index, day) in active.iter().enumerate() {
        run = if index > 0 && *day == active[index - 1] + 1 { run + 1 } else { 1 };
        longest = longest.max(run);
    }
    let today = day_index(now_us);
    let current = match active.last() {
        Some(&last) if last >= today - 1 => run,
        _ => 0,
    };

    let recent_change = recent_change(&sorted, now_us, config.alpha);
    Patterns {
        events: events.len(),
        frequent_sequences,
        hours: temporal(&hours, config.alpha),
        days: temporal(&days, config.alpha),
        session_habits,
        streaks: Streaks { current_days: current, longest_days: longest },
        recent_change,
    }
}

fn recent_change(sorted: &[&(String, i64)], now_us: i64, alpha: f64) -> RecentChange {
    let week_start = now_us - WEEK_US;
    let last_7_days = sorted.iter().filter(|(_, at)| *at >= week_start && *at <= now_us).count() as u64;
    let first = sorted.first().map_or(now_us, |(_, at)| *at);
    // Baseline: up to 12 weeks before the last 7 days, from the first event on.
    let baseline_start = first.max(week_start - 12 * WEEK_US);
    let baseline_weeks = ((week_start - baseline_start) as f64 / WEEK_US as f64).max(0.0);
    let before = sorted.iter().filter(|(_, at)| *at >= baseline_start && *at < week_start).count() as f64;
    if baseline_weeks < 2.0 {
        return RecentChange {
            last_7_days,
            baseline_per_7_days: None,
            baseline_weeks,
            change: None,
            z: None,
            p_value: None,
            direction: "insufficient_history",
        };
    }
    let baseline = before / baseline_weeks;
    let z = (baseline > 0.0).then(|| (last_7_days as f64 - baseline) / baseline.sqrt());
    let p_value = z.map(two_sided_normal_p);
    let direction = match (z, p_value) {
        (Some(z), Some(p)) if p < alpha && z > 0.0 => "increase",
        (Some(z), Some(p)) if p < alpha && z < 0.0 => "decrease",
        (None, _) if last_7_days > 0 => "increase",
        _ => "stable",
    };
    RecentChange {
        last_7_days,
        baseline_per_7_days: Some(baseline),
        baseline_weeks,
        change: (baseline > 0.0).then(|| last_7_days as f64 / baseline - 1.0),
        z,
        p_value,
        direction,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn seqs(items: &[&[&str]]) -> Vec<Vec<String>> {
        items.iter().map(|s| s.iter().map(|a| (*a).to_owned()).collect()).collect()
    }

    #[test]
    fn prefixspan_finds_the_textbook_patterns() {
        // Sessions: a b c / a c / a b c d / b d.
        let sequences = seqs(&[&["a", "b", "c"], &["a", "c"], &["a", "b", "c", "d"], &["b", "d"]]);
        let found = prefixspan(&sequences, 2, 3);
        let support = |pattern: &[&str]| {
            found
                .iter()
                .find(|f| f.actions == pattern.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
                .map(|f| f.support)
        };
        assert_eq!(support(&["a"]), Some(3));
        assert_eq!(support(&["a", "c"]), Some(3), "not adjacent in the third session, still counted");
        assert_eq!(support(&["a", "b", "c"]), Some(2));
        assert_eq!(support(&["b", "d"]), Some(2));
        assert_eq!(support(&["c", "a"]), None);
        assert_eq!(support(&["a", "d"]), None, "support 1");
        assert!(found.iter().all(|f| f.actions.len() <= 3));
    }

    const MONDAY: i64 = 1_704_067_200_000_000;
    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn habits_of_a_hand_computed_history() {
        // Five mornings in a row (Mon–Fri, 08:00): login, search, logout, 5 minutes apart.
        let mut events = Vec::new();
        for day in 0..5 {
            let at = MONDAY + day * 24 * HOUR + 8 * HOUR;
            for (offset, action) in ["login", "search", "logout"].iter().enumerate() {
                events.push(((*action).to_owned(), at + offset as i64 * 300_000_000));
            }
        }
        let patterns = detect(&events, MONDAY + 4 * 24 * HOUR + 12 * HOUR, &PatternConfig::default());
        assert_eq!(patterns.session_habits.sessions, 5);
        assert_eq!(patterns.session_habits.median_length_seconds, Some(600.0));
        assert_eq!(
            patterns.session_habits.first_actions[0],
            ActionShare { action: "login".into(), sessions: 5, share: 1.0 }
        );
        assert_eq!(patterns.session_habits.last_actions[0].action, "logout");
        assert_eq!(patterns.frequent_sequences[0].actions, ["login", "search", "logout"]);
        assert_eq!(patterns.frequent_sequences[0].support, 5);
        // All 15 events at hour 8: lift 24, chi-square = Σ (o − e)² / e with e = 15/24
        // = (15 − 0.625)² / 0.625 + 23 · 0.625 = 330.625 + 14.375 = 345.
        assert_eq!(patterns.hours.peaks, vec![Peak { slot: 8, events: 15, lift: 24.0 }]);
        assert!((patterns.hours.chi_square.unwrap() - 345.0).abs() < 1e-9);
        assert!(patterns.hours.significant);
        // Days: 3 events on each of Mon–Fri, none at the weekend: lift 7/5 = 1.4 < 1.5, no peak.
        assert!(patterns.days.peaks.is_empty());
        assert_eq!(patterns.streaks, Streaks { current_days: 5, longest_days: 5 });
        assert_eq!(patterns.recent_change.direction, "insufficient_history");
    }

    #[test]
    fn a_quiet_week_against_a_busy_baseline_is_a_decrease() {
        // Ten events a week for 8 weeks, then one in the last week.
        let mut events = Vec::new();
        for week in 0..8 {
            for n in 0..10 {
                events.push(("view".to_owned(), MONDAY + week * 7 * 24 * HOUR + n * 12 * HOUR));
            }
        }
        events.push(("view".to_owned(), MONDAY + 8 * 7 * 24 * HOUR + HOUR));
        let now = MONDAY + 9 * 7 * 24 * HOUR;
        let change = detect(&events, now, &PatternConfig::default()).recent_change;
        assert_eq!(change.last_7_days, 1);
        assert!((change.baseline_per_7_days.unwrap() - 10.0).abs() < 1e-9, "{change:?}");
        // z = (1 − 10) / √10 = −2.846.
        assert!((change.z.unwrap() + 9.0 / 10f64.sqrt()).abs() < 1e-9);
        assert_eq!(change.direction, "decrease");
    }

    proptest! {
        /// Every reported pattern really has its support: it is a subsequence of exactly that
        /// many sessions.
        #[test]
        fn reported_support_is_exact(raw in prop::collection::vec(prop::collection::vec(0u8..4, 0..7), 1..15)) {
            let sequences: Vec<Vec<String>> = raw.iter().map(|s| s.iter().map(|x| format!("a{x}")).collect()).collect();
            for pattern in prefixspan(&sequences, 2, 3) {
                let contains = |sequence: &Vec<String>| {
                    let mut at = 0;
                    for action in sequence {
                        if at < pattern.actions.len() && *action == pattern.actions[at] {
                            at += 1;
                        }
                    }
                    at == pattern.actions.len()
                };
                prop_assert_eq!(sequences.iter().filter(|s| contains(s)).count(), pattern.support);
                prop_assert!(pattern.support >= 2);
            }
        }
    }
}
