//! Subscriptions and the outbox: creating, listing and deleting webhooks, dispatching the event
//! log into deliveries, and queueing a model's training.

use std::collections::HashMap;

use footprint_analytics::segmentation::SegmentModel;
use footprint_store::{
    ClusterAssignment, ClusterRun, DeliveriesOf, DeliveryRecord, ModelRecord, NewDelivery, WebhookRecord,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::crypto::random_token;
use crate::kernel::error::ApiError;
use crate::tracking::consent;

/// The churn probability whose crossing is announced when a webhook names none (where a risk
/// turns `high`).
pub const DEFAULT_CHURN_THRESHOLD: f64 = 0.6;
/// Events read from the log per dispatch round.
const DISPATCH_BATCH: u32 = 1_000;

/// What a webhook may subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An event (of the subscribed types, or any) was stored.
    Event,
    /// A model (attendance or churn) finished training, successfully or not.
    ModelTrained,
    /// A user's segment (by name) changed from one segmentation run to the next.
    SegmentChanged,
    /// A user's churn risk crossed the webhook's threshold, up or down (found by the watch).
    ChurnRiskCrossed,
    /// A user's activity far from their own baseline, or attendance far from expectation (found
    /// by the watch).
    AnomalyDetected,
}

impl Kind {
    pub const ALL: [Kind; 5] =
        [Kind::Event, Kind::ModelTrained, Kind::SegmentChanged, Kind::ChurnRiskCrossed, Kind::AnomalyDetected];
    /// The kinds, as a request names them.
    const NAMES: &str = "event, model.trained, segment.changed, churn.risk_crossed, anomaly.detected";

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::ModelTrained => "model.trained",
            Kind::SegmentChanged => "segment.changed",
            Kind::ChurnRiskCrossed => "churn.risk_crossed",
            Kind::AnomalyDetected => "anomaly.detected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// `POST /api/v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where deliveries are posted: an http or https URL.
    pub url: String,
    /// `event`, `model.trained`, `segment.changed`, `churn.risk_crossed`, `anomaly.detected`.
    pub kinds: Vec<String>,
    /// For `event`: the event types wanted (none: every type).
    #[serde(default)]
    pub event_types: Vec<String>,
    /// For `churn.risk_crossed`: the churn probability (between 0 and 1, exclusive) whose
    /// crossing is announced; default 0.6, where a risk turns `high`.
    pub churn_threshold: Option<f64>,
    /// The signing secret (16–200 characters); generated and shown once when absent.
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub kinds: Vec<String>,
    pub event_types: Vec<String>,
    /// For `churn.risk_crossed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churn_threshold: Option<f64>,
    pub created_by: String,
    pub created_at: String,
    /// Only in the creation's answer, and only when Footprint generated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookView {
    fn of(hook: &WebhookRecord, secret: Option<String>) -> Self {
        Self {
            id: hook.webhook_id.clone(),
            url: hook.url.clone(),
            kinds: hook.kinds.clone(),
            event_types: hook.event_types.clone(),
            churn_threshold: hook.churn_threshold,
            created_by: hook.created_by.clone(),
            created_at: rfc3339(hook.created_at_us),
            secret,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: i64,
    pub at: String,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i64>,
    /// Why there was no 2xx answer (connection refused, timeout, …).
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub kind: String,
    /// `pending` (to be retried at `next_attempt_at`), `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub done_at: Option<String>,
    /// The JSON posted.
    #[schema(value_type = Object)]
    pub payload: Value,
    pub log: Vec<AttemptView>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(delivery: DeliveryRecord) -> Self {
        Self {
            id: delivery.delivery_id,
            kind: delivery.kind,
            next_attempt_at: (delivery.status == "pending").then(|| rfc3339(delivery.next_attempt_us)),
            status: delivery.status,
            attempts: delivery.attempts,
            created_at: rfc3339(delivery.created_at_us),
            done_at: delivery.done_at_us.map(rfc3339),
            payload: serde_json::from_str(&delivery.payload).unwrap_or(Value::Null),
            log: delivery
                .log
                .into_iter()
                .map(|attempt| AttemptView {
                    attempt: attempt.attempt,
                    at: rfc3339(attempt.at_us),
                    status_code: attempt.status_code,
                    error: attempt.error,
                    duration_ms: attempt.duration_ms,
                })
                .collect(),
        }
    }
}

/// An http(s) URL with a host; anything else is refused with the reason.
pub fn check_url(text: &str) -> Result<String, String> {
    let url = text.trim();
    let uri: axum::http::Uri = url.parse().map_err(|_| format!("url: {url:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("url: must start with http:// or https://".to_owned()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("url: must name a host".to_owned());
    }
    if url.chars().any(char::is_control) || url.len() > 2_000 {
        return Err("url: must be at most 2000 printable characters".to_owned());
    }
    Ok(url.to_owned())
}

pub async fn create(state: &AppState, new: NewWebhook, actor: &str) -> Result<WebhookView, ApiError> {
    let url = check_url(&new.url).map_err(ApiError::Validation)?;
    if new.kinds.is_empty() {
        return Err(ApiError::Validation(format!("kinds: name at least one of {}", Kind::NAMES)));
    }
    let mut kinds = Vec::new();
    for kind in &new.kinds {
        let kind = Kind::parse(kind)
            .ok_or_else(|| ApiError::Validation(format!("kinds: {kind:?} is not one of {}", Kind::NAMES)))?;
        if !kinds.contains(&kind.as_str().to_owned()) {
            kinds.push(kind.as_str().to_owned());
        }
    }
    let watches_churn = kinds.iter().any(|kind| kind == Kind::ChurnRiskCrossed.as_str());
    let churn_threshold = match new.churn_threshold {
        Some(_) if !watches_churn => {
            return Err(ApiError::Validation(
                "churn_threshold: only for a webhook of the churn.risk_crossed kind".to_owned(),
            ));
        }
        Some(threshold) if !(threshold > 0.0 && threshold < 1.0) => {
            return Err(ApiError::Validation(
                "churn_threshold: must be a probability between 0 and 1 (exclusive)".to_owned(),
            ));
        }
        Some(threshold) => Some(threshold),
        None => watches_churn.then_some(DEFAULT_CHURN_THRESHOLD),
    };
    for event_type in &new.event_types {
        footprint_analytics::EventType::parse(event_type)
            .map_err(|error| ApiError::Validation(format!("event_types: {error}")))?;
    }
    let (secret, shown) = match new.secret {
        Some(secret) if (16..=200).contains(&secret.chars().count()) && !secret.chars().any(char::is_control) => {
            (secret, None)
        }
        Some(_) => return Err(ApiError::Validation("secret: must be 16–200 printable characters".to_owned())),
        None => {
            let secret = format!("whsec_{}", random_token(32));
            (secret.clone(), Some(secret))
        }
    };
    let hook = WebhookRecord {
        webhook_id: format!("wh_{}", ulid::Ulid::new().to_string().to_lowercase()),
        url,
        kinds,
        event_types: new.event_types,
        secret_enc: state.keys.cipher.encrypt(&secret),
        from_seq: state.store.max_event_seq().await?,
        churn_threshold,
        created_by: actor.to_owned(),
        created_at_us: state.clock.now_us(),
    };
    state.store.create_webhook(hook.clone()).await?;
    crate::accounts::audit::record(
        state,
        "webhook.create",
        Some(actor),
        Some(&hook.webhook_id),
        "success",
        json!({"url": hook.url, "kinds": hook.kinds}),
    )
    .await;
    Ok(WebhookView::of(&hook, shown))
}

pub async fn list(state: &AppState) -> Result<Vec<WebhookView>, ApiError> {
    Ok(state.store.webhooks().await?.iter().map(|hook| WebhookView::of(hook, None)).collect())
}

pub async fn delete(state: &AppState, webhook_id: &str, actor: &str) -> Result<(), ApiError> {
    if !state.store.delete_webhook(webhook_id).await? {
        return Err(ApiError::NotFound(format!("no webhook {webhook_id}")));
    }
    crate::accounts::audit::record(state, "webhook.delete", Some(actor), Some(webhook_id), "success", json!({})).await;
    Ok(())
}

pub async fn deliveries(state: &AppState, webhook_id: &str, limit: u32) -> Result<Vec<DeliveryView>, ApiError> {
    if !state.store.webhooks().await?.iter().any(|hook| hook.webhook_id == webhook_id) {
        return Err(ApiError::NotFound(format!("no webhook {webhook_id}")));
    }
    Ok(state
        .store
        .deliveries(DeliveriesOf::Webhook(webhook_id.to_owned()), limit)
        .await?
        .into_iter()
        .map(DeliveryView::from)
        .collect())
}

/// A delivery of `data` to `hook`: the JSON posted carries a fresh id (the receiver's
/// idempotency key), the kind and the time.
pub(super) fn delivery(
    hook: &WebhookRecord,
    kind: Kind,
    user_id: Option<&str>,
    data: Value,
    now_us: i64,
) -> NewDelivery {
    let payload = json!({"id": ulid::Ulid::new().to_string(), "kind": kind.as_str(), "created_at": rfc3339(now_us), "data": data});
    NewDelivery {
        webhook_id: hook.webhook_id.clone(),
        kind: kind.as_str().to_owned(),
        user_id: user_id.map(str::to_owned),
        payload: payload.to_string(),
        created_at_us: now_us,
    }
}

/// Whether each user's analytics consent holds now, asked once per user: no user data leaves
/// for a user without it.
#[derive(Default)]
pub(super) struct Consents(HashMap<String, bool>);

impl Consents {
    pub(super) async fn hold(&mut self, state: &AppState, user_id: &str) -> Result<bool, ApiError> {
        if let Some(known) = self.0.get(user_id) {
            return Ok(*known);
        }
        let holds = consent::current(state, user_id).await?.analytics;
        self.0.insert(user_id.to_owned(), holds);
        Ok(holds)
    }
}

/// Queues a delivery of the next stretch of the event log for every webhook that wants it;
/// returns the events read (0 when the log is dispatched, or another node took the stretch).
pub async fn dispatch_events(state: &AppState) -> Result<usize, ApiError> {
    let Some(watermark) = state.store.webhook_watermark().await? else { return Ok(0) };
    let hooks = hooks_for(state, Kind::Event).await?;
    let events = state.store.events_in_arrival_order(watermark, DISPATCH_BATCH).await?;
    let Some(last) = events.last() else { return Ok(0) };
    let new_watermark = last.seq;
    let mut deliveries = Vec::new();
    if !hooks.is_empty() {
        let mut consents = Consents::default();
        let now_us = state.clock.now_us();
        for event in &events {
            if !consents.hold(state, &event.user_id).await? {
                continue;
            }
            // A history moved to the user who identified is not a new happening.
            if event.context.contains(crate::tracking::identity::MERGED_FROM)
                && serde_json::from_str::<Value>(&event.context)
                    .is_ok_and(|context| context.get(crate::tracking::identity::MERGED_FROM).is_some())
            {
                continue;
            }
            for hook in &hooks {
                let wanted = hook.event_types.is_empty() || hook.event_types.contains(&event.event_type);
                if !wanted || event.seq <= hook.from_seq {
                    continue;
                }
                let data = json!({
                    "event_id": event.event_id,
                    "user_id": event.user_id,
                    "type": event.event_type,
                    "properties": serde_json::from_str::<Value>(&event.properties).unwrap_or(Value::Null),
                    "context": serde_json::from_str::<Value>(&event.context).unwrap_or(Value::Null),
                    "session_id": event.session_id,
                    "timestamp": rfc3339(event.timestamp_us),
                    "message_id": event.message_id,
                });
                deliveries.push(delivery(hook, Kind::Event, Some(&event.user_id), data, now_us));
            }
        }
    }
    let queued = deliveries.len();
    if !state.store.queue_deliveries(Some((watermark, new_watermark)), deliveries).await? {
        return Ok(0);
    }
    if queued > 0 {
        state.webhooks_wake.notify_one();
    }
    Ok(events.len())
}

/// Queues `model.trained` for the webhooks that want it (the model's id, name, version, status,
/// error and metrics; no user data). A failure to queue is logged: the model is stored anyway.
pub async fn model_trained(state: &AppState, model: &ModelRecord) {
    let result = async {
        let hooks = hooks_for(state, Kind::ModelTrained).await?;
        let now_us = state.clock.now_us();
        let data = json!({
            "model_id": model.model_id,
            "name": model.name,
            "version": model.version,
            "status": model.status,
            "error": model.error,
            "rows_used": model.rows_used,
            "metrics": serde_json::from_str::<Value>(&model.metrics).unwrap_or(Value::Null),
        });
        let deliveries: Vec<NewDelivery> =
            hooks.iter().map(|hook| delivery(hook, Kind::ModelTrained, None, data.clone(), now_us)).collect();
        queue(state, deliveries).await
    }
    .await;
    report(Kind::ModelTrained, result);
}

/// The webhooks subscribed to `kind`.
pub(super) async fn hooks_for(state: &AppState, kind: Kind) -> Result<Vec<WebhookRecord>, footprint_store::StoreError> {
    let hooks = state.store.webhooks().await?;
    Ok(hooks.into_iter().filter(|hook| hook.kinds.iter().any(|wanted| wanted == kind.as_str())).collect())
}

/// Queues `deliveries` (when there are any) and wakes the sender.
async fn queue(state: &AppState, deliveries: Vec<NewDelivery>) -> Result<(), footprint_store::StoreError> {
    if !deliveries.is_empty() {
        state.store.queue_deliveries(None, deliveries).await?;
        state.webhooks_wake.notify_one();
    }
    Ok(())
}

/// Says in the log that a happening's deliveries could not be queued (what happened is kept).
fn report(kind: Kind, result: Result<(), footprint_store::StoreError>) {
    if let Err(error) = result {
        tracing::error!(error = %error, kind = kind.as_str(), "webhook deliveries could not be queued");
    }
}

/// A segment: its number in its run and its name.
type Placed = (usize, String);

/// Where each user stood in the run a new segmentation is about to replace.
pub struct SegmentsBefore {
    run_id: String,
    hooks: Vec<WebhookRecord>,
    was: HashMap<String, Placed>,
}

/// Reads [`SegmentsBefore`] for `previous`, before the new run replaces the stored assignments;
/// `None` when no webhook wants `segment.changed` (nothing more is read then) or it could not be
/// read (logged).
pub async fn segments_before(state: &AppState, previous: &ClusterRun) -> Option<SegmentsBefore> {
    let result = async {
        let hooks = hooks_for(state, Kind::SegmentChanged).await?;
        let Ok(before) = serde_json::from_str::<SegmentModel>(&previous.model) else { return Ok(None) };
        if hooks.is_empty() {
            return Ok(None);
        }
        let mut was: HashMap<String, Placed> = HashMap::new();
        let members = u32::try_from(previous.n_users.max(1)).unwrap_or(u32::MAX);
        for cluster in 0..previous.k {
            for member in state.store.cluster_members(&previous.run_id, cluster, members).await? {
                if let Some(found) = placed(&before, member.cluster) {
                    was.insert(member.user_key, found);
                }
            }
        }
        Ok(Some(SegmentsBefore { run_id: previous.run_id.clone(), hooks, was }))
    }
    .await;
    match result {
        Ok(before) => before,
        Err(error) => {
            report(Kind::SegmentChanged, Err(error));
            None
        }
    }
}

/// The segment `cluster` stands for in `model`.
fn placed(model: &SegmentModel, cluster: i64) -> Option<Placed> {
    usize::try_from(cluster)
        .ok()
        .and_then(|at| model.segments.get(at))
        .map(|segment| (segment.id, segment.name.clone()))
}

/// Queues `segment.changed` for every user whose segment, by name, is not the one they had
/// `before` (users new to this run have no previous segment and are not announced), for users
/// whose analytics consent holds. A failure to queue is logged: the run is stored anyway.
pub async fn segments_changed(
    state: &AppState,
    before: SegmentsBefore,
    run: &ClusterRun,
    assignments: &[ClusterAssignment],
) {
    let result = async {
        let Ok(after) = serde_json::from_str::<SegmentModel>(&run.model) else { return Ok(()) };
        let mut changed: Vec<(String, Placed, Placed)> = Vec::new();
        for assignment in assignments {
            let (Some(old), Some(new)) = (before.was.get(&assignment.user_key), placed(&after, assignment.cluster))
            else {
                continue;
            };
            if old.1 != new.1 {
                changed.push((assignment.user_key.clone(), old.clone(), new));
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = changed.iter().map(|(key, _, _)| key.clone()).collect();
        let ids: HashMap<String, String> = state.store.user_ids_of(&keys).await?.into_iter().collect();
        let now_us = state.clock.now_us();
        let mut deliveries = Vec::new();
        for (key, old, new) in changed {
            let Some(user_id) = ids.get(&key) else { continue };
            let consenting = consent::current(state, user_id).await.map(|consent| consent.analytics).unwrap_or(false);
            if !consenting {
                continue;
            }
            let data = json!({
                "user_id": user_id,
                "run_id": run.run_id,
                "previous": {"segment_id": old.0, "name": old.1, "run_id": before.run_id},
                "segment": {"segment_id": new.0, "name": new.1},
            });
            for hook in &before.hooks {
                deliveries.push(delivery(hook, Kind::SegmentChanged, Some(user_id), data.clone(), now_us));
            }
        }
        queue(state, deliveries).await
    }
    .await;
    report(Kind::SegmentChanged, result);
}
