//! The one owner of background tasks. Everything Footprint runs beside its requests — the
//! processing loop, the scheduled jobs, training and segmentation runs — is spawned here, so
//! that each run is recorded (last start, end and outcome per job) and shutdown can stop the
//! loops and wait for the runs under way.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use utoipa::ToSchema;

use crate::kernel::clock::{Clock, rfc3339};

/// A run cannot start: the server is shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is shutting down")]
pub struct ShuttingDown;

/// How a job's runs went, as `GET /api/v1/jobs` shows them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobRecord {
    pub job: String,
    /// Runs started since this node started.
    pub runs: u64,
    pub running: u64,
    pub failures: u64,
    pub last_started_at: Option<String>,
    pub last_finished_at: Option<String>,
    pub last_duration_ms: Option<u64>,
    /// `success` or the last run's error.
    pub last_outcome: Option<String>,
}

impl JobRecord {
    fn new(job: &str) -> Self {
        Self {
            job: job.to_owned(),
            runs: 0,
            running: 0,
            failures: 0,
            last_started_at: None,
            last_finished_at: None,
            last_duration_ms: None,
            last_outcome: None,
        }
    }
}

struct Inner {
    tracker: TaskTracker,
    stop: watch::Sender<bool>,
    records: Mutex<BTreeMap<String, JobRecord>>,
    clock: Arc<dyn Clock>,
}

/// The handle every part of the application spawns through; cheap to clone.
#[derive(Clone)]
pub struct Tasks {
    inner: Arc<Inner>,
}

impl Tasks {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let (stop, _) = watch::channel(false);
        let inner = Inner { tracker: TaskTracker::new(), stop, records: Mutex::new(BTreeMap::new()), clock };
        Self { inner: Arc::new(inner) }
    }

    /// Turns true when shutdown begins: loops end at their next turn.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.inner.stop.subscribe()
    }

    pub fn is_stopping(&self) -> bool {
        *self.inner.stop.borrow()
    }

    /// Runs `work` in the background as a run of `job`: recorded when it starts and ends, and
    /// waited for by shutdown. Refused once shutdown has begun.
    pub fn run<F>(&self, job: &str, work: F) -> Result<(), ShuttingDown>
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        if self.is_stopping() {
            return Err(ShuttingDown);
        }
        let tasks = self.clone();
        let job = job.to_owned();
        self.inner.tracker.spawn(async move {
            let started = tasks.started(&job);
            let outcome = work.await;
            if let Err(error) = &outcome {
                tracing::warn!(job = %job, error = %error, "background run failed");
            }
            tasks.finished(&job, started, outcome);
        });
        Ok(())
    }

    /// Spawns a loop that lives until shutdown (`work` watches [`Self::stopping`]).
    pub fn spawn_loop<F>(&self, work: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.tracker.spawn(work)
    }

    /// One run of `job` done inline by a loop (a scheduled job), recorded like any other.
    pub async fn record<F>(&self, job: &str, work: F) -> Result<(), String>
    where
        F: Future<Output = Result<(), String>>,
    {
        let started = self.started(job);
        let outcome = work.await;
        self.finished(job, started, outcome.clone());
        outcome
    }

    fn started(&self, job: &str) -> Instant {
        let now_us = self.inner.clock.now_us();
        let mut records = self.inner.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let record = records.entry(job.to_owned()).or_insert_with(|| JobRecord::new(job));
        record.runs += 1;
        record.running += 1;
        record.last_started_at = Some(rfc3339(now_us));
        Instant::now()
    }

    fn finished(&self, job: &str, started: Instant, outcome: Result<(), String>) {
        let now_us = self.inner.clock.now_us();
        let mut records = self.inner.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let record = records.entry(job.to_owned()).or_insert_with(|| JobRecord::new(job));
        record.running = record.running.saturating_sub(1);
        record.last_finished_at = Some(rfc3339(now_us));
        record.last_duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        record.last_outcome = Some(match outcome {
            Ok(()) => "success".to_owned(),
            Err(error) => {
                record.failures += 1;
                error
            }
        });
    }

    /// Every job that ran on this node, by name.
    pub fn records(&self) -> Vec<JobRecord> {
        self.inner.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner).values().cloned().collect()
    }

    /// Tasks still running (loops included).
    pub fn running(&self) -> usize {
        self.inner.tracker.len()
    }

    /// Stops the loops and waits for the runs under way, at most `deadline`; returns how many
    /// were still running then (they are dropped with the runtime).
    pub async fn shutdown(&self, deadline: Duration) -> usize {
        // `send_replace`: the value changes even when no loop is listening.
        self.inner.stop.send_replace(true);
        self.inner.tracker.close();
        if tokio::time::timeout(deadline, self.inner.tracker.wait()).await.is_err() {
            let left = self.inner.tracker.len();
            tracing::warn!(left, "background runs still going at the shutdown deadline; they are abandoned");
            return left;
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::clock::SystemClock;

    #[tokio::test]
    async fn runs_are_recorded_and_shutdown_waits_for_them() {
        let tasks = Tasks::new(Arc::new(SystemClock));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        tasks
            .run("training", async move {
                let _ = released.await;
                Err("no data".to_owned())
            })
            .unwrap();
        tasks.run("segmentation", async { Ok(()) }).unwrap();
        let waiting = tokio::spawn({
            let tasks = tasks.clone();
            async move { tasks.shutdown(Duration::from_secs(10)).await }
        });
        // Shutdown has begun but waits for the training run.
        tokio::time::timeout(Duration::from_secs(10), async {
            while !tasks.is_stopping() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("shutdown begins");
        assert_eq!(tasks.run("late", async { Ok(()) }), Err(ShuttingDown));
        release.send(()).unwrap();
        assert_eq!(waiting.await.unwrap(), 0);
        let records = tasks.records();
        let training = records.iter().find(|r| r.job == "training").unwrap();
        assert_eq!((training.runs, training.running, training.failures), (1, 0, 1));
        assert_eq!(training.last_outcome.as_deref(), Some("no data"));
        let segmentation = records.iter().find(|r| r.job == "segmentation").unwrap();
        assert_eq!(segmentation.last_outcome.as_deref(), Some("success"));
        assert!(records.iter().all(|r| r.job != "late"));
    }

    #[tokio::test]
    async fn shutdown_gives_up_at_its_deadline() {
        let tasks = Tasks::new(Arc::new(SystemClock));
        tasks.run("stuck", std::future::pending()).unwrap();
        assert_eq!(tasks.shutdown(Duration::from_millis(20)).await, 1);
    }
}
