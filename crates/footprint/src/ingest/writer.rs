//! The ingestion queue and its single writer. Requests push their events onto a queue
//! bounded in events (a full queue is refused at once: 503 with `Retry-After`, nothing is
//! dropped silently); one writer takes whatever has queued up, commits it in one
//! transaction (group commit), and only then answers each request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use footprint_store::{CommitOptions, EventOutcome, NewEvent, Store, StoreError, StoreResult};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc, oneshot};

use crate::telemetry::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the ingestion queue is full")]
    QueueFull,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Job {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<StoreResult<Vec<EventOutcome>>>,
    /// Held until the job is answered: the queue's capacity is counted in events.
    _permit: OwnedSemaphorePermit,
}

enum Message {
    Job(Job),
    Close,
}

/// The handle requests use to submit events; cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    sender: mpsc::UnboundedSender<Message>,
    permits: Arc<Semaphore>,
    capacity: usize,
    closed: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

/// Owned by the server: closes the queue and waits for the writer to drain it.
pub struct WriterHandle {
    sender: mpsc::UnboundedSender<Message>,
    closed: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    pub commit: CommitOptions,
    pub queue_capacity: usize,
    pub commit_batch_max: usize,
}

impl Ingestor {
    pub fn start(store: Arc<dyn Store>, options: WriterOptions, metrics: Arc<Metrics>) -> (Self, WriterHandle) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let permits = Arc::new(Semaphore::new(options.queue_capacity));
        let closed = Arc::new(AtomicBool::new(false));
        let writer = Writer { store, options, metrics: Arc::clone(&metrics), permits: Arc::clone(&permits) };
        let task = tokio::spawn(writer.run(receiver));
        let ingestor = Ingestor {
            sender: sender.clone(),
            permits,
            capacity: options.queue_capacity,
            closed: Arc::clone(&closed),
            metrics,
        };
        (ingestor, WriterHandle { sender, closed, task })
    }

    /// Queues the events and waits until they are committed; one outcome per event.
    pub async fn submit(&self, events: Vec<NewEvent>) -> Result<Vec<EventOutcome>, IngestError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(IngestError::ShuttingDown);
        }
        let n_events = u32::try_from(events.len()).map_err(|_| IngestError::QueueFull)?;
        let permit = Arc::clone(&self.permits).try_acquire_many_owned(n_events).map_err(|error| match error {
            TryAcquireError::NoPermits => IngestError::QueueFull,
            TryAcquireError::Closed => IngestError::ShuttingDown,
        })?;
        self.metrics.queue_depth.set(self.queued_events() as i64);
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Message::Job(Job { events, reply, _permit: permit }))
            .map_err(|_| IngestError::ShuttingDown)?;
        // A dropped reply means the writer stopped before reaching this job.
        let outcomes = answer.await.map_err(|_| IngestError::ShuttingDown)??;
        Ok(outcomes)
    }

    /// Events queued or being committed.
    pub fn queued_events(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }
}

impl WriterHandle {
    /// Refuses new submissions, commits everything already queued, then returns.
    pub async fn shutdown(self) {
        self.closed.store(true, Ordering::Release);
        let _ = self.sender.send(Message::Close);
        if let Err(error) = self.task.await {
            tracing::error!(error = %error, "ingestion writer stopped abnormally");
        }
    }
}

struct Writer {
    store: Arc<dyn Store>,
    options: WriterOptions,
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
}

impl Writer {
    async fn run(self, mut receiver: mpsc::UnboundedReceiver<Message>) {
        let mut closing = false;
        while !closing {
            let Some(Message::Job(first)) = receiver.recv().await else {
                break;
            };
            let mut n_events = first.events.len();
            let mut jobs = vec![first];
            while n_events < self.options.commit_batch_max {
                match receiver.try_recv() {
                    Ok(Message::Job(job)) => {
                        n_events += job.events.len();
                        jobs.push(job);
                    }
                    Ok(Message::Close) => {
                        closing = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.commit(jobs).await;
        }
        // Jobs that raced with the close are still committed rather than dropped.
        receiver.close();
        while let Some(message) = receiver.recv().await {
            if let Message::Job(job) = message {
                self.commit(vec![job]).await;
            }
        }
        tracing::info!("ingestion queue drained");
    }

    async fn commit(&self, mut jobs: Vec<Job>) {
        let sizes: Vec<usize> = jobs.iter().map(|job| job.events.len()).collect();
        let combined: Arc<[NewEvent]> = jobs.iter_mut().flat_map(|job| std::mem::take(&mut job.events)).collect();
        let started = Instant::now();
        let result = self.store.commit_events(Arc::clone(&combined), self.options.commit).await;
        self.metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
        self.metrics.commit_batch_size.observe(combined.len() as f64);
        match result {
            Ok(outcomes) => {
                debug_assert_eq!(outcomes.len(), combined.len());
                let mut outcomes = outcomes.into_iter();
                for (job, size) in jobs.into_iter().zip(sizes) {
                    self.answer(job, Ok(outcomes.by_ref().take(size).collect()));
                }
            }
            Err(error) if jobs.len() > 1 && !matches!(error, StoreError::Unavailable(_)) => {
                // One request's data may be what the store refused: commit each request on its
                // own so that the others still go through.
                tracing::warn!(error = %error, n_requests = jobs.len(), "group commit failed; committing its requests one by one");
                let mut offset = 0;
                for (job, size) in jobs.into_iter().zip(sizes) {
                    let part: Arc<[NewEvent]> = combined[offset..offset + size].to_vec().into();
                    offset += size;
                    let result = self.store.commit_events(part, self.options.commit).await;
                    if let Err(error) = &result {
                        tracing::error!(error = %error, n_events = size, "commit failed");
                    }
                    self.answer(job, result);
                }
            }
            Err(error) => {
                tracing::error!(error = %error, n_events = combined.len(), "commit failed");
                for job in jobs {
                    self.answer(job, Err(copy_error(&error)));
                }
            }
        }
        self.metrics.queue_depth.set((self.options.queue_capacity - self.permits.available_permits()) as i64);
    }

    fn answer(&self, job: Job, result: StoreResult<Vec<EventOutcome>>) {
        if let Ok(outcomes) = &result {
            let mut counts = [0u64; 3];
            for outcome in outcomes {
                match outcome {
                    EventOutcome::Accepted { .. } => counts[0] += 1,
                    EventOutcome::Duplicate => counts[1] += 1,
                    EventOutcome::NotCollected => counts[2] += 1,
                }
            }
            self.metrics.count_events("accepted", counts[0]);
            self.metrics.count_events("duplicate", counts[1]);
            self.metrics.count_events("not_collected", counts[2]);
        }
        // The requester may have gone away; its events are committed all the same.
        let _ = job.reply.send(result);
    }
}

/// The same failure for every request of a failed group.
fn copy_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        StoreError::Conflict(message) => StoreError::Conflict(message.clone()),
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Other(inner) => StoreError::Other(inner.to_string().into()),
    }
}
