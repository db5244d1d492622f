//! Gradient-boosted trees for binary labels (log loss), histogram-based: each feature is cut
//! into at most `bins` quantile bins once, trees grow level by level to `max_depth` with
//! second-order (Newton) gains and leaf values, shrunk by the learning rate, and boosting stops
//! early when the log loss of a validation set given by the caller has not improved for
//! `early_stopping_rounds`. Each prediction can be split into per-feature contributions along
//! the trees' paths (Saabas' path attribution): bias + Σ contributions = the log-odds.

use serde::{Deserialize, Serialize};

use crate::logistic::FitError;

/// Settings of [`fit`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TreesConfig {
    /// Most trees.
    pub rounds: usize,
    pub learning_rate: f64,
    pub max_depth: usize,
    /// Fewest rows in a leaf.
    pub min_leaf_rows: usize,
    /// Smallest sum of p(1 − p) in a leaf.
    pub min_leaf_hessian: f64,
    /// L2 penalty on leaf values.
    pub l2: f64,
    /// Bins per feature (2–255).
    pub bins: usize,
    /// Rounds without improvement of the validation log loss before stopping.
    pub early_stopping_rounds: usize,
}

impl Default for TreesConfig {
    fn default() -> Self {
        Self {
            rounds: 300,
            learning_rate: 0.1,
            max_depth: 6,
            min_leaf_rows: 20,
            min_leaf_hessian: 1e-3,
            l2: 1.0,
            bins: 64,
            early_stopping_rounds: 20,
        }
    }
}

/// A node of a tree: a split (`feature ≤ threshold` goes left) or a leaf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The Newton value of the node's rows (shrunk): the leaf's output, and for a split the
    /// value path attribution starts from.
    pub value: f64,
    /// `None` for a leaf.
    pub split: Option<Split>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub feature: usize,
    pub threshold: f64,
    pub left: usize,
    pub right: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// The root first.
    pub nodes: Vec<Node>,
}

impl Tree {
    fn leaf(&self, features: &[f64]) -> f64 {
        let mut node = &self.nodes[0];
        while let Some(split) = node.split {
            node = &self.nodes[if features[split.feature] <= split.threshold { split.left } else { split.right }];
        }
        node.value
    }
}

/// A fitted ensemble: log-odds = `bias` + Σ trees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trees {
    pub bias: f64,
    pub trees: Vec<Tree>,
    pub n_features: usize,
    /// The validation log loss at the kept number of trees (when a validation set was given).
    pub validation_log_loss: Option<f64>,
}

impl Trees {
    pub fn log_odds(&self, features: &[f64]) -> f64 {
        if features.len() != self.n_features {
            return f64::NAN;
        }
        self.bias + self.trees.iter().map(|tree| tree.leaf(features)).sum::<f64>()
    }

    pub fn predict_proba(&self, features: &[f64]) -> f64 {
        sigmoid(self.log_odds(features))
    }

    /// Each feature's share of the log-odds: the changes of node value along each tree's path,
    /// credited to the feature split on. The intercept is `bias` plus the trees' root values.
    pub fn contributions(&self, features: &[f64]) -> (f64, Vec<f64>) {
        let mut contributions = vec![0.0; self.n_features];
        let mut intercept = self.bias;
        if features.len() != self.n_features {
            return (f64::NAN, contributions);
        }
        for tree in &self.trees {
            let mut node = &tree.nodes[0];
            intercept += node.value;
            while let Some(split) = node.split {
                let next =
                    &tree.nodes[if features[split.feature] <= split.threshold { split.left } else { split.right }];
                contributions[split.feature] += next.value - node.value;
                node = next;
            }
        }
        (intercept, contributions)
    }

    /// Total gain-free importance: how often each feature is split on, as shares.
    pub fn split_shares(&self) -> Vec<f64> {
        let mut counts = vec![0.0; self.n_features];
        for node in self.trees.iter().flat_map(|tree| &tree.nodes) {
            if let Some(split) = node.split {
                counts[split.feature] += 1.0;
            }
        }
        let total: f64 = counts.iter().sum();
        counts.iter().map(|count| if total > 0.0 { count / total } else { 0.0 }).collect()
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { z.exp() / (1.0 + z.exp()) }
}

fn log_loss(probability: f64, label: bool) -> f64 {
    let p = probability.clamp(1e-15, 1.0 - 1e-15);
    if label { -p.ln() } else { -(1.0 - p).ln() }
}

/// Quantile cut points of one feature: at most `bins − 1` increasing thresholds.
fn cut_points(values: &mut [f64], bins: usize) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    let mut distinct: Vec<f64> = values.to_vec();
    distinct.dedup();
    if distinct.len() <= bins {
        return distinct.windows(2).map(|pair| (pair[0] + pair[1]) / 2.0).collect();
    }
    let mut cuts: Vec<f64> = (1..bins)
        .map(|b| {
            let at = (b * values.len() / bins).min(values.len() - 1);
            let next = values[at..].iter().copied().find(|v| *v > values[at]).unwrap_or(values[at]);
            (values[at] + next) / 2.0
        })
        .collect();
    cuts.dedup();
    cuts.retain(|cut| cut.is_finite());
    cuts
}

/// Rows in histogram form: `bins[feature][row]`, with each feature's cut points.
struct Binned {
    bins: Vec<Vec<u8>>,
    cuts: Vec<Vec<f64>>,
}

impl Binned {
    fn new(rows: &[Vec<f64>], k: usize, bins: usize) -> Self {
        let sample_every = (rows.len() / 200_000).max(1);
        let mut cuts = Vec::with_capacity(k);
        let mut binned = Vec::with_capacity(k);
        for feature in 0..k {
            let mut sample: Vec<f64> = rows.iter().step_by(sample_every).map(|row| row[feature]).collect();
            let feature_cuts = cut_points(&mut sample, bins);
            binned.push(
                rows.iter()
                    .map(|row| feature_cuts.partition_point(|&cut| cut < row[feature]) as u8)
                    .collect::<Vec<u8>>(),
            );
            cuts.push(feature_cuts);
        }
        Self { bins: binned, cuts }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    gradient: f64,
    hessian: f64,
    rows: usize,
}

impl Sums {
    fn add(&mut self, gradient: f64, hessian: f64) {
        self.gradient += gradient;
        self.hessian += hessian;
        self.rows += 1;
    }

    fn score(&self, l2: f64) -> f64 {
        self.gradient * self.gradient / (self.hessian + l2)
    }

    fn value(&self, l2: f64) -> f64 {
        -self.gradient / (self.hessian + l2)
    }
}

/// Fits the ensemble on `rows` (all of `k` finite features) and `labels`; with `validation`,
/// keeps the number of trees with the lowest validation log loss.
pub fn fit(
    rows: &[Vec<f64>],
    labels: &[bool],
    validation: Option<(&[Vec<f64>], &[bool])>,
    config: &TreesConfig,
) -> Result<Trees, FitError> {
    let k = crate::logistic::validate_rows(rows, labels)?;
    if !(2..=255).contains(&config.bins) || config.learning_rate <= 0.0 || config.max_depth == 0 {
        return Err(FitError::InvalidConfig("bins must be 2–255, learning_rate > 0 and max_depth ≥ 1"));
    }
    let binned = Binned::new(rows, k, config.bins);
    let rate = labels.iter().filter(|&&label| label).count() as f64 / labels.len() as f64;
    let bias = (rate / (1.0 - rate)).ln();
    let mut scores = vec![bias; rows.len()];
    let mut validation_scores: Vec<f64> = validation.map(|(rows, _)| vec![bias; rows.len()]).unwrap_or_default();
    let mut trees = Vec::new();
    let mut best = (f64::INFINITY, 0usize);
    let mut gradients = vec![0.0; rows.len()];
    let mut hessians = vec![0.0; rows.len()];
    for round in 0..config.rounds {
        for (index, (&score, &label)) in scores.iter().zip(labels).enumerate() {
            let p = sigmoid(score);
            gradients[index] = p - if label { 1.0 } else { 0.0 };
            hessians[index] = (p * (1.0 - p)).max(1e-12);
        }
        let (tree, leaf_of) = grow(&binned, &gradients, &hessians, config);
        for (score, leaf) in scores.iter_mut().zip(&leaf_of) {
            *score += tree.nodes[*leaf as usize].value;
        }
        if let Some((validation_rows, validation_labels)) = validation {
            let mut loss = 0.0;
            for ((score, row), &label) in validation_scores.iter_mut().zip(validation_rows).zip(validation_labels) {
                *score += tree.leaf(row);
                loss += log_loss(sigmoid(*score), label);
            }
            let loss = loss / validation_rows.len().max(1) as f64;
            trees.push(tree);
            if loss < best.0 - 1e-9 {
                best = (loss, round + 1);
            } else if round + 1 - best.1 >= config.early_stopping_rounds {
                break;
            }
        } else {
            trees.push(tree);
        }
    }
    let validation_log_loss = validation.map(|_| best.0);
    if validation.is_some() {
        trees.truncate(best.1);
    }
    Ok(Trees { bias, trees, n_features: k, validation_log_loss })
}

/// Fits with the number of trees chosen on `validation`, then refits on the training and
/// validation rows together with that many trees, scaled up by how much more data the refit
/// sees (boosting on more rows takes more rounds to reach the same fit).
pub fn fit_validated(
    rows: &[Vec<f64>],
    labels: &[bool],
    validation_rows: &[Vec<f64>],
    validation_labels: &[bool],
    config: &TreesConfig,
) -> Result<Trees, FitError> {
    let chosen = fit(rows, labels, Some((validation_rows, validation_labels)), config)?;
    let all_rows: Vec<Vec<f64>> = rows.iter().chain(validation_rows).cloned().collect();
    let all_labels: Vec<bool> = labels.iter().chain(validation_labels).copied().collect();
    let scale = all_rows.len() as f64 / rows.len().max(1) as f64;
    let rounds = ((chosen.trees.len().max(1) as f64) * scale).round() as usize;
    let mut refitted = fit(&all_rows, &all_labels, None, &TreesConfig { rounds, ..*config })?;
    refitted.validation_log_loss = chosen.validation_log_loss;
    Ok(refitted)
}

/// Grows one tree level by level; returns it and each row's leaf.
fn grow(binned: &Binned, gradients: &[f64], hessians: &[f64], config: &TreesConfig) -> (Tree, Vec<u32>) {
    let n = gradients.len();
    let k = binned.bins.len();
    let mut root = Sums::default();
    for (&gradient, &hessian) in gradients.iter().zip(hessians) {
        root.add(gradient, hessian);
    }
    let shrink = config.learning_rate;
    let mut nodes = vec![Node { value: shrink * root.value(config.l2), split: None }];
    let mut node_sums = vec![root];
    let mut node_of = vec![0u32; n];
    let mut frontier: Vec<usize> = vec![0];
    for _ in 0..config.max_depth {
        if frontier.is_empty() {
            break;
        }
        // slot of each frontier node in the histograms
        let mut slot = vec![usize::MAX; nodes.len()];
        for (position, &node) in frontier.iter().enumerate() {
            slot[node] = position;
        }
        let width = config.bins;
        let mut histograms = vec![Sums::default(); frontier.len() * k * width];
        for feature in 0..k {
            let column = &binned.bins[feature];
            for row in 0..n {
                let position = slot[node_of[row] as usize];
                if position == usize::MAX {
                    continue;
                }
                histograms[(position * k + feature) * width + column[row] as usize].add(gradients[row], hessians[row]);
            }
        }
        let mut next_frontier = Vec::new();
        let mut splits: Vec<Option<(usize, usize)>> = vec![None; nodes.len()];
        for (position, &node) in frontier.iter().enumerate() {
            let total = node_sums[node];
            let mut best: Option<(f64, usize, usize, Sums)> = None;
            for feature in 0..k {
                let histogram = &histograms[(position * k + feature) * width..(position * k + feature + 1) * width];
                let mut left = Sums::default();
                let cuts = binned.cuts[feature].len();
                for (bin, sums) in histogram.iter().enumerate().take(cuts) {
                    left.gradient += sums.gradient;
                    left.hessian += sums.hessian;
                    left.rows += sums.rows;
                    let right = Sums {
                        gradient: total.gradient - left.gradient,
                        hessian: total.hessian - left.hessian,
                        rows: total.rows - left.rows,
                    };
                    if left.rows < config.min_leaf_rows
                        || right.rows < config.min_leaf_rows
                        || left.hessian < config.min_leaf_hessian
                        || right.hessian < config.min_leaf_hessian
                    {
                        continue;
                    }
                    let gain = left.score(config.l2) + right.score(config.l2) - total.score(config.l2);
                    if gain > 1e-9 && best.is_none_or(|(best_gain, ..)| gain > best_gain) {
                        best = Some((gain, feature, bin, left));
                    }
                }
            }
            let Some((_, feature, bin, left)) = best else { continue };
            let right = Sums {
                gradient: total.gradient - left.gradient,
                hessian: total.hessian - left.hessian,
                rows: total.rows - left.rows,
            };
            let left_index = nodes.len();
            nodes.push(Node { value: shrink * left.value(config.l2), split: None });
            nodes.push(Node { value: shrink * right.value(config.l2), split: None });
            node_sums.push(left);
            node_sums.push(right);
            nodes[node].split =
                Some(Split { feature, threshold: binned.cuts[feature][bin], left: left_index, right: left_index + 1 });
            splits.resize(nodes.len(), None);
            splits[node] = Some((feature, bin));
            next_frontier.extend([left_index, left_index + 1]);
        }
        for (row, node) in node_of.iter_mut().enumerate() {
            if let (Some((feature, bin)), Some(split)) = (splits[*node as usize], nodes[*node as usize].split) {
                *node = if (binned.bins[feature][row] as usize) <= bin { split.left } else { split.right } as u32;
            }
        }
        frontier = next_frontier;
    }
    (Tree { nodes }, node_of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logistic::BinaryMetrics;
    use crate::rng::SplitMix64;

    /// An interaction a linear model cannot see: y = 1 mostly when x₀ and x₁ have the same sign.
    fn xor(n: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<bool>) {
        let mut rng = SplitMix64::new(seed);
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let (a, b, noise) = (rng.next_f64() * 2.0 - 1.0, rng.next_f64() * 2.0 - 1.0, rng.next_f64());
            rows.push(vec![a, b, rng.next_f64()]);
            labels.push(((a > 0.0) == (b > 0.0)) != (noise < 0.1));
        }
        (rows, labels)
    }

    #[test]
    fn trees_learn_an_interaction_a_line_cannot() {
        let (rows, labels) = xor(4_000, 1);
        let (test_rows, test_labels) = xor(2_000, 2);
        let trees = fit(&rows, &labels, Some((&test_rows, &test_labels)), &TreesConfig::default()).unwrap();
        let probabilities: Vec<f64> = test_rows.iter().map(|row| trees.predict_proba(row)).collect();
        let metrics = BinaryMetrics::compute(&probabilities, &test_labels).unwrap();
        // 10 % of labels are flipped: the best possible accuracy is 0.9.
        assert!(metrics.accuracy > 0.85, "{metrics:?}");
        let line = crate::logistic::fit(&rows, &labels, &crate::logistic::LogisticConfig::default()).unwrap();
        let line_p: Vec<f64> = test_rows.iter().map(|row| line.predict_proba(row)).collect();
        assert!(BinaryMetrics::compute(&line_p, &test_labels).unwrap().accuracy < 0.6);
        // The noise feature is hardly used.
        let shares = trees.split_shares();
        assert!(shares[2] < shares[0] && shares[2] < shares[1], "{shares:?}");
    }

    #[test]
    fn contributions_add_up_to_the_log_odds() {
        let (rows, labels) = xor(1_000, 3);
        let trees = fit(&rows, &labels, None, &TreesConfig { rounds: 30, ..TreesConfig::default() }).unwrap();
        for row in rows.iter().take(50) {
            let (intercept, contributions) = trees.contributions(row);
            let total = intercept + contributions.iter().sum::<f64>();
            assert!((total - trees.log_odds(row)).abs() < 1e-9);
        }
    }

    #[test]
    fn one_split_on_a_step_is_worked_out_by_hand() {
        // x < 0.5: 1 positive in 4; x > 0.5: 3 in 4. One tree of depth 1, rate 1, no penalty.
        let rows: Vec<Vec<f64>> = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9].iter().map(|x| vec![*x]).collect();
        let labels = [true, false, false, false, true, true, true, false];
        let config = TreesConfig {
            rounds: 1,
            learning_rate: 1.0,
            max_depth: 1,
            min_leaf_rows: 1,
            l2: 0.0,
            ..TreesConfig::default()
        };
        let trees = fit(&rows, &labels, None, &config).unwrap();
        let split = trees.trees[0].nodes[0].split.unwrap();
        assert!((split.threshold - 0.5).abs() < 1e-12);
        // At p = 0.5 each row has gradient p − y and hessian 1/4: the left leaf is
        // −(4·0.5 − 1)/(4·0.25) = −1, the right one +1.
        assert!((trees.log_odds(&[0.2]) + 1.0).abs() < 1e-12);
        assert!((trees.log_odds(&[0.8]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(fit(&[], &[], None, &TreesConfig::default()).unwrap_err(), FitError::Empty);
        let rows = vec![vec![1.0], vec![f64::NAN]];
        assert_eq!(
            fit(&rows, &[true, false], None, &TreesConfig::default()).unwrap_err(),
            FitError::NonFinite { row: 1 }
        );
        let rows = vec![vec![1.0], vec![2.0]];
        assert_eq!(
            fit(&rows, &[true, true], None, &TreesConfig::default()).unwrap_err(),
            FitError::OneClass { label: true }
        );
    }
}
