//! Next-action prediction over action sequences.
//!
//! Counts are kept per *context*: the last `k` actions (k = 0 … max order) before an action,
//! with a begin-of-sequence marker so that a sequence's first action has a context too, and
//! optionally the size of the gap between the last two actions and who performed the last one
//! (its *actor*: a person's role, a system, a team, when events name one). The same counts serve the
//! seed's first-order rule ([`predict_first_order`]) and the variable-order model
//! ([`predict_next`]): Witten-Bell interpolation from order 0 up to the longest context, first
//! over the counts shared by all users (the global model), then over the user's own counts.
//! A user with no history gets the global answer; an action never seen after a context keeps
//! a little probability mass.
//!
//! Contexts are encoded as text keys: event types contain no control characters, so control
//! characters separate actions unambiguously.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

mod contexts;

use contexts::{ACTOR_MARK, SEPARATOR};
pub use contexts::{BEGIN, actor_tag, context_actions, context_key, gap_band, marked_key, observation_contexts};

/// Parameters of the variable-order model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SequenceConfig {
    /// Longest context of the global model.
    pub max_order: usize,
    /// Longest context of a user's own model.
    pub user_max_order: usize,
    /// Whether contexts also carry the gap between the last two actions (when times are known).
    pub time_gaps: bool,
    /// Whether contexts also carry the actor of the last action (when events name one).
    pub actors: bool,
    /// Extra evidence any global context needs before it outweighs the shorter ones: with `n`
    /// observations and `t` distinct successors it weighs `n / (n + t + global_prior)`, so a long
    /// context seen once does not decide alone.
    pub global_prior: f64,
    /// Evidence a user's own counts need before they outweigh the global model: a user context
    /// seen `n` times with `t` distinct successors weighs `n / (n + t + user_prior)`. Measured on
    /// the Helpdesk and BPIC 2012 logs (EVALUATION.md): 20 costs nothing there, while a habit seen
    /// twenty times already carries half the weight.
    pub user_prior: f64,
}

impl Default for SequenceConfig {
    fn default() -> Self {
        Self { max_order: 6, user_max_order: 2, time_gaps: true, actors: true, global_prior: 3.0, user_prior: 20.0 }
    }
}

/// Where a user's sequence stands: what incremental processing needs to count the next action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSequence {
    /// The last actions, oldest first, starting with [`BEGIN`] while the history is short.
    pub recent: Vec<String>,
    pub last_us: Option<i64>,
    pub previous_us: Option<i64>,
    pub n_actions: i64,
    /// Who performed the last action, when its event named one.
    pub last_actor: Option<String>,
}

impl Default for UserSequence {
    fn default() -> Self {
        Self { recent: vec![BEGIN.to_owned()], last_us: None, previous_us: None, n_actions: 0, last_actor: None }
    }
}

/// The count keys one action adds to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub global: Vec<String>,
    pub user: Vec<String>,
}

impl UserSequence {
    /// The gap band between the last two actions, if there were two.
    pub fn gap(&self) -> Option<u8> {
        Some(gap_band(self.previous_us?, self.last_us?))
    }

    pub fn last_action(&self) -> Option<&str> {
        self.recent.last().map(String::as_str).filter(|action| *action != BEGIN)
    }

    /// The last action's actor, when contexts carry actors.
    pub fn actor(&self, config: &SequenceConfig) -> Option<&str> {
        self.last_actor.as_deref().filter(|_| config.actors)
    }

    /// Counts `action` at `at_us`, performed by `actor` when known: returns the keys to add to
    /// (global contexts up to `max_order`, with the time gap and the previous action's actor
    /// when enabled; the user's contexts up to `user_max_order`, order 0 included, which makes
    /// the user's action frequencies), then moves forward.
    pub fn observe(&mut self, action: &str, at_us: i64, actor: Option<&str>, config: &SequenceConfig) -> Observation {
        let recent: Vec<&str> = self.recent.iter().map(String::as_str).collect();
        let gap = self.gap().filter(|_| config.time_gaps);
        let observation = Observation {
            global: observation_contexts(&recent, config.max_order, gap, self.actor(config)),
            user: observation_contexts(&recent, config.user_max_order, None, None),
        };
        self.last_actor = actor.and_then(actor_tag);
        self.recent.push(action.to_owned());
        let keep = config.max_order.max(config.user_max_order);
        if self.recent.len() > keep {
            self.recent.drain(..self.recent.len() - keep);
        }
        self.previous_us = self.last_us;
        self.last_us = Some(at_us);
        self.n_actions += 1;
        observation
    }

    /// The recent actions as stored (the begin marker kept), then the last actor when known.
    pub fn encode_recent(&self) -> String {
        let mut text = self.recent.join(&SEPARATOR.to_string());
        if let Some(actor) = &self.last_actor {
            text.push(SEPARATOR);
            text.push(ACTOR_MARK);
            text.push_str(actor);
        }
        text
    }

    /// The recent actions of a stored text (the actor left out).
    pub fn decode_recent(text: &str) -> Vec<String> {
        if text.is_empty() {
            return Vec::new();
        }
        text.split(SEPARATOR).filter(|part| !part.starts_with(ACTOR_MARK)).map(str::to_owned).collect()
    }

    /// The state as stored: the text of [`Self::encode_recent`] and the other fields.
    pub fn from_stored(recent: &str, last_us: Option<i64>, previous_us: Option<i64>, n_actions: i64) -> Self {
        Self {
            recent: Self::decode_recent(recent),
            last_us,
            previous_us,
            n_actions,
            last_actor: Self::decode_actor(recent),
        }
    }

    /// The last actor of a stored text, when there is one.
    pub fn decode_actor(text: &str) -> Option<String> {
        text.split(SEPARATOR).find_map(|part| part.strip_prefix(ACTOR_MARK)).map(str::to_owned)
    }
}

/// Counts of what followed each context.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextCounts {
    counts: HashMap<String, BTreeMap<String, u64>>,
}

impl ContextCounts {
    pub fn add(&mut self, context: &str, next: &str, count: u64) {
        *self.counts.entry(context.to_owned()).or_default().entry(next.to_owned()).or_default() += count;
    }

    /// Counts `next` after `recent` under every context it belongs to.
    pub fn observe(&mut self, recent: &[&str], next: &str, max_order: usize, gap: Option<u8>, actor: Option<&str>) {
        for key in observation_contexts(recent, max_order, gap, actor) {
            self.add(&key, next, 1);
        }
    }

    pub fn successors(&self, context: &str) -> Option<&BTreeMap<String, u64>> {
        self.counts.get(context)
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.counts.iter().flat_map(|(context, nexts)| {
            nexts.iter().map(move |(next, count)| (context.as_str(), next.as_str(), *count))
        })
    }
}

/// The seed's rule: among the actions that followed `last_action` in the user's history, the
/// most frequent, with probability = its count / all counts out of `last_action`. Ties go to the
/// alphabetically first action, so the answer is the same every time.
pub fn predict_first_order(successors: &BTreeMap<String, u64>) -> Option<(String, f64)> {
    let total: u64 = successors.values().sum();
    let (best, count) = successors.iter().max_by(|(a, count_a), (b, count_b)| count_a.cmp(count_b).then(b.cmp(a)))?;
    (total > 0).then(|| (best.clone(), *count as f64 / total as f64))
}

/// A ranked guess of the next action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredAction {
    pub action: String,
    pub probability: f64,
}

/// Which counts answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSource {
    /// The user's own history weighed in, over the global model.
    UserAndGlobal,
    /// The user has no usable history: the model shared by all users answered.
    Global,
    /// Nothing is known yet.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NextActionPrediction {
    /// Most probable first; probabilities sum to at most 1.
    pub actions: Vec<ScoredAction>,
    /// The longest context (actions, oldest first) for which counts existed.
    pub context: Vec<String>,
    /// Its length.
    pub order: usize,
    pub source: ModelSource,
}

/// The variable-order prediction for a user whose recent actions are `recent` (oldest first,
/// starting with [`BEGIN`] when the whole history is shorter than the longest context).
pub fn predict_next(
    global: &ContextCounts,
    user: &ContextCounts,
    recent: &[&str],
    gap: Option<u8>,
    actor: Option<&str>,
    config: &SequenceConfig,
    top_k: usize,
) -> NextActionPrediction {
    let mut vocabulary: Vec<&str> = Vec::new();
    for counts in [global, user] {
        if let Some(unigrams) = counts.successors("") {
            vocabulary.extend(unigrams.keys().map(String::as_str));
        }
    }
    vocabulary.sort_unstable();
    vocabulary.dedup();
    if vocabulary.is_empty() {
        return NextActionPrediction { actions: Vec::new(), context: Vec::new(), order: 0, source: ModelSource::None };
    }
    let mut probability: HashMap<&str, f64> =
        vocabulary.iter().map(|action| (*action, 1.0 / vocabulary.len() as f64)).collect();
    let mut longest: Option<(usize, String)> = None;
    let gap = gap.filter(|_| config.time_gaps);
    let actor = actor.filter(|_| config.actors);

    let mut interpolate = |counts: &ContextCounts, key: &str, order: usize, prior: f64| {
        let Some(successors) = counts.successors(key) else { return false };
        let seen: u64 = successors.values().sum();
        if seen == 0 {
            return false;
        }
        let weight = seen as f64 / (seen as f64 + successors.len() as f64 + prior);
        for (action, value) in probability.iter_mut() {
            let observed = successors.get(*action).copied().unwrap_or(0) as f64 / seen as f64;
            *value = weight * observed + (1.0 - weight) * *value;
        }
        if longest.as_ref().is_none_or(|(best, _)| order >= *best) {
            longest = Some((order, key.to_owned()));
        }
        true
    };

    for order in 0..=config.max_order.min(recent.len()) {
        if let Some(key) = context_key(recent, order, None) {
            interpolate(global, &key, order, config.global_prior);
        }
        if order > 0
            && let Some(key) = context_key(recent, order, gap).filter(|_| gap.is_some())
        {
            interpolate(global, &key, order, config.global_prior);
        }
        if order > 0
            && let Some(key) = marked_key(recent, order, None, actor).filter(|_| actor.is_some())
        {
            interpolate(global, &key, order, config.global_prior);
        }
    }
    // The user's own counts refine the prediction in context (order ≥ 1); their overall action
    // frequencies alone would pull every prediction towards the user's commonest actions.
    let mut user_answered = false;
    for order in 1..=config.user_max_order.min(recent.len()) {
        if let Some(key) = context_key(recent, order, None) {
            user_answered |= interpolate(user, &key, order, config.user_prior);
        }
    }

    let mut ranked: Vec<ScoredAction> = probability
        .into_iter()
        .map(|(action, probability)| ScoredAction { action: action.to_owned(), probability })
        .collect();
    ranked.sort_by(|a, b| b.probability.total_cmp(&a.probability).then_with(|| a.action.cmp(&b.action)));
    ranked.truncate(top_k);
    let (order, context) = longest.map(|(order, key)| (order, context_actions(&key))).unwrap_or_default();
    let source = if user_answered { ModelSource::UserAndGlobal } else { ModelSource::Global };
    NextActionPrediction { actions: ranked, context, order, source }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::contexts::GAP_MARK;
    use super::*;

    fn history(actions: &[&str]) -> Vec<String> {
        actions.iter().map(|a| (*a).to_owned()).collect()
    }

    /// Counts a whole sequence the way the processor does, action by action.
    fn learn(counts: &mut ContextCounts, actions: &[String], max_order: usize) {
        let mut recent: Vec<&str> = vec![BEGIN];
        for action in actions {
            counts.observe(&recent, action, max_order, None, None);
            recent.push(action);
        }
    }

    #[test]
    fn context_keys_round_trip_and_never_collide_with_actions() {
        let recent = [BEGIN, "connexion", "recherche de produits"];
        assert_eq!(context_key(&recent, 0, None).as_deref(), Some(""));
        let two = context_key(&recent, 2, None).unwrap();
        assert_eq!(context_actions(&two), vec!["connexion", "recherche de produits"]);
        assert_eq!(
            context_actions(&context_key(&recent, 3, None).unwrap()),
            vec!["connexion", "recherche de produits"]
        );
        let gapped = context_key(&recent, 1, Some(7)).unwrap();
        assert_ne!(gapped, context_key(&recent, 1, None).unwrap());
        assert_eq!(context_actions(&gapped), vec!["recherche de produits"]);
        assert_eq!(context_key(&recent, 4, None), None);
        assert_eq!(observation_contexts(&recent, 6, Some(1), None).len(), 1 + 2 * 3);
    }

    #[test]
    fn gap_bands_grow_by_powers_of_two() {
        let second = 1_000_000;
        assert_eq!(gap_band(0, 0), 0);
        assert_eq!(gap_band(0, second), 1);
        assert_eq!(gap_band(0, 3 * second), 2);
        assert_eq!(gap_band(0, 4 * second), 3);
        assert_eq!(gap_band(0, 86_400 * second), 17);
        assert_eq!(gap_band(0, i64::MAX), 24);
        assert_eq!(gap_band(5 * second, 0), 0, "out of order counts as no gap");
    }

    /// Seed 002's demo, worked out by hand: after the longer scenario, "consultation de fiches
    /// produits" was followed 3 times by "recherche de produits" and twice by "ajout …".
    #[test]
    fn the_first_order_rule_reproduces_the_seed_demo() {
        let mut counts = ContextCounts::default();
        let first = history(&[
            "connexion",
            "navigation sur la page d'accueil",
            "recherche de produits",
            "consultation de fiches produits",
            "ajout d'un produit au panier",
            "modification de la quantité dans le panier",
            "passage à la caisse",
            "saisie des informations de livraison",
            "sélection du mode de paiement",
            "confirmation de la commande",
            "déconnexion",
        ]);
        learn(&mut counts, &first, 1);
        let last = context_key(&["déconnexion"], 1, None).unwrap();
        assert!(counts.successors(&last).is_none(), "nothing ever followed the last action");
        let more = history(&[
            "connexion",
            "recherche de produits",
            "consultation de fiches produits",
            "recherche de produits",
            "consultation de fiches produits",
            "recherche de produits",
            "consultation de fiches produits",
            "recherche de produits",
            "consultation de fiches produits",
            "ajout d'un produit au panier",
            "recherche de produits",
            "consultation de fiches produits",
        ]);
        let mut whole = first.clone();
        whole.extend(more);
        let mut counts = ContextCounts::default();
        learn(&mut counts, &whole, 1);
        let key = context_key(&["consultation de fiches produits"], 1, None).unwrap();
        let (next, probability) = predict_first_order(counts.successors(&key).unwrap()).unwrap();
        assert_eq!(next, "recherche de produits");
        assert!((probability - 0.6).abs() < 1e-12, "{probability}");
    }

    #[test]
    fn first_order_ties_are_broken_alphabetically() {
        let successors = BTreeMap::from([("b".to_owned(), 2), ("a".to_owned(), 2), ("c".to_owned(), 1)]);
        assert_eq!(predict_first_order(&successors), Some(("a".to_owned(), 0.4)));
        assert_eq!(predict_first_order(&BTreeMap::new()), None);
    }

    #[test]
    fn a_cold_user_gets_the_global_answer_and_a_known_user_their_own() {
        let mut global = ContextCounts::default();
        for _ in 0..20 {
            learn(&mut global, &history(&["login", "search", "view"]), 6);
        }
        let config = SequenceConfig { time_gaps: false, ..SequenceConfig::default() };
        let cold = predict_next(&global, &ContextCounts::default(), &[BEGIN, "login"], None, None, &config, 3);
        assert_eq!(cold.source, ModelSource::Global);
        assert_eq!(cold.actions[0].action, "search");
        assert_eq!(cold.context, vec!["login"]);

        let mut user = ContextCounts::default();
        for _ in 0..30 {
            learn(&mut user, &history(&["login", "settings"]), 2);
        }
        let known = predict_next(&global, &user, &[BEGIN, "login"], None, None, &config, 3);
        assert_eq!(known.source, ModelSource::UserAndGlobal);
        assert_eq!(known.actions[0].action, "settings", "{known:?}");
    }

    #[test]
    fn longer_contexts_disambiguate() {
        // After "b", the next action depends on what came before "b".
        let mut global = ContextCounts::default();
        for _ in 0..10 {
            learn(&mut global, &history(&["a", "b", "c"]), 6);
            learn(&mut global, &history(&["x", "b", "y"]), 6);
        }
        let config = SequenceConfig { time_gaps: false, ..SequenceConfig::default() };
        let after_a = predict_next(&global, &ContextCounts::default(), &[BEGIN, "a", "b"], None, None, &config, 1);
        let after_x = predict_next(&global, &ContextCounts::default(), &[BEGIN, "x", "b"], None, None, &config, 1);
        assert_eq!((after_a.actions[0].action.as_str(), after_x.actions[0].action.as_str()), ("c", "y"));
        assert_eq!(after_a.order, 3, "begin, a, b");
    }

    #[test]
    fn nothing_known_gives_nothing() {
        let empty = ContextCounts::default();
        let prediction = predict_next(&empty, &empty, &[BEGIN], None, None, &SequenceConfig::default(), 3);
        assert_eq!(prediction.source, ModelSource::None);
        assert!(prediction.actions.is_empty());
    }

    #[test]
    fn a_user_sequence_counts_what_whole_sequences_count() {
        let config = SequenceConfig { max_order: 3, user_max_order: 2, time_gaps: false, ..SequenceConfig::default() };
        let actions = history(&["a", "b", "a", "c", "a", "b"]);
        let mut batch = ContextCounts::default();
        learn(&mut batch, &actions, 3);
        let mut incremental = ContextCounts::default();
        let mut user = ContextCounts::default();
        let mut state = UserSequence::default();
        for (n, action) in actions.iter().enumerate() {
            let observation = state.observe(action, n as i64 * 1_000_000, None, &config);
            for key in &observation.global {
                incremental.add(key, action, 1);
            }
            for key in &observation.user {
                user.add(key, action, 1);
            }
        }
        assert_eq!(incremental, batch);
        assert_eq!(state.last_action(), Some("b"));
        assert_eq!(state.recent, history(&["c", "a", "b"]), "only what the longest context needs is kept");
        assert_eq!(user.successors("").unwrap().get("a"), Some(&3), "order 0 holds the user's action counts");
        assert_eq!(UserSequence::decode_recent(&state.encode_recent()), state.recent);
    }

    #[test]
    fn the_gap_is_the_one_between_the_two_actions_before() {
        let config = SequenceConfig { max_order: 2, ..SequenceConfig::default() };
        let mut state = UserSequence::default();
        assert!(state.observe("a", 0, None, &config).global.iter().all(|key| !key.starts_with(GAP_MARK)));
        state.observe("b", 5_000_000, None, &config);
        let third = state.observe("c", 6_000_000, None, &config);
        assert!(third.global.contains(&context_key(&[BEGIN, "a", "b"], 2, Some(gap_band(0, 5_000_000))).unwrap()));
    }

    #[test]
    fn the_last_actor_tells_apart_what_the_actions_alone_cannot() {
        // After "review", the clerk's review goes on to "approve", the system's to "notify".
        let config = SequenceConfig { max_order: 2, time_gaps: false, ..SequenceConfig::default() };
        let mut global = ContextCounts::default();
        for _ in 0..30 {
            for (actor, next) in [("clerk", "approve"), ("system", "notify")] {
                let mut state = UserSequence::default();
                for (action, by) in [("submit", "web"), ("review", actor), (next, actor)] {
                    for key in state.observe(action, 0, Some(by), &config).global {
                        global.add(&key, action, 1);
                    }
                }
            }
        }
        let none = ContextCounts::default();
        let recent = [BEGIN, "submit", "review"];
        let top =
            |actor: Option<&str>| predict_next(&global, &none, &recent, None, actor, &config, 1).actions[0].clone();
        assert_eq!(top(Some("clerk")).action, "approve");
        assert_eq!(top(Some("system")).action, "notify");
        assert!(top(Some("clerk")).probability > 0.8, "{:?}", top(Some("clerk")));
        // Without the actor the two are even; with actors switched off too.
        let even = predict_next(&global, &none, &recent, None, None, &config, 2).actions;
        assert!((even[0].probability - even[1].probability).abs() < 1e-12, "{even:?}");
        let off = SequenceConfig { actors: false, ..config };
        let ignored = predict_next(&global, &none, &recent, None, Some("clerk"), &off, 2).actions;
        assert_eq!(ignored, even);
        // The actor's contexts are shown as their actions only.
        let key = marked_key(&recent, 1, None, Some("clerk")).unwrap();
        assert_eq!(context_actions(&key), vec!["review"]);
    }

    #[test]
    fn the_last_actor_is_stored_with_the_recent_actions() {
        let config = SequenceConfig::default();
        let mut state = UserSequence::default();
        state.observe("a", 0, Some("  clerk\u{1f}7 "), &config);
        assert_eq!(state.last_actor.as_deref(), Some("clerk7"), "trimmed, control characters dropped");
        let stored = state.encode_recent();
        let back = UserSequence::from_stored(&stored, state.last_us, state.previous_us, state.n_actions);
        assert_eq!(back, state);
        assert_eq!(UserSequence::decode_recent(&stored), history(&[BEGIN, "a"]));
        // A state stored before actors existed reads as it was, with no actor.
        let old = UserSequence::from_stored(&format!("{BEGIN}{SEPARATOR}a"), None, None, 1);
        assert_eq!((old.recent, old.last_actor), (history(&[BEGIN, "a"]), None));
        // An action without an actor clears it; a blank one is none.
        state.observe("b", 1, Some("   "), &config);
        assert_eq!(state.last_actor, None);
        assert_eq!(actor_tag(&"x".repeat(100)).unwrap().len(), 64);
    }

    proptest! {
        #[test]
        fn probabilities_are_a_ranked_sub_distribution(
            sequences in prop::collection::vec(prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "d"]), 1..12), 1..8),
            user_actions in prop::collection::vec(prop::sample::select(vec!["a", "b", "e"]), 0..12),
            k in 1usize..6,
        ) {
            let mut global = ContextCounts::default();
            for sequence in &sequences {
                learn(&mut global, &history(sequence), 6);
            }
            let mut user = ContextCounts::default();
            learn(&mut user, &history(&user_actions), 2);
            let mut recent: Vec<&str> = vec![BEGIN];
            recent.extend(user_actions.iter().copied());
            let prediction = predict_next(&global, &user, &recent, None, None, &SequenceConfig::default(), k);
            let total: f64 = prediction.actions.iter().map(|a| a.probability).sum();
            prop_assert!(total <= 1.0 + 1e-9, "{total}");
            prop_assert!(prediction.actions.len() <= k);
            prop_assert!(prediction.actions.iter().all(|a| a.probability > 0.0), "no certain zeros");
            prop_assert!(prediction.actions.windows(2).all(|w| w[0].probability >= w[1].probability));
        }
    }
}
