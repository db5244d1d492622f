//! Accounts (seeds 002 and 003): who may call (`Principal`, JWTs, API keys, the permission
//! checks), passwords, account creation and login with lockout (per login and network), and
//! the audit trail. Every other area meets accounts through the `Principal` its routes receive.

pub mod api_key;
pub mod audit;
pub mod changes;
pub mod http;
pub mod jwt;
pub mod limits;
pub mod lockout;
pub mod mfa;
pub mod outbox;
pub mod password;
pub mod principal;
pub mod provisioning;
pub mod risk;
pub mod service;
pub mod settings;
pub mod transfer;
pub mod usage;

pub use api_key::SCOPE_BROWSER;
pub use principal::{Authenticator, Principal, SCOPE_INGEST, SCOPE_METRICS};
