//! Seed 004's factor analysis, one summary per named factor (weather, day of week, time of
//! day, event type, duration, location, price, instructor, historical attendance, lead time):
//! its correlation with attending and that correlation's test, attendance by level (or by
//! quartile of a number), and the linear probability model of attending on the chosen factors.

use super::*;

/// A factor clients can ask about, by the seed's name, or one of the registrations' attributes
/// by its own name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Factor {
    Weather,
    DayOfWeek,
    TimeOfDay,
    EventType,
    Duration,
    Location,
    Price,
    Instructor,
    HistoricalAttendance,
    LeadTime,
    /// An attribute of the person or the registration (`reminder_sent`, `age`, `channel`).
    Attribute(String),
}

impl Serialize for Factor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// How a factor's levels relate to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Levels without an order that matters to attendance (days, types, places, people).
    Nominal,
    /// Levels with an order (the weather's severity, the hour of a time slot).
    Ordered,
    /// A quantity.
    Number,
}

impl Factor {
    pub const ALL: [Factor; 10] = [
        Factor::Weather,
        Factor::DayOfWeek,
        Factor::TimeOfDay,
        Factor::EventType,
        Factor::Duration,
        Factor::Location,
        Factor::Price,
        Factor::Instructor,
        Factor::HistoricalAttendance,
        Factor::LeadTime,
    ];

    pub fn name(&self) -> &str {
        match self {
            Factor::Attribute(name) => name,
            Factor::Weather => "weather",
            Factor::DayOfWeek => "day_of_week",
            Factor::TimeOfDay => "time_of_day",
            Factor::EventType => "event_type",
            Factor::Duration => "duration",
            Factor::Location => "location",
            Factor::Price => "price",
            Factor::Instructor => "instructor",
            Factor::HistoricalAttendance => "historical_attendance",
            Factor::LeadTime => "lead_time",
        }
    }

    /// The built-in factor a name means; `time_slot` is `time_of_day` too.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "time_slot" => Some(Factor::TimeOfDay),
            _ => Self::ALL.into_iter().find(|factor| factor.name() == name),
        }
    }

    /// The kind of a built-in factor; an attribute's comes from its values.
    fn kind(&self) -> Option<Kind> {
        Some(match self {
            Factor::DayOfWeek | Factor::EventType | Factor::Location | Factor::Instructor => Kind::Nominal,
            Factor::Weather | Factor::TimeOfDay => Kind::Ordered,
            Factor::Duration | Factor::Price | Factor::HistoricalAttendance | Factor::LeadTime => Kind::Number,
            Factor::Attribute(_) => return None,
        })
    }
}

/// A factor's value for one registration.
#[derive(Debug, Clone, PartialEq)]
enum Reading {
    /// A level, with the rank that orders the levels (weekday, hour, severity); `None` for a
    /// level outside the order (a weather condition such as `windy`).
    Level(String, Option<f64>),
    Number(f64),
}

/// The two-hour slot of the day (of the clock `at_us` is read on) an instant falls in, the seed's way: `09:00-11:00`,
/// `11:00-13:00`, … (slots start at odd hours), and the slot's first hour.
pub fn two_hour_slot(at_us: i64) -> (String, usize) {
    let hour = crate::time::hour_of_day(at_us);
    let first = if hour % 2 == 1 { hour } else { (hour + 23) % 24 };
    (format!("{first:02}:00-{:02}:00", (first + 2) % 24), first)
}

/// The severity rank of a condition as [`weather_condition`] names it.
fn severity(condition: &str) -> Option<f64> {
    match condition {
        "sunny" => Some(0.0),
        "cloudy" => Some(1.0),
        "rainy" => Some(2.0),
        "snowy" | "stormy" => Some(3.0),
        _ => None,
    }
}

/// What `factor` reads for a registration to `event` by a user with `history` before it.
fn reading(factor: &Factor, event: &EventInfo, registration: &RegistrationInfo, history: &History) -> Option<Reading> {
    let level = |level: &Option<String>| level.as_ref().map(|l| Reading::Level(l.clone(), None));
    match factor {
        Factor::Weather => event.condition.as_ref().map(|c| Reading::Level(c.clone(), severity(c))),
        Factor::DayOfWeek => {
            let day = event.local_weekday();
            Some(Reading::Level(DAYS[day].to_owned(), Some(day as f64)))
        }
        // A date without a time has no time of day.
        Factor::TimeOfDay => (!event.is_all_day()).then(|| {
            let (slot, first) = two_hour_slot(event.local_us());
            Reading::Level(slot, Some(first as f64))
        }),
        Factor::EventType => Some(Reading::Level(event.event_type.clone(), None)),
        Factor::Location => level(&event.location),
        Factor::Instructor => level(&event.instructor),
        Factor::Duration => Some(Reading::Number(event.duration_minutes as f64)),
        Factor::Price => Some(Reading::Number(event.price.unwrap_or(0.0).max(0.0))),
        Factor::HistoricalAttendance => {
            (history.registrations > 0).then(|| Reading::Number(history.attended as f64 / history.registrations as f64))
        }
        Factor::LeadTime => {
            Some(Reading::Number((event.start_us - registration.registered_at_us).max(0) as f64 / DAY_US as f64))
        }
        Factor::Attribute(name) => registration.attributes.get(name).map(|value| match value {
            AttributeValue::Flag(flag) => Reading::Level(if *flag { "yes" } else { "no" }.to_owned(), None),
            AttributeValue::Number(number) => Reading::Number(*number),
            AttributeValue::Level(level) => Reading::Level(level.clone(), None),
        }),
    }
}

/// The attributes the registrations with a known outcome carry, by name.
pub fn attribute_factors(registrations: &[RegistrationInfo]) -> Vec<Factor> {
    let names: std::collections::BTreeSet<&String> =
        registrations.iter().filter(|r| r.attended.is_some()).flat_map(|r| r.attributes.keys()).collect();
    names.into_iter().map(|name| Factor::Attribute(name.clone())).collect()
}

/// How a factor's correlation is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Pearson's r of attending with the factor's value, or with its levels' rank (signed).
    Pearson,
    /// The correlation ratio η, √(the share of attendance's variance between the levels), 0 to 1.
    Eta,
}

/// How much a factor moves attendance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    High,
    Medium,
    Low,
}

/// One factor's relation to attending.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorSummary {
    pub factor: Factor,
    pub measure: Measure,
    pub correlation: Option<f64>,
    /// The p-value of Pearson's t-test (Pearson), or of the χ² test that every level has the
    /// same rate (η).
    pub significance: Option<f64>,
    /// Attendance by level in the levels' order (weekday, hour, severity; else the most
    /// registrations first); for a number, by quartile (`low-high`, both included).
    pub levels: Vec<LevelRate>,
    /// Registrations with a known outcome where the factor is known.
    pub known: u64,
}

impl FactorSummary {
    /// By how much attendance differs between the best and the worst level (or quartile):
    /// `high` from 15 percentage points, `medium` from 5, else `low`; `low` as well when the
    /// correlation is not significant at 5 %; `None` when it cannot be measured.
    pub fn impact(&self) -> Option<Impact> {
        let significance = self.significance?;
        let (best, worst) = self.extremes()?;
        Some(match best.rate - worst.rate {
            _ if significance >= 0.05 => Impact::Low,
            spread if spread >= 0.15 => Impact::High,
            spread if spread >= 0.05 => Impact::Medium,
            _ => Impact::Low,
        })
    }

    /// The levels with the highest and the lowest rate.
    pub fn extremes(&self) -> Option<(&LevelRate, &LevelRate)> {
        let best = self.levels.iter().max_by(|a, b| a.rate.total_cmp(&b.rate))?;
        let worst = self.levels.iter().min_by(|a, b| a.rate.total_cmp(&b.rate))?;
        Some((best, worst))
    }
}

/// The linear probability model of attending on the factors (numbers as they are, levels as
/// indicators against their most frequent level, an unknown value as a level of its own or the
/// mean; columns that repeat others dropped).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorFit {
    pub r_squared: f64,
    pub adjusted_r_squared: f64,
    pub f_statistic: f64,
    pub p_value: f64,
    pub observations: usize,
    pub columns: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorReport {
    /// Registrations with a known outcome of a known event.
    pub examples: usize,
    pub factors: Vec<FactorSummary>,
    pub fit: Option<FactorFit>,
}

/// The factor analysis of `factors` over the registrations with a known outcome.
pub fn factor_report(events: &[EventInfo], registrations: &[RegistrationInfo], factors: &[Factor]) -> FactorReport {
    let known = known(events, registrations);
    let (before, _) = histories_before(&known);
    let attended: Vec<bool> = known.iter().map(|(_, r)| r.attended == Some(true)).collect();
    let columns: Vec<(Factor, Vec<Option<Reading>>)> = factors
        .iter()
        .map(|factor| {
            let readings = known.iter().zip(&before).map(|((e, r), h)| reading(factor, e, r, h)).collect();
            (factor.clone(), readings)
        })
        .collect();
    FactorReport {
        examples: known.len(),
        factors: columns.iter().map(|(factor, readings)| summarise(factor.clone(), readings, &attended)).collect(),
        fit: fit(&columns, &attended),
    }
}

fn tally(levels: &mut Vec<LevelRate>, level: &str, attended: bool) {
    let index = match levels.iter().position(|l| l.level == level) {
        Some(index) => index,
        None => {
            levels.push(LevelRate { level: level.to_owned(), registrations: 0, attended: 0, rate: 0.0 });
            levels.len() - 1
        }
    };
    levels[index].registrations += 1;
    levels[index].attended += u64::from(attended);
}

fn summarise(factor: Factor, readings: &[Option<Reading>], attended: &[bool]) -> FactorSummary {
    let mut moments = crate::stats::Moments::default();
    let mut levels: Vec<LevelRate> = Vec::new();
    let mut ranks: HashMap<String, Option<f64>> = HashMap::new();
    let mut numbers: Vec<(f64, bool)> = Vec::new();
    for (reading, &came) in readings.iter().zip(attended) {
        let y = if came { 1.0 } else { 0.0 };
        match reading {
            Some(Reading::Level(level, rank)) => {
                tally(&mut levels, level, came);
                ranks.insert(level.clone(), *rank);
                if let Some(rank) = rank {
                    moments.push(*rank, y);
                }
            }
            Some(Reading::Number(value)) => {
                moments.push(*value, y);
                numbers.push((*value, came));
            }
            None => {}
        }
    }
    let kind = factor.kind().unwrap_or(if numbers.is_empty() { Kind::Nominal } else { Kind::Number });
    if kind == Kind::Number {
        levels = quartiles(&mut numbers);
    }
    for level in &mut levels {
        level.rate = level.attended as f64 / level.registrations.max(1) as f64;
    }
    let known = levels.iter().map(|l| l.registrations).sum();
    let (measure, correlation, significance) = match kind {
        Kind::Nominal => (Measure::Eta, eta(&levels), levels_differ(&levels)),
        Kind::Ordered | Kind::Number => {
            let correlation = moments.correlation();
            (Measure::Pearson, correlation.map(|c| c.r), correlation.map(|c| c.p_value))
        }
    };
    match kind {
        Kind::Nominal if factor != Factor::DayOfWeek => {
            levels.sort_by(|a, b| b.registrations.cmp(&a.registrations).then_with(|| a.level.cmp(&b.level)))
        }
        Kind::Number => {}
        _ => {
            let rank = |level: &LevelRate| ranks.get(&level.level).copied().flatten().unwrap_or(f64::INFINITY);
            levels.sort_by(|a, b| rank(a).total_cmp(&rank(b)).then_with(|| a.level.cmp(&b.level)));
        }
    }
    FactorSummary { factor, measure, correlation, significance, levels, known }
}

/// η = √(Σ nₖ(ȳₖ − ȳ)² / Σ(y − ȳ)²) for a 0/1 outcome by level; `None` without two levels or
/// without both outcomes.
fn eta(levels: &[LevelRate]) -> Option<f64> {
    let n: u64 = levels.iter().map(|l| l.registrations).sum();
    let came: u64 = levels.iter().map(|l| l.attended).sum();
    if levels.len() < 2 || came == 0 || came == n {
        return None;
    }
    let mean = came as f64 / n as f64;
    let between: f64 = levels.iter().map(|l| l.registrations as f64 * (l.rate - mean).powi(2)).sum();
    let total = n as f64 * mean * (1.0 - mean);
    Some((between / total).clamp(0.0, 1.0).sqrt())
}

/// Attendance by quartile of a number: bins `low-high` (both included) between the quartiles,
/// as many as there are distinct edges.
fn quartiles(numbers: &mut [(f64, bool)]) -> Vec<LevelRate> {
    numbers.sort_by(|a, b| a.0.total_cmp(&b.0));
    let Some(last) = numbers.len().checked_sub(1) else {
        return Vec::new();
    };
    let mut uppers: Vec<f64> = (1..=4).map(|q| numbers[(last * q).div_ceil(4)].0).collect();
    uppers.dedup();
    let mut levels: Vec<LevelRate> = Vec::new();
    let mut low = numbers[0].0;
    let mut index = 0;
    for upper in uppers {
        let (mut registrations, mut attended) = (0, 0);
        while index < numbers.len() && numbers[index].0 <= upper {
            registrations += 1;
            attended += u64::from(numbers[index].1);
            index += 1;
        }
        if registrations > 0 {
            let level = if low == upper { short(low) } else { format!("{}-{}", short(low), short(upper)) };
            levels.push(LevelRate { level, registrations, attended, rate: 0.0 });
        }
        low = numbers.get(index).map_or(upper, |next| next.0);
    }
    levels
}

/// A number with at most two decimals, without trailing zeros.
fn short(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Levels with fewer registrations than this share one indicator in the regression.
const RARE_LEVEL: u64 = 5;

fn fit(columns: &[(Factor, Vec<Option<Reading>>)], attended: &[bool]) -> Option<FactorFit> {
    let n = attended.len();
    let mut design: Vec<Vec<f64>> = Vec::new();
    for (_, readings) in columns {
        let numbers: Vec<f64> =
            readings.iter().filter_map(|r| if let Some(Reading::Number(v)) = r { Some(*v) } else { None }).collect();
        if !numbers.is_empty() {
            let mean = numbers.iter().sum::<f64>() / numbers.len() as f64;
            design.push(readings.iter().map(|r| if let Some(Reading::Number(v)) = r { *v } else { mean }).collect());
            if numbers.len() < n {
                design.push(readings.iter().map(|r| if r.is_none() { 1.0 } else { 0.0 }).collect());
            }
            continue;
        }
        let name = |r: &Option<Reading>| match r {
            Some(Reading::Level(level, _)) => level.clone(),
            _ => "\u{0}unknown".to_owned(),
        };
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for reading in readings {
            *counts.entry(name(reading)).or_default() += 1;
        }
        let pooled = |level: String| if counts[&level] < RARE_LEVEL { "\u{0}rare".to_owned() } else { level };
        let labels: Vec<String> = readings.iter().map(|r| pooled(name(r))).collect();
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for label in &labels {
            *sizes.entry(label).or_default() += 1;
        }
        // The most frequent level is the reference.
        let reference = sizes.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0))).map(|(l, _)| *l);
        for level in sizes.keys().filter(|l| Some(**l) != reference) {
            design.push(labels.iter().map(|l| if l == level { 1.0 } else { 0.0 }).collect());
        }
    }
    let kept = crate::stats::independent_columns(&design);
    let rows: Vec<Vec<f64>> = (0..n).map(|i| kept.iter().map(|&c| design[c][i]).collect()).collect();
    let y: Vec<f64> = attended.iter().map(|&a| if a { 1.0 } else { 0.0 }).collect();
    let fit = crate::stats::ols(&rows, &y)?;
    Some(FactorFit {
        r_squared: fit.r_squared,
        adjusted_r_squared: fit.adjusted_r_squared,
        f_statistic: fit.f_statistic,
        p_value: fit.f_p_value,
        observations: fit.n,
        columns: fit.k,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::HOUR_US;

    /// Monday 2024-01-01 00:00 UTC.
    const MONDAY: i64 = 1_704_067_200_000_000;

    fn event(id: &str, start_us: i64, condition: Option<&str>, place: &str) -> EventInfo {
        EventInfo {
            event_id: id.to_owned(),
            event_type: "class".to_owned(),
            start_us,
            duration_minutes: 60,
            price: None,
            bad_weather: None,
            temperature_c: None,
            condition: condition.map(str::to_owned),
            location: Some(place.to_owned()),
            instructor: Some(format!("teacher of {place}")),
            utc_offset_minutes: 0,
        }
    }

    /// `came` of `of` users attended `event`, registered a day before it.
    fn registrations(event: &EventInfo, came: usize, of: usize) -> Vec<RegistrationInfo> {
        (0..of)
            .map(|u| RegistrationInfo {
                event_id: event.event_id.clone(),
                user_id: format!("{}-u{u}", event.event_id),
                registered_at_us: event.start_us - DAY_US,
                attended: Some(u < came),
                attributes: Default::default(),
            })
            .collect()
    }

    #[test]
    fn time_slots_are_two_hours_from_odd_hours() {
        assert_eq!(two_hour_slot(MONDAY + 9 * HOUR_US + 30 * 60_000_000), ("09:00-11:00".to_owned(), 9));
        assert_eq!(two_hour_slot(MONDAY + 10 * HOUR_US + 59 * 60_000_000).0, "09:00-11:00");
        assert_eq!(two_hour_slot(MONDAY + 8 * HOUR_US).0, "07:00-09:00");
        assert_eq!(two_hour_slot(MONDAY + 10 * 60_000_000), ("23:00-01:00".to_owned(), 23));
    }

    #[test]
    fn eta_is_the_phi_coefficient_for_two_levels() {
        // 7 of 10 against 3 of 10: φ = (7·7 − 3·3) / √(10·10·10·10) = 0.4.
        let level = |name: &str, attended| LevelRate {
            level: name.to_owned(),
            registrations: 10,
            attended,
            rate: attended as f64 / 10.0,
        };
        assert!((eta(&[level("a", 7), level("b", 3)]).unwrap() - 0.4).abs() < 1e-12);
        assert_eq!(eta(&[level("a", 10), level("b", 0)]), Some(1.0));
        assert_eq!(eta(&[level("a", 7)]), None, "one level");
    }

    #[test]
    fn quartile_bins_cover_every_value_once() {
        let mut numbers: Vec<(f64, bool)> = (1..=8).map(|v| (f64::from(v), v % 2 == 0)).collect();
        let bins = quartiles(&mut numbers);
        let labels: Vec<&str> = bins.iter().map(|b| b.level.as_str()).collect();
        assert_eq!(labels, ["1-3", "4-5", "6-7", "8"]);
        assert_eq!(bins.iter().map(|b| b.registrations).sum::<u64>(), 8);
        assert_eq!((bins[0].registrations, bins[0].attended), (3, 1));
        let mut same = vec![(2.5, true); 4];
        assert_eq!(quartiles(&mut same).iter().map(|b| b.level.as_str()).collect::<Vec<_>>(), ["2.5"]);
    }

    #[test]
    fn independent_columns_drop_constants_and_combinations() {
        let a = vec![1.0, 2.0, 3.0, 5.0];
        let b = vec![0.0, 1.0, 0.0, 1.0];
        let twice_a: Vec<f64> = a.iter().map(|v| 2.0 * v + 1.0).collect();
        let sum: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        let columns = vec![a, vec![4.0; 4], twice_a, b, sum];
        assert_eq!(crate::stats::independent_columns(&columns), [0, 3]);
    }

    #[test]
    fn weather_by_condition_with_the_seeds_levels_and_a_signed_correlation() {
        // Sunny: 9 of 10 came; rainy: 3 of 10. The severity ranks 0 and 2 make r the φ of the
        // 2×2 table with a minus sign: (9·7 − 1·3) / √(10·10·12·8) = 0.61237.
        let sunny = event("sunny", MONDAY + DAY_US + 9 * HOUR_US, Some("sunny"), "hall");
        let rainy = event("rainy", MONDAY + 2 * DAY_US + 18 * HOUR_US, Some("rainy"), "park");
        let unknown = event("unknown", MONDAY + 3 * DAY_US + 9 * HOUR_US, None, "hall");
        let mut regs = registrations(&sunny, 9, 10);
        regs.extend(registrations(&rainy, 3, 10));
        regs.extend(registrations(&unknown, 1, 2));
        let events = [sunny, rainy, unknown];
        let report = factor_report(&events, &regs, &[Factor::Weather, Factor::DayOfWeek, Factor::TimeOfDay]);
        assert_eq!(report.examples, 22);
        let weather = &report.factors[0];
        assert_eq!((&weather.factor, weather.measure, weather.known), (&Factor::Weather, Measure::Pearson, 20));
        let expected = -60.0 / 9600f64.sqrt();
        assert!((weather.correlation.unwrap() - expected).abs() < 1e-9, "{:?}", weather.correlation);
        let levels: Vec<(&str, f64)> = weather.levels.iter().map(|l| (l.level.as_str(), l.rate)).collect();
        assert_eq!(levels, [("sunny", 0.9), ("rainy", 0.3)]);
        assert!(weather.significance.unwrap() < 0.01);
        assert_eq!(weather.impact(), Some(Impact::High));

        let days = &report.factors[1];
        assert_eq!(days.measure, Measure::Eta);
        let names: Vec<&str> = days.levels.iter().map(|l| l.level.as_str()).collect();
        assert_eq!(names, ["tuesday", "wednesday", "thursday"], "in weekday order");
        let slots = &report.factors[2];
        let names: Vec<&str> = slots.levels.iter().map(|l| l.level.as_str()).collect();
        assert_eq!(names, ["09:00-11:00", "17:00-19:00"], "in hour order");
        assert_eq!((slots.levels[0].registrations, slots.levels[0].attended), (12, 10));
    }

    #[test]
    fn the_fit_survives_factors_that_repeat_each_other() {
        // Each place has its own teacher: location and instructor are the same indicator.
        let hall = event("hall", MONDAY + 9 * HOUR_US, Some("sunny"), "hall");
        let park = event("park", MONDAY + DAY_US + 9 * HOUR_US, Some("rainy"), "park");
        let mut regs = registrations(&hall, 16, 20);
        regs.extend(registrations(&park, 6, 20));
        let report = factor_report(&[hall, park], &regs, &[Factor::Location, Factor::Instructor]);
        let fit = report.fit.expect("a fit on the one independent column");
        assert_eq!((fit.observations, fit.columns), (40, 1));
        // R² of a two-group model is φ²: (16·14 − 4·6)² / (20·20·22·18) = 0.252525….
        assert!((fit.r_squared - 200.0f64.powi(2) / 158_400.0).abs() < 1e-9, "{}", fit.r_squared);
        let location = &report.factors[0];
        assert!((location.correlation.unwrap() - fit.r_squared.sqrt()).abs() < 1e-9, "η² = R² for one factor");
    }

    #[test]
    fn historical_attendance_reads_only_earlier_events() {
        let first = event("first", MONDAY, None, "hall");
        let second = event("second", MONDAY + DAY_US, None, "hall");
        let mut regs: Vec<RegistrationInfo> = Vec::new();
        for (event, came) in [(&first, true), (&second, false)] {
            regs.push(RegistrationInfo {
                event_id: event.event_id.clone(),
                user_id: "ann".to_owned(),
                registered_at_us: event.start_us - DAY_US,
                attended: Some(came),
                attributes: Default::default(),
            });
        }
        let report = factor_report(&[first, second], &regs, &[Factor::HistoricalAttendance, Factor::LeadTime]);
        let history = &report.factors[0];
        assert_eq!(history.known, 1, "the first registration has no past");
        assert_eq!(history.levels[0].level, "1");
        assert_eq!(report.factors[1].levels[0].level, "1", "registered one day ahead");
    }

    #[test]
    fn factor_names_parse_with_the_alias() {
        assert_eq!(Factor::parse("time_slot"), Some(Factor::TimeOfDay));
        assert!(Factor::ALL.iter().all(|f| Factor::parse(f.name()).as_ref() == Some(f)));
        assert_eq!(Factor::parse("moon_phase"), None);
    }

    #[test]
    fn weather_conditions_in_the_seeds_words() {
        use serde_json::json;
        let condition = |value| weather_condition(&value);
        assert_eq!(condition(json!({"condition": "Light rain"})).as_deref(), Some("rainy"));
        assert_eq!(condition(json!({"forecast": "Ensoleillé"})).as_deref(), Some("sunny"));
        assert_eq!(condition(json!({"condition": "thunderstorm"})).as_deref(), Some("stormy"));
        assert_eq!(condition(json!({"condition": "snow showers"})).as_deref(), Some("snowy"));
        assert_eq!(condition(json!({"condition": "Windy"})).as_deref(), Some("windy"));
        assert_eq!(condition(json!({"precipitation_mm": 3.0})).as_deref(), Some("rainy"));
        assert_eq!(condition(json!({"temperature": 20})), None);
    }
}
