//! Footprint: a self-hosted engine that tracks what an application's users do (under their
//! consent), profiles them and predicts what they will do next. This crate holds the
//! services, the HTTP API and the command line; `footprint-store` does the I/O and
//! `footprint-analytics` the pure computations.

pub mod auth;
pub mod bench;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod eval;
pub mod extract;
pub mod http;
pub mod ingest;
pub mod processing;
pub mod profiling;
pub mod schedule;
pub mod server;
pub mod services;
pub mod state;
pub mod telemetry;
pub mod tracking;
pub mod vault;

pub use config::Config;
pub use server::{App, serve};
