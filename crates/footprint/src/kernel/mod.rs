//! What every area shares and nothing of the product decides: the one API error type and its
//! codes, time, the statistics cache, cryptography, metrics and logging, time windows.

pub mod cache;
pub mod clock;
pub mod crypto;
pub mod error;
pub mod input;
pub mod registry;
pub mod telemetry;
pub mod time;
