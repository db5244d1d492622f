//! Offline evaluation of next-action prediction on sequences (one case or user = one
//! sequence): train on 2/3 of the sequences, then predict every action of the others from the
//! actions before it (the first action from nothing), and count how often the true action is
//! ranked first (top-1) or among the first three (top-3). The first action of a sequence
//! (predicted from the begin marker alone) is also scored apart from the rest: it is a different
//! question (what does a case start with) and, in short sequences, a large share of the
//! predictions.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::kneser_ney::KneserNey;
use crate::rng::SplitMix64;
use crate::sequence::{BEGIN, ContextCounts, SequenceConfig, actor_tag, context_key, gap_band, predict_next};

/// One sequence: its actions in order, their times and actors when known, and when it started.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub start_us: i64,
    pub actions: Vec<String>,
    pub times_us: Option<Vec<i64>>,
    /// Who performed each action (empty when not said).
    pub actors: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The first sequences by start time train, the later ones test (no peeking at the future).
    Chronological,
    /// A shuffled split with this seed.
    Random(u64),
}

pub fn split_train_test(
    mut sequences: Vec<Sequence>,
    split: Split,
    train_fraction: f64,
) -> (Vec<Sequence>, Vec<Sequence>) {
    match split {
        Split::Chronological => sequences.sort_by_key(|sequence| sequence.start_us),
        Split::Random(seed) => SplitMix64::new(seed).shuffle(&mut sequences),
    }
    let n_train = ((sequences.len() as f64) * train_fraction).floor() as usize;
    let test = sequences.split_off(n_train.min(sequences.len()));
    (sequences, test)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Accuracy {
    pub top1: f64,
    pub top3: f64,
    pub predictions: usize,
}

#[derive(Default)]
struct Tally {
    top1: usize,
    top3: usize,
    total: usize,
}

impl Tally {
    fn record(&mut self, ranked: &[&str], truth: &str) {
        self.total += 1;
        self.top1 += usize::from(ranked.first() == Some(&truth));
        self.top3 += usize::from(ranked.iter().take(3).any(|action| *action == truth));
    }

    fn accuracy(&self) -> Accuracy {
        let share = |hits: usize| if self.total == 0 { 0.0 } else { hits as f64 / self.total as f64 };
        Accuracy { top1: share(self.top1), top3: share(self.top3), predictions: self.total }
    }
}

/// A model's accuracy on every prediction, on the first action of each test sequence alone,
/// and on the others (an action after at least one known action).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelAccuracy {
    pub all: Accuracy,
    pub first: Accuracy,
    pub rest: Accuracy,
}

#[derive(Default)]
struct Tallies {
    first: Tally,
    rest: Tally,
}

impl Tallies {
    fn record(&mut self, position: usize, ranked: &[&str], truth: &str) {
        if position == 0 { &mut self.first } else { &mut self.rest }.record(ranked, truth);
    }

    fn accuracy(&self) -> ModelAccuracy {
        let all = Tally {
            top1: self.first.top1 + self.rest.top1,
            top3: self.first.top3 + self.rest.top3,
            total: self.first.total + self.rest.total,
        };
        ModelAccuracy { all: all.accuracy(), first: self.first.accuracy(), rest: self.rest.accuracy() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NextActionReport {
    pub train_sequences: usize,
    pub test_sequences: usize,
    pub distinct_actions: usize,
    /// Always the action seen most often in training.
    pub most_frequent: ModelAccuracy,
    /// The most frequent follower of the previous action (the most frequent action first).
    pub first_order: ModelAccuracy,
    /// Interpolated modified Kneser-Ney, its order chosen on the last fifth of the training
    /// sequences (in split order) among [`KN_ORDERS`], then refitted on all of them.
    pub kneser_ney: ModelAccuracy,
    pub kneser_ney_order: usize,
    /// The variable-order model with the test sequence's own history as the user's model.
    pub variable_order: ModelAccuracy,
    /// Sequences whose events name their actors.
    pub with_actors: usize,
}

/// The Kneser-Ney orders tried (2 = bigram).
pub const KN_ORDERS: std::ops::RangeInclusive<usize> = 2..=8;

/// The Kneser-Ney order with the best top-1 (then top-3) on the last fifth of `train` when
/// fitted on the rest.
fn tune_kneser_ney(train: &[Sequence]) -> usize {
    let cut = train.len() - train.len() / 5;
    let (fit, check) = train.split_at(cut);
    let fit: Vec<Vec<&str>> = fit.iter().map(|s| s.actions.iter().map(String::as_str).collect()).collect();
    let mut best = (*KN_ORDERS.start(), (0, 0));
    for order in KN_ORDERS {
        let model = KneserNey::fit(&fit, order);
        let mut tally = Tally::default();
        for sequence in check {
            for (position, action) in sequence.actions.iter().enumerate() {
                tally.record(&model.rank(&sequence.actions[..position], 3), action);
            }
        }
        if (tally.top1, tally.top3) > best.1 {
            best = (order, (tally.top1, tally.top3));
        }
    }
    best.0
}

/// Ranks `successors` by count, ties alphabetically.
fn ranked(successors: &BTreeMap<String, u64>) -> Vec<&str> {
    let mut entries: Vec<(&String, &u64)> = successors.iter().collect();
    entries.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    entries.into_iter().take(3).map(|(action, _)| action.as_str()).collect()
}

/// The actor of the action before `position`, when known.
fn actor_at(sequence: &Sequence, position: usize) -> Option<String> {
    let actors = sequence.actors.as_ref()?;
    position.checked_sub(1).and_then(|last| actors.get(last)).and_then(|actor| actor_tag(actor))
}

fn gap_at(sequence: &Sequence, position: usize) -> Option<u8> {
    let times = sequence.times_us.as_ref()?;
    (position >= 2).then(|| gap_band(times[position - 2], times[position - 1]))
}

pub fn evaluate_next_action(train: &[Sequence], test: &[Sequence], config: &SequenceConfig) -> NextActionReport {
    let mut global = ContextCounts::default();
    for sequence in train {
        let mut recent: Vec<&str> = vec![BEGIN];
        for (position, action) in sequence.actions.iter().enumerate() {
            let window = &recent[recent.len().saturating_sub(config.max_order)..];
            let gap = gap_at(sequence, position).filter(|_| config.time_gaps);
            let actor = actor_at(sequence, position).filter(|_| config.actors);
            global.observe(window, action, config.max_order, gap, actor.as_deref());
            recent.push(action);
        }
    }
    let empty = BTreeMap::new();
    let unigrams = global.successors("").unwrap_or(&empty);
    let most_frequent: Vec<&str> = ranked(unigrams);
    let kneser_ney_order = tune_kneser_ney(train);
    let kneser_ney = KneserNey::fit(
        &train.iter().map(|s| s.actions.iter().map(String::as_str).collect::<Vec<_>>()).collect::<Vec<_>>(),
        kneser_ney_order,
    );
    let (mut frequent_tally, mut first_order_tally, mut kneser_ney_tally, mut model_tally) =
        (Tallies::default(), Tallies::default(), Tallies::default(), Tallies::default());

    for sequence in test {
        let mut user = ContextCounts::default();
        let mut recent: Vec<&str> = vec![BEGIN];
        for (position, action) in sequence.actions.iter().enumerate() {
            frequent_tally.record(position, &most_frequent, action);
            let previous = context_key(&recent, 1, None).unwrap_or_default();
            let first_order = global.successors(&previous).map(ranked).unwrap_or_else(|| most_frequent.clone());
            first_order_tally.record(position, &first_order, action);
            kneser_ney_tally.record(position, &kneser_ney.rank(&sequence.actions[..position], 3), action);

            let window = &recent[recent.len().saturating_sub(config.max_order)..];
            let actor = actor_at(sequence, position);
            let prediction =
                predict_next(&global, &user, window, gap_at(sequence, position), actor.as_deref(), config, 3);
            let guesses: Vec<&str> = prediction.actions.iter().map(|scored| scored.action.as_str()).collect();
            model_tally.record(position, &guesses, action);

            let user_window = &recent[recent.len().saturating_sub(config.user_max_order)..];
            user.observe(user_window, action, config.user_max_order, None, None);
            recent.push(action);
        }
    }
    NextActionReport {
        train_sequences: train.len(),
        test_sequences: test.len(),
        distinct_actions: unigrams.len(),
        most_frequent: frequent_tally.accuracy(),
        first_order: first_order_tally.accuracy(),
        kneser_ney: kneser_ney_tally.accuracy(),
        kneser_ney_order,
        variable_order: model_tally.accuracy(),
        with_actors: test.iter().chain(train).filter(|s| s.actors.is_some()).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(start_us: i64, actions: &[&str]) -> Sequence {
        Sequence { start_us, actions: actions.iter().map(|a| (*a).to_owned()).collect(), times_us: None, actors: None }
    }

    #[test]
    fn a_chronological_split_trains_on_the_earliest_sequences() {
        let sequences = vec![sequence(3, &["c"]), sequence(1, &["a"]), sequence(2, &["b"])];
        let (train, test) = split_train_test(sequences, Split::Chronological, 2.0 / 3.0);
        assert_eq!(train.iter().map(|s| s.start_us).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(test[0].start_us, 3);
    }

    #[test]
    fn hand_computed_accuracies() {
        // Training: "a b c" twice and "a b d" once; most frequent = a (3), then b (3): a first.
        let train = vec![sequence(0, &["a", "b", "c"]), sequence(1, &["a", "b", "c"]), sequence(2, &["a", "b", "d"])];
        let test = vec![sequence(3, &["a", "b", "d"])];
        let report =
            evaluate_next_action(&train, &test, &SequenceConfig { time_gaps: false, ..SequenceConfig::default() });
        // Most frequent ranks a, b, c: hits a (top-1), b (top-3) and misses d.
        assert_eq!(report.most_frequent.all, Accuracy { top1: 1.0 / 3.0, top3: 2.0 / 3.0, predictions: 3 });
        // The first action (a) is a hit for both; the other two are b (hit) and d (miss).
        assert_eq!(report.most_frequent.first, Accuracy { top1: 1.0, top3: 1.0, predictions: 1 });
        assert_eq!(report.most_frequent.rest, Accuracy { top1: 0.0, top3: 0.5, predictions: 2 });
        // First order: begin→a hit, a→b hit, b→c ranked before d: top-1 miss, top-3 hit.
        assert_eq!(report.first_order.all, Accuracy { top1: 2.0 / 3.0, top3: 1.0, predictions: 3 });
        assert_eq!(report.first_order.rest, Accuracy { top1: 0.5, top3: 1.0, predictions: 2 });
        assert_eq!(report.variable_order.all.predictions, 3);
        assert!((report.variable_order.all.top1 - 2.0 / 3.0).abs() < 1e-12);
        // Kneser-Ney ranks c before d after "a b" too.
        assert_eq!(report.kneser_ney.all, Accuracy { top1: 2.0 / 3.0, top3: 1.0, predictions: 3 });
        assert_eq!(report.distinct_actions, 4);
    }
}
