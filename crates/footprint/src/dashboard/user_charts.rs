//! The charts of one user: their traits against their segment's, what they do after what,
//! their days and hours, their preferences and the features they use.

use std::collections::BTreeMap;

use footprint_analytics::segmentation::{self, SegmentModel, TRAITS};
use footprint_charts::{Bars, Chart, Heatmap, LineSeries, Lines, Pie, Radar, Series, XAxis};
use footprint_store::{EventQuery, StoredEvent};

use super::kinds::{VisType, title};
use crate::app::state::AppState;
use crate::kernel::error::ApiError;
use crate::kernel::time::{DAY_US, HOUR_US};
use crate::profiles::segments::UserClustering;
use crate::profiles::service::{self as profiles, PreferenceCalculator};
use crate::tracking::events;

/// The last events a chart reads for a user.
const EVENTS_MAX: usize = 100_000;
/// Event types shown one by one; the rest are added up as `other`.
const TYPES_SHOWN: usize = 8;
/// Consecutive events further apart than this are not a transition.
const TRANSITION_GAP_US: i64 = 30 * 60 * 1_000_000;
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
/// The engagement traits of [`TRAITS`] (the first eight).
const ENGAGEMENT_TRAITS: usize = 8;

pub async fn chart(state: &AppState, vis: VisType, user_id: &str) -> Result<Chart, ApiError> {
    let user = profiles::user(state, user_id).await?;
    let name = title(vis);
    match vis {
        VisType::BehaviorPatternsHeatmap => Ok(transitions(name, &recent_events(state, &user.user_key).await?)),
        VisType::ActivityTimeline => Ok(timeline(name, &recent_events(state, &user.user_key).await?)),
        VisType::HourlyActivityHeatmap => Ok(hours(name, &recent_events(state, &user.user_key).await?)),
        VisType::PreferenceRadar | VisType::ContentPreferencesBreakdown => {
            let preferences = match PreferenceCalculator::new(state.clone()).calculate_preferences(user_id, 10).await {
                Ok(preferences) => preferences,
                Err(ApiError::ConsentRequired(why)) => return Ok(Chart::not_enough_data(name, why)),
                Err(error) => return Err(error),
            };
            let scores: Vec<(String, f64)> = preferences.categories.iter().map(|p| (p.name.clone(), p.score)).collect();
            if vis == VisType::PreferenceRadar {
                let body = Radar {
                    axes: scores.iter().map(|(name, _)| name.clone()).collect(),
                    series: vec![Series::new(user_id, scores.iter().map(|(_, score)| *score).collect())],
                    min: 0.0,
                    max: 1.0,
                };
                Ok(Chart::new(name, body).with_subtitle("decayed category scores, the strongest = 1"))
            } else {
                let body = Bars::horizontal(
                    scores.iter().map(|(name, _)| name.clone()).collect(),
                    vec![Series::new("score", scores.iter().map(|(_, score)| *score).collect())],
                    "preference score (the strongest = 100%)",
                )
                .rates();
                let items: Vec<String> = preferences.items.iter().take(3).map(|p| p.name.clone()).collect();
                let chart = Chart::new(name, body);
                Ok(if items.is_empty() {
                    chart
                } else {
                    chart.with_subtitle(format!("top items: {}", items.join(", ")))
                })
            }
        }
        VisType::FeatureUsagePie => {
            let features = profiles::profile_state(state, &user).await?.features(state.clock.now_us());
            let (counts, subtitle) = if features.feature_usage.is_empty() {
                (features.events_by_type, "events by type (no feature use recorded)")
            } else {
                (features.feature_usage, "feature_used events by feature")
            };
            Ok(Chart::new(name, Pie { slices: top(&counts), value_label: "events".into() }).with_subtitle(subtitle))
        }
        VisType::UserClusterRadar | VisType::UserEngagementBar => against_segment(state, vis, user_id).await,
        VisType::NextActionProbabilities => super::model_charts::next_actions(state, user_id).await,
        _ => Err(ApiError::internal(format!("{} is not a chart of one user", vis.name()))),
    }
}

/// The user's last [`EVENTS_MAX`] events, oldest first.
async fn recent_events(state: &AppState, user_key: &str) -> Result<Vec<StoredEvent>, ApiError> {
    let query = EventQuery { user_key: Some(user_key.to_owned()), ..EventQuery::default() };
    let mut events = events::read_all(state, query).await?;
    events.sort_by_key(|e| (e.timestamp_us, e.seq));
    if events.len() > EVENTS_MAX {
        events.drain(..events.len() - EVENTS_MAX);
    }
    Ok(events)
}

/// The [`TYPES_SHOWN`] largest counts, the rest as `other`.
fn top(counts: &BTreeMap<String, u64>) -> Vec<(String, f64)> {
    let mut sorted: Vec<(&String, &u64)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let mut shown: Vec<(String, f64)> =
        sorted.iter().take(TYPES_SHOWN).map(|(name, n)| ((*name).clone(), **n as f64)).collect();
    let rest: u64 = sorted.iter().skip(TYPES_SHOWN).map(|(_, n)| **n).sum();
    if rest > 0 {
        shown.push(("other".to_owned(), rest as f64));
    }
    shown
}

/// The [`TYPES_SHOWN`] most frequent event types, most frequent first.
fn main_types(events: &[StoredEvent]) -> Vec<String> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for event in events {
        *counts.entry(event.event_type.clone()).or_default() += 1;
    }
    top(&counts).into_iter().map(|(name, _)| name).filter(|name| name != "other").collect()
}

fn too_few(name: &str, events: &[StoredEvent], needed: usize) -> Option<Chart> {
    (events.len() < needed).then(|| {
        Chart::not_enough_data(name, format!("the user has {} events; this chart needs {needed}", events.len()))
    })
}

/// How often each event type follows each other within half an hour: rows what came first.
fn transitions(name: &str, events: &[StoredEvent]) -> Chart {
    if let Some(panel) = too_few(name, events, 2) {
        return panel;
    }
    let types = main_types(events);
    let index = |event: &StoredEvent| types.iter().position(|t| *t == event.event_type).unwrap_or(types.len());
    let mut labels = types.clone();
    let mut cells = vec![vec![0.0; types.len() + 1]; types.len() + 1];
    let mut counted = 0u64;
    for pair in events.windows(2) {
        if pair[1].timestamp_us - pair[0].timestamp_us <= TRANSITION_GAP_US {
            cells[index(&pair[0])][index(&pair[1])] += 1.0;
            counted += 1;
        }
    }
    if counted == 0 {
        return Chart::not_enough_data(name, "no two of the user's events came within half an hour of each other");
    }
    if cells.last().is_some_and(|row| row.iter().all(|c| *c == 0.0)) && cells.iter().all(|row| row[types.len()] == 0.0)
    {
        cells.pop();
        for row in &mut cells {
            row.pop();
        }
    } else {
        labels.push("other".to_owned());
    }
    let body = Heatmap {
        rows: labels.iter().map(|l| format!("{l} →")).collect(),
        columns: labels,
        values: cells,
        value_label: "transitions".into(),
        percent: false,
    };
    Chart::new(name, body).with_subtitle(format!("{counted} transitions between events less than 30 minutes apart"))
}

/// Events per day (UTC) of the main event types over the span of the user's events.
fn timeline(name: &str, events: &[StoredEvent]) -> Chart {
    if let Some(panel) = too_few(name, events, 1) {
        return panel;
    }
    let types = main_types(events);
    let first_day = events[0].timestamp_us.div_euclid(DAY_US);
    let last_day = events[events.len() - 1].timestamp_us.div_euclid(DAY_US);
    let days = (last_day - first_day + 1) as usize;
    let mut counts = vec![vec![0.0; days]; types.len() + 1];
    for event in events {
        let row = types.iter().position(|t| *t == event.event_type).unwrap_or(types.len());
        counts[row][(event.timestamp_us.div_euclid(DAY_US) - first_day) as usize] += 1.0;
    }
    let mut names = types;
    names.push("other".to_owned());
    let series = names
        .into_iter()
        .zip(counts)
        .filter(|(_, values)| values.iter().any(|v| *v > 0.0))
        .map(|(name, values)| {
            let points = values
                .into_iter()
                .enumerate()
                .map(|(day, n)| (((first_day + day as i64) * DAY_US) as f64, n))
                .collect();
            LineSeries::new(name, points)
        })
        .collect();
    Chart::new(name, Lines::new(series, XAxis::Time, "day (UTC)", "events"))
        .with_subtitle(format!("{} events over {days} days", events.len()))
}

/// The user's events by weekday and hour (UTC); the cells add up to the events read.
fn hours(name: &str, events: &[StoredEvent]) -> Chart {
    if let Some(panel) = too_few(name, events, 1) {
        return panel;
    }
    let mut cells = vec![vec![0.0; 24]; 7];
    for event in events {
        let day = footprint_analytics::time::weekday(event.timestamp_us);
        let hour = (event.timestamp_us.rem_euclid(DAY_US) / HOUR_US) as usize;
        cells[day][hour] += 1.0;
    }
    let body = Heatmap {
        rows: WEEKDAYS.iter().map(|d| (*d).to_owned()).collect(),
        columns: (0..24).map(|h| format!("{h:02}h")).collect(),
        values: cells,
        value_label: "events".into(),
        percent: false,
    };
    Chart::new(name, body).with_subtitle(format!("{} events, hours in UTC", events.len()))
}

/// The user's traits and their segment's, in standard deviations from the mean of all users
/// of the latest segmentation.
async fn against_segment(state: &AppState, vis: VisType, user_id: &str) -> Result<Chart, ApiError> {
    let name = title(vis);
    let cluster = match UserClustering::new(state.clone()).cluster_of(user_id).await {
        Ok(cluster) => cluster,
        Err(ApiError::InsufficientData { message, .. }) => return Ok(Chart::not_enough_data(name, message)),
        Err(error) => return Err(error),
    };
    let Some(run) = state.store.cluster_runs(1).await?.into_iter().next() else {
        return Ok(Chart::not_enough_data(name, "no segmentation has run yet"));
    };
    let model: SegmentModel = serde_json::from_str(&run.model).map_err(ApiError::internal)?;
    let user = profiles::user(state, user_id).await?;
    let traits = segmentation::traits(&profiles::profile_state(state, &user).await?.features(state.clock.now_us()));
    let z: Vec<f64> = traits
        .iter()
        .zip(model.means.iter().zip(&model.stds))
        .map(|(value, (mean, std))| if *std > 0.0 { (value - mean) / std } else { 0.0 })
        .collect();
    let segment_z = model.segments.get(cluster.segment_id).map(|s| s.centroid_z.clone()).unwrap_or_default();
    let segment_name = format!("segment {}: {}", cluster.segment_id, cluster.name);
    let labels: Vec<String> = TRAITS.iter().map(|t| t.replace('_', " ")).collect();
    let subtitle = "standard deviations from the mean of all users";
    if vis == VisType::UserClusterRadar {
        let body = Radar {
            axes: labels,
            series: vec![Series::new(user_id, z), Series::new(segment_name, segment_z)],
            min: -3.0,
            max: 3.0,
        };
        return Ok(Chart::new(name, body).with_subtitle(subtitle));
    }
    let take = |values: &[f64]| values.iter().take(ENGAGEMENT_TRAITS).copied().collect::<Vec<f64>>();
    let body = Bars::horizontal(
        labels.into_iter().take(ENGAGEMENT_TRAITS).collect(),
        vec![Series::new(user_id, take(&z)), Series::new(segment_name, take(&segment_z))],
        subtitle,
    );
    Ok(Chart::new(name, body).with_subtitle("recency: higher is longer since the last event"))
}
