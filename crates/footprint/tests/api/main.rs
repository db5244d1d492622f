//! The API's integration tests: the real server on a random port, spoken to over HTTP.

#![allow(clippy::unwrap_used)]

mod accounts;
mod attendance;
mod browser;
mod cdp;
mod cluster;
mod consent;
mod dashboard;
mod demo;
mod durability;
mod edge;
mod events;
mod freshness;
mod helpers;
mod insights;
mod jobs;
mod limits;
mod lockout;
mod logs;
mod mfa;
mod ml;
mod ml_insights;
mod operations;
mod permissions;
mod posthog_js;
mod privacy;
mod process;
mod profiles;
mod queue;
mod risk;
mod sdk;
mod sdk_clients;
mod seed001;
mod seed002;
mod snapshots;
mod tokens;
mod track;
mod tracker;
mod transfer;
mod visualizations;
mod webhook_watch;
mod webhooks;
