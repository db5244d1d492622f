//! The records the store reads and writes. Times are microseconds since the Unix epoch.

use footprint_analytics::{Consent, Role, Tier};
use serde::{Deserialize, Serialize};

pub use crate::activity::*;
pub use crate::security::*;

/// A user as stored: tracked only (no password) or also holding an account.
/// Personal fields (`email_enc`, `profile_enc`) arrive already encrypted by the service.
/// `Debug` leaves the password hash out.
#[derive(Clone, PartialEq)]
pub struct UserRecord {
    pub user_id: String,
    /// The keyed pseudonym under which this user's behavioural data is stored.
    pub user_key: String,
    pub username: Option<String>,
    pub email_enc: Option<String>,
    pub email_index: Option<String>,
    pub password_hash: Option<String>,
    pub role: Role,
    pub tier: Tier,
    pub profile_enc: Option<String>,
    /// Time of the first event seen for this user (none for an account that never tracked).
    pub first_seen_us: Option<i64>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    /// The generation of the account's access tokens: a token issued under another is refused.
    pub token_generation: i64,
}

impl UserRecord {
    pub fn has_account(&self) -> bool {
        self.password_hash.is_some()
    }
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("tier", &self.tier)
            .field("has_account", &self.has_account())
            .finish_non_exhaustive()
    }
}

/// An account to create, or to grant to a user known only from tracking.
#[derive(Clone)]
pub struct NewAccount {
    pub user_id: String,
    pub user_key: String,
    pub username: Option<String>,
    pub email_enc: Option<String>,
    pub email_index: Option<String>,
    pub password_hash: String,
    pub role: Role,
    pub tier: Tier,
    pub profile_enc: Option<String>,
    /// The generation of its access tokens; a new account takes a random one, so that tokens
    /// of an erased account with the same id never match it.
    pub token_generation: i64,
    pub now_us: i64,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount").field("user_id", &self.user_id).field("role", &self.role).finish_non_exhaustive()
    }
}

/// What failed logins are counted and locked by: a login (an account's pseudonym, or a keyed
/// hash of a login that names no account) from one source network (a truncated address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPair {
    pub login_key: String,
    pub network: String,
}

/// A login attempt as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAttempt {
    /// Counted: the pair's attempts since its last success or lock, this one included, and the
    /// locks it has had since its last success.
    Counted { attempts: i64, lockouts: i64 },
    /// Not counted: the pair is locked until then.
    Locked { until_us: i64 },
}

/// One entry of a user's append-only consent history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub user_id: String,
    pub consent: Consent,
    /// Where the change came from: `api`, `event_context`, …
    pub source: String,
    pub recorded_at_us: i64,
}

/// An API key as stored: only the SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The public prefix shown in listings, e.g. `fp_ab12cd34`.
    pub key_id: String,
    pub key_hash: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// The tier whose request limit the key's calls count against.
    pub tier: Tier,
    pub created_at_us: i64,
    pub revoked_at_us: Option<i64>,
}

/// A validated event ready to be committed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Server-assigned ULID; also the id of the session this event opens, if it opens one.
    pub event_id: String,
    pub user_id: String,
    pub user_key: String,
    pub message_id: Option<String>,
    pub session_id: Option<String>,
    pub event_type: String,
    /// A JSON object, serialised.
    pub properties: String,
    /// A JSON object, serialised, already stripped of anything that must not be stored.
    pub context: String,
    pub timestamp_us: i64,
    pub received_us: i64,
    /// A consent carried by the event (`context.consent`), recorded before the event is judged.
    pub consent: Option<Consent>,
}

/// How a batch is judged: instance rules the store applies inside the commit.
#[derive(Debug, Clone, Copy)]
pub struct CommitOptions {
    pub session_gap_us: i64,
    /// The consent of a user with no record.
    pub consent_default: Consent,
}

/// What a finished bulk load found at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkLoaded {
    /// Events answered `Accepted` when added that repeat the `message_id` of an event of the
    /// same user added in an earlier batch: they were not kept.
    pub late_duplicates: u64,
}

/// What happened to one event of a committed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    Accepted {
        event_id: String,
        session_id: String,
    },
    /// The same `message_id` for the same user was already stored.
    Duplicate,
    /// The user has not given analytics consent; nothing was stored.
    NotCollected,
}

/// A stored event, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Arrival order, never reused.
    pub seq: i64,
    pub event_id: String,
    pub user_id: String,
    pub user_key: String,
    pub username: Option<String>,
    pub message_id: Option<String>,
    pub session_id: String,
    pub event_type: String,
    pub properties: String,
    pub context: String,
    pub timestamp_us: i64,
    pub received_us: i64,
}

/// Filters for reading events, ordered by (timestamp, seq); `after` is the position of the
/// last event of the previous page.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub user_key: Option<String>,
    pub event_type: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub after: Option<EventPosition>,
    pub limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPosition {
    pub timestamp_us: i64,
    pub seq: i64,
}

/// One security-relevant action for the audit log. It never holds secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at_us: i64,
    pub action: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub outcome: String,
    /// A JSON object, serialised.
    pub detail: String,
}

/// What a user's stored events amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserActivity {
    pub n_events: i64,
    pub first_event_us: Option<i64>,
    pub last_event_us: Option<i64>,
}

/// A session, as derived from the events that carry its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub session_id: String,
    pub started_us: i64,
    pub last_us: i64,
    pub n_events: i64,
}

/// Where a user's action sequence stands, as kept by incremental processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceStateRecord {
    pub user_key: String,
    /// The last actions, separated by U+001F.
    pub recent: String,
    pub last_us: Option<i64>,
    pub previous_us: Option<i64>,
    pub n_actions: i64,
}

/// How many times `next` followed `context` in `scope` ('' = all users, else a user key). As a
/// delta, `count` is what to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceCount {
    pub scope: String,
    pub context: String,
    pub next: String,
    pub count: i64,
}

/// One processed stretch of the event log, applied only if no one processed it first.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceBatch {
    pub processor: String,
    /// The watermark this batch was computed from.
    pub expected_watermark: i64,
    /// The last `seq` it covers.
    pub new_watermark: i64,
    /// One entry per (scope, context, next).
    pub deltas: Vec<SequenceCount>,
    pub states: Vec<SequenceStateRecord>,
    /// Profiles replaced whole (their new state).
    pub profiles: Vec<ProfileStateRecord>,
    /// The batch's events per UTC day and type, added to the kept counts.
    pub day_counts: Vec<DailyTypeCount>,
    /// The days each user of the batch was active (one entry per user and period), OR-ed into
    /// what is kept; a day newly set counts the user in that day's active users.
    pub active_days: Vec<ActiveDays>,
    /// Each user's activity per day in the batch, added to what is kept.
    pub user_days: Vec<crate::UserDay>,
    pub now_us: i64,
}

/// A user's profile state, as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileStateRecord {
    pub user_key: String,
    pub state: String,
    pub updated_at_us: i64,
}

/// A user's processed action total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTotal {
    pub user_id: String,
    pub user_key: String,
    pub username: Option<String>,
    pub n_actions: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserCounts {
    /// Every user known: tracked, with an account, or both.
    pub users: i64,
    pub accounts: i64,
}

/// One page of the users a dashboard lists, in user id order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserPageQuery {
    /// Part of the user id or the username (case-insensitive); none lists everyone.
    pub search: Option<String>,
    /// Only user ids after this one (the last of the previous page).
    pub after_user_id: Option<String>,
    pub limit: u32,
}

/// How many users' latest consent grants each purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConsentTotals {
    /// Users with at least one consent record.
    pub users: i64,
    pub analytics: i64,
    pub preferences: i64,
    pub improvement: i64,
}

/// Which event types a retention rule covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeSelector {
    Only(Vec<String>),
    AllExcept(Vec<String>),
}

/// One retention step: delete the events of `types` older than `before_us` (event time) among
/// those that arrived up to `up_to_seq`, and keep `aggregates` folded from exactly those
/// events, all in one transaction.
#[derive(Debug, Clone)]
pub struct EventExpiry {
    pub types: TypeSelector,
    pub before_us: i64,
    pub up_to_seq: i64,
    pub aggregates: Vec<MetricAggregate>,
}

/// Additive statistics for one day, kept when the raw events behind them expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricAggregate {
    pub kind: String,
    pub day_us: i64,
    /// JSON.
    pub stats: String,
    pub created_at_us: i64,
}

/// A version of a model in the registry; JSON fields are kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRecord {
    pub model_id: String,
    pub name: String,
    pub model_type: String,
    /// Assigned by the store: one more than the name's latest version.
    pub version: i64,
    pub status: String,
    pub hyperparameters: String,
    pub data_window: String,
    pub metrics: String,
    pub parameters: String,
    pub rows_used: i64,
    pub error: Option<String>,
    pub predictions: i64,
    pub created_at_us: i64,
    pub trained_at_us: Option<i64>,
}

impl ModelRecord {
    /// A run about to be registered (its version is assigned by the store), with empty JSON
    /// columns, no rows, no predictions and no training time yet.
    pub fn registered(model_id: &str, name: &str, model_type: &str, status: &str, created_at_us: i64) -> Self {
        Self {
            model_id: model_id.to_owned(),
            name: name.to_owned(),
            model_type: model_type.to_owned(),
            version: 0,
            status: status.to_owned(),
            hyperparameters: "{}".to_owned(),
            data_window: "{}".to_owned(),
            metrics: "{}".to_owned(),
            parameters: "{}".to_owned(),
            rows_used: 0,
            error: None,
            predictions: 0,
            created_at_us,
            trained_at_us: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ModelFilter {
    pub name: Option<String>,
    pub model_type: Option<String>,
    pub status: Option<String>,
}

/// Everything to remove for a user (right to erasure).
#[derive(Debug, Clone)]
pub struct Erasure {
    pub user_id: String,
    pub user_key: String,
    /// Kept instead of the id: a keyed hash that recognises later events for the same id.
    pub tombstone: String,
    /// Values to take out of the audit log (the user id, the username)…
    pub scrub: Vec<String>,
    /// …and what stands in their place.
    pub replacement: String,
    pub now_us: i64,
}

/// A user's identity replaced by a random one everywhere; their events stay for aggregates.
#[derive(Debug, Clone)]
pub struct Anonymization {
    pub user_id: String,
    pub user_key: String,
    pub new_user_id: String,
    pub new_user_key: String,
    pub scrub: Vec<String>,
    pub now_us: i64,
}

/// An anonymous id (a browser's or a device's) and the user it turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityLink {
    /// The anonymous id's pseudonym (its events' `user_key`).
    pub anonymous_key: String,
    pub anonymous_id: String,
    pub user_id: String,
    pub linked_at_us: i64,
}

/// What an erasure or anonymisation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentityChange {
    pub account: bool,
    pub events: u64,
    pub consents: u64,
    pub derived_rows: u64,
    pub audit_entries: u64,
}

/// One version of a user's declared profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileVersion {
    pub version: i64,
    pub profile_enc: String,
    pub changed_by: String,
    pub created_at_us: i64,
}

/// One segmentation run.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRun {
    pub run_id: String,
    pub created_at_us: i64,
    pub k: i64,
    pub silhouette: f64,
    pub n_users: i64,
    /// JSON.
    pub model: String,
}

/// A user's place in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterAssignment {
    pub user_key: String,
    pub cluster: i64,
    pub distance: f64,
    pub x: f64,
    pub y: f64,
    /// Placed at the nearest centroid after the run (a user who arrived since), not one of the
    /// users the run was computed from.
    pub placed: bool,
}

/// An organiser's event (seed 004).
#[derive(Debug, Clone, PartialEq)]
pub struct AttendanceEvent {
    pub event_id: String,
    pub organization_id: Option<String>,
    pub name: String,
    pub event_type: String,
    pub start_us: i64,
    pub duration_minutes: i64,
    pub location: Option<String>,
    pub capacity: Option<i64>,
    pub price: Option<f64>,
    pub instructor: Option<String>,
    /// JSON, when given.
    pub weather: Option<String>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    /// IANA time zone name (`Europe/Paris`), when given: weekday and slot are taken there.
    pub timezone: Option<String>,
}

/// What an organisation declares for its attendance events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendanceOrganization {
    pub organization_id: String,
    /// IANA zone events stored without one take.
    pub timezone: Option<String>,
    /// A JSON object: attribute name → `numeric`, `categorical` or `boolean`.
    pub attributes: String,
    pub updated_at_us: i64,
}

/// A user's attendance before some time: registrations with a known outcome, and how many
/// they came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendanceHistory {
    pub user_id: String,
    pub registrations: i64,
    pub attended: i64,
}

/// A user's registration to an event and whether they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub event_id: String,
    pub user_id: String,
    pub registered_at_us: i64,
    pub attended: Option<bool>,
    pub checked_in_at_us: Option<i64>,
    /// A JSON object of the person's and the registration's attributes, when given.
    pub attributes: Option<String>,
}

/// Events starting in `[from_us, to_us)`, in start order, after `after` (start, id).
#[derive(Debug, Clone, Default)]
pub struct AttendanceQuery {
    pub organization_id: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub after: Option<(i64, String)>,
    pub limit: u32,
}

/// One call to an `/api/ml` operation, for the service's own analytics. Holds no user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlCall {
    pub at_us: i64,
    /// The route's last segment, e.g. `predict-attendance`.
    pub operation: String,
    /// The model that answered, when one did.
    pub model_id: Option<String>,
    /// How many predictions the answer held (added to the model's usage counter).
    pub predictions: i64,
    pub duration_us: i64,
    /// `ok` or the error code answered.
    pub outcome: String,
}

/// Calls of one hour, operation, model and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlCallBucket {
    pub hour_us: i64,
    pub operation: String,
    pub model_id: Option<String>,
    pub outcome: String,
    pub calls: i64,
    pub predictions: i64,
    pub total_duration_us: i64,
    pub max_duration_us: i64,
}

/// A stored tier, or an error for one this code does not know.
pub(crate) fn parse_tier(stored: &str) -> crate::error::StoreResult<Tier> {
    stored.parse().map_err(|error: footprint_analytics::InvalidValue| crate::error::StoreError::Other(Box::new(error)))
}

/// A JSON column read back (a column this code wrote: an error means the store was changed by hand).
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> crate::error::StoreResult<T> {
    serde_json::from_str(text).map_err(|error| crate::error::StoreError::Other(Box::new(error)))
}

/// A value as its JSON column.
pub(crate) fn to_json<T: Serialize>(value: &T) -> crate::error::StoreResult<String> {
    serde_json::to_string(value).map_err(|error| crate::error::StoreError::Other(Box::new(error)))
}
