//! Next-action predictions: the variable-order model's top-k for a user.

use axum::Json;
use axum::extract::State;
use footprint_analytics::UserId;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::services::predictions::{self, NextActions};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(next_actions))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextActionParams {
    /// How many actions (1–20, default 3).
    k: Option<usize>,
}

/// The k most probable next actions of a user (the user themself, or a manager/admin), from a
/// variable-order model over their recent actions backed by a model shared by all users.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/next-actions", tag = "predictions",
    params(("user_id" = String, Path), NextActionParams), security(("bearer" = [])),
    responses(
        (status = 200, body = NextActions), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
    ))]
async fn next_actions(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
    ApiQuery(params): ApiQuery<NextActionParams>,
) -> Result<Json<NextActions>, ApiError> {
    principal.require_self_or_staff(&user_id)?;
    let user_id = UserId::parse(&user_id).map_err(|error| ApiError::InvalidParameters(error.to_string()))?;
    Ok(Json(predictions::next_actions(&state, &user_id, params.k.unwrap_or(3)).await?))
}
