//! What the demo reports: counts per area, each stage's wall time, and the accounts with the
//! passwords that are printed once.

use std::time::{Duration, Instant};

use super::accounts::DemoAccount;

/// What was loaded; `accounts` carry the passwords to print once.
#[derive(Debug)]
pub struct DemoReport {
    pub backend: &'static str,
    pub users: usize,
    pub events_accepted: usize,
    pub events_duplicate: usize,
    /// Events of the users who never consented: the consent gate kept them out.
    pub events_not_collected: usize,
    pub match_events: usize,
    pub attendance_events: usize,
    pub registrations: usize,
    pub model_id: String,
    pub segments: i64,
    pub accounts: Vec<DemoAccount>,
    /// Seed 003's accounts, usage, logins and churn model.
    pub seed003: super::seed003::Seed003Report,
    /// Wall time of each stage, in order.
    pub stages: Vec<(&'static str, Duration)>,
}

impl DemoReport {
    /// The lines the command prints, passwords included.
    pub fn summary(&self, took: Duration) -> String {
        let mut text = format!(
            "footprint demo: loaded into the {} store in {:.1} s\n  {} users; {} events stored ({} already there), \
             {} not stored for lack of consent\n  {} match events; {} attendance events with {} registrations; \
             model {} ready; {} segments\n\nAccounts (passwords are shown this once; only their hashes are kept):\n",
            self.backend,
            took.as_secs_f64(),
            self.users,
            self.events_accepted,
            self.events_duplicate,
            self.events_not_collected,
            self.match_events,
            self.attendance_events,
            self.registrations,
            self.model_id,
            self.segments,
        );
        let stages: Vec<String> =
            self.stages.iter().map(|(name, took)| format!("{name} {:.1} s", took.as_secs_f64())).collect();
        let more = format!("\n{}\n  stages: {}", super::seed003::summary(&self.seed003), stages.join(", "));
        text.insert_str(text.find("\n\nAccounts").unwrap_or(text.len()), &more);
        for account in &self.accounts {
            let password = account.password.as_ref().map_or("(existed already: password unchanged)", |p| p.expose());
            text.push_str(&format!("  {:<8} {:<13} {password}\n", account.role.as_str(), account.username));
        }
        text.push_str(
            "\nNext: footprint serve, then log in with one of them (POST /api/v1/auth/login, or the API docs at /docs); \
             charts: GET /api/visualizations/cluster_scatter, or footprint visualize dashboard --cluster 0.",
        );
        text
    }
}

/// When each stage started, and how long the finished ones took.
pub(super) struct Timings {
    pub(super) current: Option<(&'static str, Instant)>,
    pub(super) done: Vec<(&'static str, Duration)>,
}

impl Timings {
    pub(super) fn next(&mut self, name: &'static str) {
        self.finish();
        self.current = Some((name, Instant::now()));
    }

    pub(super) fn finish(&mut self) {
        if let Some((name, started)) = self.current.take() {
            self.done.push((name, started.elapsed()));
        }
    }
}
