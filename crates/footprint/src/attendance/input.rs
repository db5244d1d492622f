//! The checks every attendance input shares: 422 with what to fix, bounded printable texts,
//! known time zones, how many attributes a registration may carry.

use crate::kernel::error::ApiError;

/// Longest text field (characters).
pub(crate) const MAX_TEXT: usize = 200;

/// Most attributes one registration may carry.
pub(crate) const MAX_ATTRIBUTES: usize = 32;

/// A record that cannot be stored as sent: 422 with what to fix.
pub(crate) fn invalid(message: String) -> ApiError {
    ApiError::Validation(message)
}

/// A trimmed text of at most [`MAX_TEXT`] printable characters; `None` when empty and optional.
pub(crate) fn text(field: &str, value: Option<&str>, required: bool) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") if required => Err(invalid(format!("{field}: is required"))),
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > MAX_TEXT || text.chars().any(char::is_control) => {
            Err(invalid(format!("{field}: at most {MAX_TEXT} printable characters")))
        }
        Some(text) => Ok(Some(text.to_owned())),
    }
}

/// A known IANA zone name, as given (trimmed).
pub(crate) fn timezone(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    jiff::tz::db().get(name).map(|_| name.to_owned()).map_err(|_| {
        invalid(format!("timezone: {name:?} is not a known IANA time zone (e.g. Europe/Paris, America/New_York, UTC)"))
    })
}
