//! Matching (seed 001): the match-event routes, their metrics (acceptance, satisfaction,
//! constraints) from raw events plus the aggregates retention folded, and the match model's
//! feedback loop (refits into the model registry).

pub mod http;
pub mod metrics;
pub mod model;
