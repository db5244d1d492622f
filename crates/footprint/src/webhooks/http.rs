//! The webhook routes (admin): subscribe, list, remove, and see a webhook's deliveries with
//! every attempt.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{self, DeliveryView, NewWebhook, WebhookView};
use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::kernel::error::ApiError;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(delete)).routes(routes!(deliveries))
}

/// Subscribes a URL (http or https) to `event` (optionally of some `event_types`) and/or
/// `model.trained`. Deliveries are JSON, signed in `Footprint-Signature` with the secret
/// (generated and shown once when not given). The operator decides which hosts are reachable:
/// any URL an admin gives is posted to. Admin only.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = NewWebhook,
    security(("bearer" = [])),
    responses((status = 201, body = WebhookView), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    principal.require_admin()?;
    Ok((StatusCode::CREATED, Json(service::create(&state, body, &principal.actor()).await?)))
}

/// Every webhook (without secrets). Admin only.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookView>), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<WebhookView>>, ApiError> {
    principal.require_admin()?;
    Ok(Json(service::list(&state).await?))
}

/// Removes a webhook with its pending and past deliveries. Admin only.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_admin()?;
    service::delete(&state, &id, &principal.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Most deliveries answered, newest first (1–1000, default 100).
    limit: Option<u32>,
}

/// A webhook's latest deliveries, newest first: status, the payload, and each attempt with the
/// receiver's status code or the error. Admin only.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path), DeliveryParams),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<DeliveryView>), (status = 400, body = crate::kernel::error::ErrorBody),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn deliveries(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    principal.require_admin()?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::InvalidParameters("limit: must be 1–1000".to_owned()));
    }
    Ok(Json(service::deliveries(&state, &id, limit).await?))
}
