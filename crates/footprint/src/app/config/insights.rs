//! Seed 003's insights (the churn model, usage against the tiers) and automation (the scheduled
//! jobs and their time zone).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::load::seconds;

/// The churn model and the insights computed per user.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InsightsConfig {
    /// N: a user churns when they have no event in the N days after a day they were active.
    pub churn_horizon_days: u32,
    /// How far back the churn model's features look (56 to 365 days).
    pub churn_history_days: u32,
    /// Days of activity a training run learns from (before the horizon held out to check it).
    pub churn_training_days: u32,
    /// Most user-days one fit reads; more are sampled down evenly.
    pub churn_max_training_rows: usize,
    /// Fewest users active before the validation cut-off (and churned, and staying) a model needs.
    pub churn_min_users: usize,
    /// How often the churn model is trained again by itself; 0 turns the scheduled run off.
    #[serde(with = "seconds")]
    pub churn_training_interval_secs: Duration,
    /// Weeks of engagement shown with its trend.
    pub engagement_weeks: usize,
    /// Days of requests the tier advice looks at.
    pub usage_window_days: u32,
    /// Days the requests per caller and hour are kept.
    pub usage_keep_days: u32,
    /// How often this node adds the requests it counted to the store.
    #[serde(with = "super::load::milliseconds")]
    pub usage_flush_ms: Duration,
}

impl Default for InsightsConfig {
    fn default() -> Self {
        Self {
            churn_horizon_days: 30,
            churn_history_days: 91,
            churn_training_days: 180,
            churn_max_training_rows: 400_000,
            churn_min_users: 30,
            churn_training_interval_secs: Duration::from_secs(86_400),
            engagement_weeks: 8,
            usage_window_days: 7,
            usage_keep_days: 90,
            usage_flush_ms: Duration::from_millis(5_000),
        }
    }
}

/// Seed 003's scheduled operations, as cron expressions (5 fields, or 6 with seconds first;
/// `@daily`-style names too) read in `timezone`. Each scheduled run happens once across the
/// nodes sharing the store and is recorded (`GET /api/v1/automation/runs`). An empty schedule
/// turns the job off.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutomationConfig {
    /// An IANA time zone name (`Europe/Paris`) or `UTC`.
    pub timezone: String,
    /// Provisioning of new accounts (every 6 hours).
    pub provisioning_schedule: String,
    /// What scheduled provisioning reads: a file (CSV or JSON lines, as `footprint automation
    /// provision-users --file`), or a drop folder whose `.csv`, `.jsonl`, `.ndjson` and `.json`
    /// files are all read; without one, the scheduled run has nothing to do and says so.
    pub provisioning_file: Option<PathBuf>,
    /// The day's analytics report (daily at 02:00).
    pub analytics_schedule: String,
    /// Data maintenance: retention, expired counters (weekly, on Sunday).
    pub cleanup_schedule: String,
    /// Tier analysis: upgrade and downgrade candidates (daily at 02:30).
    pub tiers_schedule: String,
    /// A run still `running` after this long is taken to be dead (its node stopped) and the
    /// slot may be run by another node.
    #[serde(with = "seconds")]
    pub lease_secs: Duration,
}

impl Default for AutomationConfig {
    fn default() -> Self {
        Self {
            timezone: "UTC".to_owned(),
            provisioning_schedule: "0 */6 * * *".to_owned(),
            provisioning_file: None,
            analytics_schedule: "0 2 * * *".to_owned(),
            cleanup_schedule: "0 3 * * SUN".to_owned(),
            tiers_schedule: "30 2 * * *".to_owned(),
            lease_secs: Duration::from_secs(3_600),
        }
    }
}

/// A cron schedule of `[automation]`, read: the expression and the zone it is read in.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    /// The job's name (`provisioning`, `tiers`, `analytics`, `cleanup`).
    pub job: &'static str,
    pub cron: croner::Cron,
    pub zone: jiff::tz::TimeZone,
}

impl AutomationConfig {
    /// The schedules that are on, each read (the configuration refuses to load with one that
    /// cannot be): an error names the field.
    pub fn schedules(&self) -> Result<Vec<CronSchedule>, String> {
        if self.lease_secs.is_zero() {
            return Err("lease_secs: must be positive".to_owned());
        }
        let zone = jiff::tz::TimeZone::get(self.timezone.trim()).map_err(|error| {
            format!("timezone: {:?} is not a time zone (an IANA name such as Europe/Paris): {error}", self.timezone)
        })?;
        let mut schedules = Vec::new();
        for (job, field, pattern) in [
            ("provisioning", "provisioning_schedule", &self.provisioning_schedule),
            ("tiers", "tiers_schedule", &self.tiers_schedule),
            ("analytics", "analytics_schedule", &self.analytics_schedule),
            ("cleanup", "cleanup_schedule", &self.cleanup_schedule),
        ] {
            if pattern.trim().is_empty() {
                continue;
            }
            let cron = <croner::Cron as std::str::FromStr>::from_str(pattern.trim())
                .map_err(|error| format!("{field}: {pattern:?} is not a cron expression: {error}"))?;
            schedules.push(CronSchedule { job, cron, zone: zone.clone() });
        }
        Ok(schedules)
    }
}
