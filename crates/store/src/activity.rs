//! The daily activity processing keeps for the dashboard's overview: events per UTC day and
//! type, distinct users per day, and each user's active days as bits, 32 days a row; and the
//! one SQL (both backends) that counts distinct users over stretches of whole days from them.

/// The processed events of one UTC day and type (a count processing keeps, or a batch's share of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyTypeCount {
    pub day_us: i64,
    pub event_type: String,
    pub events: i64,
}

/// How many distinct users had a processed event on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyUsers {
    pub day_us: i64,
    pub users: i64,
}

/// A UTC day as counted since 1970-01-01.
pub fn day_number(ts_us: i64) -> i64 {
    ts_us.div_euclid(DAY_US)
}

/// The processor whose watermark the daily activity follows (the SQL of both backends names it
/// too, when erasure takes out what it counted).
pub const SEQUENCE_PROCESSOR: &str = "sequences";

/// One day in microseconds.
pub const DAY_US: i64 = 86_400_000_000;

/// Days per stored activity period: a user's active days are kept as one bit per day, one row
/// per period.
pub const ACTIVITY_PERIOD_DAYS: i64 = 32;

/// The days of one period on which a user had a processed event: bit `d` stands for the day
/// `period * ACTIVITY_PERIOD_DAYS + d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveDays {
    pub user_key: String,
    pub period: i64,
    pub days: i64,
}

impl ActiveDays {
    /// The period and bit of the day holding `ts_us`.
    pub fn of(ts_us: i64) -> (i64, i64) {
        let day = day_number(ts_us);
        (day.div_euclid(ACTIVITY_PERIOD_DAYS), 1 << day.rem_euclid(ACTIVITY_PERIOD_DAYS))
    }

    /// The start of each day in `days` (a period's bits), in order.
    pub fn day_starts(period: i64, days: i64) -> impl Iterator<Item = i64> {
        (0..ACTIVITY_PERIOD_DAYS)
            .filter(move |bit| days & (1 << bit) != 0)
            .map(move |bit| (period * ACTIVITY_PERIOD_DAYS + bit) * DAY_US)
    }
}

/// A stretch of whole UTC days, `[from_us, to_us)`, over which distinct active users are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayWindow {
    pub from_us: i64,
    pub to_us: i64,
}

impl DayWindow {
    /// Each period the window touches, with the bits of its days inside the window (partial
    /// days count whole: the window runs from the day of `from_us` to the day before `to_us`
    /// ends).
    pub fn period_masks(&self) -> Vec<(i64, i64)> {
        let first = day_number(self.from_us);
        let end = day_number(self.to_us - 1) + 1;
        let mut masks = Vec::new();
        if end <= first {
            return masks;
        }
        let mut period = first.div_euclid(ACTIVITY_PERIOD_DAYS);
        while period * ACTIVITY_PERIOD_DAYS < end {
            let start = period * ACTIVITY_PERIOD_DAYS;
            let (low, high) = (first.max(start) - start, end.min(start + ACTIVITY_PERIOD_DAYS) - start);
            let mask = (low..high).fold(0_i64, |mask, bit| mask | (1 << bit));
            masks.push((period, mask));
            period += 1;
        }
        masks
    }
}

/// The SQL of [`EventStore::active_users`] over `user_active_days`, the same on both backends:
/// one row per user with a 0/1 per window, summed. The masks are integers computed here, so
/// they are written into the statement.
pub(crate) fn active_users_sql(windows: &[DayWindow]) -> Option<String> {
    let masks: Vec<Vec<(i64, i64)>> = windows.iter().map(DayWindow::period_masks).collect();
    let periods: Vec<i64> = masks.iter().flatten().map(|(period, _)| *period).collect();
    let (low, high) = (periods.iter().min()?, periods.iter().max()?);
    let mut per_user = Vec::new();
    let mut sums = Vec::new();
    for (n, window) in masks.iter().enumerate() {
        let cases: Vec<String> =
            window.iter().map(|(period, mask)| format!("WHEN {period} THEN days & {mask}")).collect();
        let test =
            if cases.is_empty() { "0".to_owned() } else { format!("CASE period {} ELSE 0 END", cases.join(" ")) };
        per_user.push(format!("max(CASE WHEN ({test}) <> 0 THEN 1 ELSE 0 END) AS w{n}"));
        sums.push(format!("coalesce(sum(w{n}), 0)"));
    }
    Some(format!(
        "SELECT {} FROM (SELECT {} FROM user_active_days WHERE period >= {low} AND period <= {high} GROUP BY user_key) AS t",
        sums.join(", "),
        per_user.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_of_days_becomes_one_mask_per_period_it_touches() {
        let day = |n: i64| n * DAY_US;
        let window = |from: i64, to: i64| DayWindow { from_us: day(from), to_us: day(to) };
        assert_eq!(window(0, 1).period_masks(), [(0, 1)]);
        assert_eq!(window(30, 34).period_masks(), [(0, 0b11 << 30), (1, 0b11)], "days 30, 31 | 32, 33");
        assert_eq!(window(0, 32).period_masks(), [(0, 0xFFFF_FFFF)]);
        assert_eq!(window(5, 5).period_masks(), []);
        // A partial day counts whole: noon of day 2 to noon of day 3 is days 2 and 3.
        let noon = DayWindow { from_us: day(2) + DAY_US / 2, to_us: day(3) + DAY_US / 2 };
        assert_eq!(noon.period_masks(), [(0, 0b1100)]);
        assert_eq!(ActiveDays::day_starts(1, 0b101).collect::<Vec<_>>(), [day(32), day(34)]);
        assert_eq!(ActiveDays::of(day(33) + 5), (1, 0b10));
        assert!(active_users_sql(&[]).is_none());
    }
}
