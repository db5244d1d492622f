//! Users segmented by behaviour: a fixed vector of traits per user (from [`Features`]; counts
//! and durations on a log scale), standardised, k-means++ with restarts, k chosen by silhouette
//! in a range when not given, a 2-D PCA projection for plots, and each segment named after its
//! centroid's strongest traits (never from a fixed list of names).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cluster::{KMeansOptions, Points, Standardizer, choose_k, kmeans, labels_by_size, pca_2d, silhouette};
use crate::profile::Features;

/// Fewest users a segmentation is computed for: under it, [`segment`] gives `None`.
pub const MIN_USERS: usize = 3;

/// Whether the users are due a segmentation between scheduled runs: the first as soon as
/// [`MIN_USERS`] users have a profile, then whenever the population has reached `growth` times
/// the last run's. A `growth` of 0 (or below 1) turns the rule off, except for the first run.
pub fn due(profiled_users: u64, last_run_users: Option<u64>, growth: f64) -> bool {
    if profiled_users < MIN_USERS as u64 {
        return false;
    }
    match last_run_users {
        None => true,
        Some(_) if growth < 1.0 => false,
        Some(last) => profiled_users as f64 >= (last.max(1) as f64 * growth).ceil(),
    }
}

/// The traits, in vector order.
pub const TRAITS: [&str; 13] = [
    "events",
    "sessions",
    "events_per_session",
    "session_length",
    "active_day_ratio",
    "recency",
    "events_per_week",
    "engagement",
    "night_share",
    "morning_share",
    "afternoon_share",
    "weekend_share",
    "event_variety",
];

/// How a trait reads when a segment is high or low on it.
const TRAIT_WORDS: [(&str, &str); 13] = [
    ("very active", "light users"),
    ("frequent visitors", "rare visitors"),
    ("deep sessions", "shallow sessions"),
    ("long sessions", "short sessions"),
    ("regulars", "irregular"),
    ("dormant", "recently active"),
    ("high weekly volume", "low weekly volume"),
    ("engaged", "disengaged"),
    ("night owls", "daytime"),
    ("early birds", "rarely mornings"),
    ("afternoon users", "rarely afternoons"),
    ("weekend users", "weekday users"),
    ("varied actions", "single-purpose"),
];

/// The trait vector of one user (see [`TRAITS`]): log(1 + x) for counts and durations.
pub fn traits(features: &Features) -> Vec<f64> {
    let hours = |from: usize, to: usize| features.hour_of_day.get(from..to).map_or(0.0, |h| h.iter().sum::<f64>());
    let weekend = features.day_of_week.get(5..7).map_or(0.0, |d| d.iter().sum::<f64>());
    vec![
        (features.events as f64).ln_1p(),
        (features.sessions as f64).ln_1p(),
        features.events_per_session.ln_1p(),
        features.mean_session_seconds.ln_1p(),
        features.active_day_ratio,
        features.recency_days.ln_1p(),
        features.events_per_week.ln_1p(),
        features.engagement_score / 100.0,
        hours(0, 6),
        hours(6, 12),
        hours(12, 18),
        weekend,
        (features.events_by_type.len() as f64).ln_1p(),
    ]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentationConfig {
    /// A fixed k; when absent, k is chosen by silhouette in `k_min..=k_max`.
    pub k: Option<usize>,
    pub k_min: usize,
    pub k_max: usize,
    pub restarts: usize,
    pub seed: u64,
}

impl Default for SegmentationConfig {
    fn default() -> Self {
        Self { k: None, k_min: 2, k_max: 8, restarts: 5, seed: 42 }
    }
}

/// A segment: its name, size, and centroid (in trait units and in standard deviations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub id: usize,
    pub name: String,
    pub size: usize,
    /// The members' mean of each trait, in the trait's own units.
    pub centroid: BTreeMap<String, f64>,
    /// The centroid in standard deviations from the mean of all users.
    pub centroid_z: Vec<f64>,
    /// The traits that set it apart, strongest first: (trait, z).
    pub defining_traits: Vec<(String, f64)>,
}

/// What a run keeps: enough to place a user and to describe every segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentModel {
    pub traits: Vec<String>,
    pub means: Vec<f64>,
    pub stds: Vec<f64>,
    pub k: usize,
    pub silhouette: f64,
    /// Silhouette of each k tried.
    pub silhouettes: Vec<(usize, f64)>,
    pub segments: Vec<Segment>,
    pub projection_mean: Vec<f64>,
    pub projection_components: [Vec<f64>; 2],
    pub explained_variance_ratio: [f64; 2],
}

/// A run's result for every user, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Segmentation {
    pub model: SegmentModel,
    /// Segment ids, largest segment 0.
    pub labels: Vec<usize>,
    /// Distance to the own centroid, in standard deviations.
    pub distances: Vec<f64>,
    pub coordinates: Vec<[f64; 2]>,
}

/// A segment's name: its two strongest traits (|z| ≥ 0.5), or "typical users" when none stands out.
fn name(z: &[f64]) -> (String, Vec<(String, f64)>) {
    let mut ranked: Vec<(usize, f64)> = z.iter().copied().enumerate().filter(|(_, v)| v.abs() >= 0.5).collect();
    ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
    let defining: Vec<(String, f64)> = ranked.iter().map(|&(i, v)| (TRAITS[i].to_owned(), v)).collect();
    let words: Vec<&str> =
        ranked.iter().take(2).map(|&(i, v)| if v > 0.0 { TRAIT_WORDS[i].0 } else { TRAIT_WORDS[i].1 }).collect();
    let name = if words.is_empty() { "typical users".to_owned() } else { words.join(", ") };
    (name, defining)
}

/// Segments `vectors` (one per user, [`traits`] order). `None` under [`MIN_USERS`] users.
pub fn segment(vectors: &[Vec<f64>], config: &SegmentationConfig) -> Option<Segmentation> {
    let dims = TRAITS.len();
    if vectors.len() < MIN_USERS || vectors.iter().any(|v| v.len() != dims) {
        return None;
    }
    let raw = Points::new(vectors.iter().flatten().map(|v| if v.is_finite() { *v } else { 0.0 }).collect(), dims);
    let scaler = Standardizer::fit(&raw);
    let points = scaler.transform(&raw);
    let options = KMeansOptions { restarts: config.restarts, seed: config.seed, ..KMeansOptions::default() };
    let (model, silhouettes) = match config.k {
        Some(k) => {
            let model = kmeans(&points, k.clamp(1, points.rows()), &options);
            let score = silhouette(&points, &model.labels, 2_000, config.seed);
            let k = model.centroids.rows();
            (model, vec![(k, score)])
        }
        None => {
            let chosen = choose_k(&points, config.k_min, config.k_max, &options)?;
            (chosen.model, chosen.scores)
        }
    };
    let k = model.centroids.rows();
    let (labels, sizes) = labels_by_size(&model.labels, k);
    // Centroids in the new order (by size).
    let mut sums = vec![0.0; k * dims];
    let mut raw_sums = vec![0.0; k * dims];
    for (row, &label) in labels.iter().enumerate() {
        for dim in 0..dims {
            sums[label * dims + dim] += points.row(row)[dim];
            raw_sums[label * dims + dim] += raw.row(row)[dim];
        }
    }
    let mut segments = Vec::with_capacity(k);
    for (id, &size) in sizes.iter().enumerate() {
        let z: Vec<f64> = (0..dims).map(|d| sums[id * dims + d] / size.max(1) as f64).collect();
        let (name, defining_traits) = name(&z);
        let centroid =
            (0..dims).map(|d| (TRAITS[d].to_owned(), raw_sums[id * dims + d] / size.max(1) as f64)).collect();
        segments.push(Segment { id, name, size, centroid, centroid_z: z, defining_traits });
    }
    // Two segments with the same name: number them.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for segment in &segments {
        *seen.entry(segment.name.clone()).or_default() += 1;
    }
    for segment in &mut segments {
        if seen[&segment.name] > 1 {
            segment.name = format!("{} ({})", segment.name, segment.id + 1);
        }
    }
    let distances = labels
        .iter()
        .enumerate()
        .map(|(row, &label)| {
            points.row(row).iter().zip(&segments[label].centroid_z).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt()
        })
        .collect();
    let projection = pca_2d(&points)?;
    let score = silhouettes.iter().find(|(tried, _)| *tried == k).map_or(0.0, |(_, s)| *s);
    Some(Segmentation {
        model: SegmentModel {
            traits: TRAITS.iter().map(|t| (*t).to_owned()).collect(),
            means: scaler.means,
            stds: scaler.stds,
            k,
            silhouette: score,
            silhouettes,
            segments,
            projection_mean: projection.mean,
            projection_components: projection.components,
            explained_variance_ratio: projection.explained_variance_ratio,
        },
        labels,
        distances,
        coordinates: projection.coordinates,
    })
}

/// How a user compares with their segment's centroid, trait by trait (in standard deviations).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraitComparison {
    pub name: String,
    pub user: f64,
    pub segment: f64,
    /// (user − segment) in standard deviations of all users.
    pub difference_z: f64,
}

/// Where a user who was not part of a run falls in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub segment: usize,
    /// To the segment's centroid, in standard deviations.
    pub distance: f64,
    /// On the run's 2-D projection.
    pub position: [f64; 2],
}

impl SegmentModel {
    /// Places a raw trait vector ([`traits`] order) in this run: the nearest centroid after the
    /// run's standardisation (ties to the lower id), and the point on the run's projection. A
    /// member of the run lands where the run put them.
    pub fn place(&self, vector: &[f64]) -> Placement {
        let z: Vec<f64> = vector
            .iter()
            .enumerate()
            .map(|(d, value)| {
                let value = if value.is_finite() { *value } else { 0.0 };
                let mean = self.means.get(d).copied().unwrap_or(0.0);
                let std = self.stds.get(d).copied().unwrap_or(1.0);
                if std > 1e-12 { (value - mean) / std } else { value - mean }
            })
            .collect();
        let (segment, distance) = self
            .segments
            .iter()
            .map(|s| (s.id, s.centroid_z.iter().zip(&z).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt()))
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
            .unwrap_or((0, 0.0));
        let project = |component: &Vec<f64>| {
            z.iter().zip(&self.projection_mean).zip(component).map(|((v, m), c)| (v - m) * c).sum::<f64>()
        };
        let position = [project(&self.projection_components[0]), project(&self.projection_components[1])];
        Placement { segment, distance, position }
    }

    pub fn compare(&self, vector: &[f64], segment: usize) -> Vec<TraitComparison> {
        let Some(segment) = self.segments.get(segment) else { return Vec::new() };
        let mut comparisons: Vec<TraitComparison> = vector
            .iter()
            .enumerate()
            .map(|(d, value)| {
                let std = self.stds.get(d).copied().unwrap_or(1.0);
                let z = if std > 1e-12 { (value - self.means[d]) / std } else { 0.0 };
                TraitComparison {
                    name: self.traits[d].clone(),
                    user: *value,
                    segment: segment.centroid.get(&self.traits[d]).copied().unwrap_or(0.0),
                    difference_z: z - segment.centroid_z[d],
                }
            })
            .collect();
        comparisons
            .sort_by(|a, b| b.difference_z.abs().total_cmp(&a.difference_z.abs()).then_with(|| a.name.cmp(&b.name)));
        comparisons
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// Two populations: many light, recent users; fewer heavy, regular evening users.
    fn population() -> Vec<Vec<f64>> {
        let mut rng = SplitMix64::new(3);
        let mut vectors = Vec::new();
        for n in 0..60 {
            let heavy = n % 3 == 0;
            let jitter = |rng: &mut SplitMix64| (rng.next_f64() - 0.5) * 0.1;
            let mut v = vec![0.0; TRAITS.len()];
            v[0] = if heavy { 6.0 } else { 2.0 } + jitter(&mut rng);
            v[1] = if heavy { 4.0 } else { 1.0 } + jitter(&mut rng);
            v[4] = if heavy { 0.8 } else { 0.1 } + jitter(&mut rng);
            v[7] = if heavy { 0.8 } else { 0.3 } + jitter(&mut rng);
            vectors.push(v);
        }
        vectors
    }

    #[test]
    fn finds_the_two_populations_and_names_them_from_their_traits() {
        let segmentation = segment(&population(), &SegmentationConfig::default()).unwrap();
        assert_eq!(segmentation.model.k, 2);
        assert_eq!(segmentation.model.segments[0].size, 40, "the largest segment is 0");
        assert_eq!(segmentation.model.segments[1].size, 20);
        let heavy = &segmentation.model.segments[1];
        assert!(heavy.defining_traits.iter().all(|(_, z)| *z > 0.0), "{heavy:?}");
        assert!(!heavy.name.is_empty() && heavy.name != segmentation.model.segments[0].name);
        assert!(
            ["very active", "frequent visitors", "regulars", "engaged"].iter().any(|w| heavy.name.contains(w)),
            "{}",
            heavy.name
        );
        for (row, label) in segmentation.labels.iter().enumerate() {
            assert_eq!(*label, usize::from(row % 3 == 0));
        }
        assert!(segmentation.model.silhouette > 0.8);
        assert!(segmentation.model.explained_variance_ratio[0] > 0.9);
        assert_eq!(segmentation.coordinates.len(), 60);
        // A heavy user compared with the heavy segment: small differences.
        let comparison = segmentation.model.compare(&population()[0], 1);
        assert!(comparison.iter().all(|c| c.difference_z.abs() < 0.5), "{comparison:?}");
    }

    #[test]
    fn too_few_users_give_no_segmentation() {
        assert!(segment(&population()[..2], &SegmentationConfig::default()).is_none());
    }

    #[test]
    fn a_member_placed_again_lands_where_the_run_put_them() {
        let vectors = population();
        let segmentation = segment(&vectors, &SegmentationConfig::default()).unwrap();
        for (row, vector) in vectors.iter().enumerate() {
            let placement = segmentation.model.place(vector);
            assert_eq!(placement.segment, segmentation.labels[row], "row {row}");
            assert!((placement.distance - segmentation.distances[row]).abs() < 1e-9, "row {row}");
            for axis in 0..2 {
                assert!((placement.position[axis] - segmentation.coordinates[row][axis]).abs() < 1e-9, "row {row}");
            }
        }
    }

    #[test]
    fn a_run_is_due_at_the_minimum_then_when_the_population_has_grown() {
        assert!(!due(2, None, 1.5), "under the minimum");
        assert!(due(3, None, 1.5), "the first run, as soon as there are enough users");
        assert!(!due(14, Some(10), 1.5));
        assert!(due(15, Some(10), 1.5), "half as many again");
        assert!(due(5, Some(3), 1.5), "4.5 rounds up to 5");
        assert!(!due(4, Some(3), 1.5));
        assert!(!due(1_000, Some(3), 0.0), "0 turns the growth rule off");
        assert!(due(3, None, 0.0), "but not the first run");
    }
}
