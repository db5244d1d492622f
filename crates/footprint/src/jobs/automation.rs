//! Seed 003's automation: the jobs `provisioning` (accounts from a file), `tiers` (the tier
//! analysis), `analytics` (the day's report), `cleanup` (retention and expired counters) and
//! `churn-training`, run by hand (`footprint automation …`) or on their schedules: cron
//! expressions read in `automation.timezone` (provisioning every 6 hours, analytics daily at
//! 02:00, clean-up weekly on Sunday) and the churn model every
//! `insights.churn_training_interval_secs`. Every node wakes at each scheduled time, but a slot
//! (job, scheduled time) runs once across the nodes sharing the store: the first node to record
//! the run holds its lease, and another takes it over only once it is older than
//! `automation.lease_secs` and unfinished (its node died). Each run is recorded with its
//! trigger, node, times, outcome, counts and report (`GET /api/v1/automation/runs`).

use std::path::Path;
use std::time::Duration;

use croner::Cron;
use footprint_store::AutomationRun;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::accounts::provisioning::{self, ProvisionReport};
use crate::app::config::AutomationConfig;
use crate::app::state::AppState;
use crate::insights::churn;
use crate::insights::report::{self, AnalyticsReport};
use crate::insights::tiers::{self, TierAnalysis};
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::tracking::retention::{self, CleanupReport};

/// The longest a scheduler sleeps before looking at the clock again (the clock may be moved).
const LOOK_AGAIN: Duration = Duration::from_secs(30);

/// A job of seed 003's automation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Job {
    Provisioning,
    Tiers,
    Analytics,
    Cleanup,
    ChurnTraining,
}

impl Job {
    pub const ALL: [Job; 5] = [Job::Provisioning, Job::Tiers, Job::Analytics, Job::Cleanup, Job::ChurnTraining];

    pub fn name(self) -> &'static str {
        match self {
            Job::Provisioning => "provisioning",
            Job::Tiers => "tiers",
            Job::Analytics => "analytics",
            Job::Cleanup => "cleanup",
            Job::ChurnTraining => "churn-training",
        }
    }

    pub fn parse(name: &str) -> Option<Job> {
        Job::ALL.into_iter().find(|job| job.name() == name)
    }
}

/// When a job runs.
enum When {
    Cron(Box<Cron>, jiff::tz::TimeZone),
    /// Slots are the multiples of the interval since the epoch; the current one runs at start.
    Every(i64),
}

struct Schedule {
    job: Job,
    when: When,
}

impl Schedule {
    /// The first scheduled time after `at_us`.
    fn next_after(&self, at_us: i64) -> Option<i64> {
        match &self.when {
            When::Cron(cron, zone) => {
                let zoned = jiff::Timestamp::from_microsecond(at_us).ok()?.to_zoned(zone.clone());
                let next = cron.find_next_occurrence(&zoned, false).ok()?;
                Some(next.timestamp().as_microsecond())
            }
            When::Every(interval_us) => Some((at_us.div_euclid(*interval_us) + 1) * interval_us),
        }
    }

    /// The slot under way at `at_us` that a node starting now should still run (interval jobs
    /// only: a restart should not postpone a daily training by a day).
    fn current(&self, at_us: i64) -> Option<i64> {
        match &self.when {
            When::Every(interval_us) => Some(at_us.div_euclid(*interval_us) * interval_us),
            When::Cron(..) => None,
        }
    }
}

/// The cron schedules of the configuration (checked when it was loaded).
fn cron_schedules(config: &AutomationConfig) -> Result<Vec<Schedule>, String> {
    Ok(config
        .schedules()?
        .into_iter()
        .filter_map(|schedule| {
            let job = Job::parse(schedule.job)?;
            Some(Schedule { job, when: When::Cron(Box::new(schedule.cron), schedule.zone) })
        })
        .collect())
}

/// A recorded run, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RunView {
    pub run_id: String,
    pub job: String,
    /// `schedule`, `cli` or `api`.
    pub trigger: String,
    pub node: String,
    /// The scheduled time the run stands for (runs by hand have none).
    pub scheduled_for: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    /// `running`, `success` or `failed`.
    pub status: String,
    #[schema(value_type = Object)]
    pub counts: Value,
    /// The run's report (the analytics and tier jobs make one); in `GET …/runs/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub report: Option<Value>,
    pub error: Option<String>,
}

impl RunView {
    pub fn of(run: &AutomationRun, with_report: bool) -> Self {
        Self {
            run_id: run.run_id.clone(),
            job: run.job.clone(),
            trigger: run.trigger.clone(),
            node: run.node.clone(),
            scheduled_for: run.slot_us.map(rfc3339),
            started_at: rfc3339(run.started_at_us),
            finished_at: run.finished_at_us.map(rfc3339),
            duration_ms: run.finished_at_us.map(|end| (end - run.started_at_us) / 1000),
            status: run.status.clone(),
            counts: serde_json::from_str(&run.counts).unwrap_or(Value::Null),
            report: if with_report { run.report.as_deref().and_then(|r| serde_json::from_str(r).ok()) } else { None },
            error: run.error.clone(),
        }
    }
}

/// What a job produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Output {
    Provisioning(ProvisionReport),
    Tiers(TierAnalysis),
    Analytics(Box<AnalyticsReport>),
    Cleanup(CleanupReport),
    Training(Value),
    Skipped(String),
}

impl Output {
    /// The counts kept with the run, and the report (aggregates only: no user is named).
    fn recorded(&self) -> (Value, Option<Value>) {
        match self {
            Output::Provisioning(report) => (
                json!({"rows": report.rows, "created": report.created, "updated": report.updated,
                    "unchanged": report.unchanged, "invitations": report.invitations, "rejected": report.rejected.len()}),
                // Rejections name lines and reasons (which may quote an address): counts only.
                None,
            ),
            Output::Tiers(analysis) => (
                json!({"accounts": analysis.accounts,
                    "upgrade": analysis.candidates.iter().filter(|c| c.advice.action == "upgrade").count(),
                    "downgrade": analysis.candidates.iter().filter(|c| c.advice.action == "downgrade").count()}),
                Some(json!({"window_days": analysis.window_days, "by_tier": analysis.by_tier})),
            ),
            Output::Analytics(report) => (
                json!({"users": report.users, "events_yesterday": report.events_yesterday,
                    "churn_users_scored": report.churn.users_scored}),
                serde_json::to_value(report).ok(),
            ),
            Output::Cleanup(report) => {
                (json!({"removed_events": report.removed_events, "removed_ml_calls": report.removed_ml_calls}), None)
            }
            Output::Training(started) => (started.clone(), None),
            Output::Skipped(reason) => (json!({"skipped": reason}), None),
        }
    }
}

/// Runs `job` now: provisioning reads `file` (or `automation.provisioning_file`).
pub async fn execute(
    state: &AppState,
    job: Job,
    file: Option<&Path>,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Output, ApiError> {
    match job {
        Job::Provisioning => {
            let configured = state.config.automation.provisioning_file.clone();
            match file.map(Path::to_path_buf).or(configured) {
                Some(path) => Ok(Output::Provisioning(provisioning::provision_path(state, &path, progress).await?)),
                None => Ok(Output::Skipped("no file to provision from (automation.provisioning_file)".to_owned())),
            }
        }
        Job::Tiers => Ok(Output::Tiers(tiers::analyze(state).await?)),
        Job::Analytics => Ok(Output::Analytics(Box::new(report::generate(state).await?))),
        Job::Cleanup => {
            let report = retention::cleanup(state, provisioning::ACTOR).await?;
            Ok(Output::Cleanup(report))
        }
        Job::ChurnTraining => match churn::start_training(state, provisioning::ACTOR).await {
            Ok(model) => Ok(Output::Training(json!({"model_id": model.model_id, "version": model.version}))),
            Err(ApiError::InsufficientData { message, .. }) => Ok(Output::Skipped(message)),
            Err(ApiError::Conflict(message)) => Ok(Output::Skipped(message)),
            Err(error) => Err(error),
        },
    }
}

/// A job run and recorded: `None` when its slot was already run (or is being run) by a node.
pub struct Ran {
    pub run: RunView,
    pub output: Result<Output, ApiError>,
}

/// Runs `job` as a recorded run: by hand (`slot_us` = `None`), or for a scheduled slot, once
/// across the nodes. Its outcome is recorded whether it succeeds or fails.
pub async fn run(
    state: &AppState,
    job: Job,
    trigger: &str,
    slot_us: Option<i64>,
    file: Option<&Path>,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Option<Ran>, ApiError> {
    let now_us = state.clock.now_us();
    let mut run = AutomationRun {
        run_id: format!("run-{}", ulid::Ulid::new().to_string().to_lowercase()),
        job: job.name().to_owned(),
        slot_us,
        trigger: trigger.to_owned(),
        node: state.node.to_string(),
        started_at_us: now_us,
        finished_at_us: None,
        status: "running".to_owned(),
        counts: "{}".to_owned(),
        report: None,
        error: None,
    };
    let lease_us = i64::try_from(state.config.automation.lease_secs.as_micros()).unwrap_or(i64::MAX);
    if !state.store.claim_run(run.clone(), now_us.saturating_sub(lease_us)).await? {
        return Ok(None);
    }
    let mut output = None;
    let recorded = state
        .tasks
        .record(&format!("automation {}", job.name()), async {
            let result = execute(state, job, file, progress).await;
            let outcome = result.as_ref().map(|_| ()).map_err(|error| error.to_string());
            output = Some(result);
            outcome
        })
        .await;
    let output = output.unwrap_or_else(|| Err(ApiError::internal("the run produced nothing")));
    run.finished_at_us = Some(state.clock.now_us());
    match (&output, recorded) {
        (Ok(output), Ok(())) => {
            let (counts, report) = output.recorded();
            run.status = "success".to_owned();
            run.counts = counts.to_string();
            run.report = report.map(|report| report.to_string());
        }
        (_, outcome) => {
            run.status = "failed".to_owned();
            run.error = Some(outcome.err().unwrap_or_else(|| "failed".to_owned()));
        }
    }
    state.store.finish_run(run.clone()).await?;
    Ok(Some(Ran { run: RunView::of(&run, false), output }))
}

/// What a run left `running` by a node that stopped is recorded with.
const STOPPED: &str = "interrupted: the node running it stopped before it finished; the next slot runs again";

/// Records as failed the runs left `running` for longer than the lease (their nodes stopped),
/// then starts a loop per scheduled job (those with an empty schedule are off).
pub fn start(state: &AppState) {
    let sweep = state.clone();
    state.tasks.clone().spawn_loop(async move {
        let now_us = sweep.clock.now_us();
        let lease_us = i64::try_from(sweep.config.automation.lease_secs.as_micros()).unwrap_or(i64::MAX);
        match sweep.store.fail_stale_runs(now_us.saturating_sub(lease_us), STOPPED, now_us).await {
            Ok(0) => {}
            Ok(failed) => {
                tracing::warn!(failed, "automation runs left unfinished by a stopped node recorded as failed")
            }
            Err(error) => tracing::warn!(error = %error, "could not look for unfinished automation runs"),
        }
    });
    let mut schedules = match cron_schedules(&state.config.automation) {
        Ok(schedules) => schedules,
        Err(error) => {
            // The configuration was checked when it was loaded.
            tracing::error!(error = %error, "automation schedules not started");
            return;
        }
    };
    let training_us = i64::try_from(state.config.insights.churn_training_interval_secs.as_micros()).unwrap_or(0);
    if training_us > 0 {
        schedules.push(Schedule { job: Job::ChurnTraining, when: When::Every(training_us) });
    }
    for schedule in schedules {
        let state = state.clone();
        let mut shutdown = state.tasks.stopping();
        state.tasks.clone().spawn_loop(async move {
            let mut after = state.clock.now_us();
            if let Some(slot) = schedule.current(after) {
                // Give processing a moment to catch up after a start.
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = shutdown.changed() => return,
                }
                run_slot(&state, schedule.job, slot).await;
            }
            loop {
                let Some(next) = schedule.next_after(after) else {
                    tracing::warn!(job = schedule.job.name(), "the schedule has no next time");
                    return;
                };
                loop {
                    let now = state.clock.now_us();
                    if now >= next {
                        break;
                    }
                    let wait = Duration::from_micros(u64::try_from(next - now).unwrap_or(0)).min(LOOK_AGAIN);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => return,
                    }
                }
                run_slot(&state, schedule.job, next).await;
                after = next.max(state.clock.now_us());
            }
        });
    }
}

async fn run_slot(state: &AppState, job: Job, slot_us: i64) {
    match run(state, job, "schedule", Some(slot_us), None, &|_| {}).await {
        Ok(Some(ran)) => {
            tracing::info!(job = job.name(), run = %ran.run.run_id, status = %ran.run.status, "scheduled automation run done");
        }
        Ok(None) => tracing::debug!(job = job.name(), "another node runs this slot"),
        Err(error) => tracing::warn!(job = job.name(), error = %error, "scheduled automation run not recorded"),
    }
}

/// The latest runs, newest first.
pub async fn runs(state: &AppState, job: Option<&str>, limit: u32) -> Result<Vec<RunView>, ApiError> {
    if let Some(name) = job
        && Job::parse(name).is_none()
    {
        let names: Vec<&str> = Job::ALL.iter().map(|job| job.name()).collect();
        return Err(ApiError::InvalidParameters(format!("job: {name} is not one of {}", names.join(", "))));
    }
    let runs = state.store.automation_runs(job.map(str::to_owned), limit).await?;
    Ok(runs.iter().map(|run| RunView::of(run, false)).collect())
}

/// One run with its report.
pub async fn run_detail(state: &AppState, run_id: &str) -> Result<RunView, ApiError> {
    let run = state
        .store
        .automation_run(run_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no automation run {run_id}")))?;
    Ok(RunView::of(&run, true))
}

/// The name this node records its runs under: the host, the process and a random part.
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    format!("{host}:{}:{}", std::process::id(), &crate::kernel::crypto::random_token(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_US: i64 = 3_600_000_000;

    #[test]
    fn cron_schedules_are_read_in_their_time_zone() {
        let config = AutomationConfig { timezone: "Europe/Paris".to_owned(), ..AutomationConfig::default() };
        let schedules = cron_schedules(&config).unwrap();
        let analytics = schedules.iter().find(|s| s.job == Job::Analytics).unwrap();
        // 2026-01-15 12:00 UTC → the next 02:00 in Paris (UTC+1 in winter) is 01:00 UTC on the 16th.
        let noon = <jiff::Timestamp as std::str::FromStr>::from_str("2026-01-15T12:00:00Z").unwrap().as_microsecond();
        let next = analytics.next_after(noon).unwrap();
        assert_eq!(jiff::Timestamp::from_microsecond(next).unwrap().to_string(), "2026-01-16T01:00:00Z");
        // Weekly on Sunday at 03:00 Paris: Thursday the 15th → Sunday the 18th, 02:00 UTC.
        let cleanup = schedules.iter().find(|s| s.job == Job::Cleanup).unwrap();
        let next = cleanup.next_after(noon).unwrap();
        assert_eq!(jiff::Timestamp::from_microsecond(next).unwrap().to_string(), "2026-01-18T02:00:00Z");
        // Every 6 hours.
        let provisioning = schedules.iter().find(|s| s.job == Job::Provisioning).unwrap();
        assert_eq!(provisioning.next_after(noon).unwrap() - noon, 5 * HOUR_US, "13:00 Paris → 18:00 Paris");
    }

    #[test]
    fn bad_schedules_and_zones_are_refused_with_their_name() {
        let bad = AutomationConfig { analytics_schedule: "every day".to_owned(), ..AutomationConfig::default() };
        assert!(bad.schedules().unwrap_err().contains("analytics_schedule"));
        let zone = AutomationConfig { timezone: "Mars/Olympus".to_owned(), ..AutomationConfig::default() };
        assert!(zone.schedules().unwrap_err().contains("timezone"));
        let off = AutomationConfig { provisioning_schedule: String::new(), ..AutomationConfig::default() };
        assert_eq!(cron_schedules(&off).unwrap().len(), 3);
        let seconds =
            AutomationConfig { analytics_schedule: "*/2 * * * * *".to_owned(), ..AutomationConfig::default() };
        assert!(seconds.schedules().is_ok(), "six fields: seconds first");
    }

    #[test]
    fn interval_slots_are_multiples_of_the_interval() {
        let schedule = Schedule { job: Job::ChurnTraining, when: When::Every(24 * HOUR_US) };
        assert_eq!(schedule.current(30 * HOUR_US), Some(24 * HOUR_US));
        assert_eq!(schedule.next_after(30 * HOUR_US), Some(48 * HOUR_US));
        assert_eq!(schedule.next_after(48 * HOUR_US), Some(72 * HOUR_US));
    }
}
