//! Next-action predictions from the counts kept by processing: seed 002's first-order answer,
//! and the variable-order top-k with its context and the model that answered.

use std::collections::BTreeMap;

use footprint_analytics::UserId;
use footprint_analytics::sequence::{
    ContextCounts, ModelSource, ScoredAction, UserSequence, context_key, observation_contexts, predict_first_order,
    predict_next,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::interactions::service::find_user;
use crate::kernel::error::ApiError;

pub const MAX_K: usize = 20;

/// Seed 002's answer: a prediction, or a message saying why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SeedPrediction {
    Predicted { username: String, last_action: String, predicted_next_action: String, probability: f64 },
    Message { message: String },
}

async fn user_sequence(state: &AppState, user_key: &str) -> Result<UserSequence, ApiError> {
    let lag = crate::tracking::freshness::settle_for_read(state).await?;
    let record = state.store.sequence_states(&[user_key.to_owned()]).await?.into_iter().next();
    let processed = record.map_or_else(UserSequence::default, |record| {
        UserSequence::from_stored(&record.recent, record.last_us, record.previous_us, record.n_actions)
    });
    crate::tracking::freshness::with_own_tail(state, user_key, processed, lag).await
}

/// The most frequent follower of the user's last action, with count / all counts out of it.
pub async fn seed_next_action(state: &AppState, name: &str) -> Result<SeedPrediction, ApiError> {
    let user = find_user(state, name).await?.ok_or_else(|| ApiError::NotFound(format!("no user named {name}")))?;
    let sequence = user_sequence(state, &user.user_key).await?;
    let Some(last_action) = sequence.last_action().map(str::to_owned) else {
        return Ok(SeedPrediction::Message {
            message: format!("Aucune interaction enregistrée pour l'utilisateur {name}"),
        });
    };
    let key = context_key(&[last_action.as_str()], 1, None).unwrap_or_default();
    let counts = state.store.sequence_counts(&[(user.user_key.clone(), key)]).await?;
    let successors: BTreeMap<String, u64> =
        counts.into_iter().map(|count| (count.next, u64::try_from(count.count).unwrap_or(0))).collect();
    Ok(match predict_first_order(&successors) {
        Some((predicted_next_action, probability)) => {
            SeedPrediction::Predicted { username: name.to_owned(), last_action, predicted_next_action, probability }
        }
        None => SeedPrediction::Message {
            message: format!(
                "Aucune donnée de transition disponible après l'action '{last_action}' pour l'utilisateur {name}"
            ),
        },
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NextActions {
    pub user_id: String,
    /// Most probable first; the probabilities sum to at most 1.
    #[schema(value_type = Vec<Object>)]
    pub predictions: Vec<ScoredAction>,
    /// The longest context of recent actions (oldest first) the counts knew.
    pub context: Vec<String>,
    pub order: usize,
    /// `user_and_global`, `global` (no usable history: the model shared by all users), or `none`.
    #[schema(value_type = String)]
    pub model: ModelSource,
    /// Actions of this user processed so far.
    pub history_length: i64,
}

pub async fn next_actions(state: &AppState, user_id: &UserId, k: usize) -> Result<NextActions, ApiError> {
    if k == 0 || k > MAX_K {
        return Err(ApiError::InvalidParameters(format!("k: must be between 1 and {MAX_K}")));
    }
    let user_key = state.keys.pseudonymizer.user_key(user_id.as_str());
    let sequence = user_sequence(state, &user_key).await?;
    let config = *state.processor.config();
    let recent: Vec<&str> = sequence.recent.iter().map(String::as_str).collect();
    let gap = sequence.gap().filter(|_| config.time_gaps);
    let actor = sequence.actor(&config);

    let mut keys: Vec<(String, String)> = observation_contexts(&recent, config.max_order, gap, actor)
        .into_iter()
        .map(|key| (String::new(), key))
        .collect();
    for order in 1..=config.user_max_order.min(recent.len()) {
        keys.extend(context_key(&recent, order, None).map(|key| (user_key.clone(), key)));
    }
    let (mut global, mut user) = (ContextCounts::default(), ContextCounts::default());
    for count in state.store.sequence_counts(&keys).await? {
        let counts = if count.scope.is_empty() { &mut global } else { &mut user };
        counts.add(&count.context, &count.next, u64::try_from(count.count).unwrap_or(0));
    }
    let prediction = predict_next(&global, &user, &recent, gap, actor, &config, k);
    Ok(NextActions {
        user_id: user_id.as_str().to_owned(),
        predictions: prediction.actions,
        context: prediction.context,
        order: prediction.order,
        model: prediction.source,
        history_length: sequence.n_actions,
    })
}
