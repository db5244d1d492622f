//! Why a dashboard page is not shown, as the HTML page a browser gets (the API's errors stay
//! JSON), and the document head and headers every page shares.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::kernel::error::ApiError;

/// Why a page is not shown.
#[derive(Debug)]
pub enum PageError {
    /// No session (or an expired or revoked one): to the login page, then back.
    LoginNeeded {
        next: String,
        expired: bool,
    },
    /// A form without this session's CSRF token, or from another origin.
    Csrf,
    Api(ApiError),
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError::Api(error)
    }
}

impl From<footprint_store::StoreError> for PageError {
    fn from(error: footprint_store::StoreError) -> Self {
        PageError::Api(error.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::LoginNeeded { next, expired } => {
                let mut location = format!("/ui/login?next={}", urlencode(&next));
                if expired {
                    location.push_str("&expired=1");
                }
                let mut response = StatusCode::SEE_OTHER.into_response();
                response.headers_mut().insert(LOCATION, HeaderValue::from_str(&location).expect("url-encoded"));
                response
            }
            PageError::Csrf => error_page(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form did not carry this session's security token (or came from another site). \
                 Go back, reload the page and try again.",
            ),
            PageError::Api(error) => {
                let (status, _) = error.status_and_code();
                if let ApiError::Internal(source) = &error {
                    tracing::error!(error = %source, "a dashboard page failed");
                }
                let title = match status {
                    StatusCode::FORBIDDEN => "Not for this account",
                    StatusCode::NOT_FOUND => "Not found",
                    status if status.is_server_error() => "Something went wrong",
                    _ => "This cannot be shown",
                };
                error_page(status, title, &error.to_string())
            }
        }
    }
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                main.narrow {
                    h1 { (title) }
                    p { (message) }
                    p { a href="/" { "Back to the dashboard" } }
                }
            }
        }
    };
    (status, html_headers(), body.into_string()).into_response()
}

pub fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).map(|s| s[1..].to_owned()).unwrap_or_default()
}

pub(super) fn html_headers() -> [(axum::http::HeaderName, HeaderValue); 2] {
    [
        (CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

pub(super) fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · Footprint" }
        link rel="icon" href="/ui/assets/icon.svg" type="image/svg+xml";
        link rel="stylesheet" href="/ui/assets/dashboard.css";
        script src="/ui/assets/dashboard.js" defer {}
    }
}
