//! The one error type of the HTTP API, the one list of its stable codes ([`Code`]: the OpenAPI
//! document and the README's error table both come from it), and the one mapping to a status
//! and a JSON body `{"success": false, "error": {"code", "message"}}` whose message says what
//! to fix.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use footprint_store::StoreError;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// Declares [`Code`] from one table: variant, name, status, meaning.
macro_rules! codes {
    ($($variant:ident = $name:literal => $status:literal, $meaning:literal;)*) => {
        /// Every stable error code an answer may carry.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
        pub enum Code {
            $(#[doc = $meaning] #[serde(rename = $name)] $variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// The status the code is answered with (seed 002's routes answer some with 400).
            pub fn status(self) -> StatusCode {
                match self {
                    $(Code::$variant => StatusCode::from_u16($status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),)*
                }
            }

            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$variant => $meaning,)*
                }
            }
        }
    };
}

codes! {
    InvalidJson = "INVALID_JSON" => 400, "The body is not valid JSON.";
    InvalidParameters = "INVALID_PARAMETERS" => 400, "A query, path or analysis parameter is missing or malformed; the message names it.";
    UserExists = "USER_EXISTS" => 400, "Seed 002's `/create_user`: the username is taken.";
    Unauthorized = "UNAUTHORIZED" => 401, "No credentials: send `Authorization: Bearer <access token or API key>`.";
    InvalidToken = "INVALID_TOKEN" => 401, "The token or API key is not valid (bad signature, revoked, unknown).";
    TokenExpired = "TOKEN_EXPIRED" => 401, "The access token has expired: log in again.";
    InvalidCredentials = "INVALID_CREDENTIALS" => 401, "Wrong username/e-mail or password (seed 002's `/login` answers it with 400).";
    Forbidden = "FORBIDDEN" => 403, "Valid credentials that may not do this (role, scope, another user's data).";
    ConsentRequired = "CONSENT_REQUIRED" => 403, "The user has not consented to what this needs (analytics, preferences).";
    NotFound = "NOT_FOUND" => 404, "No such route, user, event or resource.";
    ModelNotFound = "MODEL_NOT_FOUND" => 404, "No such model, or no trained model yet.";
    MethodNotAllowed = "METHOD_NOT_ALLOWED" => 405, "The route does not take this method.";
    Conflict = "CONFLICT" => 409, "The resource exists already, is not ready yet, or changed meanwhile.";
    ModelTrainingError = "MODEL_TRAINING_ERROR" => 409, "The model asked for failed to train; the message gives the reason.";
    PayloadTooLarge = "PAYLOAD_TOO_LARGE" => 413, "The body is larger than the route accepts (split a batch).";
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE" => 415, "Send the body as JSON with `Content-Type: application/json`.";
    ValidationError = "VALIDATION_ERROR" => 422, "Well-formed JSON whose content is not acceptable; the message names the field (seed 002's routes answer it with 400).";
    InsufficientData = "INSUFFICIENT_DATA" => 422, "Too little data for the computation; `needed` and `available` say how much.";
    PredictionFailed = "PREDICTION_FAILED" => 422, "No prediction could be made; `details` says why for each item.";
    RateLimitExceeded = "RATE_LIMIT_EXCEEDED" => 429, "Too many requests or attempts; retry after `Retry-After` seconds.";
    InternalError = "INTERNAL_ERROR" => 500, "An internal error; the server log has the cause, the answer never does.";
    ServiceUnavailable = "SERVICE_UNAVAILABLE" => 503, "The queue is full, the store does not answer, the node is busy or shutting down; retry after `Retry-After`.";
    AnalysisTimeout = "ANALYSIS_TIMEOUT" => 504, "An analysis ran past its time budget; narrow it or raise `timeoutMs`.";
}

impl Code {
    /// The README's table of codes (a test checks the README holds it).
    pub fn markdown_table() -> String {
        let mut table = String::from("| code | status | meaning |\n|---|---:|---|\n");
        for code in Code::ALL {
            table.push_str(&format!("| `{}` | {} | {} |\n", code.as_str(), code.status().as_u16(), code.meaning()));
        }
        table
    }
}

/// The error body every route may answer with.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always false.
    pub success: bool,
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: Code,
    /// What went wrong and what to fix.
    pub message: String,
}

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
    BadRequest { code: Code, message: String },
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

    /// The status and code of the answer.
    pub fn status_and_code(&self) -> (StatusCode, Code) {
        let code = self.code();
        let status = match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            _ => code.status(),
        };
        (status, code)
    }

    /// Seed 004's code for a malformed request: a validation error becomes 400
    /// `INVALID_PARAMETERS`, as its table says.
    pub fn as_parameters(self) -> ApiError {
        match self {
            ApiError::Validation(message) => ApiError::InvalidParameters(message),
            other => other,
        }
    }

    pub fn code(&self) -> Code {
        match self {
            ApiError::InvalidJson(_) => Code::InvalidJson,
            ApiError::InvalidParameters(_) => Code::InvalidParameters,
            ApiError::BadRequest { code, .. } => *code,
            ApiError::Validation(_) => Code::ValidationError,
            ApiError::MissingCredentials(_) => Code::Unauthorized,
            ApiError::InvalidToken(_) => Code::InvalidToken,
            ApiError::TokenExpired => Code::TokenExpired,
            ApiError::InvalidCredentials => Code::InvalidCredentials,
            ApiError::Forbidden(_) => Code::Forbidden,
            ApiError::ConsentRequired(_) => Code::ConsentRequired,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::MethodNotAllowed(_) => Code::MethodNotAllowed,
            ApiError::Conflict(_) => Code::Conflict,
            ApiError::PayloadTooLarge(_) => Code::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => Code::UnsupportedMediaType,
            ApiError::TooManyRequests { .. } => Code::RateLimitExceeded,
            ApiError::Unavailable { .. } => Code::ServiceUnavailable,
            ApiError::InsufficientData { .. } => Code::InsufficientData,
            ApiError::ModelNotFound(_) => Code::ModelNotFound,
            ApiError::PredictionFailed { .. } => Code::PredictionFailed,
            ApiError::ModelTrainingError(_) => Code::ModelTrainingError,
            ApiError::AnalysisTimeout(_) => Code::AnalysisTimeout,
            ApiError::Internal(_) => Code::InternalError,
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
pub fn error_body(code: Code, message: &str) -> serde_json::Value {
    json!({"success": false, "error": {"code": code.as_str(), "message": message}})
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
        // RFC 6750: every 401 says how to authenticate, and whether the token was the problem.
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match code {
                Code::InvalidToken | Code::TokenExpired => r#"Bearer realm="footprint", error="invalid_token""#,
                _ => r#"Bearer realm="footprint""#,
            };
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
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
        assert_eq!(body, error_body(Code::RateLimitExceeded, "slow down"));
    }

    #[test]
    fn the_readme_lists_every_code_as_the_table_says() {
        let readme = include_str!("../../../../README.md");
        let start = readme.find("<!-- error-codes:start -->").expect("the README's error section");
        let end = readme.find("<!-- error-codes:end -->").expect("the end of the README's error section");
        let section = readme[start..end].trim_start_matches("<!-- error-codes:start -->").trim();
        assert_eq!(section, Code::markdown_table().trim(), "update README.md's table from Code::markdown_table()");
        let names: std::collections::HashSet<&str> = Code::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len(), "every code has its own name");
        for code in Code::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
    }

    #[tokio::test]
    async fn internal_errors_do_not_leak_their_cause() {
        let response = ApiError::internal("password column is corrupt").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("password"));
    }
}
