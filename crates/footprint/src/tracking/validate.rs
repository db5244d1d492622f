//! Validation of one incoming event, with a reason a client can act on. Batch requests
//! validate each element on its own, so one bad event does not sink the others.

use std::time::Duration;

use footprint_analytics::privacy::truncate_ip;
use footprint_analytics::{Consent, EventType, UserId};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::kernel::clock::{parse_rfc3339, to_us};

/// Longest client-given `session_id` or `message_id`.
pub const MAX_ID_CHARS: usize = 200;

#[derive(Debug, Clone, Copy)]
pub struct EventLimits {
    pub properties_max_bytes: usize,
    pub context_max_bytes: usize,
    pub max_future: Duration,
}

/// An event that passed validation, before the server gives it an id and a pseudonym.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvent {
    pub user_id: UserId,
    pub event_type: EventType,
    /// The properties object, serialised.
    pub properties: String,
    pub timestamp_us: i64,
    pub session_id: Option<String>,
    pub message_id: Option<String>,
    /// What will be stored of the context, serialised: the IP truncated, the consent taken out.
    pub context: String,
    pub consent: Option<Consent>,
}

/// Field names as clients send them: ours first, then Segment's and seed 000's spellings.
fn field<'a>(object: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|name| object.get(*name)).filter(|value| !value.is_null())
}

pub fn validate_event(raw: &Value, now: OffsetDateTime, limits: &EventLimits) -> Result<ValidEvent, String> {
    let object = raw.as_object().ok_or("an event must be a JSON object")?;

    let user_id = match field(object, &["user_id", "userId"]) {
        Some(Value::String(text)) => UserId::parse(text).map_err(|error| error.to_string())?,
        Some(_) => return Err("user_id: must be a string".to_owned()),
        None => return Err("user_id: is required".to_owned()),
    };
    let event_type = match field(object, &["type", "event_type", "event"]) {
        Some(Value::String(text)) => EventType::parse(text).map_err(|error| error.to_string())?,
        Some(_) => return Err("type: must be a string".to_owned()),
        None => {
            return Err("type: is required (the name of the action, e.g. \"page_view\")".to_owned());
        }
    };
    let properties = match field(object, &["properties"]) {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err("properties: must be a JSON object".to_owned()),
    };
    check_no_nul("properties", &properties)?;
    let properties = serialise_within("properties", properties, limits.properties_max_bytes)?;

    let timestamp_us = match field(object, &["timestamp"]) {
        None => to_us(now),
        Some(Value::String(text)) => {
            let time = parse_rfc3339(text)
                .ok_or("timestamp: must be RFC 3339 with a UTC offset, e.g. 2024-12-05T12:34:56Z")?;
            if time.year() < 1970 {
                return Err("timestamp: must not be before 1970".to_owned());
            }
            if now
                .checked_add(limits.max_future.try_into().unwrap_or(time::Duration::MAX))
                .is_some_and(|limit| time > limit)
            {
                return Err(format!(
                    "timestamp: is more than {} s in the future; check the client's clock",
                    limits.max_future.as_secs()
                ));
            }
            to_us(time)
        }
        Some(_) => return Err("timestamp: must be an RFC 3339 string".to_owned()),
    };
    let session_id = optional_id(object, &["session_id", "sessionId"], "session_id")?;
    let message_id = optional_id(object, &["message_id", "messageId"], "message_id")?;

    let mut context = match field(object, &["context"]) {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err("context: must be a JSON object".to_owned()),
    };
    let consent = match context.remove("consent") {
        None | Some(Value::Null) => None,
        Some(value) => Some(parse_consent(&value)?),
    };
    if let Some(truncated) = context.remove("ip").as_ref().and_then(Value::as_str).and_then(truncate_ip) {
        context.insert("ip".to_owned(), Value::String(truncated));
    }
    check_no_nul("context", &context)?;
    let context = serialise_within("context", context, limits.context_max_bytes)?;

    Ok(ValidEvent { user_id, event_type, properties, timestamp_us, session_id, message_id, context, consent })
}

fn optional_id(object: &Map<String, Value>, names: &[&str], label: &str) -> Result<Option<String>, String> {
    match field(object, names) {
        None => Ok(None),
        Some(Value::String(text)) => {
            if text.is_empty() || text.chars().count() > MAX_ID_CHARS || text.chars().any(char::is_control) {
                return Err(format!("{label}: must be 1-{MAX_ID_CHARS} characters without control characters"));
            }
            Ok(Some(text.clone()))
        }
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(_) => Err(format!("{label}: must be a string")),
    }
}

/// `{"analytics": true, "preferences": false, "improvement": true}`; a missing purpose is not given.
pub fn parse_consent(value: &Value) -> Result<Consent, String> {
    let object = value.as_object().ok_or("context.consent: must be an object of booleans")?;
    let purpose = |name: &str| match object.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(_) => Err(format!("context.consent.{name}: must be true or false")),
    };
    Ok(Consent {
        analytics: purpose("analytics")?,
        preferences: purpose("preferences")?,
        improvement: purpose("improvement")?,
    })
}

/// The object as JSON text, if it fits in `max_bytes`.
fn serialise_within(label: &str, map: Map<String, Value>, max_bytes: usize) -> Result<String, String> {
    let text = Value::Object(map).to_string();
    if text.len() > max_bytes {
        return Err(format!("{label}: must be at most {max_bytes} bytes of JSON (got {})", text.len()));
    }
    Ok(text)
}

/// PostgreSQL's JSON type cannot hold U+0000; refusing it keeps both stores equal.
fn check_no_nul(label: &str, map: &Map<String, Value>) -> Result<(), String> {
    match crate::kernel::input::nul_in_json(&Value::Object(map.clone())) {
        Some(field) => Err(crate::kernel::input::nul_message(&format!("{label}.{field}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-11-22 12:00:00 UTC);

    fn limits() -> EventLimits {
        EventLimits {
            properties_max_bytes: 32 * 1024,
            context_max_bytes: 8 * 1024,
            max_future: Duration::from_secs(86_400),
        }
    }

    fn reason(raw: Value) -> String {
        validate_event(&raw, NOW, &limits()).unwrap_err()
    }

    #[test]
    fn a_complete_event_is_accepted_as_given() {
        let event = validate_event(
            &json!({
                "user_id": "user123", "type": "ajout d'un produit au panier", "properties": {"sku": "A1"},
                "timestamp": "2026-11-22T11:00:00+01:00", "session_id": "s1", "message_id": "m1",
                "context": {"ip": "203.0.113.77", "user_agent": "curl/8", "consent": {"analytics": true}}
            }),
            NOW,
            &limits(),
        )
        .unwrap();
        assert_eq!(event.user_id.as_str(), "user123");
        assert_eq!(event.timestamp_us, to_us(datetime!(2026-11-22 10:00:00 UTC)));
        assert_eq!(
            serde_json::from_str::<Value>(&event.context).unwrap(),
            json!({"ip": "203.0.113.0", "user_agent": "curl/8"})
        );
        assert_eq!(event.properties, r#"{"sku":"A1"}"#);
        assert_eq!(event.consent, Some(Consent { analytics: true, preferences: false, improvement: false }));
    }

    #[test]
    fn defaults_and_alternative_spellings() {
        let event = validate_event(&json!({"userId": "u", "event_type": "click"}), NOW, &limits()).unwrap();
        assert_eq!(event.timestamp_us, to_us(NOW));
        assert_eq!(event.properties, "{}");
        assert!(event.session_id.is_none() && event.consent.is_none());
    }

    #[test]
    fn every_rejection_names_the_field() {
        assert_eq!(reason(json!([1])), "an event must be a JSON object");
        assert_eq!(reason(json!({"type": "click"})), "user_id: is required");
        assert!(reason(json!({"user_id": "jean dupont", "type": "click"})).starts_with("user_id:"));
        assert!(reason(json!({"user_id": "u"})).starts_with("type: is required"));
        assert!(reason(json!({"user_id": "u", "type": "a\u{7}b"})).starts_with("type:"));
        assert!(reason(json!({"user_id": "u", "type": "x".repeat(201)})).starts_with("type:"));
        assert_eq!(
            reason(json!({"user_id": "u", "type": "c", "properties": [1]})),
            "properties: must be a JSON object"
        );
        let big = json!({"user_id": "u", "type": "c", "properties": {"blob": "x".repeat(33_000)}});
        assert!(reason(big).starts_with("properties: must be at most 32768 bytes"));
        assert!(reason(json!({"user_id": "u", "type": "c", "properties": {"a": "\u{0}"}})).contains("NUL"));
        assert!(
            reason(json!({"user_id": "u", "type": "c", "timestamp": "yesterday"}))
                .starts_with("timestamp: must be RFC 3339")
        );
        assert!(reason(json!({"user_id": "u", "type": "c", "timestamp": "2026-11-24T12:00:00Z"})).contains("future"));
        assert!(reason(json!({"user_id": "u", "type": "c", "timestamp": "1969-12-31T23:59:59Z"})).contains("1970"));
        assert!(
            reason(json!({"user_id": "u", "type": "c", "context": {"consent": {"analytics": "yes"}}}))
                .starts_with("context.consent.analytics")
        );
        assert!(reason(json!({"user_id": "u", "type": "c", "message_id": ""})).starts_with("message_id:"));
    }

    #[test]
    fn an_unparseable_ip_is_dropped_rather_than_stored() {
        let event =
            validate_event(&json!({"user_id": "u", "type": "c", "context": {"ip": "somewhere"}}), NOW, &limits())
                .unwrap();
        assert_eq!(event.context, "{}");
    }
}
