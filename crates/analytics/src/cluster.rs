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

/// Summed in four lanes so that the compiler can vectorise it (a single running sum cannot be
/// reordered).
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    let mut lanes = [0.0; 4];
    let (a_chunks, b_chunks) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| (x - y) * (x - y)).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..4 {
            let difference = x[lane] - y[lane];
            lanes[lane] += difference * difference;
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
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
    /// Converged when the centroids move (sum of squared shifts) by less than this share of the
    /// data's mean per-dimension variance, as scikit-learn's `tol`.
    pub tolerance: f64,
}

impl Default for KMeansOptions {
    fn default() -> Self {
        Self { restarts: 4, max_iterations: 100, seed: 42, tolerance: 1e-4 }
    }
}

/// Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, as scikit-learn does it): each next
/// centre is the best of `2 + ⌊ln k⌋` candidates drawn with probability proportional to the
/// squared distance to the nearest centre chosen so far — the one that lowers the total squared
/// distance most. Plain k-means++ (one candidate) often puts two centres in one blob.
fn seed_centroids(points: &Points, k: usize, rng: &mut SplitMix64) -> Points {
    let rows = points.rows();
    let candidates = 2 + (k as f64).ln().floor() as usize;
    let mut centroids = Vec::with_capacity(k * points.dims);
    centroids.extend_from_slice(points.row(rng.below(rows)));
    let mut nearest: Vec<f64> =
        (0..rows).map(|row| squared_distance(points.row(row), &centroids[..points.dims])).collect();
    let mut trial = vec![0.0; rows];
    let mut best_trial = vec![0.0; rows];
    for _ in 1..k {
        let total: f64 = nearest.iter().sum();
        let mut best: Option<(usize, f64)> = None;
        for _ in 0..candidates {
            let candidate =
                if total <= 0.0 { rng.below(rows) } else { draw_weighted(&nearest, rng.next_f64() * total) };
            let centre = points.row(candidate);
            let mut potential = 0.0;
            for (row, (slot, current)) in trial.iter_mut().zip(&nearest).enumerate() {
                *slot = current.min(squared_distance(points.row(row), centre));
                potential += *slot;
            }
            if best.is_none_or(|(_, lowest)| potential < lowest) {
                best = Some((candidate, potential));
                std::mem::swap(&mut trial, &mut best_trial);
            }
        }
        let (chosen, _) = best.unwrap_or((0, 0.0));
        centroids.extend_from_slice(points.row(chosen));
        std::mem::swap(&mut nearest, &mut best_trial);
    }
    Points::new(centroids, points.dims)
}

/// The index where a running sum of `weights` first exceeds `target` (the last one if rounding
/// leaves `target` beyond the total).
fn draw_weighted(weights: &[f64], mut target: f64) -> usize {
    for (index, weight) in weights.iter().enumerate() {
        if target < *weight {
            return index;
        }
        target -= weight;
    }
    weights.len() - 1
}

/// The mean over dimensions of each column's variance.
fn mean_variance(points: &Points) -> f64 {
    let (rows, dims) = (points.rows(), points.dims);
    if rows == 0 {
        return 0.0;
    }
    let mut sums = vec![0.0; dims];
    let mut squares = vec![0.0; dims];
    for row in 0..rows {
        for (dim, value) in points.row(row).iter().enumerate() {
            sums[dim] += value;
            squares[dim] += value * value;
        }
    }
    let n = rows as f64;
    (0..dims).map(|dim| (squares[dim] / n - (sums[dim] / n).powi(2)).max(0.0)).sum::<f64>() / dims as f64
}

fn lloyd(points: &Points, mut centroids: Points, max_iterations: usize, tolerance: f64) -> KMeans {
    let (rows, dims, k) = (points.rows(), points.dims, centroids.rows());
    let mut labels = vec![usize::MAX; rows];
    let mut converged = false;
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
        if !changed || converged {
            break;
        }
        let previous = centroids.values.clone();
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
        // Centroids that barely moved: one last assignment to them, then stop.
        converged = squared_distance(&previous, &centroids.values) <= tolerance;
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
    let tolerance = options.tolerance * mean_variance(points);
    let mut best: Option<KMeans> = None;
    for _ in 0..options.restarts.max(1) {
        let result = lloyd(points, seed_centroids(points, k, &mut rng), options.max_iterations, tolerance);
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

/// The adjusted Rand index of two labellings of the same points: 1 for the same partition, about
/// 0 for independent ones (Hubert and Arabie, 1985). `None` when the lengths differ or there are
/// fewer than 2 points.
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let pairs = |n: u64| (n * n.saturating_sub(1) / 2) as f64;
    let mut table: std::collections::HashMap<(usize, usize), u64> = std::collections::HashMap::new();
    let mut rows: std::collections::HashMap<usize, u64> = std::collections::HashMap::new();
    let mut columns: std::collections::HashMap<usize, u64> = std::collections::HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *table.entry((x, y)).or_default() += 1;
        *rows.entry(x).or_default() += 1;
        *columns.entry(y).or_default() += 1;
    }
    let index: f64 = table.values().map(|&n| pairs(n)).sum();
    let row_sum: f64 = rows.values().map(|&n| pairs(n)).sum();
    let column_sum: f64 = columns.values().map(|&n| pairs(n)).sum();
    let expected = row_sum * column_sum / pairs(a.len() as u64);
    let maximum = (row_sum + column_sum) / 2.0;
    if (maximum - expected).abs() < f64::EPSILON {
        // Both partitions trivial (one cluster each, or all singletons): identical.
        return Some(1.0);
    }
    Some((index - expected) / (maximum - expected))
}

/// A 2-D projection on the first two principal components (of points already centred or not:
/// they are centred here), by power iteration with deflation on the covariance matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// Two unit vectors of `dims` coordinates.
    pub components: [Vec<f64>; 2],
    pub mean: Vec<f64>,
    /// Share of the total variance along each component.
    pub explained_variance_ratio: [f64; 2],
    /// Each point's two coordinates.
    pub coordinates: Vec<[f64; 2]>,
}

pub fn pca_2d(points: &Points) -> Option<Projection> {
    let (rows, dims) = (points.rows(), points.dims);
    if rows < 2 {
        return None;
    }
    let mut mean = vec![0.0; dims];
    for row in 0..rows {
        for (m, v) in mean.iter_mut().zip(points.row(row)) {
            *m += v / rows as f64;
        }
    }
    let mut covariance = vec![0.0; dims * dims];
    for row in 0..rows {
        let point = points.row(row);
        for i in 0..dims {
            let di = point[i] - mean[i];
            for j in i..dims {
                covariance[i * dims + j] += di * (point[j] - mean[j]);
            }
        }
    }
    for i in 0..dims {
        for j in i..dims {
            covariance[i * dims + j] /= (rows - 1) as f64;
            covariance[j * dims + i] = covariance[i * dims + j];
        }
    }
    let total: f64 = (0..dims).map(|i| covariance[i * dims + i]).sum();
    let mut components: [Vec<f64>; 2] = [vec![0.0; dims], vec![0.0; dims]];
    let mut variances = [0.0; 2];
    let mut matrix = covariance;
    for (c, component) in components.iter_mut().enumerate() {
        // A start vector not orthogonal to the leading eigenvector in practice.
        let mut vector: Vec<f64> = (0..dims).map(|i| 1.0 + (i as f64 + c as f64) * 0.1).collect();
        let mut eigenvalue = 0.0;
        for _ in 0..500 {
            let next: Vec<f64> = (0..dims).map(|i| (0..dims).map(|j| matrix[i * dims + j] * vector[j]).sum()).collect();
            let norm = next.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm <= f64::EPSILON {
                break;
            }
            let next: Vec<f64> = next.iter().map(|v| v / norm).collect();
            let delta: f64 = next.iter().zip(&vector).map(|(a, b)| (a - b).abs()).sum();
            vector = next;
            eigenvalue = norm;
            if delta < 1e-12 {
                break;
            }
        }
        // Deflate: take this component out before looking for the next.
        for i in 0..dims {
            for j in 0..dims {
                matrix[i * dims + j] -= eigenvalue * vector[i] * vector[j];
            }
        }
        // A stable sign: the largest coordinate positive.
        let largest = vector.iter().copied().fold(0.0f64, |acc, v| if v.abs() > acc.abs() { v } else { acc });
        if largest < 0.0 {
            vector.iter_mut().for_each(|v| *v = -*v);
        }
        variances[c] = eigenvalue;
        *component = vector;
    }
    let coordinates = (0..rows)
        .map(|row| {
            let centred: Vec<f64> = points.row(row).iter().zip(&mean).map(|(v, m)| v - m).collect();
            let project = |component: &Vec<f64>| centred.iter().zip(component).map(|(a, b)| a * b).sum::<f64>();
            [project(&components[0]), project(&components[1])]
        })
        .collect();
    let ratio = |v: f64| if total > 0.0 { v / total } else { 0.0 };
    Some(Projection {
        explained_variance_ratio: [ratio(variances[0]), ratio(variances[1])],
        components,
        mean,
        coordinates,
    })
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
    fn greedy_seeding_gives_each_blob_its_own_centre() {
        // Eight blobs of unit spread, far apart, of unequal sizes: with one initialisation,
        // plain k-means++ puts two centres in one blob in some of these 40 runs (Lloyd cannot
        // move one out); the greedy seeding finds the eight blobs every time.
        let mut rng = SplitMix64::new(5);
        let (dims, k) = (4, 8);
        let mut values = Vec::new();
        let mut truth = Vec::new();
        for blob in 0..k {
            let centre: Vec<f64> = (0..dims)
                .map(|dim| if dim == blob % dims { 30.0 } else { 0.0 } * if blob < dims { 1.0 } else { -1.0 })
                .collect();
            for _ in 0..(20 + 30 * blob) {
                values.extend(centre.iter().map(|c| c + rng.next_f64() * 2.0 - 1.0));
                truth.push(blob);
            }
        }
        let points = Points::new(values, dims);
        for seed in 0..40 {
            let model = kmeans(&points, k, &KMeansOptions { restarts: 1, seed, ..KMeansOptions::default() });
            assert_eq!(adjusted_rand_index(&model.labels, &truth), Some(1.0), "seed {seed}: inertia {}", model.inertia);
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

    #[test]
    fn adjusted_rand_index_matches_known_values() {
        // Identical partitions up to renaming: 1.
        assert_eq!(adjusted_rand_index(&[0, 0, 1, 1], &[1, 1, 0, 0]), Some(1.0));
        // scikit-learn: adjusted_rand_score([0, 0, 1, 1], [0, 0, 1, 2]) = 0.5714285714285715.
        assert!((adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]).unwrap() - 0.571_428_571_4).abs() < 1e-9);
        // adjusted_rand_score([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2]) = -0.36363636 (worse than chance).
        assert!(
            (adjusted_rand_index(&[0, 0, 0, 1, 1, 1], &[0, 1, 2, 0, 1, 2]).unwrap() + 0.363_636_363_6).abs() < 1e-9
        );
        assert_eq!(adjusted_rand_index(&[0], &[0]), None);
    }

    #[test]
    fn pca_finds_the_direction_of_spread() {
        // Points on the line y = 2x, plus a little noise across it.
        let mut values = Vec::new();
        for i in 0..50 {
            let t = f64::from(i) - 25.0;
            let noise = if i % 2 == 0 { 0.1 } else { -0.1 };
            values.extend([t - 2.0 * noise / 5.0_f64.sqrt(), 2.0 * t + noise / 5.0_f64.sqrt()]);
        }
        let projection = pca_2d(&Points::new(values, 2)).unwrap();
        let [x, y] = [projection.components[0][0], projection.components[0][1]];
        assert!((y / x - 2.0).abs() < 1e-3, "first component along (1, 2): {:?}", projection.components);
        assert!(projection.explained_variance_ratio[0] > 0.999);
        let dot: f64 = projection.components[0].iter().zip(&projection.components[1]).map(|(a, b)| a * b).sum();
        assert!(dot.abs() < 1e-6, "orthogonal components");
        assert_eq!(projection.coordinates.len(), 50);
    }
}
