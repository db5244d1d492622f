//! Seed 001's matching over a window of days: acceptance with its interval, satisfaction,
//! and how each constraint relates to acceptance, with acceptance per day.

use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::page::{self, PageError, figures, number, shown};
use super::session::Viewer;
use crate::app::state::AppState;
use crate::dashboard::charts::{Target, VisType};
use crate::matching::metrics;

#[derive(Debug, Default, Deserialize)]
pub struct DaysQuery {
    days: Option<u32>,
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{:.1} %", 100.0 * v))
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<DaysQuery>,
) -> Result<Response, PageError> {
    super::staff_only(&viewer)?;
    let window = metrics::window(&state, query.days)?;
    let stats = metrics::stats(&state, window).await?;
    let acceptance = stats.acceptance(0.95);
    let satisfaction = stats.satisfaction();
    let constraints = stats.constraints();
    let chart =
        page::chart(&state, VisType::MatchAcceptanceOverTime, &Target { days: Some(window.days), ..Target::default() })
            .await;
    let interval = acceptance
        .confidence_interval
        .as_ref()
        .map_or_else(|| "–".to_owned(), |i| format!("{:.1}–{:.1} %", 100.0 * i.low, 100.0 * i.high));
    let content = html! {
        form.inline method="get" action="/ui/matching" {
            label { "Days" input type="number" name="days" min="1" max="3650" value=(window.days); }
            button type="submit" { "Show" }
        }
        (figures(&[
            ("Proposed", number(acceptance.proposed as f64)),
            ("Decided", number(acceptance.decided as f64)),
            ("Acceptance", rate(acceptance.acceptance_rate)),
            ("95 % interval", interval),
            ("Mean decision time", acceptance.mean_decision_time_seconds.map_or_else(|| "–".to_owned(), |s| format!("{} s", number(s)))),
            ("Ratings", number(satisfaction.count as f64)),
            ("Mean rating", satisfaction.mean_rating.map_or_else(|| "–".to_owned(), |m| format!("{} / 5", number(m)))),
        ]))
        div.grid2 {
            (chart)
            section.panel {
                h2 { "Satisfaction" }
                (shown(&satisfaction, 3))
            }
        }
        div.grid2 {
            section.panel {
                h2 { "Constraints and acceptance" }
                p.muted { "Mean satisfaction of each constraint for accepted and rejected matches; point-biserial correlation with acceptance and its p-value." }
                (shown(&std::iter::once(&constraints.match_score).chain(&constraints.constraints).collect::<Vec<_>>(), 2))
            }
        }
    };
    Ok(page::page(&state, &viewer, "/ui/matching", "Matching", content))
}
