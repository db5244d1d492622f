//! Linear scales and their "nice" ticks (1, 2 or 5 times a power of ten), and the labels of
//! numbers, percentages and UTC dates.

/// Maps a domain onto a pixel range.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub low: f64,
    pub high: f64,
    pub from: f64,
    pub to: f64,
}

impl Scale {
    /// Over `low`–`high` widened to nice ticks (a flat domain gets a unit of room).
    pub fn nice(low: f64, high: f64, from: f64, to: f64) -> Self {
        let (mut low, mut high) = if low <= high { (low, high) } else { (high, low) };
        if high - low < 1e-12 {
            low -= 0.5;
            high += 0.5;
        }
        let step = tick_step(low, high, 5);
        Self { low: (low / step).floor() * step, high: (high / step).ceil() * step, from, to }
    }

    /// Exactly `low`–`high`.
    pub fn fixed(low: f64, high: f64, from: f64, to: f64) -> Self {
        let high = if high - low < 1e-12 { low + 1.0 } else { high };
        Self { low, high, from, to }
    }

    pub fn at(&self, value: f64) -> f64 {
        self.from + (value - self.low) / (self.high - self.low) * (self.to - self.from)
    }

    /// About `count` ticks inside the domain.
    pub fn ticks(&self, count: usize) -> Vec<f64> {
        let step = tick_step(self.low, self.high, count);
        let first = (self.low / step).ceil() as i64;
        let last = (self.high / step).floor() as i64;
        (first..=last).map(|i| i as f64 * step).collect()
    }
}

fn tick_step(low: f64, high: f64, count: usize) -> f64 {
    let raw = (high - low) / count.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// 1 234, 12.5, 0.25, 1.2k, 3.4M.
pub fn number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if magnitude >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else if magnitude >= 100.0 || value == value.trunc() {
        format!("{}", value.round() as i64)
    } else if magnitude >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

pub fn percent(value: f64) -> String {
    format!("{:.0}%", value * 100.0)
}

/// `YYYY-MM-DD` (UTC) of an instant in microseconds.
pub fn date(at_us: f64) -> String {
    let days = (at_us / 86_400_000_000.0).floor() as i64;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_scales_end_on_round_ticks() {
        let scale = Scale::nice(3.0, 97.0, 0.0, 100.0);
        assert_eq!((scale.low, scale.high), (0.0, 100.0));
        assert_eq!(scale.ticks(5), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(scale.at(50.0), 50.0);
        let flat = Scale::nice(4.0, 4.0, 0.0, 10.0);
        assert!(flat.low < 4.0 && flat.high > 4.0);
    }

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(date(0.0), "1970-01-01");
        assert_eq!(date(1_704_067_200_000_000.0), "2024-01-01");
        assert_eq!(date(951_782_400_000_000.0), "2000-02-29");
    }

    #[test]
    fn numbers_read_short() {
        assert_eq!(number(1234.0), "1234");
        assert_eq!(number(12_345.0), "12.3k");
        assert_eq!(number(0.256), "0.26");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(percent(0.256), "26%");
    }
}
