//! Consent (seed 001): recording a user's choice (append-only) and reading where it stands.

use footprint_analytics::{Consent, UserId};
use footprint_store::ConsentRecord;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::accounts::audit;
use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConsentPurposes {
    pub analytics: bool,
    pub preferences: bool,
    pub improvement: bool,
}

impl From<Consent> for ConsentPurposes {
    fn from(consent: Consent) -> Self {
        Self { analytics: consent.analytics, preferences: consent.preferences, improvement: consent.improvement }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConsentChange {
    pub consent: ConsentPurposes,
    /// `api` or `event_context`.
    pub source: String,
    pub recorded_at: String,
}

/// Where a user's consent stands, and how it got there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConsentStatus {
    pub user_id: String,
    pub consent: ConsentPurposes,
    /// True when the user never recorded a choice and the instance default applies.
    pub is_default: bool,
    pub updated_at: Option<String>,
    /// Every recorded change, oldest first.
    pub history: Vec<ConsentChange>,
}

pub async fn record(
    state: &AppState,
    user_id: &UserId,
    consent: Consent,
    actor: &str,
) -> Result<ConsentRecord, ApiError> {
    let record = ConsentRecord {
        user_id: user_id.as_str().to_owned(),
        consent,
        source: "api".to_owned(),
        recorded_at_us: state.clock.now_us(),
    };
    state.store.append_consent(record.clone()).await?;
    // An erased user who consents again may be tracked again.
    lift_tombstone(state, user_id).await?;
    audit::record(
        state,
        "consent.change",
        Some(actor),
        Some(user_id.as_str()),
        "success",
        json!({"analytics": consent.analytics, "preferences": consent.preferences, "improvement": consent.improvement}),
    )
    .await;
    Ok(record)
}

/// The consent that applies to a user now: the latest record, else the instance default.
pub async fn current(state: &AppState, user_id: &str) -> Result<footprint_analytics::Consent, ApiError> {
    let history = state.store.consent_history(user_id).await?;
    Ok(history.last().map_or_else(|| state.config.privacy.consent_default.consent(), |record| record.consent))
}

pub async fn status(state: &AppState, user_id: &UserId) -> Result<ConsentStatus, ApiError> {
    let history = state.store.consent_history(user_id.as_str()).await?;
    let latest = history.last();
    Ok(ConsentStatus {
        user_id: user_id.as_str().to_owned(),
        consent: latest.map_or_else(|| state.config.privacy.consent_default.consent(), |r| r.consent).into(),
        is_default: latest.is_none(),
        updated_at: latest.map(|r| rfc3339(r.recorded_at_us)),
        history: history
            .iter()
            .map(|r| ConsentChange {
                consent: r.consent.into(),
                source: r.source.clone(),
                recorded_at: rfc3339(r.recorded_at_us),
            })
            .collect(),
    })
}

/// An erased user's tombstone refuses their events until they consent again: consenting lifts it.
async fn lift_tombstone(state: &AppState, user_id: &UserId) -> Result<(), ApiError> {
    state.store.clear_tombstone(&state.keys.pseudonymizer.tombstone(user_id.as_str())).await?;
    Ok(())
}
