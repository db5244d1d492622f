//! `GET /api/v1/users/{id}/insights` (seed 003's `get_user_insights`): a user's engagement and
//! its trend, activity, churn risk and its factors, cohort and that cohort's retention,
//! segment, and — for an account — usage against the tier's limits with an upgrade or
//! downgrade suggestion. Every figure is computed from the instance's data.

use footprint_analytics::churn::ActiveDay;
use footprint_analytics::insights::{Trend, WeekEngagement, trend, weekly_engagement};
use footprint_analytics::time::day_index;
use footprint_store::UserDay;
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::insights::churn::{self, ChurnRisk};
use crate::insights::cohorts::{self, Cohort};
use crate::insights::tiers::{self, TierUsage};
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::profiles::segments::{ClusterOrReason, cluster_or_reason};
use crate::profiles::service as profiles;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WeekView {
    /// The week's Monday (`YYYY-MM-DD`).
    pub week: String,
    pub score: f64,
    pub active_days: u32,
    pub events: i64,
    pub sessions: i64,
}

/// The engagement score now, week by week, and its trend.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Engagement {
    /// 0–100, the profile's formula on the whole history (see ARCHITECTURE.md).
    pub score: f64,
    /// The same formula on each week's activity alone, oldest first, the current week last.
    pub weekly: Vec<WeekView>,
    /// The least-squares slope of the weekly scores (points per week) and its p-value.
    #[schema(value_type = Object)]
    pub trend: Option<Trend>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Activity {
    pub events: u64,
    pub sessions: u64,
    pub active_days: u64,
    pub first_seen_at: Option<String>,
    pub last_seen_at: Option<String>,
    pub days_since_last_seen: f64,
    pub events_per_week: f64,
    pub events_last_7_days: i64,
    pub events_last_30_days: i64,
    /// The monetary value of the last 30 days' events (`revenue`, `amount` or `total`).
    pub amount_last_30_days: f64,
    /// The user's most frequent event types, most frequent first.
    pub top_event_types: Vec<(String, u64)>,
}

/// The churn risk, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ChurnAnswer {
    Given(Box<ChurnRisk>),
    Unavailable { available: bool, reason: String },
}

/// The answer of `GET /api/v1/users/{id}/insights`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserInsights {
    pub user_id: String,
    pub computed_at: String,
    pub engagement: Engagement,
    pub activity: Activity,
    #[schema(value_type = Object)]
    pub churn_risk: ChurnAnswer,
    /// The week of the user's first event, and that cohort's retention week by week (shown to
    /// the user themself only for a cohort of 10 users or more).
    pub cohort: Option<Cohort>,
    #[schema(value_type = Object)]
    pub segment: ClusterOrReason,
    /// For an account: usage against the tier's limits and the advice; `null` for a user known
    /// only from tracking.
    pub usage: Option<TierUsage>,
}

/// The fewest users a cohort needs before a plain user is shown its retention.
const SMALLEST_COHORT_SHOWN: i64 = 10;

fn active_day(day: &UserDay) -> ActiveDay {
    ActiveDay {
        day: day.day,
        events: u32::try_from(day.events.max(0)).unwrap_or(u32::MAX),
        sessions: u32::try_from(day.sessions.max(0)).unwrap_or(u32::MAX),
        session_seconds: day.session_seconds,
        amount: day.amount,
    }
}

/// A user's insights: the user themself, or a manager or admin.
pub async fn user_insights(state: &AppState, principal: &Principal, user_id: &str) -> Result<UserInsights, ApiError> {
    principal.require_self_or_staff(user_id)?;
    let user = profiles::user(state, user_id).await?;
    let profile = profiles::profile_state(state, &user).await?;
    if profile.events == 0 {
        return Err(ApiError::InsufficientData {
            message: format!(
                "{user_id} has no processed event yet: insights need at least 1 (engagement, churn and cohort come from the user's activity)"
            ),
            needed: 1,
            available: 0,
        });
    }
    let now_us = state.clock.now_us();
    let today = day_index(now_us);
    let features = profile.features(now_us);
    let days = churn::user_days(state, &user).await?;
    let active_days: Vec<ActiveDay> = days.iter().map(active_day).collect();
    let weeks_asked = state.config.insights.engagement_weeks;
    let weeks: Vec<WeekEngagement> = weekly_engagement(&active_days, features.events_by_type.len(), today, weeks_asked);
    let scores: Vec<f64> = weeks.iter().map(|week| week.score).collect();
    let engagement = Engagement {
        score: features.engagement_score,
        weekly: weeks
            .iter()
            .map(|week| WeekView {
                week: crate::kernel::time::day_text(week.week_start_day),
                score: week.score,
                active_days: week.active_days,
                events: week.events,
                sessions: week.sessions,
            })
            .collect(),
        trend: trend(&scores),
    };
    let since = |window: i64| days.iter().filter(move |day| day.day > today - window);
    let mut top_event_types: Vec<(String, u64)> =
        features.events_by_type.iter().map(|(name, count)| (name.clone(), *count)).collect();
    top_event_types.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top_event_types.truncate(5);
    let activity = Activity {
        events: features.events,
        sessions: features.sessions,
        active_days: features.active_days,
        first_seen_at: profile.first_us.map(rfc3339),
        last_seen_at: profile.last_us.map(rfc3339),
        days_since_last_seen: features.recency_days,
        events_per_week: features.events_per_week,
        events_last_7_days: since(7).map(|day| day.events).sum(),
        events_last_30_days: since(30).map(|day| day.events).sum(),
        amount_last_30_days: since(30).map(|day| day.amount).sum(),
        top_event_types,
    };
    let horizon = state.config.insights.churn_horizon_days;
    let churn_risk = match churn::ready_model(state).await? {
        Some((record, model)) => {
            let risk = tokio::task::spawn_blocking(move || churn::risk(&record, &model, &days, today, horizon))
                .await
                .map_err(ApiError::internal)?;
            match risk {
                Some(risk) => ChurnAnswer::Given(Box::new(risk)),
                None => ChurnAnswer::Unavailable {
                    available: false,
                    reason: "the user's activity is not processed yet".to_owned(),
                },
            }
        }
        None => ChurnAnswer::Unavailable {
            available: false,
            reason: format!(
                "no churn model is trained yet: one trains daily once {} users were active before the latest {horizon}-day outcome (an admin can start one with POST /api/v1/insights/churn/train)",
                state.config.insights.churn_min_users
            ),
        },
    };
    let probability = match &churn_risk {
        ChurnAnswer::Given(risk) => Some(risk.probability),
        ChurnAnswer::Unavailable { .. } => None,
    };
    let usage = if user.has_account() {
        Some(tiers::usage_of(state, &user, Some(features.engagement_score), probability).await?)
    } else {
        None
    };
    Ok(UserInsights {
        user_id: user.user_id.clone(),
        computed_at: rfc3339(now_us),
        engagement,
        activity,
        churn_risk,
        // A small cohort's weekly counts would tell a user about the few others in it.
        cohort: cohorts::cohort_of(state, &user)
            .await?
            .filter(|cohort| principal.is_staff() || cohort.users >= SMALLEST_COHORT_SHOWN),
        segment: cluster_or_reason(state, &user.user_id).await?,
        usage,
    })
}
