//! Offline tools of the command line: `footprint bench` (throughput and latency) and
//! `footprint eval` (model quality on datasets).

pub mod bench;
pub mod eval;
