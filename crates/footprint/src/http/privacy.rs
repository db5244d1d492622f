//! The user's rights: erasure, export, anonymisation.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use footprint_analytics::UserId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::services::privacy::{self, AnonymizationReport, ErasureReport};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export)).routes(routes!(anonymize))
}

fn user(id: &str) -> Result<UserId, ApiError> {
    UserId::parse(id).map_err(|error| ApiError::InvalidParameters(format!("user id: {}", error.reason)))
}

/// Right to erasure: removes the user's account, consents, events, sessions and every row
/// derived from them. Events that arrive later for this id are refused until consent is
/// recorded again. The user themself or an admin.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "privacy", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = ErasureReport), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(super) async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ErasureReport>, ApiError> {
    principal.require_self_or_admin(&id)?;
    Ok(Json(privacy::erase(&state, &user(&id)?, &principal.actor()).await?))
}

/// Everything stored about the user, as JSON (account without the password hash, consents with
/// their history, sessions, events); streamed. The user themself or an admin.
#[utoipa::path(get, path = "/api/v1/users/{id}/export", tag = "privacy", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, description = "the user's data", body = Object), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
async fn export(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    principal.require_self_or_admin(&id)?;
    let body = privacy::export(&state, &user(&id)?, &principal.actor()).await?;
    let disposition = format!("attachment; filename=\"footprint-export-{}.json\"", id.replace(['"', '\\'], "_"));
    Ok(([(header::CONTENT_TYPE, "application/json".to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

/// Replaces the user's identity with a random one everywhere (account, consents and audit
/// entries go); their events stay, unlinkable, for aggregates. Admin only.
#[utoipa::path(post, path = "/api/v1/users/{id}/anonymize", tag = "privacy", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = AnonymizationReport), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
async fn anonymize(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AnonymizationReport>, ApiError> {
    principal.require_admin()?;
    Ok(Json(privacy::anonymize(&state, &user(&id)?, &principal.actor()).await?))
}
