//! `GET /api/visualizations/{type}`: a chart as SVG (the default) or PNG, in the light or dark
//! theme, at a size. A chart of one user is for that user or the staff; the segment charts are
//! for managers and admins.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use footprint_charts::{Size, Theme};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::charts::{self, Target, VisType};
use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::kernel::error::ApiError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(visualization))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChartParams {
    /// The user the chart is about (required by the charts of one user; highlights them in
    /// `cluster_scatter`).
    user_id: Option<String>,
    /// A segment of the latest run (`3` or `cluster_3`): only it, in the segment charts.
    cluster_id: Option<String>,
    /// An attendance model (the model charts; default the latest ready one).
    model_id: Option<String>,
    /// Days back from now (the match chart; default 30).
    days: Option<u32>,
    /// `svg` (default) or `png`.
    format: Option<String>,
    /// `light` or `dark` (default: `visualization.chart_theme`).
    theme: Option<String>,
    /// Pixels, 200–4000 (default: `visualization.plot_size`).
    width: Option<u32>,
    height: Option<u32>,
}

/// One chart, drawn from the current data: seed 000's (`cluster_scatter`, `user_cluster_radar`,
/// `behavior_patterns_heatmap`, `activity_timeline`, `preference_radar`, `user_engagement_bar`,
/// `content_preferences_breakdown`, `hourly_activity_heatmap`, `feature_usage_pie`,
/// `cluster_comparison`) and those of the other seeds' data (`attendance_by_weekday_slot`,
/// `model_roc_curve`, `model_calibration`, `model_confusion_matrix`,
/// `match_acceptance_over_time`, `next_action_probabilities`). Too little data draws a panel
/// that says why. An unknown type is 404 with the valid ones.
#[utoipa::path(get, path = "/api/visualizations/{type}", tag = "visualizations", params(("type" = String, Path), ChartParams),
    security(("bearer" = [])),
    responses((status = 200, description = "image/svg+xml or image/png"), (status = 400, body = crate::kernel::error::ErrorBody),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn visualization(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
    ApiQuery(params): ApiQuery<ChartParams>,
) -> Result<Response, ApiError> {
    let vis = VisType::parse(&name)?;
    match (&params.user_id, vis.about_a_user()) {
        (Some(user_id), true) => principal.require_self_or_staff(user_id)?,
        _ => principal.require_staff()?,
    }
    let config = &state.config.visualization;
    let theme_name = params.theme.as_deref().unwrap_or(&config.chart_theme);
    let theme = Theme::named(theme_name)
        .ok_or_else(|| ApiError::Validation(format!("theme: light or dark, not {theme_name}")))?;
    let size =
        Size::new(params.width.unwrap_or(config.plot_size.width), params.height.unwrap_or(config.plot_size.height));
    let target =
        Target { user_id: params.user_id, cluster_id: params.cluster_id, model_id: params.model_id, days: params.days };
    let chart = charts::chart(&state, vis, &target).await?;
    match params.format.as_deref().unwrap_or("svg") {
        "svg" => {
            Ok(([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")], chart.to_svg(&theme, size)).into_response())
        }
        "png" => {
            let png = tokio::task::spawn_blocking(move || chart.to_png(&theme, size))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
            Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
        }
        other => Err(ApiError::Validation(format!("format: svg or png, not {other}"))),
    }
}
