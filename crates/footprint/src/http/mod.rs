//! The HTTP API: `router(state)` builds every route with no socket, so tests can also drive
//! it in-process. Handlers are thin: parse, call a service, map the result.

pub mod client;
pub mod extract;
mod middleware;
pub(crate) mod principal;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::state::AppState;
use crate::kernel::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Footprint",
        description = "Self-hosted user behaviour tracking, profiling and prediction. \
            Authenticate with `Authorization: Bearer <access token>` (from `POST /api/v1/auth/login`) \
            or with an API key (`Authorization: Bearer fp_…` or `X-API-Key: fp_…`, created by `footprint keys create`)."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "tracking", description = "Events and consent"),
        (name = "accounts", description = "Accounts and login"),
        (name = "events", description = "Reading stored events"),
        (name = "sdk", description = "The APIs of the Segment (and RudderStack) and PostHog SDKs: point an SDK you already use at Footprint, with an API key of the ingest scope as its write key"),
        (name = "predictions", description = "Next-action predictions"),
        (name = "matching", description = "Seed 001: match events, their metrics and the match model's feedback loop"),
        (name = "profiles", description = "Seed 000: behavioural profiles, preferences and habits"),
        (name = "attendance", description = "Seed 004: attendance events, registrations and check-ins"),
        (name = "insights", description = "Seed 003: engagement, churn risk, cohorts, usage of the tiers and the daily report"),
        (name = "automation", description = "Seed 003: the scheduled jobs and their runs"),
        (name = "privacy", description = "Retention, erasure and export"),
        (name = "seed 002", description = "The interactions API of seed 002, with its README's paths and shapes"),
        (name = "visualizations", description = "Seed 000: charts drawn from the current data, as SVG or PNG"),
        (name = "webhooks", description = "Outbound webhooks: signed deliveries of events and trained models, retried, with every attempt logged"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT or API key").build(),
            ),
        );
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
    }
}

/// Every route, with its OpenAPI description.
fn api_routes(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::app::health::routes())
        .merge(crate::accounts::http::routes())
        .merge(crate::tracking::http::routes(state))
        .merge(crate::tracking::sources::http::routes())
        .merge(crate::tracking::sources::browser::routes())
        .merge(crate::interactions::http::routes())
        .merge(crate::matching::http::routes())
        .merge(crate::profiles::http::routes())
        .merge(crate::attendance::http::routes(state))
        .merge(crate::insights::http::routes())
        .merge(crate::jobs::http::routes())
        .merge(crate::dashboard::http::routes())
        .merge(crate::webhooks::http::routes())
}

/// Seed 000's profile routes alone, ready to be merged into another axum app
/// (`EnrichedProfilesApi`). Errors keep the API's JSON shape.
pub fn profile_router(state: AppState) -> Router {
    let (routes, _) = OpenApiRouter::<AppState>::new().merge(crate::profiles::http::routes()).split_for_parts();
    routes.with_state(state)
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi(state: &AppState) -> utoipa::openapi::OpenApi {
    api_routes(state).split_for_parts().1
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api_routes(&state).split_for_parts();
    let max_body = state.config.server.max_body_bytes;
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .merge(crate::dashboard::web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(middleware::json_errors))
        .layer(axum::middleware::from_fn(middleware::rate_limit_headers))
        .layer(axum::middleware::from_fn(middleware::processing_lag))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::track_http))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no route here; the API is described at /docs and /openapi.json".to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("this route does not accept this method; see /docs".to_owned())
}
