//! Usage against the tiers' limits: a caller's requests per hour (counted by every node,
//! `accounts::usage`) over `insights.usage_window_days`, the tier's limit, and the advice
//! (`footprint_analytics::insights::tier_advice`: upgrade when the limit was hit or nearly,
//! downgrade when a lower tier would do and the user is disengaged or leaving); and the same
//! for every account (`footprint automation analyze-tiers`).

use std::collections::{BTreeMap, HashMap};

use footprint_analytics::Tier;
use footprint_analytics::insights::{TierAdvice, UsageFacts, tier_advice};
use footprint_analytics::profile::ProfileState;
use footprint_store::{CallerUsage, UserPageQuery, UserRecord};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::insights::churn;
use crate::kernel::error::ApiError;
use crate::kernel::time::{DAY_US, HOUR_US};

const TIERS: [Tier; 4] = [Tier::Free, Tier::Premium, Tier::Enterprise, Tier::Vip];

fn limit_of(state: &AppState, tier: Tier) -> Option<u32> {
    Some(state.config.tiers.limits(tier).requests_per_hour).filter(|limit| *limit > 0)
}

fn neighbour(tier: Tier, step: isize) -> Option<Tier> {
    let at = TIERS.iter().position(|t| *t == tier)? as isize + step;
    usize::try_from(at).ok().and_then(|at| TIERS.get(at)).copied()
}

/// A caller's use of their tier.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TierUsage {
    #[schema(value_type = String)]
    pub tier: Tier,
    /// Requests per hour the tier allows; `null`: unlimited.
    pub limit_per_hour: Option<u32>,
    /// Events per 30 days the tier allows a caller to send; `null`: unlimited.
    pub events_per_month: Option<u32>,
    /// Requests in the current hour (all nodes, up to the last few seconds).
    pub requests_this_hour: i64,
    pub requests_last_24_hours: i64,
    pub window_days: u32,
    pub requests_in_window: i64,
    /// The busiest hour of the window, and its share of the limit.
    pub peak_hour_requests: i64,
    pub peak_share_of_limit: Option<f64>,
    /// Requests refused for the limit in the window.
    pub limited_in_window: i64,
    pub advice: Advice,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Advice {
    /// `upgrade`, `downgrade` or `keep`.
    pub action: &'static str,
    #[schema(value_type = Option<String>)]
    pub suggested_tier: Option<Tier>,
    pub reasons: Vec<String>,
}

fn advice(tier: Tier, advice: TierAdvice) -> Advice {
    let suggested_tier = match advice.action {
        "upgrade" => neighbour(tier, 1),
        "downgrade" => neighbour(tier, -1),
        _ => None,
    };
    Advice { action: advice.action, suggested_tier, reasons: advice.reasons }
}

/// The engagement score (0–100) of a profile now.
pub fn engagement_now(profile: &ProfileState, now_us: i64) -> Option<f64> {
    (profile.events > 0).then(|| profile.features(now_us).engagement_score)
}

/// `user`'s usage of their tier; `engagement` and `churn_probability` inform the advice.
pub async fn usage_of(
    state: &AppState,
    user: &UserRecord,
    engagement: Option<f64>,
    churn_probability: Option<f64>,
) -> Result<TierUsage, ApiError> {
    let now_us = state.clock.now_us();
    let window_days = state.config.insights.usage_window_days;
    let from_us = now_us - i64::from(window_days) * DAY_US;
    let mut hours: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let stored = state.store.request_usage(&user.user_key, from_us.div_euclid(HOUR_US) * HOUR_US).await?;
    for usage in stored.into_iter().chain(state.usage.pending_for(&user.user_key)) {
        let entry = hours.entry(usage.hour_us).or_default();
        entry.0 += usage.requests;
        entry.1 += usage.limited;
    }
    let this_hour = now_us.div_euclid(HOUR_US) * HOUR_US;
    let summary = CallerUsage {
        caller_key: user.user_key.clone(),
        requests: hours.values().map(|(requests, _)| requests).sum(),
        limited: hours.values().map(|(_, limited)| limited).sum(),
        peak_hour: hours.values().map(|(requests, _)| *requests).max().unwrap_or(0),
        active_hours: hours.len() as i64,
    };
    let usage = usage_view(state, user.tier, &summary, engagement, churn_probability);
    Ok(TierUsage {
        requests_this_hour: hours.get(&this_hour).map_or(0, |(requests, _)| *requests),
        requests_last_24_hours: hours.range(this_hour - 23 * HOUR_US..).map(|(_, (requests, _))| requests).sum(),
        ..usage
    })
}

fn usage_view(
    state: &AppState,
    tier: Tier,
    usage: &CallerUsage,
    engagement: Option<f64>,
    churn_probability: Option<f64>,
) -> TierUsage {
    let window_days = state.config.insights.usage_window_days;
    let limit = limit_of(state, tier);
    let facts = UsageFacts {
        limit_per_hour: limit,
        lower_limit_per_hour: neighbour(tier, -1).map(|lower| limit_of(state, lower)),
        peak_hour: usage.peak_hour,
        limited: usage.limited,
        active_hours: usage.active_hours,
        window_hours: i64::from(window_days) * 24,
        engagement,
        churn_probability,
    };
    TierUsage {
        tier,
        limit_per_hour: limit,
        events_per_month: Some(state.config.tiers.limits(tier).events_per_month).filter(|quota| *quota > 0),
        requests_this_hour: 0,
        requests_last_24_hours: 0,
        window_days,
        requests_in_window: usage.requests,
        peak_hour_requests: usage.peak_hour,
        peak_share_of_limit: limit.map(|limit| usage.peak_hour as f64 / f64::from(limit)),
        limited_in_window: usage.limited,
        advice: advice(tier, tier_advice(&facts)),
    }
}

/// One account's line of the tier analysis.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Candidate {
    pub user_id: String,
    #[schema(value_type = String)]
    pub tier: Tier,
    pub requests_in_window: i64,
    pub peak_hour_requests: i64,
    pub limited_in_window: i64,
    pub engagement: Option<f64>,
    pub churn_probability: Option<f64>,
    pub advice: Advice,
}

/// Per tier: accounts and what the advice says of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct TierSummary {
    pub accounts: usize,
    pub requests_in_window: i64,
    pub limited_in_window: i64,
    pub upgrade: usize,
    pub downgrade: usize,
    pub keep: usize,
}

/// `analyze-tiers`: every account's usage against its limits, and who should move.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TierAnalysis {
    pub window_days: u32,
    pub accounts: usize,
    #[schema(value_type = Object)]
    pub by_tier: BTreeMap<String, TierSummary>,
    /// Accounts advised to upgrade or downgrade (the rest keep their tier), upgrades first.
    pub candidates: Vec<Candidate>,
}

/// Every account with its usage, engagement and churn risk, and the advice for each, in user
/// id order.
pub async fn every_account(state: &AppState) -> Result<Vec<Candidate>, ApiError> {
    let now_us = state.clock.now_us();
    let window_days = state.config.insights.usage_window_days;
    let from_us = now_us - i64::from(window_days) * DAY_US;
    let usage: HashMap<String, CallerUsage> =
        state.store.usage_by_caller(from_us).await?.into_iter().map(|u| (u.caller_key.clone(), u)).collect();
    let mut accounts: Vec<UserRecord> = Vec::new();
    let mut after = None;
    loop {
        let page = state.store.users_page(UserPageQuery { search: None, after_user_id: after, limit: 1000 }).await?;
        let full = page.len() == 1000;
        after = page.last().map(|user| user.user_id.clone());
        accounts.extend(page.into_iter().filter(UserRecord::has_account));
        if !full {
            break;
        }
    }
    let model = churn::ready_model(state).await?;
    let horizon = state.config.insights.churn_horizon_days;
    let today = footprint_analytics::time::day_index(now_us);
    let mut lines = Vec::with_capacity(accounts.len());
    for chunk in accounts.chunks(500) {
        let keys: Vec<String> = chunk.iter().map(|user| user.user_key.clone()).collect();
        let profiles: HashMap<String, ProfileState> = state
            .store
            .profile_states(&keys)
            .await?
            .into_iter()
            .filter_map(|record| Some((record.user_key, serde_json::from_str(&record.state).ok()?)))
            .collect();
        for user in chunk {
            let engagement = profiles.get(&user.user_key).and_then(|profile| engagement_now(profile, now_us));
            let churn_probability = match &model {
                Some((_, model)) => {
                    let days = state.store.user_days(&user.user_key, 0).await?;
                    churn::probability(model, &days, today, horizon)
                }
                None => None,
            };
            let none = CallerUsage {
                caller_key: user.user_key.clone(),
                requests: 0,
                limited: 0,
                peak_hour: 0,
                active_hours: 0,
            };
            let caller = usage.get(&user.user_key).unwrap_or(&none);
            let view = usage_view(state, user.tier, caller, engagement, churn_probability);
            lines.push(Candidate {
                user_id: user.user_id.clone(),
                tier: user.tier,
                requests_in_window: caller.requests,
                peak_hour_requests: caller.peak_hour,
                limited_in_window: caller.limited,
                engagement,
                churn_probability,
                advice: view.advice,
            });
        }
    }
    Ok(lines)
}

/// The tier analysis: every account counted by tier and advice, and the accounts that should
/// move, upgrades first (busiest first), then downgrades.
pub async fn analyze(state: &AppState) -> Result<TierAnalysis, ApiError> {
    let lines = every_account(state).await?;
    let mut by_tier: BTreeMap<String, TierSummary> =
        TIERS.iter().map(|tier| (tier.as_str().to_owned(), TierSummary::default())).collect();
    for line in &lines {
        let summary = by_tier.entry(line.tier.as_str().to_owned()).or_default();
        summary.accounts += 1;
        summary.requests_in_window += line.requests_in_window;
        summary.limited_in_window += line.limited_in_window;
        match line.advice.action {
            "upgrade" => summary.upgrade += 1,
            "downgrade" => summary.downgrade += 1,
            _ => summary.keep += 1,
        }
    }
    let accounts = lines.len();
    let mut candidates: Vec<Candidate> = lines.into_iter().filter(|line| line.advice.action != "keep").collect();
    candidates.sort_by(|a, b| {
        (a.advice.action != "upgrade", b.peak_hour_requests, &a.user_id).cmp(&(
            b.advice.action != "upgrade",
            a.peak_hour_requests,
            &b.user_id,
        ))
    });
    Ok(TierAnalysis { window_days: state.config.insights.usage_window_days, accounts, by_tier, candidates })
}
