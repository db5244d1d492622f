//! The segments: the latest run's scatter on its PCA plane and its centroids side by side, each
//! segment's size, name and defining traits, when it ran, and (for admins) a button that starts
//! a run.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::page::{self, PageError, csrf, figures, number, shown, time_text};
use super::session::{CsrfForm, Viewer};
use crate::app::state::AppState;
use crate::dashboard::charts::{Target, VisType};
use crate::profiles::segments::{self, UserClustering};

#[derive(Debug, Default, Deserialize)]
pub struct SegmentsQuery {
    started: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<SegmentsQuery>,
) -> Result<Response, PageError> {
    super::staff_only(&viewer)?;
    let run = UserClustering::new(state.clone()).latest_run().await?;
    let target = Target::default();
    let scatter = page::chart(&state, VisType::ClusterScatter, &target).await;
    let comparison = page::chart(&state, VisType::ClusterComparison, &target).await;
    let job = state.tasks.records().into_iter().find(|record| record.job == segments::JOB);
    let content = html! {
        @if query.started.is_some() { p.ok role="status" { "A segmentation run has started; reload in a moment to see it." } }
        @match &run {
            Some(run) => {
                (figures(&[
                    ("Segments", number(run.k as f64)),
                    ("Users segmented", number(run.n_users as f64)),
                    ("Silhouette", number(run.silhouette)),
                    ("Last run", time_text(&run.created_at)),
                ]))
            }
            None => { p.muted { "No segmentation has run yet: one runs as soon as enough users have events." } }
        }
        div.grid2 { (scatter) (comparison) }
        @if let Some(run) = &run {
            section.panel {
                h2 { "Segments of the latest run" }
                div.scroll { table.grid {
                    thead { tr {
                        th.num scope="col" { "Id" } th scope="col" { "Name" } th.num scope="col" { "Users" }
                        th.num scope="col" { "Share" } th scope="col" { "Defining traits (z)" }
                    } }
                    tbody {
                        @for segment in &run.model.segments {
                            tr {
                                td.num { (segment.id) }
                                td { (segment.name) }
                                td.num { (number(segment.size as f64)) }
                                td.num { (page::percent(segment.size as f64, run.n_users as f64)) }
                                td { (segment.defining_traits.iter().map(|(t, z)| format!("{t} {z:+.2}")).collect::<Vec<_>>().join(", ")) }
                            }
                        }
                    }
                } }
                h3 { "Model selection" }
                p.muted { "Silhouette for each number of segments tried; the best was kept." }
                (shown(&run.model.silhouettes.iter().map(|(k, s)| serde_json::json!({"segments": k, "silhouette": s})).collect::<Vec<_>>(), 2))
            }
        }
        section.panel {
            h2 { "Runs" }
            @match &job {
                Some(job) => { (shown(job, 1)) }
                None => { p.muted { "No run has started on this node since it started." } }
            }
            @if viewer.is_admin() {
                form.inline method="post" action="/ui/segments/run" {
                    (csrf(&viewer))
                    button type="submit" { "Run a segmentation now" }
                }
            }
        }
    };
    Ok(page::page(&state, &viewer, "/ui/segments", "Segments", content))
}

pub async fn run(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_form(&headers, form.csrf.as_deref())?;
    viewer.principal().require_admin()?;
    segments::start_update(&state)?;
    Ok(super::redirect("/ui/segments?started=1"))
}
