//! Identities that turn out to be one person: an anonymous id (a browser's or a device's, as the
//! Segment and PostHog SDKs send it) linked to the user who identifies themself. Once linked,
//! events naming only the anonymous id are stored under the user, and the anonymous id's earlier
//! events move to the user: they are copied under the user through the durable path (keeping
//! their message ids, so a second merge or a resent message stores nothing twice, and marked with
//! `context.merged_from`), then the originals are deleted with everything derived from them —
//! their contributions to the global sequence counts included, recomputed by replaying them — so
//! that the derived data stays what processing the log from the start would give.

use std::collections::HashMap;

use footprint_analytics::UserId;
use footprint_analytics::sequence::{SequenceConfig, UserSequence};
use footprint_store::{EventOutcome, EventPosition, EventQuery, IdentityLink, NewEvent, SequenceCount};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::kernel::error::ApiError;
use crate::tracking::processing::SEQUENCES;

/// The context key a moved event carries (the anonymous id it was stored under).
pub const MERGED_FROM: &str = "merged_from";

/// Events read and copied at a time while moving a history.
const MOVE_CHUNK: u32 = 1_000;

/// What linking an anonymous id did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Merge {
    /// Events of the anonymous id now stored under the user.
    pub moved: u64,
    /// Events of the anonymous id not kept: the user has no analytics consent.
    pub not_collected: u64,
}

/// The users that `anonymous_ids` are linked to, for those that have a link.
pub async fn resolve(state: &AppState, anonymous_ids: &[String]) -> Result<HashMap<String, String>, ApiError> {
    if anonymous_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let by_key: HashMap<String, &String> =
        anonymous_ids.iter().map(|id| (state.keys.pseudonymizer.user_key(id), id)).collect();
    let keys: Vec<String> = by_key.keys().cloned().collect();
    let links = state.store.identity_links(&keys).await?;
    Ok(links
        .into_iter()
        .filter_map(|link| by_key.get(&link.anonymous_key).map(|id| ((*id).clone(), link.user_id)))
        .collect())
}

/// Links `anonymous_id` to `user_id` and moves the anonymous id's stored events to the user.
/// Nothing happens when both are the same id, or when the user's data was erased (their
/// events are refused until they consent again).
pub async fn link(state: &AppState, anonymous_id: &UserId, user_id: &UserId) -> Result<Merge, ApiError> {
    if anonymous_id == user_id {
        return Ok(Merge::default());
    }
    let tombstone = state.keys.pseudonymizer.tombstone(user_id.as_str());
    if !state.store.erased_among(&[tombstone]).await?.is_empty() {
        return Ok(Merge::default());
    }
    let anonymous_key = state.keys.pseudonymizer.user_key(anonymous_id.as_str());
    state
        .store
        .link_identity(IdentityLink {
            anonymous_key: anonymous_key.clone(),
            anonymous_id: anonymous_id.as_str().to_owned(),
            user_id: user_id.as_str().to_owned(),
            linked_at_us: state.clock.now_us(),
        })
        .await?;
    move_history(state, &anonymous_key, anonymous_id.as_str(), user_id.as_str()).await
}

/// Copies the anonymous id's events under the user, then forgets them and what was derived from
/// them. Events that arrive for the anonymous id meanwhile (sent before the link was known) are
/// left for the next identification.
async fn move_history(
    state: &AppState,
    anonymous_key: &str,
    anonymous_id: &str,
    user_id: &str,
) -> Result<Merge, ApiError> {
    // Their transitions must be in the global counts before they are forgotten: the copies are
    // not counted there again.
    state.processor.catch_up(state.config.processing.catch_up_timeout_ms).await?;
    let user_key = state.keys.pseudonymizer.user_key(user_id);
    let retry_after_secs = state.config.ingest.retry_after_secs.as_secs();
    let mut merge = Merge::default();
    let mut after: Option<EventPosition> = None;
    let mut up_to_seq = 0;
    // What processing saw of each original: its arrival, action, time and actor.
    let mut originals: Vec<(i64, String, i64, Option<String>)> = Vec::new();
    loop {
        let page = state
            .store
            .events(EventQuery {
                user_key: Some(anonymous_key.to_owned()),
                after,
                limit: MOVE_CHUNK,
                ..EventQuery::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(EventPosition { timestamp_us: last.timestamp_us, seq: last.seq });
        let mut copies = Vec::with_capacity(page.len());
        for event in &page {
            up_to_seq = up_to_seq.max(event.seq);
            let actor = serde_json::from_str::<Map<String, Value>>(&event.properties)
                .ok()
                .and_then(|properties| properties.get("actor").and_then(Value::as_str).map(str::to_owned));
            originals.push((event.seq, event.event_type.clone(), event.timestamp_us, actor));
            let mut context: Map<String, Value> = serde_json::from_str(&event.context).unwrap_or_default();
            context.insert(MERGED_FROM.to_owned(), Value::String(anonymous_id.to_owned()));
            copies.push(NewEvent {
                event_id: ulid::Ulid::new().to_string(),
                user_id: user_id.to_owned(),
                user_key: user_key.clone(),
                // The original's id when it had no message id: moving again stores nothing twice.
                message_id: Some(event.message_id.clone().unwrap_or_else(|| event.event_id.clone())),
                session_id: Some(event.session_id.clone()),
                event_type: event.event_type.clone(),
                properties: event.properties.clone(),
                context: Value::Object(context).to_string(),
                timestamp_us: event.timestamp_us,
                received_us: event.received_us,
                consent: None,
            });
        }
        let outcomes = state
            .ingest
            .submit(copies)
            .await
            .map_err(|error| crate::tracking::ingest::queue_error(error, retry_after_secs))?;
        for outcome in outcomes {
            match outcome {
                EventOutcome::Accepted { .. } | EventOutcome::Duplicate => merge.moved += 1,
                EventOutcome::NotCollected => merge.not_collected += 1,
            }
        }
        if page.len() < MOVE_CHUNK as usize {
            break;
        }
    }
    if up_to_seq == 0 {
        return Ok(merge);
    }
    let processor = &state.processor;
    processor
        .exclusive(async {
            // Only what processing counted is forgotten; a later event stays for the next link.
            let watermark = state.store.processing_watermark(SEQUENCES).await?;
            let up_to_seq = up_to_seq.min(watermark);
            let global = global_contributions(&mut originals, up_to_seq, processor.config());
            state.store.forget_moved_events(anonymous_key, up_to_seq, global).await
        })
        .await?;
    processor.wake();
    Ok(merge)
}

/// What the events up to `up_to_seq` added to the global sequence counts, as negative counts:
/// their user's sequence replayed from its start in arrival order, as processing folded it.
fn global_contributions(
    originals: &mut [(i64, String, i64, Option<String>)],
    up_to_seq: i64,
    config: &SequenceConfig,
) -> Vec<SequenceCount> {
    originals.sort_by_key(|original| original.0);
    let mut sequence = UserSequence::default();
    let mut counts: HashMap<(String, String), i64> = HashMap::new();
    for (_, action, at_us, actor) in originals.iter().take_while(|original| original.0 <= up_to_seq) {
        for context in sequence.observe(action, *at_us, actor.as_deref(), config).global {
            *counts.entry((context, action.clone())).or_default() -= 1;
        }
    }
    counts
        .into_iter()
        .map(|((context, next), count)| SequenceCount { scope: String::new(), context, next, count })
        .collect()
}
