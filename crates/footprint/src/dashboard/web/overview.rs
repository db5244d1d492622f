//! The overview (`/`): events over a date range against the period before, active users per
//! day, week and month, the top event types, consent rates, and this node's ingestion live.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use footprint_charts::{Chart, LineSeries, Lines, XAxis};
use footprint_store::DayWindow;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::page::{self, PageError, figures, noted_figures, number, percent};
use super::session::Viewer;
use crate::app::state::AppState;
use crate::kernel::error::ApiError;
use crate::kernel::telemetry::LIVE_RATE_SECONDS;
use crate::kernel::time::DAY_US;

/// The longest range the overview draws, in days.
const MAX_DAYS: i64 = 366;
/// Event types drawn as their own line; the others are summed as "other".
const LINES: usize = 5;

#[derive(Debug, Default, Deserialize)]
pub struct RangeQuery {
    /// First day, `YYYY-MM-DD` (UTC).
    from: Option<String>,
    /// Last day, included.
    to: Option<String>,
}

/// `[from, to)` in microseconds, whole UTC days, with the dates as given back to the form.
struct Range {
    from_us: i64,
    to_us: i64,
    from: String,
    to: String,
}

fn day_of(field: &str, text: &str) -> Result<i64, ApiError> {
    let date: jiff::civil::Date = text
        .trim()
        .parse()
        .map_err(|_| ApiError::InvalidParameters(format!("{field}: a date as YYYY-MM-DD, not {text}")))?;
    let start = date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|_| ApiError::InvalidParameters(format!("{field}: out of range")))?;
    Ok(start.timestamp().as_microsecond())
}

fn date_of(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).map_or_else(|_| String::new(), |t| t.strftime("%Y-%m-%d").to_string())
}

impl Range {
    fn parse(query: &RangeQuery, now_us: i64) -> Result<Range, ApiError> {
        let today = now_us - now_us.rem_euclid(DAY_US);
        let to_us = match query.to.as_deref().filter(|t| !t.is_empty()) {
            Some(text) => day_of("to", text)? + DAY_US,
            None => today + DAY_US,
        };
        let from_us = match query.from.as_deref().filter(|t| !t.is_empty()) {
            Some(text) => day_of("from", text)?,
            None => to_us - 30 * DAY_US,
        };
        if from_us >= to_us {
            return Err(ApiError::InvalidParameters("from: must be on or before to".to_owned()));
        }
        if to_us - from_us > MAX_DAYS * DAY_US {
            return Err(ApiError::InvalidParameters(format!("from and to: at most {MAX_DAYS} days apart")));
        }
        Ok(Range { from_us, to_us, from: date_of(from_us), to: date_of(to_us - DAY_US) })
    }

    fn days(&self) -> i64 {
        (self.to_us - self.from_us) / DAY_US
    }
}

/// An event type's total in the range, and its events per day.
type TypeCounts = (i64, BTreeMap<i64, i64>);

/// What the overview shows, computed from the store.
struct Overview {
    by_type: BTreeMap<String, TypeCounts>,
    users_per_day: BTreeMap<i64, i64>,
    events: i64,
    previous_events: i64,
    active: i64,
    previous_active: i64,
    daily: i64,
    weekly: i64,
    monthly: i64,
}

async fn overview(state: &AppState, range: &Range) -> Result<Overview, ApiError> {
    // Like every reader: what is committed is counted first, unless the backlog is large.
    crate::tracking::freshness::settle_for_read(state).await?;
    let store = &state.store;
    let length = range.to_us - range.from_us;
    let counts = store.daily_type_counts(range.from_us, range.to_us).await?;
    let previous = store.daily_type_counts(range.from_us - length, range.from_us).await?;
    let mut by_type: BTreeMap<String, TypeCounts> = BTreeMap::new();
    for count in &counts {
        let entry = by_type.entry(count.event_type.clone()).or_default();
        entry.0 += count.events;
        *entry.1.entry(count.day_us).or_default() += count.events;
    }
    let mut users_per_day: BTreeMap<i64, i64> =
        (0..range.days()).map(|day| (range.from_us + day * DAY_US, 0)).collect();
    for day in store.daily_active_users(range.from_us, range.to_us).await? {
        users_per_day.insert(day.day_us, day.users);
    }
    let end = range.to_us;
    let window = |from_us: i64, to_us: i64| DayWindow { from_us, to_us };
    let active = store
        .active_users(&[
            window(range.from_us, end),
            window(range.from_us - length, range.from_us),
            window(end - DAY_US, end),
            window(end - 7 * DAY_US, end),
            window(end - 30 * DAY_US, end),
        ])
        .await?;
    let figure = |n: usize| active.get(n).copied().unwrap_or(0);
    Ok(Overview {
        events: counts.iter().map(|c| c.events).sum(),
        previous_events: previous.iter().map(|c| c.events).sum(),
        active: figure(0),
        previous_active: figure(1),
        daily: figure(2),
        weekly: figure(3),
        monthly: figure(4),
        by_type,
        users_per_day,
    })
}

fn change(now: i64, before: i64) -> String {
    if before == 0 {
        return if now == 0 { "no change".to_owned() } else { "new".to_owned() };
    }
    let delta = 100.0 * (now - before) as f64 / before as f64;
    format!("{delta:+.1} % on the period before")
}

fn events_chart(data: &Overview, range: &Range) -> Chart {
    let title = "Events per day by type";
    if data.events == 0 {
        return Chart::not_enough_data(title, "no event in this range");
    }
    let mut types: Vec<(&String, &TypeCounts)> = data.by_type.iter().collect();
    types.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    let days: Vec<i64> = data.users_per_day.keys().copied().collect();
    let line = |name: &str, per_day: &dyn Fn(i64) -> i64| {
        LineSeries::new(name, days.iter().map(|&d| (d as f64, per_day(d) as f64)).collect())
    };
    let mut series: Vec<LineSeries> = types
        .iter()
        .take(LINES)
        .map(|(name, (_, per_day))| line(name, &|d| per_day.get(&d).copied().unwrap_or(0)))
        .collect();
    if types.len() > LINES {
        let rest = &types[LINES..];
        series
            .push(line("other", &|d| rest.iter().map(|(_, (_, per_day))| per_day.get(&d).copied().unwrap_or(0)).sum()));
    }
    Chart::new(title, Lines::new(series, XAxis::Time, "day (UTC)", "events"))
        .with_subtitle(format!("{} to {}", range.from, range.to))
}

fn users_chart(data: &Overview) -> Chart {
    let title = "Active users per day";
    if data.active == 0 {
        return Chart::not_enough_data(title, "no user was active in this range");
    }
    let points = data.users_per_day.iter().map(|(&d, &n)| (d as f64, n as f64)).collect();
    Chart::new(title, Lines::new(vec![LineSeries::new("active users", points)], XAxis::Time, "day (UTC)", "users"))
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<RangeQuery>,
) -> Result<Response, PageError> {
    if !viewer.is_staff() {
        return Ok(super::redirect(&format!("/ui/users/{}", page::urlencode(&viewer.user_id))));
    }
    let range = Range::parse(&query, state.clock.now_us())?;
    let data = overview(&state, &range).await?;
    let consent = state.store.consent_totals().await?;
    let users = state.store.count_users().await?;
    let mut top: Vec<(&String, i64)> = data.by_type.iter().map(|(name, (n, _))| (name, *n)).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let content = html! {
        form.inline method="get" action="/" aria-label="Date range" {
            label { "From" input type="date" name="from" value=(range.from) required; }
            label { "To" input type="date" name="to" value=(range.to) required; }
            button type="submit" { "Show" }
            span.muted {
                "Last "
                @for days in [7, 30, 90] {
                    a href=(format!("/?from={}", date_of(range.to_us - days * DAY_US))) { (days) " days" } " "
                }
            }
        }
        (noted_figures(&[
            ("Events", number(data.events as f64), change(data.events, data.previous_events)),
            ("Active users", number(data.active as f64), change(data.active, data.previous_active)),
            ("Events per active user",
                if data.active > 0 { number(data.events as f64 / data.active as f64) } else { "–".to_owned() },
                format!("over {} days", range.days())),
            ("Users known", number(users.users as f64), format!("{} with an account", number(users.accounts as f64))),
        ]))
        div.grid2 {
            (page::figure(&state, &events_chart(&data, &range)))
            (page::figure(&state, &users_chart(&data)))
        }
        div.grid2 {
            section.panel {
                h2 { "Active users" }
                p.muted { "Distinct users with an event, in the day, 7 and 30 days up to " (range.to) "." }
                (figures(&[
                    ("Daily", number(data.daily as f64)),
                    ("Weekly", number(data.weekly as f64)),
                    ("Monthly", number(data.monthly as f64)),
                ]))
                h2 { "Consent" }
                p.muted { "Each user's latest consent (" (number(consent.users as f64)) " users have recorded one)." }
                (figures(&[
                    ("Analytics", percent(consent.analytics as f64, consent.users as f64)),
                    ("Preferences", percent(consent.preferences as f64, consent.users as f64)),
                    ("Improvement", percent(consent.improvement as f64, consent.users as f64)),
                ]))
            }
            section.panel {
                h2 { "Top event types" }
                @if top.is_empty() { p.muted { "No event in this range." } } @else {
                    div.scroll { table.grid {
                        thead { tr { th scope="col" { "Type" } th.num scope="col" { "Events" } th.num scope="col" { "Share" } } }
                        tbody {
                            @for (name, n) in top.iter().take(10) {
                                tr { td { (name) } td.num { (number(*n as f64)) } td.num { (percent(*n as f64, data.events as f64)) } }
                            }
                        }
                    } }
                }
            }
        }
        (live_panel(&state))
    };
    Ok(page::page(&state, &viewer, "/", "Overview", content))
}

/// This node's ingestion, as `/ui/live` gives it.
#[derive(Debug, Serialize)]
pub struct Live {
    events_per_second: String,
    queue_depth: String,
    accepted_since_start: String,
    rejected_since_start: String,
}

fn live_figures(state: &AppState) -> Live {
    let metrics = &state.metrics;
    Live {
        events_per_second: number(metrics.accepted_per_second()),
        queue_depth: number(metrics.queue_depth.get() as f64),
        accepted_since_start: number(metrics.events_total("accepted") as f64),
        rejected_since_start: number(metrics.events_total("rejected") as f64),
    }
}

fn live_panel(state: &AppState) -> Markup {
    let live = live_figures(state);
    html! {
        section.panel data-live {
            h2 { "Ingestion on this node" }
            p.muted { "Accepted events per second over the last " (LIVE_RATE_SECONDS) " s; refreshed every 10 s." }
            dl.figures {
                div { dt { "Events per second" } dd data-live-field="events_per_second" { (live.events_per_second) } }
                div { dt { "Queue depth" } dd data-live-field="queue_depth" { (live.queue_depth) } }
                div { dt { "Accepted since start" } dd data-live-field="accepted_since_start" { (live.accepted_since_start) } }
                div { dt { "Rejected since start" } dd data-live-field="rejected_since_start" { (live.rejected_since_start) } }
            }
        }
    }
}

pub async fn live(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    super::staff_only(&viewer)?;
    Ok(Json(live_figures(&state)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_680_400_000_000; // 2025-12-02T13:00:00Z

    #[test]
    fn the_default_range_is_the_last_thirty_days_up_to_today() {
        let range = Range::parse(&RangeQuery::default(), NOW).unwrap();
        assert_eq!(range.to, "2025-12-02");
        assert_eq!(range.days(), 30);
        assert_eq!(range.from, "2025-11-03");
        assert_eq!(range.from_us % DAY_US, 0);
    }

    #[test]
    fn ranges_are_whole_days_and_checked() {
        let query = |from: &str, to: &str| RangeQuery { from: Some(from.to_owned()), to: Some(to.to_owned()) };
        let range = Range::parse(&query("2025-01-01", "2025-01-01"), NOW).unwrap();
        assert_eq!(range.days(), 1, "the last day is included");
        for (from, to, says) in [
            ("2025-01-02", "2025-01-01", "on or before"),
            ("2020-01-01", "2025-01-01", "366 days"),
            ("yesterday", "2025-01-01", "YYYY-MM-DD"),
        ] {
            let error = Range::parse(&query(from, to), NOW).err().unwrap().to_string();
            assert!(error.contains(says), "{error}");
        }
    }

    #[test]
    fn changes_are_against_the_period_before() {
        assert_eq!(change(150, 100), "+50.0 % on the period before");
        assert_eq!(change(0, 0), "no change");
        assert_eq!(change(3, 0), "new");
    }
}
