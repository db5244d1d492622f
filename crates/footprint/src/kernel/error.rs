//! The one error type of the HTTP API and its one mapping to a status, a stable code and a
//! JSON body `{"success": false, "error": {"code", "message"}}` whose message says what to fix.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use footprint_store::StoreError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all.
    #[error("{0}")]
    InvalidJson(String),
    /// A query or path parameter is missing or malformed.
    #[error("{0}")]
    InvalidParameters(String),
    /// A 400 with its own code, for seed routes whose README answers 400 (e.g. wrong credentials
    /// on `POST /login`).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Well-formed JSON whose content is not acceptable.
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    MissingCredentials(String),
    #[error("{0}")]
    InvalidToken(String),
    #[error("the access token has expired: log in again")]
    TokenExpired,
    #[error("invalid username/email or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    ConsentRequired(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    #[error("{message}")]
    Unavailable { message: String, retry_after_secs: Option<u64> },
    /// No model with that id (seed 004's `MODEL_NOT_FOUND`).
    #[error("{0}")]
    ModelNotFound(String),
    /// Too little data for a computation: how many rows it needs and how many there are.
    #[error("{message}")]
    InsufficientData { message: String, needed: u64, available: u64 },
    /// No prediction could be made; `details` says why for each item asked for.
    #[error("{message}")]
    PredictionFailed { message: String, details: Vec<serde_json::Value> },
    /// The model asked for exists but its training failed (seed 004's `MODEL_TRAINING_ERROR`).
    #[error("{0}")]
    ModelTrainingError(String),
    /// An analysis ran past its time budget (seed 004's `ANALYSIS_TIMEOUT`).
    #[error("{0}")]
    AnalysisTimeout(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(error.into())
    }

    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidJson(_) => (StatusCode::BAD_REQUEST, "INVALID_JSON"),
            ApiError::InvalidParameters(_) => (StatusCode::BAD_REQUEST, "INVALID_PARAMETERS"),
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR"),
            ApiError::MissingCredentials(_) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            ApiError::InvalidToken(_) => (StatusCode::UNAUTHORIZED, "INVALID_TOKEN"),
            ApiError::TokenExpired => (StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED"),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            ApiError::ConsentRequired(_) => (StatusCode::FORBIDDEN, "CONSENT_REQUIRED"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_EXCEEDED"),
            ApiError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
            ApiError::InsufficientData { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_DATA"),
            ApiError::ModelNotFound(_) => (StatusCode::NOT_FOUND, "MODEL_NOT_FOUND"),
            ApiError::PredictionFailed { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "PREDICTION_FAILED"),
            ApiError::ModelTrainingError(_) => (StatusCode::CONFLICT, "MODEL_TRAINING_ERROR"),
            ApiError::AnalysisTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "ANALYSIS_TIMEOUT"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests { retry_after_secs, .. } => Some(*retry_after_secs),
            ApiError::Unavailable { retry_after_secs, .. } => *retry_after_secs,
            _ => None,
        }
    }
}

/// The JSON body of every error.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({"success": false, "error": {"code": code, "message": message}})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(error) => {
                tracing::error!(error = %error, cause = ?error.source(), "request failed");
                "internal error; the server log has the details".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = error_body(code, &message);
        if let ApiError::InsufficientData { needed, available, .. } = &self {
            body["error"]["needed"] = json!(needed);
            body["error"]["available"] = json!(available);
        }
        if let ApiError::PredictionFailed { details, .. } = &self {
            body["error"]["details"] = json!(details);
        }
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_secs() {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound("not found".to_owned()),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::Unavailable(message) => {
                tracing::warn!(error = %message, "store unavailable");
                ApiError::Unavailable {
                    message: "the store is unavailable; retry shortly".to_owned(),
                    retry_after_secs: Some(1),
                }
            }
            other => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_error_is_json_with_a_stable_code() {
        let response = ApiError::TooManyRequests { message: "slow down".into(), retry_after_secs: 30 }.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "30");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, error_body("RATE_LIMIT_EXCEEDED", "slow down"));
    }

    #[tokio::test]
    async fn internal_errors_do_not_leak_their_cause() {
        let response = ApiError::internal("password column is corrupt").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("password"));
    }
}
