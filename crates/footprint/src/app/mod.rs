//! The application shell: configuration, the state every handler receives, building and
//! serving an instance, its secrets, and the operations routes (`/health`, `/ready`, `/metrics`).

pub mod config;
pub mod health;
pub mod secrets;
pub mod server;
pub mod state;
