//! Segment's HTTP Tracking API (which RudderStack's SDKs speak too): `track`, `identify`,
//! `page`, `screen`, `group`, `alias`, and `batch` of them, turned into [`Message`]s.
//!
//! - `track` stores an event named by `event`; `page` and `screen` store `page_view` and
//!   `screen_view` (with `name` and `category` among the properties); `identify` stores an
//!   `identify` event and its traits go to the declared profile; `group` stores `group` with
//!   `group_id` and the group's `traits`; `alias` stores nothing and links `previousId` to `userId`.
//! - `identify` naming both ids links `anonymousId` to `userId`.
//! - `messageId` is the idempotency key; `timestamp` (or `originalTimestamp`) is corrected by
//!   the client's clock skew when `sentAt` is given.
//! - `context.consent` is Footprint's `{analytics, preferences, improvement}` or Segment's
//!   `{categoryPreferences: {Analytics: true, Functional: false, …}}`; `context.traits` is not
//!   stored with events.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{Message, corrected_timestamp, id_field};

/// The calls of the API, by the name of their route (`/v1/track`) or their `type` in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Track,
    Identify,
    Page,
    Screen,
    Group,
    Alias,
}

impl Call {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "track" => Call::Track,
            "identify" => Call::Identify,
            "page" => Call::Page,
            "screen" => Call::Screen,
            "group" => Call::Group,
            "alias" => Call::Alias,
            _ => return None,
        })
    }
}

/// The write key sent in the body (`writeKey`), when it is not in the Authorization header.
pub fn write_key(body: &Value) -> Option<String> {
    body.get("writeKey").and_then(Value::as_str).map(str::to_owned)
}

/// The messages of a request: the body itself for `/v1/{call}`, or `batch`'s elements (each with
/// its `type`) for `/v1/batch`. `Err` when the body's shape is wrong as a whole.
pub fn messages(
    call: Option<Call>,
    body: &Value,
    received: OffsetDateTime,
) -> Result<Vec<Result<Message, String>>, String> {
    let object = body.as_object().ok_or("the body must be a JSON object")?;
    let sent_at = object.get("sentAt").and_then(Value::as_str);
    let shared_context = object.get("context").and_then(Value::as_object);
    match call {
        Some(call) => Ok(vec![message(call, object, sent_at, shared_context, received)]),
        None => {
            let batch = object
                .get("batch")
                .and_then(Value::as_array)
                .ok_or("send {\"batch\": [messages…]}, each message with its \"type\" (track, identify, page, …)")?;
            Ok(batch
                .iter()
                .map(|item| {
                    let item = item.as_object().ok_or("a message must be a JSON object")?;
                    let call = item
                        .get("type")
                        .and_then(Value::as_str)
                        .and_then(Call::parse)
                        .ok_or("type: must be one of track, identify, page, screen, group, alias".to_owned())?;
                    message(call, item, sent_at, shared_context, received)
                })
                .collect())
        }
    }
}

fn message(
    call: Call,
    object: &Map<String, Value>,
    batch_sent_at: Option<&str>,
    shared_context: Option<&Map<String, Value>>,
    received: OffsetDateTime,
) -> Result<Message, String> {
    let user_id = id_field(object, &["userId", "user_id"]);
    let anonymous_id = id_field(object, &["anonymousId", "anonymous_id"]);
    let mut context = shared_context.cloned().unwrap_or_default();
    match object.get("context") {
        None | Some(Value::Null) => {}
        Some(Value::Object(own)) => context.extend(own.clone()),
        Some(_) => return Err("context: must be a JSON object".to_owned()),
    }
    let context_traits = match context.remove("traits") {
        Some(Value::Object(traits)) => Some(traits),
        _ => None,
    };
    if let Some(consent) = context.remove("consent") {
        context.insert("consent".to_owned(), consent_of(&consent));
    }

    if call == Call::Alias {
        let previous = id_field(object, &["previousId", "previous_id"]).ok_or("previousId: is required for alias")?;
        if user_id.is_none() {
            return Err("userId: is required for alias".to_owned());
        }
        return Ok(Message { user_id, anonymous_id, event: None, link: Some(previous), ..Message::default() });
    }

    let object_of = |name: &str| match object.get(name) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(format!("{name}: must be a JSON object")),
    };
    let mut traits = None;
    let mut link = None;
    let (event_type, properties) = match call {
        Call::Track => {
            let name = object.get("event").and_then(Value::as_str).ok_or("event: is required for track (its name)")?;
            (name.to_owned(), object_of("properties")?)
        }
        Call::Page | Call::Screen => {
            let mut properties = object_of("properties")?;
            for key in ["name", "category"] {
                if let Some(value) = object.get(key).filter(|value| value.is_string()) {
                    properties.entry(key).or_insert_with(|| value.clone());
                }
            }
            let event_type = if call == Call::Page { "page_view" } else { "screen_view" };
            (event_type.to_owned(), properties)
        }
        Call::Identify => {
            let mut given = context_traits.unwrap_or_default();
            given.extend(object_of("traits")?);
            traits = Some(given);
            if user_id.is_some() {
                link = anonymous_id.clone();
            }
            ("identify".to_owned(), Map::new())
        }
        Call::Group => {
            let group_id = id_field(object, &["groupId", "group_id"]).ok_or("groupId: is required for group")?;
            let mut properties = Map::new();
            properties.insert("group_id".to_owned(), Value::String(group_id));
            properties.insert("traits".to_owned(), Value::Object(object_of("traits")?));
            ("group".to_owned(), properties)
        }
        Call::Alias => unreachable!("handled above"),
    };

    let timestamp = object.get("timestamp").or_else(|| object.get("originalTimestamp")).and_then(Value::as_str);
    let sent_at = object.get("sentAt").and_then(Value::as_str).or(batch_sent_at);
    let mut event = Map::new();
    event.insert("type".to_owned(), Value::String(event_type));
    event.insert("properties".to_owned(), Value::Object(properties));
    if let Some(timestamp) = corrected_timestamp(timestamp, sent_at, received) {
        event.insert("timestamp".to_owned(), timestamp);
    }
    if let Some(message_id) = id_field(object, &["messageId", "message_id"]) {
        event.insert("message_id".to_owned(), Value::String(message_id));
    }
    event.insert("context".to_owned(), Value::Object(context));
    Ok(Message { user_id, anonymous_id, event: Some(event), link, traits, traits_once: None })
}

/// Footprint's consent object from Segment's (`categoryPreferences`, whose category names are
/// the site's own): `analytics` from a category named analytics, `preferences` from functional,
/// preferences or personalization, `improvement` from improvement. Footprint's own object passes.
fn consent_of(consent: &Value) -> Value {
    let Some(categories) = consent.get("categoryPreferences").and_then(Value::as_object) else {
        return consent.clone();
    };
    let granted = |names: &[&str]| {
        categories.iter().any(|(name, value)| {
            value.as_bool() == Some(true) && names.iter().any(|wanted| name.eq_ignore_ascii_case(wanted))
        })
    };
    serde_json::json!({
        "analytics": granted(&["analytics"]),
        "preferences": granted(&["functional", "preferences", "personalization"]),
        "improvement": granted(&["improvement"]),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-07 12:00:00 UTC);

    fn one(call: Call, body: Value) -> Message {
        messages(Some(call), &body, NOW).unwrap().remove(0).unwrap()
    }

    #[test]
    fn track_keeps_the_name_properties_and_message_id() {
        let message = one(
            Call::Track,
            json!({"userId": "u1", "event": "Order Completed", "properties": {"total": 30},
                   "messageId": "m-1", "context": {"ip": "203.0.113.9"}}),
        );
        assert_eq!(message.user_id.as_deref(), Some("u1"));
        let event = message.event.unwrap();
        assert_eq!(event["type"], "Order Completed");
        assert_eq!(event["properties"], json!({"total": 30}));
        assert_eq!(event["message_id"], "m-1");
        assert_eq!(event["context"], json!({"ip": "203.0.113.9"}));
        assert!(message.link.is_none() && message.traits.is_none());
    }

    #[test]
    fn the_clock_skew_is_taken_out() {
        // The client's clock is 10 minutes fast: the event happened 5 s before it was sent.
        let message = one(
            Call::Track,
            json!({"anonymousId": "a1", "event": "x", "timestamp": "2026-12-07T12:09:55Z", "sentAt": "2026-12-07T12:10:00Z"}),
        );
        assert_eq!(message.event.unwrap()["timestamp"], "2026-12-07T11:59:55Z");
        assert_eq!(message.anonymous_id.as_deref(), Some("a1"));
    }

    #[test]
    fn identify_links_the_anonymous_id_and_carries_the_traits() {
        let message = one(
            Call::Identify,
            json!({"userId": "u1", "anonymousId": "a1", "traits": {"display_name": "Ada"},
                   "context": {"traits": {"language": "fr"}}}),
        );
        assert_eq!(message.link.as_deref(), Some("a1"));
        assert_eq!(
            message.traits.unwrap(),
            json!({"display_name": "Ada", "language": "fr"}).as_object().unwrap().clone()
        );
        let event = message.event.unwrap();
        assert_eq!(event["type"], "identify");
        assert_eq!(event["context"], json!({}), "traits are not stored with the event");
    }

    #[test]
    fn alias_links_without_an_event_and_needs_both_ids() {
        let message = one(Call::Alias, json!({"previousId": "a1", "userId": "u1"}));
        assert_eq!((message.link.as_deref(), message.event), (Some("a1"), None));
        let refused = messages(Some(Call::Alias), &json!({"previousId": "a1"}), NOW).unwrap().remove(0);
        assert_eq!(refused.unwrap_err(), "userId: is required for alias");
    }

    #[test]
    fn a_batch_judges_each_message_and_shares_sent_at_and_context() {
        let body = json!({"sentAt": "2026-12-07T12:00:10Z", "context": {"library": {"name": "analytics-python"}},
        "batch": [
            {"type": "page", "userId": "u1", "name": "Home", "timestamp": "2026-12-07T12:00:00Z"},
            {"type": "teleport", "userId": "u1"},
            {"type": "screen", "anonymousId": 42, "properties": {"name": "Settings"}},
            {"type": "group", "userId": "u1", "groupId": "acme", "traits": {"plan": "pro"}},
            {"type": "track", "userId": "u1"}
        ]});
        let all = messages(None, &body, NOW).unwrap();
        let page = all[0].as_ref().unwrap().event.clone().unwrap();
        assert_eq!(page["type"], "page_view");
        assert_eq!(page["properties"], json!({"name": "Home"}));
        assert_eq!(page["timestamp"], "2026-12-07T11:59:50Z");
        assert_eq!(page["context"], json!({"library": {"name": "analytics-python"}}));
        assert!(all[1].as_ref().unwrap_err().starts_with("type: must be one of"));
        let screen = all[2].as_ref().unwrap();
        assert_eq!(screen.anonymous_id.as_deref(), Some("42"));
        assert_eq!(screen.event.as_ref().unwrap()["type"], "screen_view");
        assert_eq!(
            all[3].as_ref().unwrap().event.as_ref().unwrap()["properties"],
            json!({"group_id": "acme", "traits": {"plan": "pro"}})
        );
        assert_eq!(all[4].as_ref().unwrap_err(), "event: is required for track (its name)");
        assert!(messages(None, &json!({"events": []}), NOW).is_err());
    }

    #[test]
    fn segment_consent_categories_become_footprint_purposes() {
        let message = one(
            Call::Track,
            json!({"userId": "u1", "event": "x", "context": {"consent": {"categoryPreferences":
                {"Analytics": true, "Advertising": true, "Functional": false}}}}),
        );
        assert_eq!(
            message.event.unwrap()["context"]["consent"],
            json!({"analytics": true, "preferences": false, "improvement": false})
        );
        let own = one(Call::Track, json!({"userId": "u1", "event": "x", "context": {"consent": {"analytics": false}}}));
        assert_eq!(own.event.unwrap()["context"]["consent"], json!({"analytics": false}));
    }
}
