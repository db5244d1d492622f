//! Extractors that turn axum's rejections into [`ApiError`]s, so a malformed request gets
//! the same JSON error shape as every other failure.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserializer;
use serde::de::DeserializeOwned;

use crate::kernel::error::ApiError;

/// A JSON body: 400 if it is not JSON, 415 without a JSON content type, 413 when too large,
/// 422 when it does not have the expected shape.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("send the body as JSON with Content-Type: application/json".to_owned())
        }
        JsonRejection::JsonSyntaxError(error) => {
            ApiError::InvalidJson(format!("the body is not valid JSON: {}", error.body_text()))
        }
        JsonRejection::JsonDataError(error) => ApiError::Validation(clean_serde_message(&error.body_text())),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("the request body is larger than this route accepts".to_owned())
        }
        other => ApiError::InvalidJson(other.body_text()),
    }
}

/// axum prefixes serde's message with its own words; keep the part that names the field.
fn clean_serde_message(text: &str) -> String {
    let text = text.strip_prefix("Failed to deserialize the JSON body into the target type: ").unwrap_or(text);
    format!("the body does not have the expected shape: {text}")
}

/// A JSON body kept as bytes, for routes that parse it off the async threads: 415 without a
/// JSON content type, 413 when too large.
pub struct JsonBytes(pub axum::body::Bytes);

fn has_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(request.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".to_owned(),
            ));
        }
        match axum::body::Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(JsonBytes(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge("the request body is larger than this route accepts".to_owned()))
            }
            Err(rejection) => Err(ApiError::InvalidJson(rejection.body_text())),
        }
    }
}

/// An optional JSON body: none (or only white space) is `None`. A body is read as JSON when it
/// says so or says nothing of its type (400 when it is not JSON, 422 when it lacks the expected
/// shape); a body of another type is 415.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let typed = request.headers().contains_key(axum::http::header::CONTENT_TYPE);
        let json_type = has_json_content_type(request.headers());
        let bytes = match axum::body::Bytes::from_request(request, state).await {
            Ok(bytes) => bytes,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::PayloadTooLarge("the request body is larger than this route accepts".to_owned()));
            }
            Err(rejection) => return Err(ApiError::InvalidJson(rejection.body_text())),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if typed && !json_type {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".to_owned(),
            ));
        }
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(OptionalJson(Some(value))),
            Err(error) if error.is_data() => {
                Err(ApiError::Validation(format!("the body does not have the expected shape: {error}")))
            }
            Err(error) => Err(ApiError::InvalidJson(format!("the body is not valid JSON: {error}"))),
        }
    }
}

/// A body as JSON, or as an HTML form (`application/x-www-form-urlencoded`), as OAuth2-style
/// login clients send it.
pub struct JsonOrForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonOrForm<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form =
            request.headers().get(axum::http::header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).is_some_and(
                |value| value.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"),
            );
        if !is_form {
            return ApiJson::from_request(request, state).await.map(|ApiJson(value)| JsonOrForm(value));
        }
        match axum::extract::Form::<T>::from_request(request, state).await {
            Ok(axum::extract::Form(value)) => Ok(JsonOrForm(value)),
            Err(rejection) => Err(ApiError::Validation(format!(
                "the form does not have the expected fields: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// Query parameters: 400 with the parameter named when one is missing or malformed.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    let text = rejection.body_text();
    let text = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text);
    ApiError::InvalidParameters(format!("invalid query parameters: {text}"))
}

/// Path parameters: 400 when one does not parse.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::InvalidParameters(format!("invalid path parameter: {}", rejection.body_text()))
}

/// Deserialises a boolean as clients really send it in query strings: `true`/`false` in any
/// case (Python's `requests` sends `True`), `1`/`0`, `yes`/`no`, `on`/`off`.
pub fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct Visitor;

    impl serde::de::Visitor<'_> for Visitor {
        type Value = bool;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("true or false")
        }

        fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<bool, E> {
            Ok(value)
        }

        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<bool, E> {
            match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(E::custom(format!("expected true or false, got {value:?}"))),
            }
        }
    }

    deserializer.deserialize_any(Visitor)
}

/// [`lenient_bool`] for an optional parameter.
pub fn lenient_bool_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    lenient_bool(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    struct Flags {
        #[serde(deserialize_with = "lenient_bool")]
        analytics: bool,
    }

    #[test]
    fn query_booleans_accept_what_python_sends() {
        for (raw, expected) in
            [("True", true), ("False", false), ("true", true), ("1", true), ("0", false), ("no", false)]
        {
            let flags: Flags = serde_urlencoded::from_str(&format!("analytics={raw}")).unwrap();
            assert_eq!(flags.analytics, expected, "{raw}");
        }
        assert!(serde_urlencoded::from_str::<Flags>("analytics=maybe").is_err());
    }
}
