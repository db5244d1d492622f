//! Footprint: a self-hosted engine that tracks what an application's users do (under their
//! consent), profiles them and predicts what they will do next. This crate holds the product
//! areas (each with its services, its routes and, where there is one, its library face), the
//! kernel they share, the HTTP layer that mounts them, the background jobs and the command
//! line; `footprint-store` does the I/O and `footprint-analytics` the pure computations.

pub mod app;
pub mod kernel;

pub mod http;

pub mod accounts;
pub mod tracking;

pub mod attendance;
pub mod dashboard;
pub mod insights;
pub mod interactions;
pub mod matching;
pub mod profiles;

pub mod cli;
pub mod jobs;
pub mod tools;
pub mod webhooks;

pub use app::config::{self, Config};
pub use app::server::{App, serve};
/// Seed 000's library face under the seed's name (`setup_profiling_system`).
pub use profiles::library as profiling;
