//! Interpolated modified Kneser-Ney (Chen & Goodman 1998) over action sequences: the strongest
//! plain back-off n-gram model, kept as the baseline the next-action model must beat
//! (`footprint eval next-action`). Not used to serve predictions.
//!
//! The highest order uses the raw counts of what followed each context of `order − 1` actions;
//! each lower order uses *continuation* counts (in how many distinct longer contexts an action
//! followed the shorter one), so an action that is frequent only after one particular context
//! does not dominate the back-off. Each order has three discounts (for counts 1, 2 and 3+)
//! estimated from its count-of-counts; the discounted mass goes to the next lower order, down to
//! the uniform distribution over the known actions. Sequences are padded with begin markers so
//! the first action has a full context.

use std::collections::HashMap;

/// A context id never given to an action: histories with unknown actions back off past it.
const UNKNOWN: u32 = u32::MAX;
/// The begin-of-sequence marker's id (actions are numbered from 1).
const BEGIN: u32 = 0;

#[derive(Debug, Default, Clone)]
struct Node {
    counts: HashMap<u32, u64>,
    total: u64,
    /// Successors seen once, twice, three times or more.
    distinct: [u64; 3],
}

impl Node {
    fn add(&mut self, action: u32, count: u64) {
        *self.counts.entry(action).or_default() += count;
        self.total += count;
    }

    fn finish(&mut self) {
        self.distinct = [0; 3];
        for &count in self.counts.values() {
            self.distinct[(count.min(3) - 1) as usize] += 1;
        }
    }
}

/// A fitted model; `order` counts the predicted action (order 3 = contexts of two actions).
#[derive(Debug, Clone)]
pub struct KneserNey {
    order: usize,
    ids: HashMap<String, u32>,
    names: Vec<String>,
    /// `levels[k]`: contexts of `k` actions.
    levels: Vec<HashMap<Vec<u32>, Node>>,
    /// `discounts[k]`: D1, D2, D3+ of the contexts of `k` actions.
    discounts: Vec<[f64; 3]>,
}

impl KneserNey {
    /// Fits on `sequences` (each an ordered list of actions). `order` is at least 1 (unigram).
    pub fn fit<S: AsRef<str>>(sequences: &[Vec<S>], order: usize) -> Self {
        Self::fit_with(sequences, order, None)
    }

    fn fit_with<S: AsRef<str>>(sequences: &[Vec<S>], order: usize, fixed: Option<[f64; 3]>) -> Self {
        let order = order.max(1);
        let mut ids = HashMap::new();
        let mut names = vec![String::new()];
        let mut top: HashMap<Vec<u32>, Node> = HashMap::new();
        for sequence in sequences {
            let mut history = vec![BEGIN; order - 1];
            for action in sequence {
                let action = action.as_ref();
                let id = *ids.entry(action.to_owned()).or_insert_with(|| {
                    names.push(action.to_owned());
                    (names.len() - 1) as u32
                });
                let context = history[history.len() - (order - 1)..].to_vec();
                top.entry(context).or_default().add(id, 1);
                history.push(id);
            }
        }
        let mut levels = vec![HashMap::new(); order];
        levels[order - 1] = top;
        // Continuation counts: each distinct (longer context, action) counts once for its suffix.
        for k in (0..order - 1).rev() {
            let mut lower: HashMap<Vec<u32>, Node> = HashMap::new();
            for (context, node) in &levels[k + 1] {
                let suffix = context[1..].to_vec();
                let entry = lower.entry(suffix).or_default();
                for &action in node.counts.keys() {
                    entry.add(action, 1);
                }
            }
            levels[k] = lower;
        }
        let discounts = levels
            .iter_mut()
            .map(|level| {
                let mut count_of_counts = [0u64; 4];
                for node in level.values_mut() {
                    node.finish();
                    for &count in node.counts.values() {
                        if count <= 4 {
                            count_of_counts[(count - 1) as usize] += 1;
                        }
                    }
                }
                fixed.unwrap_or_else(|| discounts(count_of_counts))
            })
            .collect();
        Self { order, ids, names, levels, discounts }
    }

    pub fn order(&self) -> usize {
        self.order
    }

    /// The known actions.
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.names[1..].iter().map(String::as_str)
    }

    /// P(next action | the actions so far of this sequence), for every known action (same order
    /// as [`Self::actions`]); they sum to 1.
    pub fn distribution<S: AsRef<str>>(&self, so_far: &[S]) -> Vec<f64> {
        let vocabulary = self.names.len() - 1;
        if vocabulary == 0 {
            return Vec::new();
        }
        let mut history = vec![BEGIN; self.order - 1];
        history.extend(so_far.iter().map(|action| self.ids.get(action.as_ref()).copied().unwrap_or(UNKNOWN)));
        let context = &history[history.len() - (self.order - 1)..];
        let mut probabilities = vec![1.0 / vocabulary as f64; vocabulary];
        for k in 0..self.order {
            let Some(node) = self.levels[k].get(&context[context.len() - k..]) else {
                continue; // unseen context: the lower order's answer stands
            };
            if node.total == 0 {
                continue;
            }
            let [d1, d2, d3] = self.discounts[k];
            let total = node.total as f64;
            let kept = d1 * node.distinct[0] as f64 + d2 * node.distinct[1] as f64 + d3 * node.distinct[2] as f64;
            let gamma = kept / total;
            for (index, probability) in probabilities.iter_mut().enumerate() {
                let count = node.counts.get(&((index + 1) as u32)).copied().unwrap_or(0);
                let discount = match count {
                    0 => 0.0,
                    1 => d1,
                    2 => d2,
                    _ => d3,
                };
                *probability = (count as f64 - discount).max(0.0) / total + gamma * *probability;
            }
        }
        probabilities
    }

    /// The known actions ranked by probability after `so_far` (ties by name), at most `top`.
    pub fn rank<S: AsRef<str>>(&self, so_far: &[S], top: usize) -> Vec<&str> {
        let probabilities = self.distribution(so_far);
        let mut ranked: Vec<(usize, f64)> = probabilities.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| self.names[a.0 + 1].cmp(&self.names[b.0 + 1])));
        ranked.into_iter().take(top).map(|(index, _)| self.names[index + 1].as_str()).collect()
    }
}

/// Chen & Goodman's estimates from the number of n-grams seen once … four times:
/// Y = n1 / (n1 + 2 n2), D_c = c − (c + 1) Y n_{c+1} / n_c, each kept within [0, c]; where a
/// count-of-counts is missing, the plain Kneser-Ney discount Y (or 0.5) stands.
fn discounts(n: [u64; 4]) -> [f64; 3] {
    let [n1, n2, ..] = n.map(|count| count as f64);
    let y = if n1 + 2.0 * n2 > 0.0 { n1 / (n1 + 2.0 * n2) } else { 0.5 };
    let mut out = [y.clamp(0.0, 1.0); 3];
    for c in 1..=3usize {
        let (nc, next) = (n[c - 1] as f64, n[c] as f64);
        if nc > 0.0 && next > 0.0 {
            out[c - 1] = (c as f64 - (c as f64 + 1.0) * y * next / nc).clamp(0.0, c as f64);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Vec<Vec<&'static str>> {
        vec![vec!["a", "b"], vec!["a", "c"], vec!["a", "b"]]
    }

    #[test]
    fn hand_computed_bigram_with_fixed_discounts() {
        // D = 0.5 everywhere, V = {a, b, c}. Unigram continuation counts a, b, c = 1 each
        // (after begin, after a, after a): p0 = (1 − 0.5 + 0.5·3/3)/3 = 1/3 each.
        // After a: b twice, c once, total 3, γ = 0.5·2/3: p(b|a) = 1.5/3 + (1/3)(1/3) = 0.6111…
        let model = KneserNey::fit_with(&data(), 2, Some([0.5; 3]));
        let names: Vec<&str> = model.actions().collect();
        let p = model.distribution(&["a"]);
        let of = |action: &str| p[names.iter().position(|name| *name == action).unwrap()];
        assert!((of("b") - (1.5 / 3.0 + 1.0 / 9.0)).abs() < 1e-12, "{p:?}");
        assert!((of("c") - (0.5 / 3.0 + 1.0 / 9.0)).abs() < 1e-12, "{p:?}");
        assert!((of("a") - 1.0 / 9.0).abs() < 1e-12, "{p:?}");
        // After begin: a three times, γ = 0.5/3: p(a) = 2.5/3 + (1/6)(1/3).
        let first = model.distribution::<&str>(&[]);
        assert!((first[names.iter().position(|n| *n == "a").unwrap()] - (2.5 / 3.0 + 1.0 / 18.0)).abs() < 1e-12);
    }

    #[test]
    fn distributions_sum_to_one_and_unknown_histories_back_off() {
        let model = KneserNey::fit(&data(), 3);
        for history in [vec![], vec!["a"], vec!["a", "b"], vec!["zzz"], vec!["b", "zzz"]] {
            let total: f64 = model.distribution(&history).iter().sum();
            assert!((total - 1.0).abs() < 1e-9, "{history:?}: {total}");
        }
        assert_eq!(model.rank(&["a"], 2), ["b", "c"]);
        assert_eq!(model.rank::<&str>(&[], 1), ["a"]);
    }

    #[test]
    fn chen_goodman_discounts() {
        // n1 = 10, n2 = 5, n3 = 3, n4 = 2: Y = 0.5; D1 = 1 − 2·0.5·5/10 = 0.5,
        // D2 = 2 − 3·0.5·3/5 = 1.1, D3 = 3 − 4·0.5·2/3 = 1.666…
        let d = discounts([10, 5, 3, 2]);
        assert!((d[0] - 0.5).abs() < 1e-12 && (d[1] - 1.1).abs() < 1e-12 && (d[2] - 5.0 / 3.0).abs() < 1e-12);
    }
}
