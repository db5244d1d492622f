//! Outbound webhooks (SPEC §8b): an admin subscribes a URL to kinds of happening — `event` (an
//! event of the given types is stored), `model.trained` (a model finished training),
//! `segment.changed` (a segmentation run moved a user to another segment),
//! `churn.risk_crossed` (a user's churn risk crossed the webhook's threshold) and
//! `anomaly.detected` (a user's activity far from their baseline, attendance far from
//! expectation) — with a secret. Deliveries are queued in a durable outbox (`service`): events
//! by following the event log after a watermark (each event queued once across nodes, only for
//! users whose analytics consent holds when it is dispatched), model and segment happenings
//! where they occur, churn crossings and anomalies by the scheduled `watch`, which keeps what
//! each webhook was told so that each is announced once. `delivery` posts them
//! signed (HMAC-SHA256 over the timestamp and the body, in `Footprint-Signature`), logs every
//! attempt, and retries with exponential backoff and jitter until `webhooks.give_up_after_secs`,
//! then marks the delivery failed. `jobs` runs both every `webhooks.poll_ms`.
//!
//! The operator decides which hosts are reachable: a webhook may name any http(s) URL an admin
//! gives, internal addresses included; restrict outbound traffic at the network if needed.

pub mod delivery;
pub mod http;
pub mod service;
pub mod watch;

pub use service::{Kind, model_trained};
