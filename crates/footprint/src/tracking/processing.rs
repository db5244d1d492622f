//! Incremental processing of the event log: reads events in arrival order after a stored
//! watermark, and keeps the sequence counts (global and per user) and each user's recent
//! actions up to date, one batch at a time. Any node may process; the store applies a batch only
//! if the watermark has not moved since it was read, so nothing is counted twice. Readers call
//! [`Processor::catch_up`] first, so a committed event is visible in the next prediction or
//! statistic.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use footprint_analytics::churn;
use footprint_analytics::profile::{ProfileConfig, ProfileEvent, ProfileState};
use footprint_analytics::sequence::{SequenceConfig, UserSequence};
use footprint_store::{
    ActiveDays, DAY_US, DailyTypeCount, ProfileStateRecord, SequenceBatch, SequenceCount, SequenceStateRecord, Store,
    StoreError, UserDay, day_number,
};
use serde::Serialize;
use tokio::sync::{Mutex, Notify, watch};

use crate::kernel::cache::Cache;
use crate::kernel::clock::Clock;

/// The name under which this processor's watermark is stored.
pub const SEQUENCES: &str = footprint_store::SEQUENCE_PROCESSOR;

/// What one run did: `{processed, profiles_updated}` in seed 000's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ProcessReport {
    pub processed: usize,
    pub profiles_updated: usize,
    pub watermark: i64,
}

/// Most users whose states stay in memory between runs (beyond it, all are dropped).
const WARM_USERS_MAX: usize = 200_000;

/// Users' sequence and profile states as this process last committed them. Valid only while
/// the stored watermark is the one this process committed last: then no one else has written
/// them since (batches commit by compare-and-set on the watermark).
#[derive(Default)]
struct Warm {
    watermark: i64,
    sequences: HashMap<String, UserSequence>,
    profiles: HashMap<String, ProfileState>,
}

impl Warm {
    fn clear(&mut self) {
        self.watermark = -1;
        self.sequences.clear();
        self.profiles.clear();
    }
}

pub struct Processor {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    cache: Arc<dyn Cache>,
    config: SequenceConfig,
    profiles: ProfileConfig,
    batch_events: u32,
    /// One run at a time in this process; the lock also guards the states kept warm between runs.
    running: Mutex<Warm>,
    wake: Notify,
    /// The highest watermark this process has seen applied: a reader with nothing newer to wait
    /// for needs no more than one look at the log's end.
    known_watermark: AtomicI64,
    /// Profiles this process has created (users' first processed events), counted up at each
    /// commit: `jobs` watches it to segment users as the population grows.
    profiles_created: watch::Sender<u64>,
}

impl Processor {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        cache: Arc<dyn Cache>,
        config: SequenceConfig,
        profiles: ProfileConfig,
        batch_events: u32,
    ) -> Self {
        Self {
            store,
            clock,
            cache,
            config,
            profiles,
            batch_events: batch_events.max(1),
            running: Mutex::new(Warm::default()),
            wake: Notify::new(),
            known_watermark: AtomicI64::new(0),
            profiles_created: watch::Sender::new(0),
        }
    }

    pub fn config(&self) -> &SequenceConfig {
        &self.config
    }

    pub fn profile_config(&self) -> &ProfileConfig {
        &self.profiles
    }

    /// Changes whenever a committed batch has created profiles (its value: how many so far).
    pub fn profiles_created(&self) -> watch::Receiver<u64> {
        self.profiles_created.subscribe()
    }

    /// Asks the background loop to run now (called after events are committed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs `work` while no processing run is under way in this process (erasure and
    /// anonymisation: a run holding a user's rows in memory would write them back).
    pub async fn exclusive<T>(&self, work: impl Future<Output = T>) -> T {
        let mut warm = self.running.lock().await;
        // The work changes stored states behind the processor's back.
        warm.clear();
        work.await
    }

    /// Processes the next batch of the log, if any.
    pub async fn process_recent_events(&self) -> Result<ProcessReport, StoreError> {
        let mut warm = self.running.lock().await;
        let result = self.process_batch(&mut warm).await;
        if result.is_err() {
            // What was committed is uncertain: read it back next time.
            warm.clear();
        }
        result
    }

    async fn process_batch(&self, warm: &mut Warm) -> Result<ProcessReport, StoreError> {
        let watermark = self.store.processing_watermark(SEQUENCES).await?;
        self.known_watermark.fetch_max(watermark, Ordering::AcqRel);
        if warm.watermark != watermark {
            // Another node (or a rebuild) moved the log on: what we hold may be stale.
            warm.clear();
            warm.watermark = watermark;
        }
        let events = self.store.events_in_arrival_order(watermark, self.batch_events).await?;
        let Some(last) = events.last() else {
            return Ok(ProcessReport { watermark, ..ProcessReport::default() });
        };
        let new_watermark = last.seq;

        let mut user_keys: Vec<String> = events.iter().map(|event| event.user_key.clone()).collect();
        user_keys.sort_unstable();
        user_keys.dedup();
        let cold: Vec<String> = user_keys.iter().filter(|key| !warm.sequences.contains_key(*key)).cloned().collect();
        if !cold.is_empty() {
            for record in self.store.sequence_states(&cold).await? {
                let state =
                    UserSequence::from_stored(&record.recent, record.last_us, record.previous_us, record.n_actions);
                warm.sequences.insert(record.user_key, state);
            }
            for record in self.store.profile_states(&cold).await? {
                match serde_json::from_str(&record.state) {
                    Ok(state) => {
                        warm.profiles.insert(record.user_key, state);
                    }
                    // Unreadable (written by another version?): rebuilt from here on, and said.
                    Err(error) => tracing::error!(error = %error, "a stored profile could not be read; it starts over"),
                }
            }
        }
        // The batch's users' states are taken out of the warm ones and put back once the batch
        // is committed; any other outcome clears the warm states (here, or in
        // `process_recent_events` on an error), so nothing needs copying.
        let mut states: HashMap<String, UserSequence> =
            user_keys.iter().map(|key| (key.clone(), warm.sequences.remove(key).unwrap_or_default())).collect();
        let mut profiles: HashMap<String, ProfileState> =
            user_keys.iter().map(|key| (key.clone(), warm.profiles.remove(key).unwrap_or_default())).collect();
        let created = profiles.values().filter(|profile| profile.events == 0).count() as u64;

        // Keyed by the events' own strings (scope, context, next): one allocation per distinct
        // count rather than three per observation.
        let mut deltas: HashMap<(&str, String, &str), i64, foldhash::fast::RandomState> = HashMap::default();
        let mut day_counts: HashMap<(i64, &str), i64> = HashMap::new();
        let mut active_days: HashMap<(&str, i64), i64> = HashMap::new();
        let mut user_days: HashMap<(&str, i64), UserDay> = HashMap::new();
        let session_gap_us = self.profiles.session_gap_secs.max(1) * 1_000_000;
        for event in &events {
            let day_us = day_number(event.timestamp_us) * DAY_US;
            *day_counts.entry((day_us, event.event_type.as_str())).or_default() += 1;
            let (period, bit) = ActiveDays::of(event.timestamp_us);
            *active_days.entry((event.user_key.as_str(), period)).or_default() |= bit;
            let properties: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&event.properties).unwrap_or_default();
            // Who performed the action, when the event says (`properties.actor`).
            let actor = properties.get("actor").and_then(serde_json::Value::as_str);
            // Every user of the batch has their states in the maps (taken out of the warm ones
            // above): looked up, not cloned, per event.
            let key = event.user_key.as_str();
            let (Some(state), Some(profile)) = (states.get_mut(key), profiles.get_mut(key)) else { continue };
            let observation = state.observe(&event.event_type, event.timestamp_us, actor, &self.config);
            for context in observation.global {
                *deltas.entry(("", context, event.event_type.as_str())).or_default() += 1;
            }
            for context in observation.user {
                *deltas.entry((event.user_key.as_str(), context, event.event_type.as_str())).or_default() += 1;
            }
            let profile_event =
                ProfileEvent::from_properties(&event.event_type, event.timestamp_us, &properties, &self.profiles);
            let day =
                user_days.entry((event.user_key.as_str(), day_number(event.timestamp_us))).or_insert_with(|| UserDay {
                    user_key: event.user_key.clone(),
                    day: day_number(event.timestamp_us),
                    events: 0,
                    sessions: 0,
                    session_seconds: 0.0,
                    amount: 0.0,
                    first_seen_us: None,
                });
            day.events += 1;
            day.amount += churn::monetary_value(&properties).unwrap_or(0.0);
            // Against the user's latest event so far: a gap of a session or more starts one, a
            // shorter gap lengthens it; a late event does neither (see `UserDay`).
            match profile.last_us {
                None => day.sessions += 1,
                Some(latest) if event.timestamp_us - latest >= session_gap_us => day.sessions += 1,
                Some(latest) if event.timestamp_us >= latest => {
                    day.session_seconds += (event.timestamp_us - latest) as f64 / 1e6;
                }
                Some(_) => {}
            }
            profile.observe(&profile_event, &self.profiles);
        }
        let now_us = self.clock.now_us();
        let mut profile_records = Vec::with_capacity(profiles.len());
        for (user_key, state) in &profiles {
            let state = serde_json::to_string(state).map_err(|error| StoreError::Other(Box::new(error)))?;
            profile_records.push(ProfileStateRecord { user_key: user_key.clone(), state, updated_at_us: now_us });
        }
        let profiles_updated = states.len();
        let batch = SequenceBatch {
            processor: SEQUENCES.to_owned(),
            expected_watermark: watermark,
            new_watermark,
            deltas: deltas
                .into_iter()
                .map(|((scope, context, next), count)| SequenceCount {
                    scope: scope.to_owned(),
                    context,
                    next: next.to_owned(),
                    count,
                })
                .collect(),
            states: states
                .iter()
                .map(|(user_key, state)| SequenceStateRecord {
                    recent: state.encode_recent(),
                    user_key: user_key.clone(),
                    last_us: state.last_us,
                    previous_us: state.previous_us,
                    n_actions: state.n_actions,
                })
                .collect(),
            profiles: profile_records,
            day_counts: day_counts
                .into_iter()
                .map(|((day_us, event_type), events)| DailyTypeCount {
                    day_us,
                    event_type: event_type.to_owned(),
                    events,
                })
                .collect(),
            active_days: active_days
                .into_iter()
                .map(|((user_key, period), days)| ActiveDays { user_key: user_key.to_owned(), period, days })
                .collect(),
            user_days: user_days.into_values().collect(),
            now_us,
        };
        if !self.store.commit_sequence_batch(batch).await? {
            // Another node processed this stretch first; the next run starts after it.
            warm.clear();
            return Ok(ProcessReport { watermark, ..ProcessReport::default() });
        }
        if warm.sequences.len() + states.len() > WARM_USERS_MAX {
            warm.clear();
        }
        warm.watermark = new_watermark;
        warm.sequences.extend(states);
        warm.profiles.extend(profiles);
        self.known_watermark.fetch_max(new_watermark, Ordering::AcqRel);
        if created > 0 {
            self.profiles_created.send_modify(|total| *total += created);
        }
        self.cache.invalidate().await;
        Ok(ProcessReport { processed: events.len(), profiles_updated, watermark: new_watermark })
    }

    /// Before a read: processes until every event committed before this call is counted (or
    /// `timeout` passes) when at most `max_backlog` events wait, else only wakes the background
    /// loop. Returns how many committed events the read will not see.
    pub async fn catch_up_for_read(&self, max_backlog: u64, timeout: Duration) -> Result<u64, StoreError> {
        let target = self.store.max_event_seq().await?;
        if self.known_watermark.load(Ordering::Acquire) >= target {
            return Ok(0);
        }
        // Another node may have processed what this one has not seen yet.
        let watermark = self.store.processing_watermark(SEQUENCES).await?;
        self.known_watermark.fetch_max(watermark, Ordering::AcqRel);
        let backlog = u64::try_from(target - watermark).unwrap_or(0);
        if backlog == 0 {
            return Ok(0);
        }
        if backlog > max_backlog {
            self.wake();
            return Ok(backlog);
        }
        self.catch_up(timeout).await?;
        Ok(u64::try_from(target - self.known_watermark.load(Ordering::Acquire)).unwrap_or(0))
    }

    /// Processes until every event committed before this call is counted, or `timeout` passes.
    /// Returns how many events this call processed.
    pub async fn catch_up(&self, timeout: Duration) -> Result<usize, StoreError> {
        let target = self.store.max_event_seq().await?;
        if self.known_watermark.load(Ordering::Acquire) >= target {
            return Ok(0);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut processed = 0;
        loop {
            let report = self.process_recent_events().await?;
            processed += report.processed;
            if report.watermark >= target {
                return Ok(processed);
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    watermark = report.watermark,
                    target,
                    "processing is behind; answering with what is processed"
                );
                return Ok(processed);
            }
            if report.processed == 0 {
                // Another node holds the stretch; give it a moment.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    /// The background loop (started by `jobs`): `debounce` after a wake-up (so that a burst of
    /// commits is processed as one larger batch), and every `interval` (for events committed by
    /// other nodes), until `shutdown` turns true. Readers do not wait for it: they catch up
    /// themselves.
    pub async fn run_loop(
        self: Arc<Self>,
        interval: Duration,
        debounce: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                () = self.wake.notified() => {
                    tokio::select! {
                        () = tokio::time::sleep(debounce) => {}
                        _ = shutdown.changed() => break,
                    }
                }
                () = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => break,
            }
            loop {
                match self.process_recent_events().await {
                    Ok(report) if report.processed > 0 => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(error = %error, "event processing failed; retrying later");
                        break;
                    }
                }
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }
}
