//! Retention: raw events are deleted once older than their type's period (`retention.*`).
//! Before match events go, what the metrics need is folded into daily aggregates, in the same
//! transaction as the deletion, so `/api/metrics/*` keep counting them. Only events that
//! processing has already folded into the sequence counts are deleted.

use footprint_store::{EventExpiry, MetricAggregate, StoredEvent, TypeSelector};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::audit;
use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::time::DAY_US;
use crate::tracking::processing::SEQUENCES;
use crate::tracking::schema::{self as matching, AGGREGATE_KIND, MATCH_FEEDBACK, MATCH_PROPOSED};

/// What one retention rule removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RuleOutcome {
    /// The event types the rule covers, or every type except those listed.
    pub event_types: Vec<String>,
    pub all_types_except_listed: bool,
    pub retention_days: u32,
    /// Events with a time before this were removed (RFC 3339).
    pub older_than: String,
    pub removed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CleanupReport {
    /// `success`.
    pub status: &'static str,
    pub removed_events: u64,
    /// Matches and feedback folded into daily aggregates before their events were removed.
    pub aggregated_matches: u64,
    pub aggregated_feedback: u64,
    /// Entries of the ML call log older than `ml.call_log_days`.
    pub removed_ml_calls: u64,
    pub rules: Vec<RuleOutcome>,
    pub ran_at: String,
}

/// Expired events of `types` older than `before_us` among those up to `up_to_seq`, with the
/// aggregates of the match events among them.
async fn expire(
    state: &AppState,
    types: TypeSelector,
    before_us: i64,
    up_to_seq: i64,
    report: &mut CleanupReport,
) -> Result<u64, ApiError> {
    let covers = |event_type: &str| match &types {
        TypeSelector::Only(names) => names.iter().any(|name| name == event_type),
        TypeSelector::AllExcept(names) => !names.iter().any(|name| name == event_type),
    };
    let arrived = |events: Vec<StoredEvent>| -> Vec<StoredEvent> {
        events.into_iter().filter(|event| event.seq <= up_to_seq).collect()
    };
    let mut matches = Vec::new();
    if covers(MATCH_PROPOSED) {
        matches = matching::matches_in(state, None, Some(before_us)).await?;
        matches.retain(|(row, _)| row.seq <= up_to_seq);
    }
    let feedback = if covers(MATCH_FEEDBACK) {
        arrived(matching::read_events(state, MATCH_FEEDBACK, None, Some(before_us)).await?)
    } else {
        Vec::new()
    };
    let now_us = state.clock.now_us();
    let mut aggregates = Vec::new();
    for (day_us, stats) in matching::fold_by_day(&matches, &feedback) {
        aggregates.push(MetricAggregate {
            kind: AGGREGATE_KIND.to_owned(),
            day_us,
            stats: serde_json::to_string(&stats).map_err(ApiError::internal)?,
            created_at_us: now_us,
        });
    }
    let removed = state.store.expire_events(EventExpiry { types, before_us, up_to_seq, aggregates }).await?;
    report.aggregated_matches += matches.len() as u64;
    report.aggregated_feedback += feedback.len() as u64;
    Ok(removed)
}

/// Runs every retention rule once.
pub async fn cleanup(state: &AppState, actor: &str) -> Result<CleanupReport, ApiError> {
    let config = &state.config.retention;
    let now_us = state.clock.now_us();
    let up_to_seq = state.store.processing_watermark(SEQUENCES).await?;
    let mut report = CleanupReport {
        status: "success",
        removed_events: 0,
        aggregated_matches: 0,
        aggregated_feedback: 0,
        removed_ml_calls: 0,
        rules: Vec::new(),
        ran_at: rfc3339(now_us),
    };
    let mut rules: Vec<(TypeSelector, u32)> = config
        .per_type_days
        .iter()
        .map(|(event_type, days)| (TypeSelector::Only(vec![event_type.clone()]), *days))
        .collect();
    rules.push((TypeSelector::AllExcept(config.per_type_days.keys().cloned().collect()), config.events_days));
    for (types, days) in rules {
        let before_us = now_us - i64::from(days) * DAY_US;
        let (event_types, all_types_except_listed) = match &types {
            TypeSelector::Only(names) => (names.clone(), false),
            TypeSelector::AllExcept(names) => (names.clone(), true),
        };
        let removed = expire(state, types, before_us, up_to_seq, &mut report).await?;
        report.removed_events += removed;
        report.rules.push(RuleOutcome {
            event_types,
            all_types_except_listed,
            retention_days: days,
            older_than: rfc3339(before_us),
            removed,
        });
    }
    report.removed_ml_calls =
        state.store.expire_ml_calls(now_us - i64::from(state.config.ml.call_log_days) * DAY_US).await?;
    let usage_days = i64::from(state.config.insights.usage_keep_days);
    let expired_usage = state.store.expire_request_usage(now_us - usage_days * DAY_US).await?;
    tracing::debug!(expired_usage, "request counts older than insights.usage_keep_days forgotten");
    let forgotten_logins = crate::accounts::lockout::forget_quiet_pairs(state).await?;
    tracing::debug!(forgotten_logins, "failed-login counts of quiet logins forgotten");
    if report.removed_events > 0 {
        state.cache.invalidate().await;
    }
    let detail = serde_json::json!({
        "removed_events": report.removed_events,
        "aggregated_matches": report.aggregated_matches,
        "aggregated_feedback": report.aggregated_feedback,
        "removed_ml_calls": report.removed_ml_calls,
    });
    audit::record(state, "privacy.cleanup", Some(actor), None, "success", detail).await;
    Ok(report)
}
