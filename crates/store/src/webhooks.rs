//! The records of outbound webhooks: subscriptions, the deliveries of the outbox and their
//! attempts (the contract is `WebhookStore` in `traits.rs`).

/// An outbound webhook: where to post, which happenings, and its signing secret (encrypted).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    pub webhook_id: String,
    pub url: String,
    pub kinds: Vec<String>,
    /// For the `event` kind: the event types wanted (none: every type).
    pub event_types: Vec<String>,
    pub secret_enc: String,
    /// Events up to this `seq` were stored before the webhook existed: they are not sent.
    pub from_seq: i64,
    /// For the `churn.risk_crossed` kind: the churn probability whose crossing is announced.
    pub churn_threshold: Option<f64>,
    pub created_by: String,
    pub created_at_us: i64,
}

/// A delivery to queue in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub webhook_id: String,
    pub kind: String,
    /// The user the payload is about, if any (erasure deletes their deliveries).
    pub user_id: Option<String>,
    pub payload: String,
    pub created_at_us: i64,
}

/// What a webhook was last told about one subject (a user's side of its churn threshold, an
/// anomaly found): a happening is announced when the state of its subject changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookMark {
    pub webhook_id: String,
    pub subject: String,
    pub state: String,
    /// The user the subject is about, if any (erasure deletes their marks).
    pub user_id: Option<String>,
    pub at_us: i64,
}

/// One delivery of the outbox: `pending` until delivered, or `failed` once retries ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub delivery_id: i64,
    pub webhook_id: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_us: i64,
    pub created_at_us: i64,
    pub done_at_us: Option<i64>,
    /// Its attempts, oldest first (filled when listing a webhook's deliveries).
    pub log: Vec<DeliveryAttempt>,
}

/// Whose deliveries to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveriesOf {
    /// A webhook's (`GET /api/v1/webhooks/{id}/deliveries`).
    Webhook(String),
    /// Those carrying a user's data (the user's privacy export).
    User(String),
}

impl DeliveriesOf {
    /// The column of `webhook_deliveries` to match, and the value.
    pub fn condition(&self) -> (&'static str, &str) {
        match self {
            DeliveriesOf::Webhook(id) => ("webhook_id", id),
            DeliveriesOf::User(id) => ("user_id", id),
        }
    }
}

/// One attempt to deliver: the receiver's status code, or why there was none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub delivery_id: i64,
    pub attempt: i64,
    pub at_us: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A delivery's state after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// `pending` (retried at `next_attempt_us`), `delivered` or `failed`.
    pub status: String,
    pub next_attempt_us: i64,
}
