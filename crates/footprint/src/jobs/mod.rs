//! Background work, in one place: [`Tasks`] spawns, records and stops every task that
//! outlives a request; [`start`] starts the processing loop and the schedules of an instance
//! and fails the training runs a crash left behind; `GET /api/v1/jobs` shows the runs. Shutdown
//! (`App::shutdown`) stops the loops and waits for the runs under way.

pub mod automation;
pub mod http;
pub mod schedule;
pub mod tasks;

use std::sync::Arc;

use footprint_store::{ModelFilter, ModelRecord};

pub use tasks::{JobRecord, ShuttingDown, Tasks};

use crate::app::state::AppState;
use crate::kernel::error::ApiError;

pub use crate::kernel::registry::INTERRUPTED;

/// Starts the background work of an instance: the processing loop and the scheduled jobs.
pub async fn start(state: &AppState) -> Result<(), ApiError> {
    fail_interrupted_training(state).await?;
    let processing = &state.config.processing;
    let processor = Arc::clone(&state.processor);
    state.tasks.spawn_loop(processor.run_loop(processing.interval_ms, processing.debounce_ms, state.tasks.stopping()));
    schedule::start(state);
    automation::start(state);
    state.tasks.spawn_loop(webhook_loop(state.clone(), state.tasks.stopping()));
    Ok(())
}

/// Dispatches the event log into webhook deliveries and sends those due, every
/// `webhooks.poll_ms` or when deliveries were queued, until shutdown.
async fn webhook_loop(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let poll = state.config.webhooks.poll_ms;
    loop {
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = state.webhooks_wake.notified() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        loop {
            let dispatched = crate::webhooks::service::dispatch_events(&state).await;
            let sent = crate::webhooks::delivery::deliver_due(&state).await;
            match (dispatched, sent) {
                (Ok(0), Ok(0)) => break,
                (Ok(_), Ok(_)) => {}
                (Err(error), _) | (_, Err(error)) => {
                    tracing::warn!(error = %error, "webhooks: dispatch or delivery failed; retrying later");
                    break;
                }
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }
}

/// Marks `error` the training runs no node is finishing: with SQLite every one found
/// `training` (the store has one node), with PostgreSQL those older than
/// `ml.training_timeout_secs` (a younger one may be training on another node).
pub async fn fail_interrupted_training(state: &AppState) -> Result<Vec<ModelRecord>, ApiError> {
    let filter = ModelFilter { status: Some("training".to_owned()), ..ModelFilter::default() };
    let now_us = state.clock.now_us();
    let timeout_us = i64::try_from(state.config.ml.training_timeout_secs.as_micros()).unwrap_or(i64::MAX);
    let single_node = state.store.backend() == "sqlite";
    let mut failed = Vec::new();
    for mut model in state.store.models(filter).await? {
        if !single_node && now_us - model.created_at_us < timeout_us {
            continue;
        }
        model.status = "error".to_owned();
        model.error = Some(INTERRUPTED.to_owned());
        model.trained_at_us = Some(now_us);
        state.store.update_model(model.clone()).await?;
        tracing::warn!(model = %model.model_id, "a training run left unfinished is recorded as failed");
        failed.push(model);
    }
    Ok(failed)
}
