//! Cohort retention: users grouped by the period (day, week from Monday, or calendar month, in
//! UTC) of their first event, and the share of each cohort active in every period since, from
//! the activity per day that processing keeps (no event is read).

use footprint_analytics::insights::{CohortRow, RetentionCell, retention_table};
use footprint_analytics::time::day_index;
use footprint_store::{RetentionPeriod, RetentionQuery, UserRecord};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::kernel::cache::memo;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::time::DAY_US;

/// The periods of `?period=`.
pub fn parse_period(text: Option<&str>) -> Result<RetentionPeriod, ApiError> {
    match text.map(|t| t.trim().to_ascii_lowercase()).as_deref() {
        None | Some("week" | "weekly" | "w") => Ok(RetentionPeriod::Week),
        Some("day" | "daily" | "d") => Ok(RetentionPeriod::Day),
        Some("month" | "monthly" | "m") => Ok(RetentionPeriod::Month),
        Some(other) => Err(ApiError::InvalidParameters(format!("period: {other} is not one of day, week, month"))),
    }
}

fn name(period: RetentionPeriod) -> &'static str {
    match period {
        RetentionPeriod::Day => "day",
        RetentionPeriod::Week => "week",
        RetentionPeriod::Month => "month",
    }
}

/// The index of the period holding `day` (as the store counts them).
fn index_of(period: RetentionPeriod, day: i64) -> i64 {
    match period {
        RetentionPeriod::Day => day,
        RetentionPeriod::Week => (day + 3).div_euclid(7),
        RetentionPeriod::Month => {
            let date = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(day);
            i64::from(date.year() - 1970) * 12 + i64::from(u8::from(date.month())) - 1
        }
    }
}

/// The first day of a period, as a day number.
fn start_of(period: RetentionPeriod, index: i64) -> i64 {
    match period {
        RetentionPeriod::Day => index,
        RetentionPeriod::Week => 7 * index - 3,
        RetentionPeriod::Month => {
            let year = 1970 + index.div_euclid(12);
            let month = u8::try_from(index.rem_euclid(12) + 1).unwrap_or(1);
            let date = time::Date::from_calendar_date(
                i32::try_from(year).unwrap_or(1970),
                time::Month::try_from(month).unwrap_or(time::Month::January),
                1,
            )
            .unwrap_or(time::Date::MIN);
            i64::from(date.to_julian_day()) - i64::from(time::macros::date!(1970 - 01 - 01).to_julian_day())
        }
    }
}

/// One cohort's retention.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Cohort {
    /// The cohort's first day (`YYYY-MM-DD`).
    pub cohort: String,
    pub users: i64,
    /// Share of the cohort active in its period + 0, 1, 2… (the last one still running).
    pub retention: Vec<f64>,
    pub active: Vec<i64>,
}

/// `GET /api/v1/insights/cohorts`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CohortTable {
    /// `day`, `week` or `month`.
    pub period: &'static str,
    pub cohorts: Vec<Cohort>,
    /// For each k, the share of users (of the cohorts old enough) active k periods after their
    /// first: the users-weighted average of the rows.
    pub average: Vec<f64>,
    pub computed_at: String,
}

fn cohort_view(period: RetentionPeriod, row: CohortRow) -> Cohort {
    Cohort {
        cohort: crate::kernel::time::day_text(start_of(period, row.cohort)),
        users: row.users,
        retention: row.retention,
        active: row.active,
    }
}

/// How long a retention count may lag behind the events (it changes as days pass; reading it
/// groups every kept day of the cohorts' users).
const RETENTION_LAG: std::time::Duration = std::time::Duration::from_secs(300);

async fn rows(
    state: &AppState,
    period: RetentionPeriod,
    from_day: i64,
    to_day: i64,
) -> Result<Vec<CohortRow>, ApiError> {
    let query = RetentionQuery { period, first_seen_from_us: from_day * DAY_US, first_seen_to_us: to_day * DAY_US };
    let key = format!("retention:{}:{from_day}:{to_day}", name(period));
    let counts: footprint_store::RetentionCounts =
        memo(state.cache.as_ref(), &key, RETENTION_LAG, async { Ok(state.store.retention(query).await?) }).await?;
    let cells: Vec<RetentionCell> =
        counts.cells.iter().map(|&(cohort, period, users)| RetentionCell { cohort, period, users }).collect();
    let today = day_index(state.clock.now_us());
    Ok(retention_table(&counts.sizes, &cells, index_of(period, today)))
}

/// The retention table of the cohorts of the last `periods` periods.
pub async fn table(state: &AppState, period: RetentionPeriod, periods: u32) -> Result<CohortTable, ApiError> {
    crate::tracking::freshness::settle_for_read(state).await?;
    let today = day_index(state.clock.now_us());
    let first = start_of(period, index_of(period, today) - i64::from(periods.max(1)) + 1);
    let rows = rows(state, period, first, today + 1).await?;
    if rows.is_empty() {
        return Err(ApiError::InsufficientData {
            message: format!(
                "no user was first seen in the last {periods} {}s: cohorts need users with processed events",
                name(period)
            ),
            needed: 1,
            available: 0,
        });
    }
    let longest = rows.iter().map(|row| row.retention.len()).max().unwrap_or(0);
    let average = (0..longest)
        .map(|k| {
            let (active, users) = rows
                .iter()
                .filter(|row| row.active.len() > k)
                .fold((0, 0), |(active, users), row| (active + row.active[k], users + row.users));
            if users > 0 { active as f64 / users as f64 } else { 0.0 }
        })
        .collect();
    Ok(CohortTable {
        period: name(period),
        cohorts: rows.into_iter().map(|row| cohort_view(period, row)).collect(),
        average,
        computed_at: rfc3339(state.clock.now_us()),
    })
}

/// The week cohort of `user` and its retention; `None` for a user never seen.
pub async fn cohort_of(state: &AppState, user: &UserRecord) -> Result<Option<Cohort>, ApiError> {
    let Some(first_seen_us) = user.first_seen_us else { return Ok(None) };
    let period = RetentionPeriod::Week;
    let index = index_of(period, day_index(first_seen_us));
    let rows = rows(state, period, start_of(period, index), start_of(period, index + 1)).await?;
    Ok(rows.into_iter().find(|row| row.cohort == index).map(|row| cohort_view(period, row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_count_as_the_store_counts_them() {
        // Day 19_723 is Monday 2024-01-01.
        assert_eq!(start_of(RetentionPeriod::Week, index_of(RetentionPeriod::Week, 19_729)), 19_723);
        assert_eq!(index_of(RetentionPeriod::Month, 19_723), (2024 - 1970) * 12);
        assert_eq!(start_of(RetentionPeriod::Month, (2024 - 1970) * 12 + 1), 19_723 + 31);
        assert_eq!(index_of(RetentionPeriod::Day, 5), 5);
        assert!(parse_period(Some("fortnight")).is_err());
        assert_eq!(parse_period(None).unwrap(), RetentionPeriod::Week);
    }
}
