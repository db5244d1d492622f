//! Time: a `Clock` trait so that what depends on "now" can be tested, and the conversions
//! between the store's microseconds and RFC 3339 text.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;

    fn now_us(&self) -> i64 {
        to_us(self.now())
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The system clock moved by an offset that can be advanced: for tests and simulations of
/// time passing (retention, windows, token expiry: tokens are issued and checked on this clock,
/// the server's, not on the operating system's).
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_us: std::sync::atomic::AtomicI64,
}

impl OffsetClock {
    /// A clock that reads `now_us` now, and moves on with real time.
    pub fn starting_at(now_us: i64) -> Self {
        let clock = Self::default();
        clock.offset_us.store(now_us - to_us(OffsetDateTime::now_utc()), std::sync::atomic::Ordering::SeqCst);
        clock
    }

    pub fn advance(&self, by: std::time::Duration) {
        let by = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.offset_us.fetch_add(by, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> OffsetDateTime {
        let offset = self.offset_us.load(std::sync::atomic::Ordering::SeqCst);
        OffsetDateTime::now_utc() + time::Duration::microseconds(offset)
    }
}

/// Microseconds since the Unix epoch, saturating far outside any accepted timestamp.
pub fn to_us(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000).unwrap_or(if time.year() < 1970 { i64::MIN } else { i64::MAX })
}

pub fn from_us(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 in UTC, e.g. `2024-12-05T12:34:56.123456Z`.
pub fn rfc3339(us: i64) -> String {
    from_us(us).format(&Rfc3339).unwrap_or_default()
}

/// ISO 8601 without an offset, in UTC, as Python's `datetime.isoformat()` writes a naive time:
/// `2024-12-05T12:34:56`, with `.ffffff` only when there are microseconds (seed 002's shape).
pub fn naive_iso(us: i64) -> String {
    let time = from_us(us);
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    if time.microsecond() != 0 {
        text.push_str(&format!(".{:06}", time.microsecond()));
    }
    text
}

pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_round_trip_through_rfc3339() {
        let us = 1_733_402_096_123_456;
        assert_eq!(rfc3339(us), "2024-12-05T12:34:56.123456Z");
        assert_eq!(to_us(parse_rfc3339(&rfc3339(us)).unwrap()), us);
        assert_eq!(to_us(parse_rfc3339("2024-12-05T13:34:56.123456+01:00").unwrap()), us);
        assert!(parse_rfc3339("2024-12-05 12:34:56").is_none());
        assert_eq!(naive_iso(us), "2024-12-05T12:34:56.123456");
        assert_eq!(naive_iso(1_733_402_096_000_000), "2024-12-05T12:34:56");
    }
}
