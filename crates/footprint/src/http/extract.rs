//! Extractors that turn axum's rejections into [`ApiError`]s, so a malformed request gets
//! the same JSON error shape as every other failure, and that refuse the NUL character in
//! every string they hand on (`kernel::input`): the edge where both stores' rules are enforced.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserializer;
use serde::de::DeserializeOwned;

use crate::kernel::error::ApiError;
use crate::kernel::input::{nul_in_json, nul_in_pairs, nul_message};

/// A JSON body: 400 if it is not JSON, 415 without a JSON content type, 413 when too large,
/// 422 when it does not have the expected shape or holds a NUL character (naming the field).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        json_body(request, state).await.map(ApiJson)
    }
}

/// A JSON body of seed 004's `/api/ml` routes: as [`ApiJson`], but a body of the wrong shape is
/// the seed's 400 `INVALID_PARAMETERS`, not 422.
pub struct MlJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for MlJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        json_body(request, state).await.map(MlJson).map_err(ApiError::as_parameters)
    }
}

async fn json_body<T: DeserializeOwned, S: Send + Sync>(request: Request, state: &S) -> Result<T, ApiError> {
    if !has_json_content_type(request.headers()) {
        return Err(ApiError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json".to_owned(),
        ));
    }
    let bytes = body_bytes(request, state).await?;
    refuse_nul_in_json(&bytes)?;
    match axum::Json::<T>::from_bytes(&bytes) {
        Ok(axum::Json(value)) => Ok(value),
        Err(rejection) => Err(json_rejection(rejection)),
    }
}

/// The body, with axum's rejections as JSON errors (413 when too large).
async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<axum::body::Bytes, ApiError> {
    match axum::body::Bytes::from_request(request, state).await {
        Ok(bytes) => Ok(bytes),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::PayloadTooLarge("the request body is larger than this route accepts".to_owned()))
        }
        Err(rejection) => Err(ApiError::InvalidJson(rejection.body_text())),
    }
}

/// 422 naming the field when a JSON text holds NUL. JSON can only spell NUL as the escape
/// `\u0000`, so a body without those six bytes is not parsed twice.
fn refuse_nul_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.windows(6).any(|window| window == br"\u0000") {
        return Ok(());
    }
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value) => match nul_in_json(&value) {
            Some(field) => Err(ApiError::Validation(nul_message(&field))),
            None => Ok(()),
        },
        // Not JSON: the typed parse says so.
        Err(_) => Ok(()),
    }
}

/// A body of text (JSON lines, CSV): 413 when too large, 400 when not UTF-8.
pub struct TextBody(pub String);

impl<S: Send + Sync> FromRequest<S> for TextBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(request, state).await?;
        String::from_utf8(bytes.to_vec())
            .map(TextBody)
            .map_err(|_| ApiError::InvalidJson("the body must be UTF-8 text".to_owned()))
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
        body_bytes(request, state).await.map(JsonBytes)
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
        let bytes = body_bytes(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if typed && !json_type {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".to_owned(),
            ));
        }
        refuse_nul_in_json(&bytes)?;
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
        let bytes = body_bytes(request, state).await?;
        if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            && let Some(field) = nul_in_pairs(pairs.iter().map(|(name, value)| (name.as_str(), value.as_str())))
        {
            return Err(ApiError::Validation(nul_message(&field)));
        }
        serde_urlencoded::from_bytes(&bytes).map(JsonOrForm).map_err(|error| {
            ApiError::Validation(format!(
                "the form does not have the expected fields: Failed to deserialize form body: {error}"
            ))
        })
    }
}

/// Query parameters: 400 with the parameter named when one is missing or malformed.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(query) = parts.uri.query()
            && let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            && let Some(field) = nul_in_pairs(pairs.iter().map(|(name, value)| (name.as_str(), value.as_str())))
        {
            return Err(ApiError::InvalidParameters(nul_message(&field)));
        }
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
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state).await.map_err(|rejection| {
            ApiError::InvalidParameters(format!("invalid path parameter: {}", rejection.body_text()))
        })?;
        if let Some(field) = nul_in_pairs(raw.iter()) {
            return Err(ApiError::InvalidParameters(nul_message(&field)));
        }
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
