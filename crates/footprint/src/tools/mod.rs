//! Offline tools of the command line: `footprint bench` (throughput and latency),
//! `footprint eval` (model quality on datasets) and `footprint demo` (a generated dataset).

pub mod bench;
pub mod demo;
pub mod eval;
