//! Seed 003's charts: accounts per tier, the busiest hour against each tier's limit, logins and
//! security events per day, the churn-risk distribution, and cohort retention.

use std::collections::BTreeMap;

use footprint_analytics::Tier;
use footprint_charts::{Bars, Chart, Heatmap, LineSeries, Lines, Series, XAxis};

use super::kinds::{VisType, title};
use crate::app::state::AppState;
use crate::insights::{cohorts, report, tiers};
use crate::kernel::error::ApiError;
use crate::kernel::time::DAY_US;

const TIERS: [Tier; 4] = [Tier::Free, Tier::Premium, Tier::Enterprise, Tier::Vip];
/// Days of security events drawn.
const SECURITY_DAYS: i64 = 14;
/// Audit entries read for them (the newest).
const AUDIT_READ: u32 = 20_000;

/// Accounts per tier.
pub async fn tier_distribution(state: &AppState) -> Result<Chart, ApiError> {
    let name = title(VisType::TierDistribution);
    let analysis = tiers::analyze(state).await?;
    if analysis.accounts == 0 {
        return Ok(Chart::not_enough_data(name, "no account exists yet"));
    }
    let counts: Vec<f64> =
        TIERS.iter().map(|tier| analysis.by_tier.get(tier.as_str()).map_or(0.0, |line| line.accounts as f64)).collect();
    let categories = TIERS.iter().map(|tier| tier.as_str().to_owned()).collect();
    let body = Bars::vertical(categories, vec![Series::new("accounts", counts)], "accounts");
    Ok(Chart::new(name, body).with_subtitle(format!("{} accounts", analysis.accounts)))
}

/// For each limited tier: the busiest hour of its median account and of its busiest account,
/// as a share of the tier's hourly limit, over `insights.usage_window_days`.
pub async fn tier_usage(state: &AppState) -> Result<Chart, ApiError> {
    let name = title(VisType::TierUsage);
    let analysis = tiers::every_account(state).await?;
    let mut categories = Vec::new();
    let (mut median, mut highest) = (Vec::new(), Vec::new());
    for tier in TIERS {
        let limit = state.config.tiers.limits(tier).requests_per_hour;
        let mut peaks: Vec<f64> = analysis
            .iter()
            .filter(|line| line.tier == tier)
            .map(|line| line.peak_hour_requests as f64 / f64::from(limit.max(1)))
            .collect();
        if limit == 0 || peaks.is_empty() {
            continue;
        }
        peaks.sort_by(f64::total_cmp);
        categories.push(format!("{} ({limit}/h)", tier.as_str()));
        median.push(peaks[peaks.len() / 2].min(1.0));
        highest.push(peaks[peaks.len() - 1].min(1.0));
    }
    if categories.is_empty() {
        return Ok(Chart::not_enough_data(name, "no account on a limited tier"));
    }
    let body = Bars::vertical(
        categories,
        vec![Series::new("median account", median), Series::new("busiest account", highest)],
        "busiest hour / hourly limit",
    )
    .rates();
    let days = state.config.insights.usage_window_days;
    Ok(Chart::new(name, body).with_subtitle(format!("each account's busiest hour of the last {days} days")))
}

/// Logins and security events per UTC day over the last two weeks, from the audit log.
pub async fn security_events(state: &AppState) -> Result<Chart, ApiError> {
    let name = title(VisType::SecurityEvents);
    let now_us = state.clock.now_us();
    let first_day = now_us.div_euclid(DAY_US) - SECURITY_DAYS + 1;
    let audit = state.store.audit_log(AUDIT_READ).await?;
    let mut per_day: BTreeMap<(&'static str, i64), f64> = BTreeMap::new();
    let mut counted = 0;
    for entry in &audit {
        let day = entry.at_us.div_euclid(DAY_US);
        if day < first_day {
            continue;
        }
        let kind = match (entry.action.as_str(), entry.outcome.as_str()) {
            ("login" | "login.mfa", "success") => "logins",
            ("login", "mfa_required") => "second steps asked",
            ("login", "locked") => "lockouts",
            ("login" | "login.mfa", _) => "failed logins",
            (action, _) if action.starts_with("mfa.") || action.starts_with("user.") => "account changes",
            _ => continue,
        };
        counted += 1;
        *per_day.entry((kind, day)).or_default() += 1.0;
    }
    if counted == 0 {
        return Ok(Chart::not_enough_data(name, "no login or account change in the last 14 days"));
    }
    let series = ["logins", "failed logins", "second steps asked", "lockouts", "account changes"]
        .iter()
        .map(|kind| {
            let points = (first_day..first_day + SECURITY_DAYS)
                .map(|day| ((day * DAY_US) as f64, per_day.get(&(*kind, day)).copied().unwrap_or(0.0)))
                .collect();
            LineSeries::new(*kind, points)
        })
        .collect();
    let body = Lines::new(series, XAxis::Time, "day (UTC)", "events");
    Ok(Chart::new(name, body).with_subtitle(format!("{counted} audited events in the last {SECURITY_DAYS} days")))
}

/// The churn distribution of the latest analytics report, when it is under a day old and from
/// the model serving now (scoring every active user takes seconds at 100 000 users).
async fn reported_churn(state: &AppState) -> Result<Option<(report::ChurnLine, String)>, ApiError> {
    let Some(run) = state.store.automation_runs(Some("analytics".to_owned()), 1).await?.into_iter().next() else {
        return Ok(None);
    };
    let Some(report) = run.report.as_deref().and_then(|r| serde_json::from_str::<report::AnalyticsReport>(r).ok())
    else {
        return Ok(None);
    };
    let serving = crate::insights::churn::ready_model(state).await?.map(|(record, _)| record.model_id);
    let fresh = state.clock.now_us() - run.started_at_us < DAY_US;
    Ok((fresh && serving.is_some() && report.churn.model_id == serving).then_some((report.churn, report.generated_at)))
}

/// Users active within the churn horizon by their churn probability, in tenths: from the
/// latest analytics report when it is fresh, else computed now.
pub async fn churn_distribution(state: &AppState) -> Result<Chart, ApiError> {
    let name = title(VisType::ChurnRiskDistribution);
    let (line, as_of) = match reported_churn(state).await? {
        Some((line, generated_at)) => {
            (line, format!(" (analytics report of {})", &generated_at[..16].replace('T', " ")))
        }
        None => (report::churn_distribution(state, state.clock.now_us()).await?, String::new()),
    };
    if line.users_scored == 0 {
        let why = line.note.unwrap_or_else(|| "no user to score".to_owned());
        return Ok(Chart::not_enough_data(name, why));
    }
    let categories = (0..10).map(|tenth| format!("{}–{} %", tenth * 10, tenth * 10 + 10)).collect();
    let counts = line.histogram.iter().map(|n| *n as f64).collect();
    let body = Bars::vertical(categories, vec![Series::new("users", counts)], "users");
    let mean = line.mean_probability.unwrap_or(0.0);
    Ok(Chart::new(name, body).with_subtitle(format!(
        "{} users active in the last {} days; mean risk {:.0} %, {} above 70 %{as_of}",
        line.users_scored,
        line.horizon_days,
        100.0 * mean,
        line.high_risk
    )))
}

/// The weekly cohorts of the last 12 weeks and the share of each active week by week.
pub async fn cohort_retention(state: &AppState) -> Result<Chart, ApiError> {
    let name = title(VisType::CohortRetention);
    let table = match cohorts::table(state, footprint_store::RetentionPeriod::Week, 12).await {
        Ok(table) => table,
        Err(ApiError::InsufficientData { message, .. }) => return Ok(Chart::not_enough_data(name, message)),
        Err(error) => return Err(error),
    };
    let weeks = table.cohorts.iter().map(|row| row.retention.len()).max().unwrap_or(0);
    let body = Heatmap {
        rows: table.cohorts.iter().map(|row| format!("{} ({})", row.cohort, row.users)).collect(),
        columns: (0..weeks).map(|week| format!("week {week}")).collect(),
        values: table
            .cohorts
            .iter()
            .map(|row| (0..weeks).map(|week| row.retention.get(week).copied().unwrap_or(f64::NAN)).collect())
            .collect(),
        value_label: "share of the cohort active".into(),
        percent: true,
    };
    let users: i64 = table.cohorts.iter().map(|row| row.users).sum();
    Ok(Chart::new(name, body).with_subtitle(format!(
        "{users} users by the week of their first event; the last week of each row is still running"
    )))
}
