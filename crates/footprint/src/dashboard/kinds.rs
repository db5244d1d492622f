//! The chart types by their seed names, what each needs (a user, the staff role), whom a chart
//! is about, and each chart's title.

use crate::kernel::error::ApiError;

/// The charts, by the seed's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisType {
    ClusterScatter,
    UserClusterRadar,
    BehaviorPatternsHeatmap,
    ActivityTimeline,
    PreferenceRadar,
    UserEngagementBar,
    ContentPreferencesBreakdown,
    HourlyActivityHeatmap,
    FeatureUsagePie,
    ClusterComparison,
    /// Seed 004: attendance rate by weekday and two-hour slot.
    AttendanceByWeekdaySlot,
    /// Seed 004: an attendance model on its held-out registrations.
    ModelRocCurve,
    ModelCalibration,
    ModelConfusionMatrix,
    /// Seed 001: acceptance and satisfaction per day.
    MatchAcceptanceOverTime,
    /// Seed 002: a user's most probable next actions.
    NextActionProbabilities,
    /// Seed 003: accounts per tier.
    TierDistribution,
    /// Seed 003: the busiest hour against each tier's limit.
    TierUsage,
    /// Seed 003: logins and security events per day.
    SecurityEvents,
    /// Seed 003: users by churn probability.
    ChurnRiskDistribution,
    /// Seed 003: weekly cohorts and their retention.
    CohortRetention,
}

impl VisType {
    /// Seed 000's ten, then the charts of the other seeds' data.
    pub const ALL: [VisType; 21] = [
        VisType::ClusterScatter,
        VisType::UserClusterRadar,
        VisType::BehaviorPatternsHeatmap,
        VisType::ActivityTimeline,
        VisType::PreferenceRadar,
        VisType::UserEngagementBar,
        VisType::ContentPreferencesBreakdown,
        VisType::HourlyActivityHeatmap,
        VisType::FeatureUsagePie,
        VisType::ClusterComparison,
        VisType::AttendanceByWeekdaySlot,
        VisType::ModelRocCurve,
        VisType::ModelCalibration,
        VisType::ModelConfusionMatrix,
        VisType::MatchAcceptanceOverTime,
        VisType::NextActionProbabilities,
        VisType::TierDistribution,
        VisType::TierUsage,
        VisType::SecurityEvents,
        VisType::ChurnRiskDistribution,
        VisType::CohortRetention,
    ];

    pub fn name(self) -> &'static str {
        match self {
            VisType::ClusterScatter => "cluster_scatter",
            VisType::UserClusterRadar => "user_cluster_radar",
            VisType::BehaviorPatternsHeatmap => "behavior_patterns_heatmap",
            VisType::ActivityTimeline => "activity_timeline",
            VisType::PreferenceRadar => "preference_radar",
            VisType::UserEngagementBar => "user_engagement_bar",
            VisType::ContentPreferencesBreakdown => "content_preferences_breakdown",
            VisType::HourlyActivityHeatmap => "hourly_activity_heatmap",
            VisType::FeatureUsagePie => "feature_usage_pie",
            VisType::ClusterComparison => "cluster_comparison",
            VisType::AttendanceByWeekdaySlot => "attendance_by_weekday_slot",
            VisType::ModelRocCurve => "model_roc_curve",
            VisType::ModelCalibration => "model_calibration",
            VisType::ModelConfusionMatrix => "model_confusion_matrix",
            VisType::MatchAcceptanceOverTime => "match_acceptance_over_time",
            VisType::NextActionProbabilities => "next_action_probabilities",
            VisType::TierDistribution => "tier_distribution",
            VisType::TierUsage => "tier_usage",
            VisType::SecurityEvents => "security_events",
            VisType::ChurnRiskDistribution => "churn_risk_distribution",
            VisType::CohortRetention => "cohort_retention",
        }
    }

    /// The type a name means, or `NOT_FOUND` listing the valid names.
    pub fn parse(name: &str) -> Result<Self, ApiError> {
        Self::ALL.into_iter().find(|vis| vis.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|vis| vis.name()).collect();
            ApiError::NotFound(format!("no chart {name}: the charts are {}", names.join(", ")))
        })
    }

    /// Whether the chart is about one user (who must be named); the others are about segments
    /// and are for managers and admins.
    pub fn about_a_user(self) -> bool {
        !matches!(
            self,
            VisType::ClusterScatter
                | VisType::ClusterComparison
                | VisType::AttendanceByWeekdaySlot
                | VisType::ModelRocCurve
                | VisType::ModelCalibration
                | VisType::ModelConfusionMatrix
                | VisType::MatchAcceptanceOverTime
                | VisType::TierDistribution
                | VisType::TierUsage
                | VisType::SecurityEvents
                | VisType::ChurnRiskDistribution
                | VisType::CohortRetention
        )
    }

    /// One of seed 000's ten.
    pub fn from_seed_000(self) -> bool {
        Self::ALL[..10].contains(&self)
    }
}

/// Whom a chart is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub user_id: Option<String>,
    /// A segment id of the latest run (cluster charts), `3` or `cluster_3`.
    pub cluster_id: Option<String>,
    /// An attendance model (model charts; default the latest ready one).
    pub model_id: Option<String>,
    /// Days back from now (match charts; default 30).
    pub days: Option<u32>,
}

/// The title a chart of `vis` is drawn with.
pub fn title(vis: VisType) -> &'static str {
    match vis {
        VisType::ClusterScatter => "Users by segment",
        VisType::UserClusterRadar => "The user against their segment",
        VisType::BehaviorPatternsHeatmap => "What the user does next",
        VisType::ActivityTimeline => "Activity per day",
        VisType::PreferenceRadar => "Preferences",
        VisType::UserEngagementBar => "Engagement against all users",
        VisType::ContentPreferencesBreakdown => "Content preferences",
        VisType::HourlyActivityHeatmap => "Activity by weekday and hour",
        VisType::FeatureUsagePie => "Feature usage",
        VisType::ClusterComparison => "Segments side by side",
        VisType::AttendanceByWeekdaySlot => "Attendance by weekday and time",
        VisType::ModelRocCurve => "ROC curve on held-out registrations",
        VisType::ModelCalibration => "Calibration on held-out registrations",
        VisType::ModelConfusionMatrix => "Confusion matrix on held-out registrations",
        VisType::MatchAcceptanceOverTime => "Match acceptance and satisfaction per day",
        VisType::NextActionProbabilities => "Most probable next actions",
        VisType::TierDistribution => "Accounts per tier",
        VisType::TierUsage => "Busiest hour against the tier's limit",
        VisType::SecurityEvents => "Logins and security events per day",
        VisType::ChurnRiskDistribution => "Churn risk over the next horizon",
        VisType::CohortRetention => "Weekly cohorts: share active each week",
    }
}
