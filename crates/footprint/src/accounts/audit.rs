//! The audit trail of security-relevant actions. Recording never fails a request: a store
//! error is logged instead.

use footprint_store::AuditEntry;
use serde_json::Value;

use crate::app::state::AppState;

pub async fn record(
    state: &AppState,
    action: &str,
    actor: Option<&str>,
    subject: Option<&str>,
    outcome: &str,
    detail: Value,
) {
    let entry = AuditEntry {
        at_us: state.clock.now_us(),
        action: action.to_owned(),
        actor: actor.map(str::to_owned),
        subject: subject.map(str::to_owned),
        outcome: outcome.to_owned(),
        detail: detail.to_string(),
    };
    if let Err(error) = state.store.record_audit(entry).await {
        tracing::error!(error = %error, action, "audit entry could not be recorded");
    }
}
