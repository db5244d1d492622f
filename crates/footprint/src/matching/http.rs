//! Seed 001's match routes: tracking (query parameters plus a JSON body), metrics over
//! `?days=N`, the model update and the retention clean-up.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use footprint_analytics::matching::{AcceptanceReport, ConstraintsReport, SatisfactionReport};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::limits::CallerTier;
use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::http::extract::{ApiQuery, OptionalJson, lenient_bool, lenient_bool_opt};
use crate::kernel::error::ApiError;
use crate::matching::metrics::{self, Window};
use crate::matching::model as match_model;
use crate::tracking::retention;
use crate::tracking::schema::{
    self as matching, MatchDecisionEvent, MatchFeedbackEvent, MatchProposedEvent, MatchViewedEvent, ToMatchEvent,
    number_map, unwrap_body,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(match_proposed))
        .routes(routes!(match_viewed))
        .routes(routes!(match_decision))
        .routes(routes!(match_feedback))
        .routes(routes!(acceptance))
        .routes(routes!(satisfaction))
        .routes(routes!(constraints))
        .routes(routes!(ml_update))
        .routes(routes!(cleanup))
}

/// `{"name": number, …}` as a map.
fn numbers(name: &str, value: &Value) -> Result<BTreeMap<String, f64>, ApiError> {
    Ok(number_map(name, value)?.into_iter().filter_map(|(key, value)| value.as_f64().map(|v| (key, v))).collect())
}

/// `{"status": "success", "event_id"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tracked {
    status: &'static str,
    event_id: String,
}

fn tracked(event_id: String) -> Json<Tracked> {
    Json(Tracked { status: "success", event_id })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProposedParams {
    user_id: String,
    match_id: String,
    /// The matcher's score for this match.
    match_score: f64,
    /// How many other candidates there were.
    alternatives_count: u32,
    session_id: Option<String>,
}

/// Body of match-proposed (both parts optional).
#[derive(Debug, ToSchema)]
#[expect(dead_code, reason = "describes the body in the OpenAPI document; the handler reads it as JSON")]
pub struct ProposedBody {
    /// The matcher's parameters, e.g. `{"weight_skill": 0.7}`.
    #[schema(value_type = Object)]
    match_parameters: Option<Value>,
    /// How well each constraint is satisfied, e.g. `{"location": 0.9, "skills": 0.8}`.
    #[schema(value_type = Object)]
    constraint_satisfaction: Option<Value>,
}

/// Record that a match was proposed to a user (seed 001). Needs the user's analytics consent.
#[utoipa::path(post, path = "/api/tracking/event/match-proposed", tag = "matching", params(ProposedParams),
    request_body(content = ProposedBody, description = "optional"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Tracked), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, description = "no analytics consent, or not allowed", body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn match_proposed(
    State(state): State<AppState>,
    principal: Principal,
    CallerTier(tier): CallerTier,
    ApiQuery(params): ApiQuery<ProposedParams>,
    OptionalJson(body): OptionalJson<Value>,
) -> Result<Json<Tracked>, ApiError> {
    let mut event = MatchProposedEvent {
        user_id: params.user_id,
        match_id: params.match_id,
        match_score: params.match_score,
        alternatives_count: params.alternatives_count,
        session_id: params.session_id,
        ..MatchProposedEvent::default()
    };
    if let Some(body) = body {
        let Value::Object(mut object) = body else {
            return Err(ApiError::Validation(
                "the body must be {\"match_parameters\": {…}, \"constraint_satisfaction\": {…}}".to_owned(),
            ));
        };
        if let Some(unknown) = object.keys().find(|key| *key != "match_parameters" && *key != "constraint_satisfaction")
        {
            return Err(ApiError::Validation(format!(
                "unknown field {unknown}: the body takes match_parameters and constraint_satisfaction"
            )));
        }
        match object.remove("match_parameters") {
            Some(Value::Null) | None => {}
            Some(Value::Object(parameters)) => event.match_parameters = parameters,
            Some(_) => return Err(ApiError::Validation("match_parameters: must be an object".to_owned())),
        }
        if let Some(value) = object.remove("constraint_satisfaction").filter(|v| !v.is_null()) {
            event.constraint_satisfaction = numbers("constraint_satisfaction", &value)?;
        }
    }
    let event = event.to_match_event()?;
    Ok(tracked(matching::track_charged(&state, &principal, tier, event).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViewedParams {
    user_id: String,
    match_id: String,
    view_duration_seconds: f64,
    /// Whether the user saw the whole match (`true`/`false`).
    #[serde(default, deserialize_with = "lenient_bool")]
    view_complete: bool,
    session_id: Option<String>,
}

/// Record that a user viewed a proposed match.
#[utoipa::path(post, path = "/api/tracking/event/match-viewed", tag = "matching", params(ViewedParams),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Tracked), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn match_viewed(
    State(state): State<AppState>,
    principal: Principal,
    CallerTier(tier): CallerTier,
    ApiQuery(params): ApiQuery<ViewedParams>,
) -> Result<Json<Tracked>, ApiError> {
    let event = MatchViewedEvent {
        user_id: params.user_id,
        match_id: params.match_id,
        view_duration_seconds: params.view_duration_seconds,
        view_complete: params.view_complete,
        session_id: params.session_id,
    }
    .to_match_event()?;
    Ok(tracked(matching::track_charged(&state, &principal, tier, event).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DecisionParams {
    user_id: String,
    match_id: String,
    /// `true` = accepted, `false` = rejected.
    #[serde(default, deserialize_with = "lenient_bool_opt")]
    decision: Option<bool>,
    decision_time_seconds: Option<f64>,
    session_id: Option<String>,
}

/// Record a user's decision on a match. Body: `{"reasons": [...]}` or a bare list (optional).
#[utoipa::path(post, path = "/api/tracking/event/match-decision", tag = "matching", params(DecisionParams),
    request_body(content = Object, description = "`{\"reasons\": [\"…\"]}` or a bare list of strings; optional"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Tracked), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn match_decision(
    State(state): State<AppState>,
    principal: Principal,
    CallerTier(tier): CallerTier,
    ApiQuery(params): ApiQuery<DecisionParams>,
    OptionalJson(body): OptionalJson<Value>,
) -> Result<Json<Tracked>, ApiError> {
    let decision = params
        .decision
        .ok_or_else(|| ApiError::InvalidParameters("decision: give true (accepted) or false (rejected)".to_owned()))?;
    let reasons = match unwrap_body(body, "reasons", Value::is_array)? {
        None => Vec::new(),
        Some(reasons) => {
            let list = reasons.as_array().filter(|list| list.iter().all(Value::is_string));
            let Some(list) = list else {
                return Err(ApiError::Validation("reasons: must be a list of strings".to_owned()));
            };
            list.iter().filter_map(|reason| reason.as_str().map(str::to_owned)).collect()
        }
    };
    let event = MatchDecisionEvent {
        user_id: params.user_id,
        match_id: params.match_id,
        decision,
        decision_time_seconds: params.decision_time_seconds,
        reasons,
        session_id: params.session_id,
    }
    .to_match_event()?;
    Ok(tracked(matching::track_charged(&state, &principal, tier, event).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedbackParams {
    user_id: String,
    match_id: String,
    /// 1 to 5.
    rating: i64,
    feedback_text: Option<String>,
    session_id: Option<String>,
}

/// Record a user's feedback on a match. Body: `{"specific_aspects": {...}}` or a bare object (optional).
#[utoipa::path(post, path = "/api/tracking/event/match-feedback", tag = "matching", params(FeedbackParams),
    request_body(content = Object, description = "`{\"specific_aspects\": {\"relevance\": 5}}` or the bare object; optional"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Tracked), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn match_feedback(
    State(state): State<AppState>,
    principal: Principal,
    CallerTier(tier): CallerTier,
    ApiQuery(params): ApiQuery<FeedbackParams>,
    OptionalJson(body): OptionalJson<Value>,
) -> Result<Json<Tracked>, ApiError> {
    let specific_aspects = match unwrap_body(body, "specific_aspects", Value::is_object)? {
        Some(aspects) => numbers("specific_aspects", &aspects)?,
        None => BTreeMap::new(),
    };
    let event = MatchFeedbackEvent {
        user_id: params.user_id,
        match_id: params.match_id,
        rating: params.rating,
        feedback_text: params.feedback_text,
        specific_aspects,
        session_id: params.session_id,
    }
    .to_match_event()?;
    Ok(tracked(matching::track_charged(&state, &principal, tier, event).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DaysParams {
    /// The window: the last N days (1–3650, default 30).
    days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Period {
    days: u32,
    from: String,
    to: String,
}

impl From<Window> for Period {
    fn from(window: Window) -> Self {
        Period {
            days: window.days,
            from: crate::kernel::clock::rfc3339(window.from),
            to: crate::kernel::clock::rfc3339(window.to),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptanceMetrics {
    period: Period,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    report: AcceptanceReport,
}

/// Acceptance of proposed matches over the last `days` days, with a 95 % Wilson interval.
#[utoipa::path(get, path = "/api/metrics/acceptance", tag = "matching", params(DaysParams),
    security(("bearer" = [])),
    responses((status = 200, body = AcceptanceMetrics), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn acceptance(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<DaysParams>,
) -> Result<Json<AcceptanceMetrics>, ApiError> {
    principal.require_staff()?;
    let window = metrics::window(&state, params.days)?;
    let stats = metrics::stats(&state, window).await?;
    Ok(Json(AcceptanceMetrics { period: window.into(), report: stats.acceptance(0.95) }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SatisfactionMetrics {
    period: Period,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    report: SatisfactionReport,
}

/// Ratings of matches over the last `days` days: mean, distribution, per-aspect means.
#[utoipa::path(get, path = "/api/metrics/satisfaction", tag = "matching", params(DaysParams),
    security(("bearer" = [])),
    responses((status = 200, body = SatisfactionMetrics), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn satisfaction(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<DaysParams>,
) -> Result<Json<SatisfactionMetrics>, ApiError> {
    principal.require_staff()?;
    let window = metrics::window(&state, params.days)?;
    let stats = metrics::stats(&state, window).await?;
    Ok(Json(SatisfactionMetrics { period: window.into(), report: stats.satisfaction() }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConstraintMetrics {
    period: Period,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    report: ConstraintsReport,
}

/// How each constraint's satisfaction relates to acceptance: means for accepted and rejected
/// matches, point-biserial correlation and its p-value.
#[utoipa::path(get, path = "/api/metrics/constraints", tag = "matching", params(DaysParams),
    security(("bearer" = [])),
    responses((status = 200, body = ConstraintMetrics), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn constraints(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<DaysParams>,
) -> Result<Json<ConstraintMetrics>, ApiError> {
    principal.require_staff()?;
    let window = metrics::window(&state, params.days)?;
    let stats = metrics::stats(&state, window).await?;
    Ok(Json(ConstraintMetrics { period: window.into(), report: stats.constraints() }))
}

/// Refit the match_optimizer model from decided matches (users with `improvement` consent) and
/// store it as a new version. 422 `INSUFFICIENT_DATA` says how many matches it needs.
#[utoipa::path(post, path = "/api/ml/update", tag = "matching",
    security(("bearer" = [])),
    responses((status = 200, description = "the new version, its weights and metrics", body = Object),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 422, description = "INSUFFICIENT_DATA, with `needed` and `available`", body = crate::kernel::error::ErrorBody)))]
async fn ml_update(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<match_model::UpdateReport>, ApiError> {
    principal.require_admin()?;
    Ok(Json(match_model::update(&state, &principal.actor()).await?))
}

/// Delete raw events past their retention period (match events are folded into daily
/// aggregates first, so metrics keep them) and say what was removed.
#[utoipa::path(post, path = "/api/privacy/cleanup", tag = "privacy",
    security(("bearer" = [])),
    responses((status = 200, body = retention::CleanupReport),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn cleanup(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<retention::CleanupReport>, ApiError> {
    principal.require_admin()?;
    Ok(Json(retention::cleanup(&state, &principal.actor()).await?))
}
