//! What the store's test targets of the ingestion path share: an event of a user at a minute,
//! and the commit options that grant consent by default.

use footprint_analytics::Consent;
use footprint_store::{CommitOptions, NewEvent};

pub const MINUTE: i64 = 60_000_000;
pub const T0: i64 = 1_700_000_000_000_000;

/// Event `n` of `user` (key `key-USER`), `minute` minutes after `T0`.
pub fn event(n: u32, user: &str, minute: i64, message_id: Option<&str>) -> NewEvent {
    NewEvent {
        event_id: format!("01EVENT{n:019}"),
        user_id: user.to_owned(),
        user_key: format!("key-{user}"),
        message_id: message_id.map(str::to_owned),
        session_id: None,
        event_type: "page_view".to_owned(),
        properties: format!(r#"{{"n": {n}}}"#),
        context: "{}".to_owned(),
        timestamp_us: T0 + minute * MINUTE,
        received_us: T0 + minute * MINUTE + 5,
        consent: None,
    }
}

pub fn granting() -> CommitOptions {
    CommitOptions { session_gap_us: 30 * MINUTE, consent_default: Consent::GRANT_ALL }
}
