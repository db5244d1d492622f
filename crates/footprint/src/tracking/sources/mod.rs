//! The APIs other SDKs speak, so that an application already instrumented with Segment (or
//! RudderStack, whose SDKs speak Segment's API) or PostHog sends to Footprint by changing its
//! host: `segment` and `posthog` turn their messages into [`Message`]s, and [`accept`] stores
//! them through the same validation, consent and durable path as `/api/track`, links anonymous
//! ids to users (`identity`), and puts identify traits into the user's declared profile.

pub mod browser;
pub mod http;
pub mod page;
pub mod posthog;
pub mod segment;

use std::collections::HashMap;
use std::io::Read;

use footprint_analytics::{Tier, UserId};
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::kernel::clock::{parse_rfc3339, rfc3339, to_us};
use crate::kernel::error::ApiError;
use crate::profiles::service::ProfileManager;
use crate::tracking::ingest::{self, EventResult};
use crate::tracking::{consent, identity};

/// One message of another SDK, in Footprint's terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// The known user the message names, if any.
    pub user_id: Option<String>,
    /// The anonymous id (a browser's or device's) it names, if any.
    pub anonymous_id: Option<String>,
    /// The event to store, in `/api/track`'s shape without `user_id` (`type`, `properties`,
    /// `timestamp`, `message_id`, `context`), if the message is one.
    pub event: Option<Map<String, Value>>,
    /// An anonymous id that turned out to be `user_id` (identify with both ids, alias).
    pub link: Option<String>,
    /// Traits of the user, for their declared profile.
    pub traits: Option<Map<String, Value>>,
    /// Traits kept only where the declared profile has none of that name yet (PostHog's
    /// `$set_once`).
    pub traits_once: Option<Map<String, Value>>,
}

/// What happened to a request's messages.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct SourceReport {
    /// Always true when the request was read (a message's own problem is in `rejected`).
    pub success: bool,
    pub received: usize,
    pub accepted: usize,
    /// Already stored (the same `messageId`/`uuid` for the same user).
    pub duplicate: usize,
    /// The user has no analytics consent: nothing was stored.
    pub not_collected: usize,
    /// Messages that could not be used, with their position and the reason.
    pub rejected: Vec<Rejected>,
    /// Anonymous ids linked to a user by this request.
    pub linked: usize,
    /// Earlier events of those anonymous ids now stored under their user.
    pub moved: u64,
    /// Users whose declared profile took traits from this request.
    pub traits_updated: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
}

/// A field that SDKs send as a string or a number (ids).
pub(crate) fn id_field(object: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| match object.get(*name) {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    })
}

/// The event time corrected for the client's clock (Segment's rule): the time between the
/// event and the send, measured on the client, counted back from the reception. Without a send
/// time, the event time as given.
pub(crate) fn corrected_timestamp(
    timestamp: Option<&str>,
    sent_at: Option<&str>,
    received: OffsetDateTime,
) -> Option<Value> {
    let timestamp = timestamp?;
    let (Some(at), Some(sent)) = (parse_rfc3339(timestamp), sent_at.and_then(parse_rfc3339)) else {
        // Unparseable text is left for validation to name.
        return Some(Value::String(timestamp.to_owned()));
    };
    let corrected = received - (sent - at);
    Some(Value::String(rfc3339(to_us(corrected))))
}

/// The body as JSON: gzip (by `Content-Encoding`, PostHog's `compression=gzip-js`, or its magic
/// bytes), PostHog's form-encoded base64 `data=`, or plain; at most `max_bytes` once inflated.
pub fn decode_body(body: &[u8], gzip_hint: bool, max_bytes: usize) -> Result<Value, ApiError> {
    let inflated;
    let mut bytes = body;
    if gzip_hint || body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(body)
            .take(max_bytes as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|error| ApiError::InvalidJson(format!("the body is not valid gzip: {error}")))?;
        if out.len() > max_bytes {
            return Err(ApiError::PayloadTooLarge(format!(
                "the body inflates past {max_bytes} bytes; send smaller batches"
            )));
        }
        inflated = out;
        bytes = &inflated;
    }
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"data=") {
        let form: HashMap<String, String> = serde_urlencoded::from_bytes(trimmed)
            .map_err(|error| ApiError::InvalidJson(format!("the form body could not be read: {error}")))?;
        let data = form.get("data").map(String::as_str).unwrap_or_default();
        let decoded = base64_any(data)?;
        return serde_json::from_slice(&decoded)
            .map_err(|error| ApiError::InvalidJson(format!("the base64 `data` is not JSON: {error}")));
    }
    serde_json::from_slice(bytes).map_err(|error| ApiError::InvalidJson(format!("the body is not valid JSON: {error}")))
}

fn base64_any(text: &str) -> Result<Vec<u8>, ApiError> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let text = text.trim();
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .map_err(|error| ApiError::InvalidJson(format!("`data` is not base64: {error}")))
}

/// Stores the messages: resolves each one's user (its `user_id`, else its anonymous id's link —
/// one made in this request first —, else the anonymous id); links anonymous ids to users and
/// moves their histories (after recording the consent the linking message carries, and only
/// for a user with analytics consent); stores the events; then takes traits into declared
/// profiles. Linking before storing lets the request's events continue the moved session.
pub async fn accept(
    state: &AppState,
    principal: &Principal,
    tier: Tier,
    mut messages: Vec<Result<Message, String>>,
) -> Result<SourceReport, ApiError> {
    let mut report = SourceReport { success: true, received: messages.len(), ..SourceReport::default() };
    let anonymous: Vec<String> = messages
        .iter()
        .filter_map(|message| message.as_ref().ok())
        .filter(|message| message.user_id.is_none())
        .filter_map(|message| message.anonymous_id.clone())
        .collect();
    let mut links = identity::resolve(state, &anonymous).await?;
    for message in messages.iter().flatten() {
        if let (Some(anonymous_id), Some(user_id)) = (&message.link, &message.user_id) {
            links.insert(anonymous_id.clone(), user_id.clone());
        }
    }

    let mut users: Vec<Option<UserId>> = Vec::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate() {
        let Ok(message) = message else {
            users.push(None);
            continue;
        };
        let named = message
            .user_id
            .clone()
            .or_else(|| message.anonymous_id.as_ref().map(|id| links.get(id).cloned().unwrap_or_else(|| id.clone())));
        match named.as_deref().map(UserId::parse) {
            Some(Ok(user)) => {
                principal.may_track(user.as_str()).map_err(ApiError::Forbidden)?;
                users.push(Some(user));
            }
            Some(Err(error)) => {
                report.rejected.push(Rejected { index, reason: error.to_string() });
                users.push(None);
            }
            None => {
                report.rejected.push(Rejected {
                    index,
                    reason: "the message names no user: send userId or anonymousId (distinct_id for PostHog)"
                        .to_owned(),
                });
                users.push(None);
            }
        }
    }

    for (index, message) in messages.iter_mut().enumerate() {
        let (Ok(message), Some(user)) = (message, &users[index]) else { continue };
        let Some(anonymous_id) = message.link.clone() else { continue };
        let anonymous_id = match UserId::parse(&anonymous_id) {
            Ok(anonymous_id) => anonymous_id,
            Err(error) => {
                report.rejected.push(Rejected { index, reason: error.to_string() });
                continue;
            }
        };
        // The consent given where the person identified is theirs: recorded before the move.
        if let Some(event) = message.event.as_mut()
            && let Some(Value::Object(context)) = event.get_mut("context")
            && let Some(given) = context.remove("consent")
        {
            match crate::tracking::validate::parse_consent(&given) {
                Ok(consent) => {
                    consent::record(state, user, consent, &principal.actor()).await?;
                }
                Err(reason) => {
                    report.rejected.push(Rejected { index, reason });
                    message.event = None;
                    continue;
                }
            }
        }
        // Without analytics consent the moved events would not be kept: nothing is linked.
        if consent::current(state, user.as_str()).await?.analytics {
            let merge = identity::link(state, &anonymous_id, user).await?;
            report.linked += 1;
            report.moved += merge.moved;
        }
    }

    let (now, limits) = (state.clock.now(), ingest::limits(state));
    let mut event_slots: Vec<Option<usize>> = vec![None; messages.len()];
    let mut items = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let (Ok(message), Some(user)) = (message, &users[index]) else { continue };
        if let Some(event) = &message.event {
            let mut raw = event.clone();
            raw.insert("user_id".to_owned(), Value::String(user.as_str().to_owned()));
            items.push(ingest::validate_event(&Value::Object(raw), now, &limits));
            event_slots[index] = Some(items.len() - 1);
        }
    }
    ingest::charge(state, principal, tier, items.iter().filter(|item| item.is_ok()).count()).await?;
    let results = if items.is_empty() { Vec::new() } else { ingest::ingest(state, items).await? };
    for (index, message) in messages.iter().enumerate() {
        if let Err(reason) = message {
            report.rejected.push(Rejected { index, reason: reason.clone() });
        }
        let result = event_slots[index].and_then(|slot| results.get(slot));
        match result {
            Some(EventResult::Accepted { .. }) => report.accepted += 1,
            Some(EventResult::Duplicate) => report.duplicate += 1,
            Some(EventResult::NotCollected { .. }) => report.not_collected += 1,
            Some(EventResult::Rejected { reason }) => report.rejected.push(Rejected { index, reason: reason.clone() }),
            None => {}
        }
        // Traits are kept for a user whose event was stored (or who sent only traits).
        let kept = result.is_none_or(|result| matches!(result, EventResult::Accepted { .. } | EventResult::Duplicate));
        if let (Ok(message), Some(user), true) = (message, &users[index], kept)
            && (message.traits.is_some() || message.traits_once.is_some())
        {
            match take_traits(state, user, message.traits.as_ref(), message.traits_once.as_ref(), &principal.actor())
                .await
            {
                Ok(true) => report.traits_updated += 1,
                Ok(false) => {}
                Err(reason) => report.rejected.push(Rejected { index, reason }),
            }
        }
    }
    report.rejected.sort_by_key(|rejected| rejected.index);
    Ok(report)
}

/// Merges `traits` into the user's declared profile (a trait replaces the key of the same name),
/// after `once` (a trait kept only where the profile has no key of that name); false when nothing
/// changed or the user is not known (never tracked with consent, no account).
async fn take_traits(
    state: &AppState,
    user: &UserId,
    traits: Option<&Map<String, Value>>,
    once: Option<&Map<String, Value>>,
    actor: &str,
) -> Result<bool, String> {
    if traits.is_none_or(Map::is_empty) && once.is_none_or(Map::is_empty) {
        return Ok(false);
    }
    let manager = ProfileManager::new(state.clone());
    let Ok(current) = manager.get_declared(user.as_str()).await else { return Ok(false) };
    let mut declared = current.clone();
    for (key, value) in once.into_iter().flatten() {
        declared.entry(key.clone()).or_insert_with(|| value.clone());
    }
    for (key, value) in traits.into_iter().flatten() {
        declared.insert(key.clone(), value.clone());
    }
    if declared == current {
        return Ok(false);
    }
    manager.update_profile(user.as_str(), declared, actor).await.map_err(|error| format!("traits: {error}"))?;
    Ok(true)
}
