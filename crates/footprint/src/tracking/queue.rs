//! The ingestion queue and its single writer. Requests push their events onto a queue
//! bounded in events and in bytes (a full queue is refused at once: 503 with `Retry-After`,
//! nothing is dropped silently); one writer takes whatever has queued up, commits it in one
//! transaction (group commit), and only then answers each request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use footprint_store::{CommitOptions, EventOutcome, NewEvent, Store, StoreError, StoreResult};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc, oneshot};

use crate::kernel::telemetry::Metrics;

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
    /// Held until the job is answered: the queue's capacity is counted in events and bytes.
    _permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
}

/// What an event weighs in the queue: its JSON and a fixed allowance for the rest.
fn queued_bytes(event: &NewEvent) -> usize {
    event.properties.len() + event.context.len() + event.event_type.len() + event.user_id.len() + 256
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
    byte_permits: Arc<Semaphore>,
    capacity: usize,
    closed: Arc<AtomicBool>,
    /// False once the writer task has ended, for whatever reason.
    writer_alive: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    commit: CommitOptions,
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
    pub queue_capacity_bytes: usize,
    pub commit_batch_max: usize,
}

impl Ingestor {
    /// Starts the writer; `after_commit` runs after each commit that stored events.
    pub fn start(
        store: Arc<dyn Store>,
        options: WriterOptions,
        metrics: Arc<Metrics>,
        after_commit: Arc<dyn Fn() + Send + Sync>,
    ) -> (Self, WriterHandle) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let permits = Arc::new(Semaphore::new(options.queue_capacity));
        let byte_permits = Arc::new(Semaphore::new(options.queue_capacity_bytes));
        let closed = Arc::new(AtomicBool::new(false));
        let writer_alive = Arc::new(AtomicBool::new(true));
        let writer =
            Writer { store, options, metrics: Arc::clone(&metrics), permits: Arc::clone(&permits), after_commit };
        let task = tokio::spawn(writer.run(receiver, AliveGuard(Arc::clone(&writer_alive))));
        let ingestor = Ingestor {
            sender: sender.clone(),
            permits,
            byte_permits,
            capacity: options.queue_capacity,
            closed: Arc::clone(&closed),
            writer_alive,
            metrics,
            commit: options.commit,
        };
        (ingestor, WriterHandle { sender, closed, task })
    }

    /// How the store judges the events this queue commits.
    pub fn commit_options(&self) -> CommitOptions {
        self.commit
    }

    /// Queues the events and waits until they are committed; one outcome per event.
    pub async fn submit(&self, events: Vec<NewEvent>) -> Result<Vec<EventOutcome>, IngestError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(IngestError::ShuttingDown);
        }
        let refused = |error: TryAcquireError| match error {
            TryAcquireError::NoPermits => IngestError::QueueFull,
            TryAcquireError::Closed => IngestError::ShuttingDown,
        };
        let n_events = u32::try_from(events.len()).map_err(|_| IngestError::QueueFull)?;
        let n_bytes =
            u32::try_from(events.iter().map(queued_bytes).sum::<usize>()).map_err(|_| IngestError::QueueFull)?;
        let event_permit = Arc::clone(&self.permits).try_acquire_many_owned(n_events).map_err(refused)?;
        let byte_permit = Arc::clone(&self.byte_permits).try_acquire_many_owned(n_bytes).map_err(refused)?;
        self.metrics.queue_depth.set(self.queued_events() as i64);
        let (reply, answer) = oneshot::channel();
        let job = Job { events, reply, _permits: (event_permit, byte_permit) };
        self.sender.send(Message::Job(job)).map_err(|_| IngestError::ShuttingDown)?;
        // A dropped reply means the writer stopped before reaching this job.
        let outcomes = answer.await.map_err(|_| IngestError::ShuttingDown)??;
        Ok(outcomes)
    }

    /// Events queued or being committed.
    pub fn queued_events(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }

    /// Whether the writer still runs; if it stopped, nothing can be ingested.
    pub fn writer_alive(&self) -> bool {
        self.writer_alive.load(Ordering::Acquire)
    }
}

/// Marks the writer as stopped when its task ends, even by a panic.
struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
        if std::thread::panicking() {
            tracing::error!("the ingestion writer panicked; the node is no longer ready");
        }
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
    after_commit: Arc<dyn Fn() + Send + Sync>,
}

impl Writer {
    async fn run(self, mut receiver: mpsc::UnboundedReceiver<Message>, _alive: AliveGuard) {
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
            if counts[0] > 0 {
                (self.after_commit)();
            }
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
