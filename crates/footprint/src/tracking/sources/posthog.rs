//! PostHog's capture API (`/batch`, `/capture`, `/e`, `/i/v0/e`), as `posthog-python`,
//! `posthog-node` and `posthog-js` send it, turned into [`Message`]s.
//!
//! - A body is `{"api_key", "batch": [events…], "sent_at"}`, one event with its `api_key`, or a
//!   JSON array of events each carrying `properties.token`.
//! - `distinct_id` names the person; an id linked to a user before (`$identify`,
//!   `$create_alias`) is stored under that user.
//! - `$pageview`, `$screen`, `$pageleave`, `$autocapture` and `$identify` are stored as
//!   `page_view`, `screen_view`, `page_leave`, `autocapture` and `identify`; other names as sent.
//! - `$identify` links `$anon_distinct_id` to `distinct_id`; `$create_alias` links
//!   `properties.alias` to `distinct_id` and stores nothing; `$set` stores nothing; the
//!   `$set` of any event goes to the declared profile, and its `$set_once` where the profile has
//!   no such key yet.
//! - `uuid` is the idempotency key; `timestamp` is corrected by the client's clock skew when
//!   `sent_at` is given, and `offset` (milliseconds before sending) stands for a missing one;
//!   `$ip` goes to the context, truncated.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{Message, corrected_timestamp, id_field};
use crate::kernel::clock::{rfc3339, to_us};

/// Properties that are PostHog's plumbing rather than the event's content.
const PLUMBING: [&str; 7] = ["token", "distinct_id", "$set", "$set_once", "$anon_distinct_id", "$ip", "alias"];

/// The project key: the body's `api_key` or `token`, or the first event's.
pub fn api_key(body: &Value) -> Option<String> {
    let key_of = |value: &Value| {
        ["api_key", "token"]
            .iter()
            .find_map(|name| value.get(name).and_then(Value::as_str))
            .or_else(|| value.get("properties").and_then(|properties| properties.get("token")).and_then(Value::as_str))
            .map(str::to_owned)
    };
    match body {
        Value::Array(events) => events.first().and_then(key_of),
        Value::Object(object) => key_of(body).or_else(|| {
            object.get("batch").and_then(Value::as_array).and_then(|events| events.first()).and_then(key_of)
        }),
        _ => None,
    }
}

/// The messages of a request body. `Err` when its shape is wrong as a whole.
pub fn messages(body: &Value, received: OffsetDateTime) -> Result<Vec<Result<Message, String>>, String> {
    let (events, sent_at): (Vec<&Value>, Option<&str>) = match body {
        Value::Array(events) => (events.iter().collect(), None),
        Value::Object(object) => {
            let sent_at = object.get("sent_at").and_then(Value::as_str);
            match object.get("batch") {
                Some(Value::Array(events)) => (events.iter().collect(), sent_at),
                Some(_) => return Err("batch: must be an array of events".to_owned()),
                None if object.contains_key("event") => (vec![body], sent_at),
                None => {
                    return Err(
                        "send {\"api_key\", \"batch\": [events…]} or one event {\"event\", \"distinct_id\", …}"
                            .to_owned(),
                    );
                }
            }
        }
        _ => return Err("the body must be a JSON object or an array of events".to_owned()),
    };
    Ok(events.into_iter().map(|event| message(event, sent_at, received)).collect())
}

fn message(event: &Value, batch_sent_at: Option<&str>, received: OffsetDateTime) -> Result<Message, String> {
    let object = event.as_object().ok_or("an event must be a JSON object")?;
    let name = object.get("event").and_then(Value::as_str).ok_or("event: is required (the event's name)")?;
    let mut properties = match object.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err("properties: must be a JSON object".to_owned()),
    };
    let distinct_id = id_field(object, &["distinct_id", "$distinct_id"])
        .or_else(|| id_field(&properties, &["distinct_id"]))
        .ok_or("distinct_id: is required")?;
    // posthog-python's `set` sends `$set` beside the properties; the others inside them.
    let traits = merged_objects(object, &properties, "$set");
    let traits_once = merged_objects(object, &properties, "$set_once");
    let anon = id_field(&properties, &["$anon_distinct_id"]).filter(|anon| *anon != distinct_id);
    let alias = id_field(&properties, &["alias"]).filter(|alias| *alias != distinct_id);
    let ip = properties.get("$ip").cloned();
    let mut message = Message { anonymous_id: Some(distinct_id.clone()), traits, traits_once, ..Message::default() };

    let event_type = match name {
        "$create_alias" => {
            let alias = alias.ok_or("properties.alias: is required for $create_alias")?;
            return Ok(Message { user_id: Some(distinct_id), link: Some(alias), ..message });
        }
        "$set" => return Ok(message),
        "$identify" => {
            // The identified id is the user; its anonymous id joins it.
            message.user_id = Some(distinct_id);
            message.link = anon;
            "identify"
        }
        "$pageview" => "page_view",
        "$screen" => "screen_view",
        "$pageleave" => "page_leave",
        "$autocapture" => "autocapture",
        other => other,
    };
    for key in PLUMBING {
        properties.remove(key);
    }

    let sent_at = object.get("sent_at").and_then(Value::as_str).or(batch_sent_at);
    let timestamp = match object.get("timestamp").and_then(Value::as_str) {
        Some(timestamp) => corrected_timestamp(Some(timestamp), sent_at, received),
        None => object
            .get("offset")
            .and_then(Value::as_i64)
            .filter(|offset| *offset >= 0)
            .map(|offset| Value::String(rfc3339(to_us(received) - offset.saturating_mul(1_000)))),
    };
    let mut context = Map::new();
    if let Some(ip) = ip {
        context.insert("ip".to_owned(), ip);
    }
    let mut stored = Map::new();
    stored.insert("type".to_owned(), Value::String(event_type.to_owned()));
    stored.insert("properties".to_owned(), Value::Object(properties));
    if let Some(timestamp) = timestamp {
        stored.insert("timestamp".to_owned(), timestamp);
    }
    if let Some(uuid) = id_field(object, &["uuid"]) {
        stored.insert("message_id".to_owned(), Value::String(uuid));
    }
    stored.insert("context".to_owned(), Value::Object(context));
    message.event = Some(stored);
    Ok(message)
}

/// The objects under `key` beside the properties and inside them, merged (the inner wins);
/// `None` when neither holds anything.
fn merged_objects(
    object: &Map<String, Value>,
    properties: &Map<String, Value>,
    key: &str,
) -> Option<Map<String, Value>> {
    let mut merged = Map::new();
    for found in [object.get(key), properties.get(key)].into_iter().flatten() {
        if let Value::Object(found) = found {
            merged.extend(found.clone());
        }
    }
    (!merged.is_empty()).then_some(merged)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-07 12:00:00 UTC);

    #[test]
    fn a_python_batch_becomes_messages() {
        let body = json!({"api_key": "fp_a_b", "sent_at": "2026-12-07T12:00:02+00:00", "batch": [
            {"event": "$pageview", "distinct_id": "anon-1", "uuid": "0190-a", "timestamp": "2026-12-07T12:00:00+00:00",
             "properties": {"$current_url": "https://shop.example/", "$lib": "posthog-python", "$ip": "198.51.100.7"}},
            {"event": "$identify", "distinct_id": "ada", "properties": {"$anon_distinct_id": "anon-1", "$set": {"display_name": "Ada"}}},
            {"event": "$create_alias", "distinct_id": "ada", "properties": {"distinct_id": "ada", "alias": "device-9"}},
            {"event": "$set", "distinct_id": "ada", "$set": {"language": "fr"}},
            {"distinct_id": "ada"}
        ]});
        assert_eq!(api_key(&body).as_deref(), Some("fp_a_b"));
        let all = messages(&body, NOW).unwrap();
        let page = all[0].as_ref().unwrap();
        assert_eq!((page.user_id.as_deref(), page.anonymous_id.as_deref()), (None, Some("anon-1")));
        let event = page.event.as_ref().unwrap();
        assert_eq!(event["type"], "page_view");
        assert_eq!(event["message_id"], "0190-a");
        assert_eq!(event["timestamp"], "2026-12-07T11:59:58Z");
        assert_eq!(event["context"], json!({"ip": "198.51.100.7"}));
        assert_eq!(event["properties"], json!({"$current_url": "https://shop.example/", "$lib": "posthog-python"}));

        let identify = all[1].as_ref().unwrap();
        assert_eq!((identify.user_id.as_deref(), identify.link.as_deref()), (Some("ada"), Some("anon-1")));
        assert_eq!(identify.traits.as_ref().unwrap()["display_name"], "Ada");
        assert_eq!(identify.event.as_ref().unwrap()["type"], "identify");

        let alias = all[2].as_ref().unwrap();
        assert_eq!(
            (alias.user_id.as_deref(), alias.link.as_deref(), alias.event.is_none()),
            (Some("ada"), Some("device-9"), true)
        );
        let set = all[3].as_ref().unwrap();
        assert!(set.event.is_none() && set.traits.as_ref().unwrap()["language"] == "fr");
        assert!(set.traits_once.is_none());
        let once =
            json!({"event": "$pageview", "distinct_id": "ada", "properties": {"$set_once": {"first_page": "/"}}});
        let once = messages(&once, NOW).unwrap().remove(0).unwrap();
        assert_eq!(once.traits_once, Some(json!({"first_page": "/"}).as_object().unwrap().clone()));
        assert!(once.traits.is_none());
        assert_eq!(all[4].as_ref().unwrap_err(), "event: is required (the event's name)");
    }

    #[test]
    fn a_browser_array_carries_its_token_and_offsets() {
        let body = json!([{"event": "clicked", "offset": 1500, "properties": {"token": "fp_k_s", "distinct_id": "d1", "button": "buy"}}]);
        assert_eq!(api_key(&body).as_deref(), Some("fp_k_s"));
        let message = messages(&body, NOW).unwrap().remove(0).unwrap();
        let event = message.event.unwrap();
        assert_eq!(message.anonymous_id.as_deref(), Some("d1"));
        assert_eq!(event["properties"], json!({"button": "buy"}));
        assert_eq!(event["timestamp"], "2026-12-07T11:59:58.5Z");
    }

    #[test]
    fn shapes_that_cannot_be_read_are_named() {
        assert!(messages(&json!({"api_key": "k"}), NOW).unwrap_err().starts_with("send {"));
        assert!(messages(&json!("x"), NOW).is_err());
        let refused = messages(&json!({"event": "x"}), NOW).unwrap().remove(0);
        assert_eq!(refused.unwrap_err(), "distinct_id: is required");
    }
}
