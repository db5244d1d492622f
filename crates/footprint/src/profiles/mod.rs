//! Profiles (seed 000): features, preferences and habits read from the incremental profiles
//! that processing keeps, declared profiles and their versions, segments of users, the
//! recommendations drawn from them, the answers that gather them (enriched, recalculated), and
//! the library face (`setup_profiling_system`).

pub mod enriched;
pub mod http;
pub mod library;
pub mod patterns_cache;
pub mod segments;
pub mod service;
