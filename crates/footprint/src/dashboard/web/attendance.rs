//! Seed 004's attendance: the coming events with their predicted attendance and its interval,
//! the events just past, attendance by weekday and slot, anomalies, insights and factors.

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use serde_json::Value;

use super::page::{self, PageError, number, or_reason, shown, time_text};
use super::session::Viewer;
use crate::app::state::AppState;
use crate::attendance::model::batch::{BatchRequest, batch_predict};
use crate::attendance::model::insights::{InsightsRequest, insights};
use crate::attendance::model::{AnomalyRequest, FactorRequest, analyze_factors, anomalies};
use crate::attendance::records;
use crate::dashboard::charts::{Target, VisType};
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::time::DAY_US;

async fn coming(state: &AppState) -> Result<Markup, ApiError> {
    let request = BatchRequest { time_horizon: Some("30d".to_owned()), ..BatchRequest::default() };
    let (prediction, _) = batch_predict(state, request).await?;
    Ok(html! {
        p.muted {
            (prediction.summary.events_predicted) " events in the next 30 days; expected attendance "
            (number(prediction.summary.overall.expected_attendance)) " of " (prediction.summary.overall.total_registered)
            " registered (model " (prediction.model.id) ")."
        }
        div.scroll { table.grid #predictions {
            thead { tr {
                th scope="col" { "Event" } th scope="col" { "Starts" } th.num scope="col" { "Registered" }
                th.num scope="col" { "Expected" } th.num scope="col" { "Interval" } th.num scope="col" { "Rate" } th scope="col" { "Risk" }
            } }
            tbody {
                @for event in &prediction.events {
                    tr {
                        td { (event.name) }
                        td { (time_text(&event.starts_at)) }
                        td.num { (event.overall.total_registered) @if let Some(c) = event.capacity { " / " (c) } }
                        td.num { (number(event.overall.expected_attendance)) }
                        td.num { (event.overall.interval.low) "–" (event.overall.interval.high)
                            " (" (number(100.0 * event.overall.interval.level)) " %)" }
                        td.num { (format!("{:.1} %", 100.0 * event.overall.predicted_rate)) }
                        td { span.tag { (event.overall.risk_level) } }
                    }
                }
            }
        } }
        @if !prediction.failed.is_empty() {
            h3 { "Not predicted" }
            (shown(&prediction.failed, 2))
        }
    })
}

async fn past(state: &AppState) -> Result<Markup, ApiError> {
    let now = state.clock.now_us();
    let (from, to) = (rfc3339(now - 30 * DAY_US), rfc3339(now));
    let list = records::list(state, None, Some(&from), Some(&to), Some(100), None).await?;
    Ok(html! {
        @if list.events.is_empty() { p.muted { "No event in the last 30 days." } } @else {
            div.scroll { table.grid {
                thead { tr {
                    th scope="col" { "Event" } th scope="col" { "Type" } th scope="col" { "Started" }
                    th scope="col" { "Location" } th.num scope="col" { "Capacity" }
                } }
                tbody {
                    @for event in list.events.iter().rev().take(30) {
                        tr {
                            td { (event.name) } td { (event.event_type) } td { (time_text(&event.start)) }
                            td { (event.location.as_deref().unwrap_or("–")) }
                            td.num { (event.capacity.map_or_else(|| "–".to_owned(), |c| c.to_string())) }
                        }
                    }
                }
            } }
        }
    })
}

use super::page::scalar as text;

fn share(value: &Value) -> String {
    value.as_f64().map_or_else(|| "–".to_owned(), |v| format!("{:.0} %", 100.0 * v))
}

fn list(items: &Value) -> Markup {
    html! {
        @if let Some(items) = items.as_array().filter(|i| !i.is_empty()) {
            ul { @for item in items { li { (text(item)) } } }
        }
    }
}

/// Anomalies: the summary, then one row per anomaly with what it is and why.
fn anomalies_view(report: &Value) -> Markup {
    let summary = &report["summary"];
    html! {
        p.muted {
            (text(&summary["totalAnomalies"])) " anomalies (" (text(&summary["highSeverity"])) " high, "
            (text(&summary["mediumSeverity"])) " medium, " (text(&summary["lowSeverity"])) " low severity) — "
            (text(&report["expectation"]))
        }
        @if let Some(items) = report["anomalies"].as_array().filter(|i| !i.is_empty()) {
            div.scroll { table.grid #anomalies {
                thead { tr { th scope="col" { "Type" } th scope="col" { "Severity" } th.num scope="col" { "Confidence" }
                    th scope="col" { "What" } th scope="col" { "Possible causes" } } }
                tbody {
                    @for item in items {
                        tr {
                            td { (text(&item["type"])) }
                            td { span.tag { (text(&item["severity"])) } }
                            td.num { (share(&item["confidence"])) }
                            td { (text(&item["description"])) }
                            td { (list(&item["possibleCauses"])) }
                        }
                    }
                }
            } }
        }
    }
}

/// Insights as findings with their evidence and recommendations, then the action items.
fn insights_view(report: &Value) -> Markup {
    let summary = &report["summary"];
    html! {
        p.muted {
            (text(&summary["keyFindings"])) " key findings from " (text(&summary["registrationsAnalysed"]))
            " registrations; data quality " (text(&summary["dataQuality"])) " (" (share(&summary["knownOutcomeShare"]))
            " of outcomes known)."
        }
        @for insight in report["insights"].as_array().into_iter().flatten() {
            article.card {
                h3 { (text(&insight["title"])) }
                p { (text(&insight["description"])) }
                p.muted { "Category " (text(&insight["category"])) " · impact " (text(&insight["impact"]))
                    " · confidence " (share(&insight["confidence"])) }
                (list(&insight["recommendations"]))
            }
        }
        @if let Some(items) = report["actionItems"].as_array().filter(|i| !i.is_empty()) {
            h3 { "Action items" }
            div.scroll { table.grid {
                thead { tr { th scope="col" { "Priority" } th scope="col" { "Action" } th scope="col" { "Why" } th scope="col" { "Estimated impact" } } }
                tbody {
                    @for item in items {
                        tr { td { span.tag { (text(&item["priority"])) } } td { (text(&item["title"])) }
                            td { (text(&item["description"])) } td { (text(&item["estimatedImpact"])) } }
                    }
                }
            } }
        }
    }
}

/// Factors: one row per factor with its measure of association and what it means.
fn factors_view(report: &Value) -> Markup {
    let model = &report["model"];
    html! {
        p.muted {
            (text(&report["examples"])) " registrations with a known outcome; regression R² "
            (text(&model["r_squared"])) " (adjusted " (text(&model["adjusted_r_squared"])) ", F-test p "
            (text(&model["p_value"])) ")."
        }
        div.scroll { table.grid #factors {
            thead { tr { th scope="col" { "Factor" } th scope="col" { "Measure" } th.num scope="col" { "Association" }
                th.num scope="col" { "p-value" } th scope="col" { "Impact" } th.num scope="col" { "Registrations" } th scope="col" { "What it means" } } }
            tbody {
                @for factor in report["factors"].as_array().into_iter().flatten() {
                    tr {
                        td { (text(&factor["name"])) } td { (text(&factor["measure"])) }
                        td.num { (text(&factor["correlation"])) } td.num { (text(&factor["significance"])) }
                        td { (text(&factor["impact"])) } td.num { (text(&factor["sampleSize"])) }
                        td { (text(&factor["description"])) }
                    }
                }
            }
        } }
        @if report["recommendations"].as_array().is_some_and(|r| !r.is_empty()) {
            h3 { "Recommendations" }
            (list(&report["recommendations"]))
        }
    }
}

fn as_value(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

pub async fn show(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    super::staff_only(&viewer)?;
    let slots = page::chart(&state, VisType::AttendanceByWeekdaySlot, &Target::default()).await;
    let coming = or_reason(coming(&state).await);
    let past = or_reason(past(&state).await);
    let anomalies =
        or_reason(anomalies(&state, AnomalyRequest::default()).await.map(|r| anomalies_view(&as_value(&r))));
    let insights = or_reason(insights(&state, InsightsRequest::default()).await.map(|r| insights_view(&as_value(&r))));
    let factors =
        or_reason(analyze_factors(&state, FactorRequest::default()).await.map(|r| factors_view(&as_value(&r))));
    let content = html! {
        section.panel { h2 { "Coming events and their predicted attendance" } (coming) }
        div.grid2 {
            (slots)
            section.panel { h2 { "Last 30 days" } (past) }
        }
        section.panel { h2 { "Insights" } (insights) }
        section.panel { h2 { "Factors" } (factors) }
        section.panel { h2 { "Anomalies" } (anomalies) }
    };
    Ok(page::page(&state, &viewer, "/ui/attendance", "Attendance", content))
}
