//! The demo's stages, each through the service its HTTP route calls: accounts, consent, event
//! batches (the durable queue, then the processor folds them into profiles), match events,
//! the attendance import, a trained attendance model and a segmentation run.

use std::time::Duration;

use footprint_analytics::time::DAY_US;
use footprint_analytics::{Consent, UserId};
use futures_util::{StreamExt, stream};
use indicatif::ProgressBar;

use super::accounts;
use super::offers::{self, MatchStory};
use super::population::{self, DemoUser};
use super::report::{DemoReport, Timings};
use super::seed003;
use super::{DemoOptions, guard};
use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::attendance::import::{self as attendance, ImportMode};
use crate::attendance::model as attendance_model;
use crate::kernel::error::ApiError;
use crate::profiles::segments::UserClustering;
use crate::tracking::ingest::{self, EventResult};
use crate::tracking::schema::{self, ToMatchEvent};
use crate::tracking::{consent, validate};

const STAGES: usize = 9;
const ACTOR: &str = "footprint demo";
/// Users whose events go in one batch (about 1 000 events).
const USERS_PER_BATCH: usize = 16;
/// Attendance events per import body.
const CLASSES_PER_IMPORT: usize = 10;
const TRAINING_WAIT: Duration = Duration::from_secs(600);

/// Starts stage `number`, recording when the previous one ended.
fn stage(bar: &ProgressBar, timings: &mut Timings, number: usize, message: &'static str, length: usize) {
    timings.next(message);
    bar.set_prefix(format!("[{number}/{STAGES}]"));
    bar.set_message(message);
    bar.set_length(length as u64);
    bar.set_position(0);
}

fn failed(what: &str) -> impl FnOnce(ApiError) -> anyhow::Error + '_ {
    move |error| anyhow::anyhow!("{what}: {error}")
}

/// Loads the demo dataset into `state`'s store. Refuses a store that holds data unless
/// `options.force`.
pub async fn load(state: &AppState, options: &DemoOptions, bar: &ProgressBar) -> anyhow::Result<DemoReport> {
    anyhow::ensure!(options.users >= 10, "the demo needs at least 10 users (got {})", options.users);
    let mut timings = Timings { current: None, done: Vec::new() };
    stage(bar, &mut timings, 1, "checking the store", 1);
    if let Some(held) = guard::existing_data(state).await?
        && !options.force
    {
        return Err(guard::refusal(&held, state.store.backend()));
    }
    let now_us = state.clock.now_us();
    let users = population::users(options.users, options.seed);

    stage(bar, &mut timings, 2, "accounts", 1);
    let accounts = accounts::create(state, &users[0].user_id).await?;

    stage(bar, &mut timings, 3, "consent", users.len());
    record_consents(state, &users, bar).await?;

    stage(bar, &mut timings, 4, "sessions and events", users.len());
    let (accepted, duplicate, not_collected) = track_events(state, &users, options.seed, now_us, bar).await?;

    stage(bar, &mut timings, 5, "match proposals and decisions", 0);
    let stories = offers::matches(&users, options.seed);
    let match_events = track_matches(state, &stories, bar).await?;

    stage(bar, &mut timings, 6, "attendance events", 0);
    let (classes, registrations) = offers::classes(&users, options.seed, now_us);
    let lines = attendance::import_lines(&classes, &registrations, "Evening class", 0);
    let mode = if options.force { ImportMode::Upsert } else { ImportMode::Insert };
    bar.set_length(lines.len() as u64);
    let mut imported = 0;
    for chunk in lines.chunks(CLASSES_PER_IMPORT) {
        let report = attendance::import(state, &chunk.join("\n"), mode, ACTOR)
            .await
            .map_err(failed("cannot import the attendance events"))?;
        anyhow::ensure!(report.rejected.is_empty(), "the attendance import refused lines: {:?}", report.rejected);
        imported += report.registrations_imported;
        bar.inc(chunk.len() as u64);
    }

    stage(bar, &mut timings, 7, "training the attendance model", 1);
    let model_id = train_attendance_model(state).await?;

    stage(bar, &mut timings, 8, "segmenting users", 1);
    let run = UserClustering::new(state.clone()).update_clusters().await.map_err(failed("cannot segment the users"))?;
    bar.inc(1);

    stage(bar, &mut timings, 9, "accounts, their use of the API, the churn model", 1);
    let seed003 = seed003::load(state, &users, options.seed, now_us, &accounts).await?;
    bar.inc(1);
    timings.finish();

    Ok(DemoReport {
        backend: state.store.backend(),
        users: users.len(),
        events_accepted: accepted,
        events_duplicate: duplicate,
        events_not_collected: not_collected,
        match_events,
        attendance_events: classes.len(),
        registrations: imported,
        model_id,
        segments: run.k,
        accounts,
        seed003,
        stages: timings.done,
    })
}

/// Every consenting user grants all three purposes, as `POST /api/tracking/consent` records it.
async fn record_consents(state: &AppState, users: &[DemoUser], bar: &ProgressBar) -> anyhow::Result<()> {
    let mut recorded = stream::iter(users.iter().filter(|user| user.consents))
        .map(|user| async move {
            let user_id = UserId::parse(&user.user_id).map_err(|e| anyhow::anyhow!("{e}"))?;
            consent::record(state, &user_id, Consent::GRANT_ALL, ACTOR).await.map_err(failed("cannot record consent"))
        })
        .buffer_unordered(8);
    while let Some(result) = recorded.next().await {
        result?;
        bar.inc(1);
    }
    bar.set_position(users.len() as u64);
    Ok(())
}

/// Generates and validates each batch on the blocking pool while the previous one commits, and
/// ingests it as `POST /api/track/batch` does. Returns (accepted, duplicate, not collected).
async fn track_events(
    state: &AppState,
    users: &[DemoUser],
    seed: u64,
    now_us: i64,
    bar: &ProgressBar,
) -> anyhow::Result<(usize, usize, usize)> {
    let limits = ingest::limits(state);
    let now = state.clock.now();
    let mut batches = stream::iter(users.chunks(USERS_PER_BATCH))
        .map(|chunk| {
            let chunk = chunk.to_vec();
            async move {
                let n_users = chunk.len();
                let items = tokio::task::spawn_blocking(move || {
                    chunk
                        .iter()
                        .flat_map(|user| population::events(user, seed, now_us))
                        .map(|raw| validate::validate_event(&raw, now, &limits))
                        .collect::<Vec<_>>()
                })
                .await?;
                let results = with_retries(|| ingest::ingest(state, items.clone())).await?;
                anyhow::Ok((n_users, results))
            }
        })
        .buffered(2);
    let (mut accepted, mut duplicate, mut not_collected) = (0, 0, 0);
    while let Some(batch) = batches.next().await {
        let (n_users, results) = batch?;
        for result in results {
            match result {
                EventResult::Accepted { .. } => accepted += 1,
                EventResult::Duplicate => duplicate += 1,
                EventResult::NotCollected { .. } => not_collected += 1,
                EventResult::Rejected { reason } => anyhow::bail!("a generated event was rejected: {reason}"),
            }
        }
        bar.inc(n_users as u64);
    }
    // Profiles are built by the processor, as for live data: wait until it has counted everything.
    state.processor.catch_up(Duration::from_secs(600)).await?;
    Ok((accepted, duplicate, not_collected))
}

/// A full queue answers 503 with a delay: wait and send again, as a client does.
async fn with_retries<T, F, Fut>(mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    for _ in 0..100 {
        match call().await {
            Err(ApiError::Unavailable { retry_after_secs, .. }) => {
                tokio::time::sleep(Duration::from_millis(100 * retry_after_secs.unwrap_or(1).min(10))).await;
            }
            other => return other.map_err(|error| anyhow::anyhow!("{error}")),
        }
    }
    anyhow::bail!("the ingestion queue stayed full")
}

const SECOND_US: i64 = 1_000_000;
const MINUTE_US: i64 = 60 * SECOND_US;

/// Each story's events in order (proposed, viewed, decided, feedback), many stories at once, as
/// the `/api/tracking/event/match-*` routes store them. Returns how many events were stored.
async fn track_matches(state: &AppState, stories: &[MatchStory], bar: &ProgressBar) -> anyhow::Result<usize> {
    bar.set_length(stories.len() as u64);
    let principal = Principal::ApiKey { key_id: "demo".to_owned(), scopes: vec![crate::accounts::SCOPE_INGEST.into()] };
    let principal = &principal;
    let now_us = state.clock.now_us();
    let mut tracked = stream::iter(stories.iter().enumerate())
        .map(|(n, story)| async move {
            // Proposals spread over the last four weeks (a day apart from now at least), each
            // viewed a minute later, decided after its decision time, rated two hours after.
            let proposed_at = now_us - DAY_US - ((n as i64 * 7_919) % (27 * 24 * 60)) * MINUTE_US;
            let decided_after = story
                .decided
                .as_ref()
                .and_then(|d| d.decision_time_seconds)
                .map_or(120 * SECOND_US, |s| (s * SECOND_US as f64) as i64);
            let mut events = vec![(story.proposed.to_match_event(), proposed_at)];
            events.extend(story.viewed.as_ref().map(|v| (v.to_match_event(), proposed_at + MINUTE_US)));
            events
                .extend(story.decided.as_ref().map(|d| (d.to_match_event(), proposed_at + MINUTE_US + decided_after)));
            events.extend(story.feedback.as_ref().map(|f| (f.to_match_event(), proposed_at + 2 * 60 * MINUTE_US)));
            let n_events = events.len();
            for (event, at) in events {
                let event = event.map_err(failed("a generated match event is invalid"))?;
                with_retries(|| schema::track_at(state, principal, event.clone(), at)).await?;
            }
            anyhow::Ok(n_events)
        })
        .buffer_unordered(32);
    let mut stored = 0;
    while let Some(result) = tracked.next().await {
        stored += result?;
        bar.inc(1);
    }
    Ok(stored)
}

/// Trains as `POST /api/ml/models/train` does and waits for the model to be ready.
async fn train_attendance_model(state: &AppState) -> anyhow::Result<String> {
    let started = attendance_model::start_training(state, attendance_model::TrainRequest::default())
        .await
        .map_err(failed("cannot start training the attendance model"))?;
    let deadline = tokio::time::Instant::now() + TRAINING_WAIT;
    loop {
        let record = state.store.model(&started.model_id).await?;
        let record = record.ok_or_else(|| anyhow::anyhow!("the model being trained vanished from the registry"))?;
        match record.status.as_str() {
            "training" if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            "training" => anyhow::bail!("training the attendance model took over {} s", TRAINING_WAIT.as_secs()),
            "ready" => return Ok(record.model_id),
            _ => anyhow::bail!("training the attendance model failed: {}", record.error.unwrap_or_default()),
        }
    }
}
