//! Interactions (seed 002): submitting and listing interactions, the usage statistics and
//! feedback segments (cached), and next-action predictions (the seed's first-order rule and the
//! variable-order model).

pub mod http;
pub mod predictions;
pub mod service;
pub mod stats;
