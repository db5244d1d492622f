//! Seed 003's insights: what Footprint tells about a user (`service.rs`: engagement and its
//! trend, activity, churn risk, cohort, segment, usage of the tier), the churn model
//! (`churn.rs`, a `churn_predictor` in the model registry), cohort retention (`cohorts.rs`),
//! usage against the tiers' limits and the tier analysis (`tiers.rs`), the daily analytics
//! report (`report.rs`), and users' activity far from their own baseline (`anomalies.rs`);
//! `http.rs` their routes. The math is in `footprint_analytics::churn`,
//! `footprint_analytics::insights` and `footprint_analytics::activity`.

pub mod anomalies;
pub mod churn;
pub mod cohorts;
pub mod http;
pub mod report;
pub mod service;
pub mod tiers;
