//! What an organisation declares once for its attendance records
//! (`PUT|GET /api/v1/attendance/organizations/{id}`): the time zone its events take when they do
//! not say theirs, and the kind of each registration attribute, to which values are converted
//! as they come in (`records.rs` asks for them). Both apply to what is stored afterwards.

use footprint_store::{AttendanceEvent, Registration};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::accounts::audit;
use crate::app::state::AppState;
use crate::attendance::input::{MAX_ATTRIBUTES, invalid, text, timezone};
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;

/// What an organisation declares once (`PUT /api/v1/attendance/organizations/{id}`): the time
/// zone its events take when they do not say theirs, and the kind of each registration attribute.
/// Both apply to what is stored after the declaration.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationInput {
    /// IANA zone (`Europe/Paris`).
    pub timezone: Option<String>,
    /// Attribute name → `numeric`, `categorical` or `boolean`. Values are converted to the
    /// declared kind when registrations come in (`"3"` to 3 for a number, 3 to `"3"` for a
    /// category, `"yes"` to true for a boolean), and refused when they cannot be.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganizationView {
    pub organization_id: String,
    pub timezone: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub updated_at: String,
}

/// The kind an organisation declares for an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum DeclaredKind {
    Numeric,
    Categorical,
    Boolean,
}

/// An organisation's declarations, read for the records that come in.
pub struct Declarations {
    timezone: Option<String>,
    kinds: std::collections::BTreeMap<String, DeclaredKind>,
}

impl Declarations {
    pub(crate) fn fill_zone(&self, event: &mut AttendanceEvent) {
        if event.timezone.is_none() {
            event.timezone.clone_from(&self.timezone);
        }
    }

    /// The registration's attributes converted to their declared kinds, or why one cannot be.
    pub(crate) fn convert(&self, registration: &mut Registration) -> Result<(), String> {
        let Some(stored) = registration.attributes.as_deref() else { return Ok(()) };
        let Ok(Value::Object(mut attributes)) = serde_json::from_str::<Value>(stored) else { return Ok(()) };
        for (name, value) in attributes.iter_mut() {
            let Some(kind) = self.kinds.get(name) else { continue };
            let converted = match (kind, &*value) {
                (DeclaredKind::Numeric, Value::Number(_)) => Some(value.clone()),
                (DeclaredKind::Numeric, Value::String(text)) => {
                    text.trim().parse::<f64>().ok().filter(|n| n.is_finite()).map(Value::from)
                }
                (DeclaredKind::Categorical, Value::String(_)) => Some(value.clone()),
                (DeclaredKind::Categorical, Value::Number(number)) => Some(Value::from(number.to_string())),
                (DeclaredKind::Categorical, Value::Bool(flag)) => Some(Value::from(flag.to_string())),
                (DeclaredKind::Boolean, Value::Bool(_)) => Some(value.clone()),
                (DeclaredKind::Boolean, Value::Number(number)) => match number.as_f64() {
                    Some(0.0) => Some(Value::Bool(false)),
                    Some(1.0) => Some(Value::Bool(true)),
                    _ => None,
                },
                (DeclaredKind::Boolean, Value::String(text)) => match text.trim().to_lowercase().as_str() {
                    "true" | "yes" | "1" => Some(Value::Bool(true)),
                    "false" | "no" | "0" => Some(Value::Bool(false)),
                    _ => None,
                },
                _ => None,
            };
            *value = converted.ok_or_else(|| {
                format!(
                    "attributes.{name} of {}: {value} is not {} as the organisation declared it",
                    registration.user_id,
                    match kind {
                        DeclaredKind::Numeric => "a number",
                        DeclaredKind::Categorical => "a category",
                        DeclaredKind::Boolean => "a boolean (true/false, yes/no, 1/0)",
                    }
                )
            })?;
        }
        registration.attributes = Some(Value::Object(attributes).to_string());
        Ok(())
    }
}

/// The declarations of the event's organisation, when it has one and made them.
pub(crate) async fn declarations(
    state: &AppState,
    organization_id: Option<&str>,
) -> Result<Option<Declarations>, ApiError> {
    let Some(organization_id) = organization_id else { return Ok(None) };
    let Some(stored) = state.store.attendance_organization(organization_id).await? else { return Ok(None) };
    let kinds = serde_json::from_str(&stored.attributes).unwrap_or_default();
    Ok(Some(Declarations { timezone: stored.timezone, kinds }))
}

fn organization_view(stored: &footprint_store::AttendanceOrganization) -> OrganizationView {
    OrganizationView {
        organization_id: stored.organization_id.clone(),
        timezone: stored.timezone.clone(),
        attributes: serde_json::from_str(&stored.attributes).unwrap_or(Value::Null),
        updated_at: rfc3339(stored.updated_at_us),
    }
}

/// Declares (or replaces) what an organisation's attendance records share.
pub async fn declare(
    state: &AppState,
    organization_id: &str,
    input: OrganizationInput,
    actor: &str,
) -> Result<OrganizationView, ApiError> {
    let organization_id = text("organization_id", Some(organization_id), true)?.unwrap_or_default();
    let mut kinds = std::collections::BTreeMap::new();
    for (name, kind) in input.attributes.unwrap_or_default() {
        if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(invalid(format!(
                "attributes: {name:?} is not a name (1–64 characters, no control characters)"
            )));
        }
        let kind: DeclaredKind = serde_json::from_value(kind.clone())
            .map_err(|_| invalid(format!("attributes.{name}: numeric, categorical or boolean, not {kind}")))?;
        kinds.insert(name, kind);
    }
    if kinds.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!("attributes: at most {MAX_ATTRIBUTES}, not {}", kinds.len())));
    }
    let stored = footprint_store::AttendanceOrganization {
        organization_id,
        timezone: input.timezone.as_deref().map(timezone).transpose()?,
        attributes: serde_json::to_string(&kinds).map_err(ApiError::internal)?,
        updated_at_us: state.clock.now_us(),
    };
    state.store.put_attendance_organization(stored.clone()).await?;
    audit::record(
        state,
        "attendance.organization.declare",
        Some(actor),
        None,
        "success",
        serde_json::json!({"organization": stored.organization_id}),
    )
    .await;
    Ok(organization_view(&stored))
}

/// An organisation's declarations; 404 when it made none.
pub async fn organization(state: &AppState, organization_id: &str) -> Result<OrganizationView, ApiError> {
    let stored = state
        .store
        .attendance_organization(organization_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("organisation {organization_id} declared nothing")))?;
    Ok(organization_view(&stored))
}
