//! Times and windows as clients send them. One parser for every window a route takes — two
//! query parameters (`from`/`to`), or seed 004's `timeframe` (a name such as `last_quarter`, or
//! `{"start", "end"}`) — so the same mistake gets the same answer everywhere: 400
//! `INVALID_PARAMETERS` naming the field. Calendar arithmetic is `footprint_analytics::time`.

use serde_json::Value;

pub use footprint_analytics::time::{DAY_US, HOUR_US, WEEK_US};

use crate::kernel::clock::{parse_rfc3339, to_us};
use crate::kernel::error::ApiError;

/// The windows a `timeframe` may name, with their length in days (`all`: no start).
pub const NAMED_WINDOWS: [(&str, Option<i64>); 5] = [
    ("last_week", Some(7)),
    ("last_month", Some(30)),
    ("last_quarter", Some(90)),
    ("last_year", Some(365)),
    ("all", None),
];

/// An RFC 3339 instant, or the message that names `field` and says what to send.
pub fn instant(field: &str, text: &str) -> Result<i64, String> {
    parse_rfc3339(text)
        .map(to_us)
        .ok_or_else(|| format!("{field}: must be an RFC 3339 time with an offset, e.g. 2024-12-05T00:00:00Z"))
}

/// An instant given as a parameter: 400 `INVALID_PARAMETERS` when it does not parse.
pub fn parse_instant(field: &str, text: &str) -> Result<i64, ApiError> {
    instant(field, text).map_err(ApiError::InvalidParameters)
}

/// `start ≤ t < end`; either side may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
}

impl TimeWindow {
    /// A window from two optional parameters, each given with its name: `("from", …)`,
    /// `("to", …)`. The start must come before the end.
    pub fn from_bounds(start: (&str, Option<&str>), end: (&str, Option<&str>)) -> Result<Self, ApiError> {
        let start_us = start.1.map(|text| parse_instant(start.0, text)).transpose()?;
        let end_us = end.1.map(|text| parse_instant(end.0, text)).transpose()?;
        let window = Self { start_us, end_us };
        window.check_order(&format!("{} and {}", start.0, end.0))?;
        Ok(window)
    }

    /// Seed 004's `timeframe` (or `timeRange`) at `field`: a name of [`NAMED_WINDOWS`] ending now,
    /// or `{"start", "end"}` (either may be left out). `None` when absent or null, so that each
    /// route keeps its own default. The label is the name, or `custom`.
    pub fn from_json(field: &str, value: Option<&Value>, now_us: i64) -> Result<Option<(Self, String)>, ApiError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(name)) => Ok(Some((Self::named(field, name, now_us)?, name.clone()))),
            Some(Value::Object(bounds)) => {
                let bound = |name: &str| -> Result<Option<i64>, ApiError> {
                    match bounds.get(name) {
                        None | Some(Value::Null) => Ok(None),
                        Some(Value::String(text)) => parse_instant(&format!("{field}.{name}"), text).map(Some),
                        Some(_) => Err(ApiError::InvalidParameters(format!(
                            "{field}.{name}: must be an RFC 3339 time with an offset, e.g. 2024-12-05T00:00:00Z"
                        ))),
                    }
                };
                let window = Self { start_us: bound("start")?, end_us: bound("end")? };
                window.check_order(field)?;
                Ok(Some((window, "custom".to_owned())))
            }
            Some(_) => Err(ApiError::InvalidParameters(format!("{field}: {}", Self::expected()))),
        }
    }

    /// The window a name stands for, ending at `now_us`.
    pub fn named(field: &str, name: &str, now_us: i64) -> Result<Self, ApiError> {
        match NAMED_WINDOWS.iter().find(|(known, _)| *known == name) {
            Some((_, days)) => Ok(Self { start_us: days.map(|days| now_us - days * DAY_US), end_us: Some(now_us) }),
            None => Err(ApiError::InvalidParameters(format!("{field}: {name} is not {}", Self::expected()))),
        }
    }

    fn expected() -> String {
        let names: Vec<&str> = NAMED_WINDOWS.iter().map(|(name, _)| *name).collect();
        format!("one of {}, or {{\"start\", \"end\"}} in RFC 3339", names.join(", "))
    }

    fn check_order(&self, field: &str) -> Result<(), ApiError> {
        match (self.start_us, self.end_us) {
            (Some(start), Some(end)) if start >= end => {
                Err(ApiError::InvalidParameters(format!("{field}: the start must come before the end")))
            }
            _ => Ok(()),
        }
    }
}

/// Days since 1970-01-01 of `YYYYMMDD`, `YYYY-MM-DD` or `YYYY/MM/DD`, optionally followed by a
/// time (`T…` or ` …`), which is ignored.
pub fn parse_day(text: &str) -> Option<i64> {
    let text = text.trim().trim_matches('"');
    let date = text.split(['T', ' ']).next()?;
    let (year, month, day): (i32, u8, u8) = if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
        (date[..4].parse().ok()?, date[4..6].parse().ok()?, date[6..].parse().ok()?)
    } else {
        let mut parts = date.split(['-', '/']);
        let year = parts.next()?.parse().ok()?;
        let month = parts.next()?.parse().ok()?;
        let day = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        (year, month, day)
    };
    let month = time::Month::try_from(month).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    Some(i64::from(date.to_julian_day()) - i64::from(time::macros::date!(1970 - 01 - 01).to_julian_day()))
}

/// A day (days since 1970-01-01) as `YYYY-MM-DD`.
pub fn day_text(day: i64) -> String {
    super::clock::rfc3339(day * DAY_US)[..10].to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dates_are_read_in_the_usual_forms() {
        assert_eq!(parse_day("19700101"), Some(0));
        assert_eq!(parse_day("1970-01-02"), Some(1));
        assert_eq!(parse_day("1997/09/30"), parse_day("19970930"));
        assert_eq!(parse_day("1997-09-30T12:00:00Z"), parse_day("19970930"));
        assert_eq!(parse_day("1997-09-30 23:59"), parse_day("19970930"));
        assert_eq!(parse_day("00004"), None);
        assert_eq!(parse_day("19971332"), None);
        assert_eq!(day_text(parse_day("19970930").unwrap()), "1997-09-30");
    }

    const NOW: i64 = 1_733_402_096_000_000;

    fn code(error: ApiError) -> (&'static str, String) {
        (error.code().as_str(), error.to_string())
    }

    #[test]
    fn every_form_of_window_parses_and_every_mistake_is_a_400_naming_the_field() {
        let window = TimeWindow::from_bounds(("from", Some("2024-12-01T00:00:00Z")), ("to", None)).unwrap();
        assert_eq!(window, TimeWindow { start_us: Some(1_733_011_200_000_000), end_us: None });
        let (bad, message) = code(TimeWindow::from_bounds(("from", Some("yesterday")), ("to", None)).unwrap_err());
        assert_eq!(bad, "INVALID_PARAMETERS");
        assert!(message.starts_with("from: "), "{message}");
        let reversed =
            TimeWindow::from_bounds(("from", Some("2024-12-02T00:00:00Z")), ("to", Some("2024-12-01T00:00:00Z")));
        assert_eq!(code(reversed.unwrap_err()).0, "INVALID_PARAMETERS");

        let (named, label) = TimeWindow::from_json("timeframe", Some(&json!("last_week")), NOW).unwrap().unwrap();
        assert_eq!((named.start_us, named.end_us, label.as_str()), (Some(NOW - 7 * DAY_US), Some(NOW), "last_week"));
        let (all, _) = TimeWindow::from_json("timeframe", Some(&json!("all")), NOW).unwrap().unwrap();
        assert_eq!(all.start_us, None);
        let bounds = json!({"start": "2024-02-01T00:00:00Z", "end": "2024-03-15T23:59:59Z", "label": "Q1"});
        let (custom, label) = TimeWindow::from_json("timeframe", Some(&bounds), NOW).unwrap().unwrap();
        assert_eq!((custom.start_us, label.as_str()), (Some(1_706_745_600_000_000), "custom"));
        assert_eq!(TimeWindow::from_json("timeframe", None, NOW).unwrap(), None);
        assert_eq!(TimeWindow::from_json("timeframe", Some(&Value::Null), NOW).unwrap(), None);

        for (value, field) in [
            (json!("next_month"), "timeframe: "),
            (json!(42), "timeframe: "),
            (json!({"start": "soon"}), "timeframe.start: "),
            (json!({"end": 7}), "timeframe.end: "),
            (json!({"start": "2024-03-01T00:00:00Z", "end": "2024-02-01T00:00:00Z"}), "timeframe: "),
        ] {
            let (bad, message) = code(TimeWindow::from_json("timeframe", Some(&value), NOW).unwrap_err());
            assert_eq!(bad, "INVALID_PARAMETERS", "{value}");
            assert!(message.starts_with(field), "{value}: {message}");
        }
    }
}
