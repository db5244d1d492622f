//! Services: the product's operations, called by the HTTP handlers and the CLI. They speak
//! in domain types and `ApiError`s; the store does the I/O.

pub mod accounts;
pub mod attendance;
pub mod attendance_model;
pub mod audit;
pub mod consent;
pub mod events;
pub mod interactions;
pub mod match_model;
pub mod matching;
pub mod ml_insights;
pub mod ml_usage;
pub mod predictions;
pub mod privacy;
pub mod profiles;
pub mod retention;
pub mod segments;
pub mod stats;
