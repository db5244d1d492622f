//! Footprint's domain types and pure analytics.
//!
//! Everything in this crate is deterministic computation over values passed in:
//! no I/O, no async, no clock. A value of a domain type (`UserId`, `EventType`, …)
//! that exists is valid; the code behind the edge never re-checks it.

pub mod activity;
pub mod attendance;
pub mod calibration;
pub mod churn;
pub mod cluster;
pub mod domain;
pub mod engagement;
pub mod evaluation;
pub mod insights;
pub mod kneser_ney;
pub mod logistic;
pub mod matching;
pub mod patterns;
pub mod privacy;
pub mod profile;
pub mod risk;
pub mod rng;
pub mod segmentation;
pub mod sequence;
pub mod session;
pub mod stats;
pub mod time;
pub mod trees;

pub use domain::{Consent, ConsentDefault, Email, EventType, InvalidValue, Role, Tier, UserId, Username};
