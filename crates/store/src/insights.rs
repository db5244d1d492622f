//! What the store keeps for seed 003's insights and automation: each user's activity per day
//! (kept by processing, read by the churn model and the cohorts), the requests each caller made
//! per hour (for usage against the tiers' limits), and the runs of automation jobs (the lease
//! that makes a scheduled run happen once across nodes, and its outcome).

/// One user's processed activity on one UTC day. Sessions count on the day of the event that
/// starts them, and their length on the days of the events that extend them; an event older
/// than the user's latest (a late one) counts as an event but neither starts nor extends one.
#[derive(Debug, Clone, PartialEq)]
pub struct UserDay {
    pub user_key: String,
    /// Days since 1970-01-01.
    pub day: i64,
    pub events: i64,
    pub sessions: i64,
    pub session_seconds: f64,
    /// The sum of the events' monetary values (their `revenue`, `amount` or `total`).
    pub amount: f64,
    /// When the user was first seen (filled by reads, ignored by writes).
    pub first_seen_us: Option<i64>,
}

/// Requests one caller made in one hour (added to what is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUsage {
    /// A user's pseudonym, or `key:` and an API key's id.
    pub caller_key: String,
    /// The hour's start.
    pub hour_us: i64,
    pub requests: i64,
    /// Of which refused for the tier's limit.
    pub limited: i64,
}

/// A caller's requests over a stretch of hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerUsage {
    pub caller_key: String,
    pub requests: i64,
    pub limited: i64,
    /// The most requests in one hour.
    pub peak_hour: i64,
    /// Hours with a request.
    pub active_hours: i64,
}

/// One run of an automation job.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationRun {
    pub run_id: String,
    /// `provisioning`, `analytics`, `cleanup`, `analyze-tiers`, …
    pub job: String,
    /// The scheduled time the run stands for (one run per job and slot across nodes); `None`
    /// for a run started by hand.
    pub slot_us: Option<i64>,
    /// `schedule`, `cli` or `api`.
    pub trigger: String,
    pub node: String,
    pub started_at_us: i64,
    pub finished_at_us: Option<i64>,
    /// `running`, `success` or `failed`.
    pub status: String,
    /// A JSON object of counts (created, updated, rejected…).
    pub counts: String,
    /// The run's report (JSON), for jobs that make one; aggregates only, never a user.
    pub report: Option<String>,
    pub error: Option<String>,
}

/// The periods cohorts and their activity are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionPeriod {
    /// UTC days (the index is the day number).
    Day,
    /// Weeks from Monday (the index m is the week whose Monday is day 7m − 3).
    Week,
    /// Calendar months (the index is months since January 1970).
    Month,
}

impl RetentionPeriod {
    /// The SQL of the period index of a day number, for SQLite or PostgreSQL.
    pub(crate) fn index_sql(self, day: &str, postgres: bool) -> String {
        match (self, postgres) {
            (RetentionPeriod::Day, _) => format!("({day})"),
            (RetentionPeriod::Week, _) => format!("(({day}) + 3) / 7"),
            (RetentionPeriod::Month, false) => format!(
                "((CAST(strftime('%Y', ({day}) * 86400, 'unixepoch') AS INTEGER) - 1970) * 12
                  + CAST(strftime('%m', ({day}) * 86400, 'unixepoch') AS INTEGER) - 1)"
            ),
            (RetentionPeriod::Month, true) => format!(
                "(((extract(year FROM to_timestamp(({day}) * 86400) AT TIME ZONE 'UTC') - 1970) * 12
                  + extract(month FROM to_timestamp(({day}) * 86400) AT TIME ZONE 'UTC') - 1)::int8)"
            ),
        }
    }
}

/// Which users' retention to count: those first seen in `[first_seen_from_us, first_seen_to_us)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionQuery {
    pub period: RetentionPeriod,
    pub first_seen_from_us: i64,
    pub first_seen_to_us: i64,
}

/// Cohorts (by the period of their first event) and their activity per period.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RetentionCounts {
    /// (cohort, users first seen in it).
    pub sizes: Vec<(i64, i64)>,
    /// (cohort, period, users of the cohort with processed activity in the period).
    pub cells: Vec<(i64, i64, i64)>,
}
