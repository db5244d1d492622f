//! Seed 003's page: tiers and their use (accounts per tier, the busiest hour against each
//! limit, who should move up or down and why), logins and security events, the churn-risk
//! distribution with the model behind it, and cohort retention; for admins, the latest
//! automation runs and a button that trains the churn model.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::page::{self, PageError, csrf, figures, number, time_text};
use super::session::{CsrfForm, Viewer};
use crate::app::state::AppState;
use crate::dashboard::charts::{Target, VisType};
use crate::insights::{churn, tiers};
use crate::jobs::automation;

#[derive(Debug, Default, Deserialize)]
pub struct InsightsQuery {
    training: Option<String>,
}

fn share(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{:.0} %", 100.0 * v))
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<InsightsQuery>,
) -> Result<Response, PageError> {
    super::staff_only(&viewer)?;
    let target = Target::default();
    let mut charts = Vec::new();
    for vis in [
        VisType::TierDistribution,
        VisType::TierUsage,
        VisType::ChurnRiskDistribution,
        VisType::SecurityEvents,
        VisType::CohortRetention,
    ] {
        charts.push(page::chart(&state, vis, &target).await);
    }
    let analysis = tiers::analyze(&state).await?;
    let model = churn::ready_model(&state).await?;
    let validation = model.as_ref().and_then(|(record, _)| {
        let metrics: serde_json::Value = serde_json::from_str(&record.metrics).ok()?;
        Some(metrics.get("validation")?.clone())
    });
    let metric = |name: &str| validation.as_ref().and_then(|v| v.get(name)).and_then(serde_json::Value::as_f64);
    let upgrades = analysis.candidates.iter().filter(|c| c.advice.action == "upgrade").count();
    let runs = if viewer.is_admin() { Some(automation::runs(&state, None, 15).await?) } else { None };
    let horizon = state.config.insights.churn_horizon_days;
    let content = html! {
        @if let Some(id) = &query.training { p.ok role="status" { "Training " (id) " has started: the churn figures follow once it is ready (reload)." } }
        (figures(&[
            ("Accounts", number(analysis.accounts as f64)),
            ("To upgrade", number(upgrades as f64)),
            ("To downgrade", number((analysis.candidates.len() - upgrades) as f64)),
            ("Churn horizon", format!("{horizon} days")),
            ("Churn model ROC AUC", metric("roc_auc").map_or_else(|| "–".to_owned(), |auc| format!("{auc:.3}"))),
            ("Churn model Brier", metric("brier").map_or_else(|| "–".to_owned(), |brier| format!("{brier:.3}"))),
        ]))
        div.grid2 { @for chart in &charts { (chart) } }
        section.panel {
            h2 { "Who should change tier" }
            p.muted {
                "Over the last " (analysis.window_days) " days: upgrade when the limit refused requests or the busiest hour used 80 % of it; "
                "downgrade when the busiest hour fits in half of the lower tier's limit and the user is disengaged (score under 30) or likely to leave (risk over 70 %)."
            }
            @if analysis.candidates.is_empty() { p.muted { "Every account fits its tier." } } @else {
                div.scroll { table.grid #tier-candidates {
                    thead { tr {
                        th scope="col" { "User" } th scope="col" { "Tier" } th scope="col" { "Advice" }
                        th.num scope="col" { "Busiest hour" } th.num scope="col" { "Refused" }
                        th.num scope="col" { "Engagement" } th.num scope="col" { "Churn risk" } th scope="col" { "Why" }
                    } }
                    tbody {
                        @for candidate in analysis.candidates.iter().take(50) {
                            tr {
                                td { a href=(format!("/ui/users/{}", page::urlencode(&candidate.user_id))) { (candidate.user_id) } }
                                td { (candidate.tier.as_str()) }
                                td { span.tag { (candidate.advice.action) }
                                    @if let Some(to) = candidate.advice.suggested_tier { " → " (to.as_str()) } }
                                td.num { (number(candidate.peak_hour_requests as f64)) }
                                td.num { (number(candidate.limited_in_window as f64)) }
                                td.num { (candidate.engagement.map_or_else(|| "–".to_owned(), |e| format!("{e:.0}"))) }
                                td.num { (share(candidate.churn_probability)) }
                                td { (candidate.advice.reasons.join("; ")) }
                            }
                        }
                    }
                } }
            }
        }
        @if let Some(runs) = &runs {
            section.panel {
                h2 { "Automation runs" }
                form.inline method="post" action="/ui/insights/train-churn" {
                    (csrf(&viewer))
                    button type="submit" { "Train the churn model now" }
                }
                @if runs.is_empty() { p.muted { "No automation job has run yet." } } @else {
                    div.scroll { table.grid #automation-runs {
                        thead { tr {
                            th scope="col" { "Job" } th scope="col" { "Trigger" } th scope="col" { "Started" }
                            th.num scope="col" { "Took" } th scope="col" { "Status" } th scope="col" { "Counts" }
                        } }
                        tbody {
                            @for run in runs {
                                tr {
                                    td { (run.job) } td { (run.trigger) } td { (time_text(&run.started_at)) }
                                    td.num { (run.duration_ms.map_or_else(|| "–".to_owned(), |ms| format!("{} ms", number(ms as f64)))) }
                                    td { span.tag { (run.status) } @if let Some(error) = &run.error { br; span.error { (error) } } }
                                    td { (page::data(&run.counts, 1)) }
                                }
                            }
                        }
                    } }
                }
            }
        }
    };
    Ok(page::page(&state, &viewer, "/ui/insights", "Insights", content))
}

pub async fn train_churn(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_form(&headers, form.csrf.as_deref())?;
    viewer.principal().require_admin()?;
    let model = churn::start_training(&state, &viewer.user_id).await?;
    Ok(super::redirect(&format!("/ui/insights?training={}", page::urlencode(&model.model_id))))
}
