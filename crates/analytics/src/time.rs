//! Calendar arithmetic on microseconds since the Unix epoch, in UTC: the one place for the
//! length of a day and a week, the weekday (Monday = 0) and the hour of day.

pub const HOUR_US: i64 = 3_600_000_000;
pub const DAY_US: i64 = 24 * HOUR_US;
pub const WEEK_US: i64 = 7 * DAY_US;

/// Days since the epoch (negative before it).
pub fn day_index(at_us: i64) -> i64 {
    at_us.div_euclid(DAY_US)
}

/// Midnight UTC of the day `at_us` falls in.
pub fn day_start(at_us: i64) -> i64 {
    day_index(at_us) * DAY_US
}

/// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(at_us: i64) -> usize {
    (day_index(at_us) + 3).rem_euclid(7) as usize
}

/// 0–23.
pub fn hour_of_day(at_us: i64) -> usize {
    (at_us.rem_euclid(DAY_US) / HOUR_US) as usize
}

/// Monday 00:00 UTC of the week `at_us` falls in.
pub fn week_start(at_us: i64) -> i64 {
    day_start(at_us) - weekday(at_us) as i64 * DAY_US
}

/// A duration in days, as a fraction.
pub fn days(duration_us: i64) -> f64 {
    duration_us as f64 / DAY_US as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-12-02T00:00:00Z, a Monday.
    const MONDAY: i64 = 1_733_097_600_000_000;

    #[test]
    fn weekdays_hours_and_week_starts() {
        assert_eq!(weekday(0), 3, "1970-01-01 was a Thursday");
        assert_eq!(weekday(MONDAY), 0);
        assert_eq!(weekday(MONDAY + 6 * DAY_US + 23 * HOUR_US), 6);
        assert_eq!(weekday(MONDAY - 1), 6, "the second before Monday is Sunday");
        assert_eq!(hour_of_day(MONDAY + 18 * HOUR_US + 59 * 60_000_000), 18);
        assert_eq!(hour_of_day(-1), 23);
        assert_eq!(week_start(MONDAY + 3 * DAY_US + 5 * HOUR_US), MONDAY);
        assert_eq!(week_start(MONDAY), MONDAY);
        assert_eq!(week_start(MONDAY - 1), MONDAY - WEEK_US);
        assert_eq!(day_start(MONDAY + 5 * HOUR_US), MONDAY);
        assert_eq!(day_start(-1), -DAY_US);
        assert!((days(36 * HOUR_US) - 1.5).abs() < 1e-12);
    }
}
