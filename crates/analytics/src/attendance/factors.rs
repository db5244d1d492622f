//! Rates by level of the factors scheduling can choose, the best level against the rest
//! (Bonferroni-adjusted), and the summaries insights and recommendations report (whether
//! levels differ, weekly rates, per-event rates, capacity use).

use super::*;

/// Attendance rate and count for one level of a categorical factor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelRate {
    pub level: String,
    pub registrations: u64,
    pub attended: u64,
    pub rate: f64,
}

/// The level of a factor with the highest rate, against all the other levels together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BestLevel {
    pub level: LevelRate,
    pub rest_rate: f64,
    pub rest_registrations: u64,
    /// The two-proportion test's p-value times the number of levels (Bonferroni): the best level
    /// was picked among them, so its own test alone would overstate the evidence.
    pub p_value: Option<f64>,
}

/// The best of `levels` (sorted best first, as [`analyze_factors`] gives them) against the rest.
pub fn best_level(levels: &[LevelRate]) -> Option<BestLevel> {
    let best = levels.first()?;
    let attended: u64 = levels.iter().map(|l| l.attended).sum::<u64>() - best.attended;
    let rest_registrations: u64 = levels.iter().map(|l| l.registrations).sum::<u64>() - best.registrations;
    let rest_rate = attended as f64 / rest_registrations.max(1) as f64;
    let p = crate::stats::two_proportion_p(best.rate, best.registrations as f64, rest_rate, rest_registrations as f64);
    Some(BestLevel {
        level: best.clone(),
        rest_rate,
        rest_registrations,
        p_value: p.map(|p| (p * levels.len() as f64).min(1.0)),
    })
}

/// Attendance by the levels of the factors scheduling can choose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorAnalysis {
    /// Rates by day of week, time slot (morning, afternoon, evening), event type and weather
    /// (good, bad, unknown), best level first.
    pub levels: BTreeMap<String, Vec<LevelRate>>,
}

/// The rates by level of the registrations with a known outcome (seed 004's own factor
/// analysis, factor by factor with its tests, is [`factor_report`]).
pub fn analyze_factors(events: &[EventInfo], registrations: &[RegistrationInfo]) -> FactorAnalysis {
    let by_id: HashMap<&str, &EventInfo> = events.iter().map(|e| (e.event_id.as_str(), e)).collect();
    let mut tallies: BTreeMap<String, BTreeMap<String, (u64, u64)>> = BTreeMap::new();
    for registration in registrations {
        let (Some(attended), Some(event)) = (registration.attended, by_id.get(registration.event_id.as_str())) else {
            continue;
        };
        let weather = match event.bad_weather {
            Some(true) => "bad",
            Some(false) => "good",
            None => "unknown",
        };
        for (factor, level) in [
            ("day_of_week", DAYS[event.local_weekday()].to_owned()),
            ("time_slot", event.local_slot().to_owned()),
            ("event_type", event.event_type.clone()),
            ("weather", weather.to_owned()),
        ] {
            let entry = tallies.entry(factor.to_owned()).or_default().entry(level).or_default();
            entry.0 += 1;
            entry.1 += u64::from(attended);
        }
    }
    let levels = tallies
        .into_iter()
        .map(|(factor, counts)| {
            let mut rates: Vec<LevelRate> = counts
                .into_iter()
                .map(|(level, (n, a))| LevelRate {
                    level,
                    registrations: n,
                    attended: a,
                    rate: a as f64 / n.max(1) as f64,
                })
                .collect();
            rates.sort_by(|a, b| b.rate.total_cmp(&a.rate).then_with(|| a.level.cmp(&b.level)));
            (factor, rates)
        })
        .collect();
    FactorAnalysis { levels }
}

/// The p-value of a χ² test of whether the rates differ between the levels at all (attended
/// against missed, by level); `None` when the table cannot be tested.
pub fn levels_differ(levels: &[LevelRate]) -> Option<f64> {
    let table: Vec<Vec<u64>> = levels.iter().map(|l| vec![l.attended, l.registrations - l.attended]).collect();
    crate::stats::chi_square_independence(&table).map(|test| test.p_value)
}

/// Registrations with a known outcome and how many attended, by the week (Monday 00:00 UTC)
/// the event started in, oldest first.
pub fn weekly_rates(examples: &[Example]) -> Vec<(i64, u64, u64)> {
    let mut weeks: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for example in examples {
        let entry = weeks.entry(crate::time::week_start(example.event_start_us)).or_default();
        entry.0 += 1;
        entry.1 += u64::from(example.attended);
    }
    weeks.into_iter().map(|(week, (registrations, attended))| (week, registrations, attended)).collect()
}

/// An event's known outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRate {
    pub event_id: String,
    pub registrations: u64,
    pub attended: u64,
    pub rate: f64,
}

/// The events of `events` with at least `min_known` known outcomes, best rate first (ties by id).
pub fn event_rates(events: &[EventInfo], registrations: &[RegistrationInfo], min_known: u64) -> Vec<EventRate> {
    let listed: std::collections::HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let mut per_event: HashMap<&str, (u64, u64)> = HashMap::new();
    for registration in registrations {
        if let Some(attended) = registration.attended {
            let entry = per_event.entry(registration.event_id.as_str()).or_default();
            entry.0 += 1;
            entry.1 += u64::from(attended);
        }
    }
    let mut ranked: Vec<EventRate> = per_event
        .into_iter()
        .filter(|(id, (known, _))| *known >= min_known && listed.contains(id))
        .map(|(id, (known, attended))| EventRate {
            event_id: id.to_owned(),
            registrations: known,
            attended,
            rate: attended as f64 / known as f64,
        })
        .collect();
    ranked.sort_by(|a, b| b.rate.total_cmp(&a.rate).then_with(|| a.event_id.cmp(&b.event_id)));
    ranked
}

/// The mean share of its capacity each event with a capacity filled with attendees, and how
/// many events had one; `None` when none had.
pub fn capacity_utilisation(
    capacities: &[(String, Option<i64>)],
    registrations: &[RegistrationInfo],
) -> (Option<f64>, usize) {
    let mut attended: HashMap<&str, u64> = HashMap::new();
    for registration in registrations.iter().filter(|r| r.attended == Some(true)) {
        *attended.entry(registration.event_id.as_str()).or_default() += 1;
    }
    let shares: Vec<f64> = capacities
        .iter()
        .filter_map(|(id, capacity)| {
            capacity.filter(|c| *c > 0).map(|c| attended.get(id.as_str()).copied().unwrap_or(0) as f64 / c as f64)
        })
        .collect();
    let mean = (!shares.is_empty()).then(|| shares.iter().sum::<f64>() / shares.len() as f64);
    (mean, shares.len())
}

#[cfg(test)]
mod summary_tests {
    use super::*;

    fn registration(event: &str, attended: Option<bool>) -> RegistrationInfo {
        RegistrationInfo {
            event_id: event.to_owned(),
            user_id: "u".to_owned(),
            registered_at_us: 0,
            attended,
            attributes: Default::default(),
        }
    }

    fn event(id: &str) -> EventInfo {
        EventInfo::plain(id.to_owned(), String::new(), 0, 60)
    }

    #[test]
    fn per_event_rates_and_capacity_use_by_hand() {
        let registrations = [
            registration("a", Some(true)),
            registration("a", Some(false)),
            registration("b", Some(true)),
            registration("b", Some(true)),
            registration("b", None),
            registration("c", Some(true)),
            registration("gone", Some(true)),
        ];
        let events = [event("a"), event("b"), event("c")];
        let ranked = event_rates(&events, &registrations, 2);
        let ids: Vec<(&str, u64, u64)> =
            ranked.iter().map(|r| (r.event_id.as_str(), r.registrations, r.attended)).collect();
        assert_eq!(ids, [("b", 2, 2), ("a", 2, 1)], "c has one known outcome; gone is not listed");
        let capacities = [("a".to_owned(), Some(4)), ("b".to_owned(), Some(2)), ("c".to_owned(), None)];
        let (mean, with_capacity) = capacity_utilisation(&capacities, &registrations);
        assert_eq!(with_capacity, 2);
        assert!((mean.unwrap() - (0.25 + 1.0) / 2.0).abs() < 1e-12);
        assert_eq!(capacity_utilisation(&[("c".to_owned(), Some(0))], &registrations), (None, 0));
    }

    #[test]
    fn rates_that_differ_are_told_apart_from_rates_that_do_not() {
        let level = |attended, registrations| LevelRate {
            level: String::new(),
            registrations,
            attended,
            rate: attended as f64 / registrations as f64,
        };
        assert!(levels_differ(&[level(90, 100), level(10, 100)]).unwrap() < 1e-6);
        assert!(levels_differ(&[level(50, 100), level(51, 100)]).unwrap() > 0.5);
    }
}
