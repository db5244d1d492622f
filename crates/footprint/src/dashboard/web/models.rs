//! The model registry (admins, as in the API): every version with its status, data and
//! metrics; the serving attendance model's ROC curve, calibration and confusion matrix on its
//! held-out registrations; and a button that trains a new version, whose progress the
//! registry shows.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::page::{self, PageError, csrf, data, time_text};
use super::session::{CsrfForm, Viewer};
use crate::app::state::AppState;
use crate::attendance::model::{TrainRequest, start_training};
use crate::attendance::views::{self, ModelParams};
use crate::dashboard::charts::{Target, VisType};

#[derive(Debug, Default, Deserialize)]
pub struct ModelsQuery {
    training: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ModelsQuery>,
) -> Result<Response, PageError> {
    viewer.principal().require_admin()?;
    let models = views::models(&state, ModelParams { status: None, model_type: None }).await?;
    let target = Target::default();
    let mut charts = Vec::new();
    for vis in [VisType::ModelRocCurve, VisType::ModelCalibration, VisType::ModelConfusionMatrix] {
        charts.push(page::chart(&state, vis, &target).await);
    }
    let content = html! {
        @if let Some(id) = &query.training { p.ok role="status" { "Training " (id) " has started; its status below follows it (reload)." } }
        form.inline method="post" action="/ui/models/train" {
            (csrf(&viewer))
            button type="submit" { "Train a new attendance model" }
        }
        div.grid2 { @for chart in &charts { (chart) } }
        section.panel {
            h2 { "Registry" }
            @if models.is_empty() { p.muted { "No model has been trained yet." } } @else {
                div.scroll { table.grid #models {
                    thead { tr {
                        th scope="col" { "Model" } th scope="col" { "Type" } th.num scope="col" { "Version" }
                        th scope="col" { "Status" } th scope="col" { "Trained" } th.num scope="col" { "Rows" }
                        th scope="col" { "Metrics" }
                    } }
                    tbody {
                        @for model in &models {
                            tr {
                                td { code { (model.id) } br; (model.name) }
                                td { (model.model_type) br; span.muted { (model.family) } }
                                td.num { (model.version) }
                                td {
                                    span.tag { (model.status) }
                                    @if let Some(error) = &model.error { br; span.error { (error) } }
                                }
                                td { (model.training.last_trained.as_deref().map_or_else(|| "–".to_owned(), time_text)) }
                                td.num { (model.training.data_points) }
                                td { (data(&model.metrics, 1)) }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(page::page(&state, &viewer, "/ui/models", "Models", content))
}

pub async fn train(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_form(&headers, form.csrf.as_deref())?;
    viewer.principal().require_admin()?;
    let model = start_training(&state, TrainRequest::default()).await?;
    Ok(super::redirect(&format!("/ui/models?training={}", page::urlencode(&model.model_id))))
}
