//! The user's rights: erasure (every trace removed, a tombstone kept so that later events are
//! refused until consent is given again), anonymisation (the identity replaced everywhere, the
//! events kept for aggregates) and export (everything stored about the user, as JSON, streamed).

use axum::body::{Body, Bytes};
use footprint_analytics::UserId;
use footprint_store::{Anonymization, DeliveriesOf, Erasure, EventPosition, EventQuery, IdentityChange, UserRecord};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::accounts::audit;
use crate::accounts::service as accounts;
use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::tracking::{consent, events};
use crate::webhooks::service::DeliveryView;

/// What stands for an erased user in the audit log.
pub const ERASED: &str = "erased-user";
const EXPORT_PAGE: u32 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Removed {
    pub account: bool,
    pub events: u64,
    pub consents: u64,
    /// Sequence state and the user's own transition counts.
    pub derived_rows: u64,
    /// Audit entries from which the user's id and username were taken out.
    pub audit_entries: u64,
}

impl From<IdentityChange> for Removed {
    fn from(change: IdentityChange) -> Self {
        Removed {
            account: change.account,
            events: change.events,
            consents: change.consents,
            derived_rows: change.derived_rows,
            audit_entries: change.audit_entries,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErasureReport {
    /// `success`.
    pub status: &'static str,
    pub user_id: String,
    pub erased_at: String,
    pub removed: Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AnonymizationReport {
    /// `success`.
    pub status: &'static str,
    /// The identity the user's events now belong to; nothing links it to the user.
    pub anonymous_id: String,
    pub anonymized_at: String,
    pub events_kept: u64,
    pub removed: Removed,
}

/// Whether anything is stored for the user: an account or tracked-user row, or consents.
async fn known(state: &AppState, user_id: &UserId) -> Result<Option<UserRecord>, ApiError> {
    let user = state.store.user(user_id.as_str()).await?;
    if user.is_none() && state.store.consent_history(user_id.as_str()).await?.is_empty() {
        return Err(ApiError::NotFound(format!("nothing is stored for user {user_id}")));
    }
    Ok(user)
}

fn scrub_values(user_id: &UserId, user: Option<&UserRecord>) -> Vec<String> {
    let mut values = vec![user_id.as_str().to_owned()];
    if let Some(username) = user.and_then(|user| user.username.clone()) {
        values.push(username);
    }
    values
}

/// Right to erasure: removes the account, consents (a tombstone with the date stays), events,
/// A user id named by a caller (a path, an in-process call): 400 `INVALID_PARAMETERS` saying
/// what is wrong with it.
pub fn user_id(id: &str) -> Result<UserId, ApiError> {
    UserId::parse(id).map_err(|error| ApiError::InvalidParameters(format!("user_id: {}", error.reason)))
}

/// sessions and every derived row, and takes the user out of the audit log.
pub async fn erase(state: &AppState, user_id: &UserId, actor: &str) -> Result<ErasureReport, ApiError> {
    let user = known(state, user_id).await?;
    let now_us = state.clock.now_us();
    let erasure = Erasure {
        user_id: user_id.as_str().to_owned(),
        user_key: state.keys.pseudonymizer.user_key(user_id.as_str()),
        tombstone: state.keys.pseudonymizer.tombstone(user_id.as_str()),
        scrub: scrub_values(user_id, user.as_ref()),
        replacement: ERASED.to_owned(),
        now_us,
    };
    // Requests counted but not yet stored would otherwise be written after the erasure.
    state.usage.forget(&erasure.user_key);
    state.patterns.forget(&erasure.user_key);
    // Not while a processing run holds this user's rows in memory: it would write them back.
    let change = state.processor.exclusive(state.store.erase_user(erasure)).await?;
    // The account's tokens stop working here at once, on other nodes within seconds.
    state.auth.forget_account(user_id.as_str());
    // Cached statistics of earlier generations may name the user: deleted, not left to expire.
    state.cache.purge().await;
    state.limits.forget_user(&state.keys.pseudonymizer.user_key(user_id.as_str())).await;
    state.usage.forget(&state.keys.pseudonymizer.user_key(user_id.as_str()));
    // The actor is the user themself when they erase their own data: not kept either.
    let actor = if actor == user_id.as_str() { ERASED } else { actor };
    audit::record(
        state,
        "privacy.erasure",
        Some(actor),
        Some(ERASED),
        "success",
        json!({"events": change.events, "consents": change.consents, "account": change.account}),
    )
    .await;
    Ok(ErasureReport {
        status: "success",
        user_id: user_id.as_str().to_owned(),
        erased_at: rfc3339(now_us),
        removed: change.into(),
    })
}

/// Replaces the user's identity by a random one everywhere; the events stay, under it, so
/// aggregates and models keep them.
pub async fn anonymize(state: &AppState, user_id: &UserId, actor: &str) -> Result<AnonymizationReport, ApiError> {
    let user = known(state, user_id).await?;
    let now_us = state.clock.now_us();
    let anonymous_id = format!("anonymous-{}", ulid::Ulid::new().to_string().to_lowercase());
    let change = Anonymization {
        user_id: user_id.as_str().to_owned(),
        user_key: state.keys.pseudonymizer.user_key(user_id.as_str()),
        new_user_key: state.keys.pseudonymizer.user_key(&anonymous_id),
        new_user_id: anonymous_id.clone(),
        scrub: scrub_values(user_id, user.as_ref()),
        now_us,
    };
    state.usage.forget(&change.user_key);
    state.patterns.forget(&change.user_key);
    let change = state.processor.exclusive(state.store.anonymize_user(change)).await?;
    state.auth.forget_account(user_id.as_str());
    // Cached statistics of earlier generations may name the user: deleted, not left to expire.
    state.cache.purge().await;
    state.limits.forget_user(&state.keys.pseudonymizer.user_key(user_id.as_str())).await;
    state.usage.forget(&state.keys.pseudonymizer.user_key(user_id.as_str()));
    audit::record(
        state,
        "privacy.anonymization",
        Some(actor),
        Some(&anonymous_id),
        "success",
        json!({"events": change.events}),
    )
    .await;
    Ok(AnonymizationReport {
        status: "success",
        anonymous_id,
        anonymized_at: rfc3339(now_us),
        events_kept: change.events,
        removed: Removed { events: 0, ..change.into() },
    })
}

/// The user's webhook deliveries the export lists (the newest); past it, it says so.
const DELIVERIES_LISTED: u32 = 10_000;

/// Everything stored about the user, as one JSON document whose `events` are streamed a page
/// at a time, so a long history never sits in memory whole.
pub async fn export(state: &AppState, user_id: &UserId, actor: &str) -> Result<Body, ApiError> {
    let user = known(state, user_id).await?;
    let account = match &user {
        Some(user) => Some(accounts::view(state, user).await?),
        None => None,
    };
    let consent = consent::status(state, user_id).await?;
    let user_key = state.keys.pseudonymizer.user_key(user_id.as_str());
    let sessions: Vec<_> = state
        .store
        .sessions(&user_key)
        .await?
        .into_iter()
        .map(|session| {
            json!({
                "session_id": session.session_id,
                "started_at": rfc3339(session.started_us),
                "last_event_at": rfc3339(session.last_us),
                "events": session.n_events,
            })
        })
        .collect();
    let sequence =
        state.store.sequence_states(std::slice::from_ref(&user_key)).await?.into_iter().next().map(|record| {
            json!({
                "recent_actions": footprint_analytics::sequence::UserSequence::decode_recent(&record.recent),
                "last_actor": footprint_analytics::sequence::UserSequence::decode_actor(&record.recent),
                "actions_counted": record.n_actions,
            })
        });
    let mut profile_versions = Vec::new();
    for version in state.store.profile_versions(user_id.as_str()).await? {
        let profile = state.keys.cipher.decrypt(&version.profile_enc).map_err(ApiError::internal)?;
        profile_versions.push(json!({
            "version": version.version,
            "profile": serde_json::from_str::<serde_json::Value>(&profile).unwrap_or(serde_json::Value::String(profile)),
            "changed_by": version.changed_by,
            "changed_at": rfc3339(version.created_at_us),
        }));
    }
    // The behavioural profile as kept (counters, sessions, preference evidence).
    let behavioural_profile = state
        .store
        .profile_states(std::slice::from_ref(&user_key))
        .await?
        .into_iter()
        .next()
        .map(|record| serde_json::from_str::<serde_json::Value>(&record.state).unwrap_or(serde_json::Value::Null));
    let segment = match state.store.cluster_runs(1).await?.into_iter().next() {
        Some(run) => state.store.cluster_assignment(&run.run_id, &user_key).await?.map(|assignment| {
            json!({"run_id": run.run_id, "cluster": assignment.cluster, "distance_to_centre": assignment.distance})
        }),
        None => None,
    };
    let attendance: Vec<_> = state
        .store
        .user_registrations(user_id.as_str())
        .await?
        .into_iter()
        .map(|r| {
            json!({
                "event_id": r.event_id,
                "registered_at": rfc3339(r.registered_at_us),
                "attended": r.attended,
                "checked_in_at": r.checked_in_at_us.map(rfc3339),
                "attributes": r.attributes.as_deref().and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok()),
            })
        })
        .collect();
    // The anonymous ids (a browser's, a device's) found to be this user.
    let identity_links: Vec<_> = state
        .store
        .links_to_user(user_id.as_str())
        .await?
        .into_iter()
        .map(|link| json!({"anonymous_id": link.anonymous_id, "linked_at": rfc3339(link.linked_at_us)}))
        .collect();
    // What webhooks were sent (or are still to be sent) about the user, newest first.
    // One more than listed is read, to know whether there are more.
    let mut deliveries =
        state.store.deliveries(DeliveriesOf::User(user_id.as_str().to_owned()), DELIVERIES_LISTED + 1).await?;
    let more_deliveries = deliveries.len() > DELIVERIES_LISTED as usize;
    deliveries.truncate(DELIVERIES_LISTED as usize);
    let deliveries: Vec<DeliveryView> = deliveries.into_iter().map(DeliveryView::from).collect();
    let head = json!({
        "user_id": user_id.as_str(),
        "exported_at": rfc3339(state.clock.now_us()),
        "account": account,
        "consent": consent,
        "sessions": sessions,
        "next_action_state": sequence,
        "profile_versions": profile_versions,
        "behavioural_profile": behavioural_profile,
        "segment": segment,
        "attendance_registrations": attendance,
        "identity_links": identity_links,
        "webhook_deliveries": deliveries,
        "webhook_deliveries_truncated": more_deliveries,
    });
    audit::record(state, "privacy.export", Some(actor), Some(user_id.as_str()), "success", json!({})).await;

    // `{…head…, "events": [` then the pages, then `]}`.
    let mut opening = head.to_string();
    opening.pop();
    opening.push_str(r#","events":["#);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let reader = state.clone();
    tokio::spawn(async move {
        if sender.send(Ok(Bytes::from(opening))).await.is_err() {
            return;
        }
        let mut after: Option<EventPosition> = None;
        let mut first = true;
        loop {
            let query =
                EventQuery { user_key: Some(user_key.clone()), after, limit: EXPORT_PAGE, ..EventQuery::default() };
            let page = match reader.store.events(query).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(error = %error, "export stopped: the store failed");
                    let _ = sender.send(Err(std::io::Error::other("the store failed during the export"))).await;
                    return;
                }
            };
            let full = page.len() == EXPORT_PAGE as usize;
            after = page.last().map(|event| EventPosition { timestamp_us: event.timestamp_us, seq: event.seq });
            let mut chunk = String::new();
            for event in page {
                let Ok(view) = events::view(event) else { continue };
                if !first {
                    chunk.push(',');
                }
                first = false;
                chunk.push_str(&serde_json::to_string(&view).unwrap_or_default());
            }
            if sender.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
            if !full {
                break;
            }
        }
        let _ = sender.send(Ok(Bytes::from_static(b"]}"))).await;
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    Ok(Body::from_stream(stream))
}
