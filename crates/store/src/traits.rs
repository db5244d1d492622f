//! The store's contract, one trait per area; [`crate::Store`] gathers them. Each backend
//! implements each area in its module of the same name (`sqlite/accounts.rs`, …).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::insights::*;
use crate::model::*;
use crate::webhooks::*;

/// Accounts and what hangs off them: login state, declared profiles and their versions, API
/// keys, and the audit log.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an account, or grants one to a user known only from tracking.
    /// `Conflict` when the user id already has an account or the username/email is taken.
    async fn create_account(&self, account: NewAccount) -> StoreResult<UserRecord>;
    async fn user(&self, user_id: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_by_email_index(&self, email_index: &str) -> StoreResult<Option<UserRecord>>;
    /// The user ids of those of `user_keys` (pseudonyms) that name a stored user, as
    /// `(user_key, user_id)`.
    async fn user_ids_of(&self, user_keys: &[String]) -> StoreResult<Vec<(String, String)>>;
    /// The generation of the user's access tokens; `None` when the user has no account (never
    /// had one, or it was erased or anonymised).
    async fn token_generation(&self, user_id: &str) -> StoreResult<Option<i64>>;
    /// Gives the account a new token generation (every token issued before is then refused);
    /// false when the user has no account.
    async fn renew_token_generation(&self, user_id: &str, generation: i64) -> StoreResult<bool>;
    async fn count_admins(&self) -> StoreResult<u64>;
    async fn count_users(&self) -> StoreResult<UserCounts>;
    /// A page of users (tracked, with an account, or both), in user id order.
    async fn users_page(&self, query: UserPageQuery) -> StoreResult<Vec<UserRecord>>;
    /// Counts a login attempt of the pair at `now_us`, atomically (parallel attempts each get
    /// their own number), unless the pair is locked then.
    async fn count_login_attempt(&self, pair: &LoginPair, now_us: i64) -> StoreResult<LoginAttempt>;
    /// Locks the pair until `until_us` and counts one more lock, its attempts starting over;
    /// nothing when it is already locked at `now_us`. True when this call locked it.
    async fn lock_login(&self, pair: &LoginPair, until_us: i64, now_us: i64) -> StoreResult<bool>;
    /// Forgets the pair's attempts and locks (after a successful login).
    async fn clear_login_attempts(&self, pair: &LoginPair) -> StoreResult<()>;
    /// Forgets every pair with no attempt since `before_us`; returns how many.
    async fn expire_login_attempts(&self, before_us: i64) -> StoreResult<u64>;

    /// Replaces the user's declared profile and keeps it as a new version; returns the version.
    /// `NotFound` for an unknown user.
    async fn update_profile(&self, user_id: &str, profile_enc: &str, changed_by: &str, now_us: i64)
    -> StoreResult<i64>;
    /// Oldest first.
    async fn profile_versions(&self, user_id: &str) -> StoreResult<Vec<ProfileVersion>>;

    async fn insert_api_key(&self, key: ApiKeyRecord) -> StoreResult<()>;
    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>>;

    async fn record_audit(&self, entry: AuditEntry) -> StoreResult<()>;
    /// The most recent audit entries, newest first.
    async fn audit_log(&self, limit: u32) -> StoreResult<Vec<AuditEntry>>;
}

/// Accounts' security (seed 003): role and tier changes, the second factor and one-time codes,
/// the login history the risk score reads, and the outbox.
#[async_trait]
pub trait SecurityStore: Send + Sync {
    /// Changes the account's role and/or tier (what is `None` stays), in one transaction with
    /// the tier history; a new role also gives the account `new_generation` (tokens issued
    /// under the old role are then refused). False when the user has no account.
    async fn update_grants(&self, user_id: &str, grants: GrantChange) -> StoreResult<bool>;
    /// The account's tier changes, oldest first.
    async fn tier_history(&self, user_id: &str) -> StoreResult<Vec<TierChange>>;
    /// The account's TOTP second factor, if it enrolled one.
    async fn mfa(&self, user_id: &str) -> StoreResult<Option<MfaRecord>>;
    /// Stores (or replaces) the account's second factor.
    async fn put_mfa(&self, record: MfaRecord) -> StoreResult<()>;
    /// Removes it; false when there was none.
    async fn delete_mfa(&self, user_id: &str) -> StoreResult<bool>;
    /// Records `step` as accepted, atomically, only if it is after the last accepted one (so a
    /// code is accepted once, also by two nodes at the same moment); false otherwise.
    async fn accept_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool>;
    /// Uses up one recovery code (by its hash), atomically; false when it is not (or no longer) one.
    async fn use_recovery_code(&self, user_id: &str, hash: &str) -> StoreResult<bool>;
    /// Keeps a login that passed the password in the account's history.
    async fn record_login(&self, login: LoginRecord) -> StoreResult<()>;
    /// The account's latest logins, newest first.
    async fn login_history(&self, user_id: &str, limit: u32) -> StoreResult<Vec<LoginRecord>>;
    /// How many logins other than `except_login_key` have failed attempts from `network` since `since_us`.
    async fn failing_logins_on_network(&self, network: &str, since_us: i64, except_login_key: &str)
    -> StoreResult<u32>;
    /// Leaves a message in the outbox; returns its id.
    async fn append_outbox(&self, message: OutboxMessage) -> StoreResult<i64>;
    /// The latest messages, newest first.
    async fn outbox(&self, limit: u32) -> StoreResult<Vec<OutboxMessage>>;
    /// Keeps the user's pending one-time code (replacing an earlier one).
    async fn put_mfa_code(&self, user_id: &str, code_hash: &str, expires_at_us: i64) -> StoreResult<()>;
    /// Uses up the pending code if it is this one and unexpired at `now_us`, atomically.
    async fn take_mfa_code(&self, user_id: &str, code_hash: &str, now_us: i64) -> StoreResult<bool>;
}

/// Many events loaded at once into a store that held none (`footprint import` into a new store):
/// batches are judged as `commit_events` judges them, but written in one transaction whose
/// indexes are built once at the end. Nothing is stored, nor visible, before `finish` answers;
/// dropped unfinished, the load leaves the store as it was. While it lasts the load holds the
/// store's writers: other writes of the same store wait for it.
pub trait BulkLoad: Send + Sync {
    /// Queues a batch (batches are judged in the order they are added); answers one outcome
    /// per event, in order, once it is written into the load's transaction.
    fn add(&self, batch: Vec<NewEvent>) -> tokio::sync::oneshot::Receiver<StoreResult<Vec<EventOutcome>>>;
    /// Ends the load and commits it; answers once it is durable.
    fn finish(self: Box<Self>) -> tokio::sync::oneshot::Receiver<StoreResult<BulkLoaded>>;
}

/// Consents, the event log (ingestion and the queries over it) and its retention.
#[async_trait]
pub trait EventStore: Send + Sync {
    async fn append_consent(&self, record: ConsentRecord) -> StoreResult<()>;
    /// The user's consent history, oldest first.
    async fn consent_history(&self, user_id: &str) -> StoreResult<Vec<ConsentRecord>>;
    /// Every user's consent records in the order they were recorded, after the record numbered
    /// `after_id`, with their numbers (for `footprint export --with-consents`).
    async fn consents_page(&self, after_id: i64, limit: u32) -> StoreResult<Vec<(i64, ConsentRecord)>>;

    /// Judges and writes a batch in one transaction; one outcome per event, in order.
    /// Nothing is acknowledged before this returns, and this returns after the commit.
    async fn commit_events(&self, batch: Arc<[NewEvent]>, options: CommitOptions) -> StoreResult<Vec<EventOutcome>>;
    /// A bulk load into a store that holds no events yet, judged like commits (see
    /// [`BulkLoad`]); None when this store has events or offers no such load, and the events
    /// go through `commit_events` instead.
    async fn bulk_load(&self, _options: CommitOptions) -> StoreResult<Option<Box<dyn BulkLoad>>> {
        Ok(None)
    }
    async fn events(&self, query: EventQuery) -> StoreResult<Vec<StoredEvent>>;
    /// How many events a user has, and when the first and last happened.
    async fn user_activity(&self, user_key: &str) -> StoreResult<UserActivity>;
    /// A user's sessions, derived from their events, oldest first.
    async fn sessions(&self, user_key: &str) -> StoreResult<Vec<SessionRecord>>;

    /// Events after `after_seq` in arrival order, at most `limit`.
    async fn events_in_arrival_order(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<StoredEvent>>;
    /// The user's latest events after `after_seq` (at most `limit`), in arrival order: what
    /// processing has not folded yet of one user. `scan_arrivals` reads the events after
    /// `after_seq` rather than the user's own (cheaper when those after are fewer).
    async fn user_events_after_seq(
        &self,
        user_key: &str,
        after_seq: i64,
        limit: u32,
        scan_arrivals: bool,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// The highest `seq` stored (0 when there is none).
    async fn max_event_seq(&self) -> StoreResult<i64>;
    /// Links an anonymous id to the user it turned out to be, replacing an earlier link of the
    /// same anonymous id.
    async fn link_identity(&self, link: IdentityLink) -> StoreResult<()>;
    /// The links of those of `anonymous_keys` that have one.
    async fn identity_links(&self, anonymous_keys: &[String]) -> StoreResult<Vec<IdentityLink>>;
    /// The anonymous ids linked to `user_id`, oldest link first.
    async fn links_to_user(&self, user_id: &str) -> StoreResult<Vec<IdentityLink>>;

    /// Deletes expired events and keeps what was folded from them, in one transaction;
    /// returns how many events were deleted.
    async fn expire_events(&self, expiry: EventExpiry) -> StoreResult<u64>;
    /// Processed events per UTC day and type, for the days starting in `[from_us, to_us)`,
    /// from the counts processing keeps (no event is read). Erased users' events are taken out.
    async fn daily_type_counts(&self, from_us: i64, to_us: i64) -> StoreResult<Vec<DailyTypeCount>>;
    /// Distinct users with a processed event, per UTC day starting in `[from_us, to_us)` (days
    /// without any are left out).
    async fn daily_active_users(&self, from_us: i64, to_us: i64) -> StoreResult<Vec<DailyUsers>>;
    /// Distinct users with a processed event in each window of whole days, in the windows'
    /// order, from one pass over the users' kept active days.
    async fn active_users(&self, windows: &[DayWindow]) -> StoreResult<Vec<i64>>;
    /// How many users' latest consent grants each purpose.
    async fn consent_totals(&self) -> StoreResult<ConsentTotals>;
    /// Aggregates of `kind` for days starting at or after `from_day_us`.
    async fn metric_aggregates(&self, kind: &str, from_day_us: i64) -> StoreResult<Vec<MetricAggregate>>;
}

/// Incremental processing's state: the watermark, the sequence counts and users' recent actions.
#[async_trait]
pub trait SequenceStore: Send + Sync {
    /// The last `seq` the named processor has applied (0 before its first batch).
    async fn processing_watermark(&self, processor: &str) -> StoreResult<i64>;
    async fn sequence_states(&self, user_keys: &[String]) -> StoreResult<Vec<SequenceStateRecord>>;
    /// Applies a processed batch in one transaction if the watermark is still the one it was
    /// computed from; `false` (nothing written) when another processor got there first. Rows for
    /// users no longer stored (erased or anonymised since the batch was computed) are left out.
    async fn commit_sequence_batch(&self, batch: SequenceBatch) -> StoreResult<bool>;
    /// The counts under each (scope, context) asked for.
    async fn sequence_counts(&self, keys: &[(String, String)]) -> StoreResult<Vec<SequenceCount>>;
    /// Every user's action frequencies (their order-0 counts).
    async fn user_action_counts(&self) -> StoreResult<Vec<SequenceCount>>;
    /// Every user with processed actions, with the total.
    async fn user_totals(&self) -> StoreResult<Vec<UserTotal>>;
}

/// Behavioural profiles (written by processing) and the segmentation runs computed from them.
#[async_trait]
pub trait SegmentStore: Send + Sync {
    async fn profile_states(&self, user_keys: &[String]) -> StoreResult<Vec<ProfileStateRecord>>;
    /// Every profile, in user-key order, `limit` at most after `after_key` (for clustering).
    async fn all_profile_states(&self, after_key: &str, limit: u32) -> StoreResult<Vec<ProfileStateRecord>>;
    /// Keeps a run and its assignments; earlier runs keep their summary only.
    async fn save_cluster_run(&self, run: ClusterRun, assignments: Vec<ClusterAssignment>) -> StoreResult<()>;
    /// Newest first.
    async fn cluster_runs(&self, limit: u32) -> StoreResult<Vec<ClusterRun>>;
    async fn cluster_assignment(&self, run_id: &str, user_key: &str) -> StoreResult<Option<ClusterAssignment>>;
    /// Keeps the assignment of a user placed in a run after it was computed (`placed`), if that
    /// run is still the latest and the user has none in it yet; `false` when nothing was written.
    async fn place_in_cluster_run(&self, run_id: &str, assignment: ClusterAssignment) -> StoreResult<bool>;
    /// How many users have a profile (a cheap look at whether the population has grown).
    async fn count_profile_states(&self) -> StoreResult<u64>;
    /// Members of a cluster of a run, `limit` at most, nearest to the centroid first.
    async fn cluster_members(&self, run_id: &str, cluster: i64, limit: u32) -> StoreResult<Vec<ClusterAssignment>>;
}

/// The model registry and the log of calls to ML operations.
#[async_trait]
pub trait RegistryStore: Send + Sync {
    /// Adds a model version (its `version` is assigned here) and returns it as stored.
    async fn create_model(&self, model: ModelRecord) -> StoreResult<ModelRecord>;
    /// Replaces a model's status, metrics, parameters, rows used, error and training time.
    async fn update_model(&self, model: ModelRecord) -> StoreResult<()>;
    async fn model(&self, model_id: &str) -> StoreResult<Option<ModelRecord>>;
    /// Newest first.
    async fn models(&self, filter: ModelFilter) -> StoreResult<Vec<ModelRecord>>;
    /// Logs a call to an ML operation and adds its predictions to the model's usage counter,
    /// in one transaction.
    async fn record_ml_call(&self, call: MlCall) -> StoreResult<()>;
    /// The calls since `from_us`, summed by hour, operation, model and outcome; ordered by hour,
    /// operation, model (calls without a model first) and outcome.
    async fn ml_call_buckets(&self, from_us: i64) -> StoreResult<Vec<MlCallBucket>>;
    /// Deletes the call log before `before_us`; returns how many calls were deleted.
    async fn expire_ml_calls(&self, before_us: i64) -> StoreResult<u64>;
}

/// Erasure and anonymisation, which reach every table that names a user or their pseudonym.
#[async_trait]
pub trait PrivacyStore: Send + Sync {
    /// Removes the user's account, consents, events and derived rows, scrubs the audit log,
    /// and keeps the tombstone.
    async fn erase_user(&self, erasure: Erasure) -> StoreResult<IdentityChange>;
    /// Those of `tombstones` that mark an erased user.
    async fn erased_among(&self, tombstones: &[String]) -> StoreResult<Vec<String>>;
    async fn clear_tombstone(&self, tombstone: &str) -> StoreResult<()>;
    /// Once a pseudonym's events were copied to the user it was linked to: deletes its events up
    /// to `up_to_seq` (all processed) and every row derived from them: its own rows, its events
    /// in the daily counts (as at erasure), and `global` (their contributions to the global
    /// sequence counts, as negative counts), so that the copies count once. Its consents stay.
    /// Returns the events deleted.
    async fn forget_moved_events(&self, user_key: &str, up_to_seq: i64, global: Vec<SequenceCount>)
    -> StoreResult<u64>;
    /// Moves the user's events and derived rows to a new random identity, removes the account
    /// and consents, and scrubs the audit log.
    async fn anonymize_user(&self, change: Anonymization) -> StoreResult<IdentityChange>;
}

/// Attendance records: organisers' events and their registrations.
#[async_trait]
pub trait AttendanceStore: Send + Sync {
    /// Creates or replaces an attendance event (its creation time is kept); true when created.
    async fn upsert_attendance_event(&self, event: AttendanceEvent) -> StoreResult<bool>;
    async fn attendance_event(&self, event_id: &str) -> StoreResult<Option<AttendanceEvent>>;
    async fn attendance_events(&self, query: AttendanceQuery) -> StoreResult<Vec<AttendanceEvent>>;
    /// Removes the event and its registrations; false when there was none.
    async fn delete_attendance_event(&self, event_id: &str) -> StoreResult<bool>;
    /// Creates or replaces a registration; `NotFound` when the event does not exist. True when created.
    async fn upsert_registration(&self, registration: Registration) -> StoreResult<bool>;
    /// Records whether the user came; false when they were not registered.
    async fn set_attended(
        &self,
        event_id: &str,
        user_id: &str,
        attended: bool,
        checked_in_at_us: Option<i64>,
    ) -> StoreResult<bool>;
    /// Registrations to the events, in (event, user) order.
    async fn registrations(&self, event_ids: &[String]) -> StoreResult<Vec<Registration>>;
    /// Every registration of one user, in event order (for their export).
    async fn user_registrations(&self, user_id: &str) -> StoreResult<Vec<Registration>>;
    /// Each of `user_ids`' outcomes over the events that started before `before_us` (users with
    /// none are left out).
    async fn attendance_histories(&self, user_ids: &[String], before_us: i64) -> StoreResult<Vec<AttendanceHistory>>;
    /// An organisation's declarations, when it made any.
    async fn attendance_organization(&self, organization_id: &str) -> StoreResult<Option<AttendanceOrganization>>;
    /// Creates or replaces an organisation's declarations.
    async fn put_attendance_organization(&self, organization: AttendanceOrganization) -> StoreResult<()>;
}

/// Seed 003's insights: users' activity per day (written by processing with the sequence
/// counts) and callers' requests per hour.
#[async_trait]
pub trait InsightsStore: Send + Sync {
    /// The user's kept days from `from_day` on, in day order, with when they were first seen.
    async fn user_days(&self, user_key: &str, from_day: i64) -> StoreResult<Vec<UserDay>>;
    /// Every user's kept days from `from_day` on, in (user key, day) order, at most `limit` rows
    /// after the position `after` (a user key and a day).
    async fn user_days_after(
        &self,
        after: Option<(String, i64)>,
        from_day: i64,
        limit: u32,
    ) -> StoreResult<Vec<UserDay>>;
    /// Adds requests to what is kept per caller and hour; those of a user no longer stored
    /// (erased or anonymised since they were counted) are left out.
    async fn add_request_usage(&self, usage: Vec<RequestUsage>) -> StoreResult<()>;
    /// The caller's hours from `from_us` on, oldest first.
    async fn request_usage(&self, caller_key: &str, from_us: i64) -> StoreResult<Vec<RequestUsage>>;
    /// Every caller's requests from `from_us` on.
    async fn usage_by_caller(&self, from_us: i64) -> StoreResult<Vec<CallerUsage>>;
    /// Forgets the hours before `before_us`; returns how many rows went.
    async fn expire_request_usage(&self, before_us: i64) -> StoreResult<u64>;
    /// Cohorts of the users first seen in the query's window, by the period of their first
    /// event, and how many of each were active in each period since (from the kept days).
    async fn retention(&self, query: RetentionQuery) -> StoreResult<RetentionCounts>;
    /// The pseudonyms of the users whose latest consent refuses `improvement` (their data
    /// trains no model).
    async fn refusing_improvement(&self) -> StoreResult<Vec<String>>;
}

/// Runs of the automation jobs (seed 003), and the lease that makes each scheduled run happen
/// once across the nodes sharing the store.
#[async_trait]
pub trait AutomationStore: Send + Sync {
    /// Records the run as started, unless a run of the same job and slot exists: then true only
    /// when that one is still `running` but started before `stale_before_us` (its node died),
    /// and this run takes it over. Runs without a slot are always recorded.
    async fn claim_run(&self, run: AutomationRun, stale_before_us: i64) -> StoreResult<bool>;
    /// Records how the run ended (status, counts, report, error, end time) — if this run still
    /// holds its slot (a run taken over by another node records nothing).
    async fn finish_run(&self, run: AutomationRun) -> StoreResult<()>;
    /// Records as failed, with `error`, every run still `running` that started before
    /// `before_us` (their nodes stopped); returns how many.
    async fn fail_stale_runs(&self, before_us: i64, error: &str, now_us: i64) -> StoreResult<u64>;
    /// The latest runs, newest first, of one job or all.
    async fn automation_runs(&self, job: Option<String>, limit: u32) -> StoreResult<Vec<AutomationRun>>;
    async fn automation_run(&self, run_id: &str) -> StoreResult<Option<AutomationRun>>;
}

/// Outbound webhooks: subscriptions, the durable outbox of deliveries and their attempts.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a webhook; the event log's dispatch starts at its `from_seq` if it had not started.
    async fn create_webhook(&self, hook: WebhookRecord) -> StoreResult<()>;
    /// Oldest first.
    async fn webhooks(&self) -> StoreResult<Vec<WebhookRecord>>;
    /// Removes the webhook with its deliveries and their attempts; false when there was none.
    async fn delete_webhook(&self, webhook_id: &str) -> StoreResult<bool>;
    /// How far the event log was dispatched; `None` before the first webhook.
    async fn webhook_watermark(&self) -> StoreResult<Option<i64>>;
    /// Queues `deliveries`; with `advance = Some((expected, new))`, only if the dispatch
    /// watermark is still `expected`, moving it to `new` in the same transaction (false otherwise:
    /// another node dispatched that stretch).
    async fn queue_deliveries(&self, advance: Option<(i64, i64)>, deliveries: Vec<NewDelivery>) -> StoreResult<bool>;
    /// The states `webhook_id` was last told of, by subject.
    async fn webhook_marks(&self, webhook_id: &str) -> StoreResult<HashMap<String, String>>;
    /// In one transaction, stores each mark whose subject is new or had another state and queues
    /// its delivery, if it has one; a mark already at its state (another node stored it first)
    /// queues nothing. Returns the deliveries queued.
    async fn mark_and_queue(&self, marks: Vec<(WebhookMark, Option<NewDelivery>)>) -> StoreResult<usize>;
    /// Up to `limit` pending deliveries due at `now_us` whose lease has passed, leased until
    /// `lease_until_us` (another node does not take them meanwhile); oldest due first.
    async fn claim_deliveries(&self, now_us: i64, lease_until_us: i64, limit: u32) -> StoreResult<Vec<DeliveryRecord>>;
    /// Logs an attempt and gives the delivery its new state (its lease ends).
    async fn record_attempt(&self, attempt: DeliveryAttempt, outcome: DeliveryOutcome) -> StoreResult<()>;
    /// A webhook's, or a user's, latest deliveries, newest first, each with its attempts.
    async fn deliveries(&self, of: DeliveriesOf, limit: u32) -> StoreResult<Vec<DeliveryRecord>>;
}
