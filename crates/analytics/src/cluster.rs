//! Clustering: standardisation, k-means++ with restarts, the silhouette score, and choosing k
//! by silhouette. Points are rows of a dense matrix stored row-major in one `Vec<f64>`.

use crate::rng::SplitMix64;

/// A dense matrix of `rows` points with `dims` coordinates each, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    pub values: Vec<f64>,
    pub dims: usize,
}

impl Points {
    pub fn new(values: Vec<f64>, dims: usize) -> Self {
        debug_assert!(dims > 0 && values.len().is_multiple_of(dims));
        Self { values, dims }
    }

    pub fn rows(&self) -> usize {
        self.values.len().checked_div(self.dims).unwrap_or(0)
    }

    pub fn row(&self, index: usize) -> &[f64] {
        &self.values[index * self.dims..(index + 1) * self.dims]
    }
}

/// Per-column mean and standard deviation; columns without spread are centred only.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    pub means: Vec<f64>,
    pub stds: Vec<f64>,
}

impl Standardizer {
    pub fn fit(points: &Points) -> Self {
        let (rows, dims) = (points.rows(), points.dims);
        let mut means = vec![0.0; dims];
        for row in 0..rows {
            for (mean, value) in means.iter_mut().zip(points.row(row)) {
                *mean += value;
            }
        }
        means.iter_mut().for_each(|mean| *mean /= rows.max(1) as f64);
        let mut stds = vec![0.0; dims];
        for row in 0..rows {
            for ((std, value), mean) in stds.iter_mut().zip(points.row(row)).zip(&means) {
                *std += (value - mean).powi(2);
            }
        }
        stds.iter_mut().for_each(|std| *std = (*std / rows.max(1) as f64).sqrt());
        Self { means, stds }
    }

    pub fn transform(&self, points: &Points) -> Points {
        let mut values = points.values.clone();
        for row in values.chunks_mut(points.dims) {
            for ((value, mean), std) in row.iter_mut().zip(&self.means).zip(&self.stds) {
                *value = if *std > 1e-12 { (*value - mean) / std } else { *value - mean };
            }
        }
        Points::new(values, points.dims)
    }
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    /// `k` centroids, row-major.
    pub centroids: Points,
    /// The cluster of each point.
    pub labels: Vec<usize>,
    /// Sum of squared distances of points to their centroid.
    pub inertia: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct KMeansOptions {
    pub restarts: usize,
    pub max_iterations: usize,
    pub seed: u64,
}

impl Default for KMeansOptions {
    fn default() -> Self {
        Self { restarts: 4, max_iterations: 100, seed: 42 }
    }
}

/// k-means++ seeding: each next centre drawn with probability proportional to the squared
/// distance to the nearest centre chosen so far.
fn seed_centroids(points: &Points, k: usize, rng: &mut SplitMix64) -> Points {
    let rows = points.rows();
    let mut centroids = Vec::with_capacity(k * points.dims);
    centroids.extend_from_slice(points.row(rng.below(rows)));
    let mut nearest: Vec<f64> =
        (0..rows).map(|row| squared_distance(points.row(row), &centroids[..points.dims])).collect();
    for _ in 1..k {
        let total: f64 = nearest.iter().sum();
        let chosen = if total <= 0.0 {
            rng.below(rows)
        } else {
            let mut target = rng.next_f64() * total;
            let mut chosen = rows - 1;
            for (row, weight) in nearest.iter().enumerate() {
                if target < *weight {
                    chosen = row;
                    break;
                }
                target -= weight;
            }
            chosen
        };
        let start = centroids.len();
        centroids.extend_from_slice(points.row(chosen));
        for (row, distance) in nearest.iter_mut().enumerate() {
            *distance = distance.min(squared_distance(points.row(row), &centroids[start..]));
        }
    }
    Points::new(centroids, points.dims)
}

fn lloyd(points: &Points, mut centroids: Points, max_iterations: usize) -> KMeans {
    let (rows, dims, k) = (points.rows(), points.dims, centroids.rows());
    let mut labels = vec![usize::MAX; rows];
    for _ in 0..max_iterations {
        let mut changed = false;
        for (row, label) in labels.iter_mut().enumerate() {
            let point = points.row(row);
            let nearest = (0..k)
                .map(|cluster| (cluster, squared_distance(point, centroids.row(cluster))))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(0, |(cluster, _)| cluster);
            if *label != nearest {
                *label = nearest;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        let mut sums = vec![0.0; k * dims];
        let mut sizes = vec![0usize; k];
        for (row, &label) in labels.iter().enumerate() {
            sizes[label] += 1;
            for (sum, value) in sums[label * dims..(label + 1) * dims].iter_mut().zip(points.row(row)) {
                *sum += value;
            }
        }
        for cluster in 0..k {
            if sizes[cluster] == 0 {
                // An emptied cluster takes the point farthest from its centroid.
                let farthest = (0..rows)
                    .max_by(|&a, &b| {
                        squared_distance(points.row(a), centroids.row(labels[a]))
                            .total_cmp(&squared_distance(points.row(b), centroids.row(labels[b])))
                    })
                    .unwrap_or(0);
                centroids.values[cluster * dims..(cluster + 1) * dims].copy_from_slice(points.row(farthest));
                continue;
            }
            for dim in 0..dims {
                centroids.values[cluster * dims + dim] = sums[cluster * dims + dim] / sizes[cluster] as f64;
            }
        }
    }
    let inertia =
        labels.iter().enumerate().map(|(row, &label)| squared_distance(points.row(row), centroids.row(label))).sum();
    KMeans { centroids, labels, inertia }
}

/// k-means with k-means++ seeding; the best of several restarts (lowest inertia). Deterministic
/// for a given seed. `k` is capped at the number of points.
pub fn kmeans(points: &Points, k: usize, options: &KMeansOptions) -> KMeans {
    let k = k.clamp(1, points.rows().max(1));
    let mut rng = SplitMix64::new(options.seed);
    let mut best: Option<KMeans> = None;
    for _ in 0..options.restarts.max(1) {
        let result = lloyd(points, seed_centroids(points, k, &mut rng), options.max_iterations);
        if best.as_ref().is_none_or(|best| result.inertia < best.inertia) {
            best = Some(result);
        }
    }
    best.unwrap_or_else(|| KMeans { centroids: Points::new(Vec::new(), points.dims), labels: Vec::new(), inertia: 0.0 })
}

/// The mean silhouette: for each point, (b − a) / max(a, b), with a its mean distance to its own
/// cluster and b to the nearest other cluster; 0 for a point alone in its cluster. Computed on at
/// most `max_points` points (a seeded sample) as it costs n² distances.
pub fn silhouette(points: &Points, labels: &[usize], max_points: usize, seed: u64) -> f64 {
    let k = labels.iter().copied().max().map_or(0, |max| max + 1);
    if k < 2 || points.rows() < 3 {
        return 0.0;
    }
    let mut sample: Vec<usize> = (0..points.rows()).collect();
    if sample.len() > max_points {
        SplitMix64::new(seed).shuffle(&mut sample);
        sample.truncate(max_points);
    }
    let mut total = 0.0;
    for &i in &sample {
        let mut sums = vec![0.0; k];
        let mut counts = vec![0usize; k];
        for &j in &sample {
            if i != j {
                sums[labels[j]] += squared_distance(points.row(i), points.row(j)).sqrt();
                counts[labels[j]] += 1;
            }
        }
        let own = labels[i];
        if counts[own] == 0 {
            continue;
        }
        let a = sums[own] / counts[own] as f64;
        let b = (0..k)
            .filter(|&c| c != own && counts[c] > 0)
            .map(|c| sums[c] / counts[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    total / sample.len() as f64
}

/// A clustering whose k was chosen by silhouette.
#[derive(Debug, Clone, PartialEq)]
pub struct ChosenClustering {
    pub k: usize,
    pub silhouette: f64,
    pub model: KMeans,
    /// The silhouette of every k tried.
    pub scores: Vec<(usize, f64)>,
}

/// Tries every k in `k_min..=k_max` (at most n − 1) and keeps the best silhouette (the smaller k
/// on ties). `None` with fewer than 3 points, where no silhouette exists.
pub fn choose_k(points: &Points, k_min: usize, k_max: usize, options: &KMeansOptions) -> Option<ChosenClustering> {
    let rows = points.rows();
    if rows < 3 {
        return None;
    }
    let k_max = k_max.min(rows - 1);
    let mut best: Option<ChosenClustering> = None;
    let mut scores = Vec::new();
    for k in k_min.max(2)..=k_max {
        let model = kmeans(points, k, options);
        let score = silhouette(points, &model.labels, 2000, options.seed);
        scores.push((k, score));
        if best.as_ref().is_none_or(|best| score > best.silhouette + 1e-12) {
            best = Some(ChosenClustering { k, silhouette: score, model, scores: Vec::new() });
        }
    }
    best.map(|mut chosen| {
        chosen.scores = scores;
        chosen
    })
}

/// Relabels clusters by decreasing size (ties: the cluster of the earliest point first), so that
/// the same data always gives the same ids. Returns the new labels and each cluster's size.
pub fn labels_by_size(labels: &[usize], k: usize) -> (Vec<usize>, Vec<usize>) {
    let mut sizes = vec![0usize; k];
    let mut first = vec![usize::MAX; k];
    for (index, &label) in labels.iter().enumerate() {
        sizes[label] += 1;
        first[label] = first[label].min(index);
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(first[a].cmp(&first[b])));
    let mut new_id = vec![0; k];
    for (id, &old) in order.iter().enumerate() {
        new_id[old] = id;
    }
    (labels.iter().map(|&label| new_id[label]).collect(), order.iter().map(|&old| sizes[old]).collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Three tight, well separated blobs.
    fn blobs() -> Points {
        let mut values = Vec::new();
        let mut rng = SplitMix64::new(9);
        for (cx, cy) in [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)] {
            for _ in 0..20 {
                values.push(cx + rng.next_f64() - 0.5);
                values.push(cy + rng.next_f64() - 0.5);
            }
        }
        Points::new(values, 2)
    }

    #[test]
    fn standardised_columns_have_mean_zero_and_unit_spread() {
        let points = Points::new(vec![1.0, 10.0, 5.0, 3.0, 10.0, 5.0, 5.0, 10.0, 5.0], 3);
        let standard = Standardizer::fit(&points).transform(&points);
        for dim in 0..3 {
            let column: Vec<f64> = (0..3).map(|row| standard.row(row)[dim]).collect();
            assert!(column.iter().sum::<f64>().abs() < 1e-9);
        }
        assert_eq!(standard.row(0)[1], 0.0, "a constant column is centred, not divided by zero");
        let spread: f64 = (0..3).map(|row| standard.row(row)[0].powi(2)).sum::<f64>() / 3.0;
        assert!((spread - 1.0).abs() < 1e-9);
    }

    #[test]
    fn kmeans_finds_the_blobs_and_silhouette_picks_three() {
        let points = blobs();
        let chosen = choose_k(&points, 2, 6, &KMeansOptions::default()).unwrap();
        assert_eq!(chosen.k, 3, "{:?}", chosen.scores);
        assert!(chosen.silhouette > 0.9);
        for blob in 0..3 {
            let labels = &chosen.model.labels[blob * 20..(blob + 1) * 20];
            assert!(labels.iter().all(|&label| label == labels[0]), "a blob is one cluster");
        }
    }

    #[test]
    fn a_hand_computed_silhouette() {
        // Points 0, 1 in cluster 0 and 10 in cluster 1: s(0) = (10 − 1)/10, s(1) = (9 − 1)/9, s(10) = 0.
        let points = Points::new(vec![0.0, 1.0, 10.0], 1);
        let expected = (0.9 + 8.0 / 9.0 + 0.0) / 3.0;
        assert!((silhouette(&points, &[0, 0, 1], 100, 1) - expected).abs() < 1e-12);
    }

    #[test]
    fn too_few_points_give_no_choice() {
        assert!(choose_k(&Points::new(vec![0.0, 1.0], 1), 2, 5, &KMeansOptions::default()).is_none());
    }

    #[test]
    fn labels_are_numbered_by_size() {
        let (labels, sizes) = labels_by_size(&[2, 0, 0, 1, 0, 2], 3);
        assert_eq!(labels, vec![1, 0, 0, 2, 0, 1]);
        assert_eq!(sizes, vec![3, 2, 1]);
    }

    proptest! {
        #[test]
        fn shuffled_input_gives_the_same_partition(seed in 0u64..1000) {
            let points = blobs();
            let mut order: Vec<usize> = (0..points.rows()).collect();
            SplitMix64::new(seed).shuffle(&mut order);
            let shuffled = Points::new(order.iter().flat_map(|&row| points.row(row).to_vec()).collect(), 2);
            let original = kmeans(&points, 3, &KMeansOptions::default());
            let reordered = kmeans(&shuffled, 3, &KMeansOptions::default());
            for a in 0..order.len() {
                for b in 0..order.len() {
                    let together_before = original.labels[order[a]] == original.labels[order[b]];
                    prop_assert_eq!(together_before, reordered.labels[a] == reordered.labels[b]);
                }
            }
        }
    }
}
