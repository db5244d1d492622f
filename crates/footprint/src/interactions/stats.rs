//! Seed 002's statistics: usage totals, interactions per user, and segments of users by their
//! action profile. Each read first lets processing catch up, then uses the cache under the
//! current generation, so a submitted interaction shows in the next read.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use footprint_analytics::cluster::{KMeansOptions, Points, Standardizer, choose_k, labels_by_size};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::kernel::error::ApiError;

/// Actions that describe a profile: the most frequent ones overall.
const PROFILE_ACTIONS: usize = 30;
const MAX_SEGMENTS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageNumbers {
    /// Every stored interaction (event).
    pub total_interactions: i64,
    /// Every user known: with an account or only tracked.
    pub total_users: i64,
    pub accounts: i64,
    /// Users with at least one interaction.
    pub active_users: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageStats {
    pub usage_stats: UsageNumbers,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InteractionCount {
    pub username: String,
    pub interaction_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InteractionsStats {
    /// Most active first.
    pub interactions_stats: Vec<InteractionCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserSegment {
    pub username: String,
    /// 0 is the largest segment, 1 the next, …
    pub cluster: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Segment {
    pub cluster: usize,
    pub size: usize,
    /// The actions that set the segment apart: highest share against the average user.
    pub distinctive_actions: Vec<String>,
    pub mean_interactions: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedbackStats {
    pub feedback_stats: Vec<UserSegment>,
    pub segments: Vec<Segment>,
    /// Users with interactions that were segmented.
    pub users: usize,
    /// Number of segments, chosen by the best silhouette between 2 and 8.
    pub k: Option<usize>,
    pub silhouette: Option<f64>,
    /// Why there are no segments, when there are none.
    pub message: Option<String>,
}

/// Catches processing up, then serves `name` from the cache or computes it. `compute` says
/// whether its result may be cached.
async fn cached<T, F>(state: &AppState, name: &str, compute: F) -> Result<T, ApiError>
where
    T: Serialize + DeserializeOwned,
    F: Future<Output = Result<(T, bool), ApiError>>,
{
    crate::tracking::freshness::settle_for_read(state).await?;
    let generation = state.cache.generation().await;
    let key = format!("stats:{name}:{generation}");
    let usable = generation != u64::MAX;
    if usable
        && let Some(text) = state.cache.get(&key).await
        && let Ok(value) = serde_json::from_str(&text)
    {
        return Ok(value);
    }
    let (value, cacheable) = compute.await?;
    if usable && cacheable {
        let text = serde_json::to_string(&value).map_err(ApiError::internal)?;
        state.cache.put(&key, &text, state.config.cache.stats_ttl_secs).await;
    }
    Ok(value)
}

pub async fn usage(state: &AppState) -> Result<UsageStats, ApiError> {
    cached(state, "usage", async {
        let users = state.store.count_users().await?;
        let totals = state.store.user_totals().await?;
        let numbers = UsageNumbers {
            total_interactions: totals.iter().map(|total| total.n_actions).sum(),
            total_users: users.users,
            accounts: users.accounts,
            active_users: totals.len() as i64,
        };
        Ok((UsageStats { usage_stats: numbers }, true))
    })
    .await
}

pub async fn interactions(state: &AppState) -> Result<InteractionsStats, ApiError> {
    cached(state, "interactions", async {
        let totals = state.store.user_totals().await?;
        let counts = totals
            .into_iter()
            .map(|total| InteractionCount {
                username: total.username.unwrap_or(total.user_id),
                interaction_count: total.n_actions,
            })
            .collect();
        Ok((InteractionsStats { interactions_stats: counts }, true))
    })
    .await
}

pub async fn feedback(state: &AppState) -> Result<FeedbackStats, ApiError> {
    cached(state, "feedback", async {
        let totals = state.store.user_totals().await?;
        let counts = state.store.user_action_counts().await?;
        let names: HashMap<String, String> =
            totals.into_iter().map(|total| (total.user_key, total.username.unwrap_or(total.user_id))).collect();
        let mut profiles: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for count in counts {
            if let Some(name) = names.get(&count.scope) {
                profiles.entry(name.clone()).or_default().insert(count.next, count.count);
            }
        }
        let result = tokio::task::spawn_blocking(move || segment(&profiles)).await.map_err(ApiError::internal)?;
        let cacheable = result.message.is_none();
        Ok((result, cacheable))
    })
    .await
}

impl FeedbackStats {
    /// No segments, and why.
    fn none(users: usize, message: String) -> Self {
        Self {
            feedback_stats: Vec::new(),
            segments: Vec::new(),
            users,
            k: None,
            silhouette: None,
            message: Some(message),
        }
    }
}

/// Segments profiles (name → action → count): action shares of the most common actions plus
/// log activity, standardised; k by silhouette.
pub fn segment(profiles: &BTreeMap<String, BTreeMap<String, i64>>) -> FeedbackStats {
    let users = profiles.len();
    if users < 3 {
        return FeedbackStats::none(
            users,
            format!(
                "au moins 3 utilisateurs avec des interactions sont nécessaires pour former des segments ({users} pour l'instant)"
            ),
        );
    }
    let mut overall: BTreeMap<&str, i64> = BTreeMap::new();
    for actions in profiles.values() {
        for (action, count) in actions {
            *overall.entry(action).or_default() += count;
        }
    }
    let mut vocabulary: Vec<&str> = overall.keys().copied().collect();
    vocabulary.sort_by(|a, b| overall[b].cmp(&overall[a]).then(a.cmp(b)));
    vocabulary.truncate(PROFILE_ACTIONS);
    let dims = vocabulary.len() + 1;
    let mut raw = Vec::with_capacity(users * dims);
    let mut totals = Vec::with_capacity(users);
    for actions in profiles.values() {
        let total: i64 = actions.values().sum();
        totals.push(total);
        for action in &vocabulary {
            raw.push(actions.get(*action).copied().unwrap_or(0) as f64 / total.max(1) as f64);
        }
        raw.push((total as f64).ln_1p());
    }
    let raw = Points::new(raw, dims);
    let standard = Standardizer::fit(&raw).transform(&raw);
    let Some(chosen) = choose_k(&standard, 2, MAX_SEGMENTS, &KMeansOptions::default()) else {
        return FeedbackStats::none(users, "pas assez de profils distincts pour former des segments".to_owned());
    };
    let (labels, sizes) = labels_by_size(&chosen.model.labels, chosen.k);
    let overall_share: Vec<f64> =
        (0..vocabulary.len()).map(|dim| (0..users).map(|row| raw.row(row)[dim]).sum::<f64>() / users as f64).collect();
    let segments = (0..chosen.k)
        .map(|cluster| {
            let members: Vec<usize> = (0..users).filter(|&row| labels[row] == cluster).collect();
            let mean =
                |dim: usize| members.iter().map(|&row| raw.row(row)[dim]).sum::<f64>() / members.len().max(1) as f64;
            let mut lifts: Vec<(usize, f64)> = (0..vocabulary.len())
                .filter(|&dim| mean(dim) >= 0.05)
                .map(|dim| (dim, mean(dim) / overall_share[dim].max(1e-9)))
                .collect();
            lifts.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            Segment {
                cluster,
                size: sizes[cluster],
                distinctive_actions: lifts.iter().take(3).map(|(dim, _)| vocabulary[*dim].to_owned()).collect(),
                mean_interactions: members.iter().map(|&row| totals[row] as f64).sum::<f64>()
                    / members.len().max(1) as f64,
            }
        })
        .collect();
    let feedback_stats = profiles
        .keys()
        .zip(&labels)
        .map(|(username, &cluster)| UserSegment { username: username.clone(), cluster })
        .collect();
    FeedbackStats {
        feedback_stats,
        segments,
        users,
        k: Some(chosen.k),
        silhouette: Some(chosen.silhouette),
        message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(counts: &[(&str, i64)]) -> BTreeMap<String, i64> {
        counts.iter().map(|(action, count)| ((*action).to_owned(), *count)).collect()
    }

    #[test]
    fn buyers_and_browsers_fall_into_two_segments() {
        let mut profiles = BTreeMap::new();
        for n in 0..6 {
            profiles.insert(format!("buyer{n}"), profile(&[("search", 2), ("add_to_cart", 5 + n), ("purchase", 4)]));
            profiles.insert(format!("browser{n}"), profile(&[("search", 10 + n), ("view", 12)]));
        }
        let stats = segment(&profiles);
        assert_eq!(stats.k, Some(2), "{stats:?}");
        let cluster_of = |name: &str| stats.feedback_stats.iter().find(|s| s.username == name).unwrap().cluster;
        assert!((0..6).all(|n| cluster_of(&format!("buyer{n}")) == cluster_of("buyer0")));
        assert!((0..6).all(|n| cluster_of(&format!("browser{n}")) == cluster_of("browser0")));
        assert_ne!(cluster_of("buyer0"), cluster_of("browser0"));
        let buyers = &stats.segments[cluster_of("buyer0")];
        assert!(buyers.distinctive_actions.contains(&"purchase".to_owned()), "{buyers:?}");
        assert_eq!(buyers.size, 6);
    }

    #[test]
    fn fewer_than_three_users_say_so() {
        let profiles = BTreeMap::from([("a".to_owned(), profile(&[("x", 1)])), ("b".to_owned(), profile(&[("y", 1)]))]);
        let stats = segment(&profiles);
        assert!(stats.feedback_stats.is_empty() && stats.k.is_none());
        assert!(stats.message.unwrap().contains("3 utilisateurs"));
    }
}
