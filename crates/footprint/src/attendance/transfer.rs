//! The attendance records in `footprint export` / `footprint import` files (and their HTTP
//! forms): an organisation's declarations as a `{"kind": "attendance_organization", …}` line
//! (before its first event), and each event as a `{"kind": "attendance_event", …}` line in the
//! shape `POST /api/v1/attendance/import` reads, its registrations embedded. Imported, an event
//! that exists is replaced by the line and its registrations added or updated; a line that
//! changes nothing is counted as a duplicate.

use std::collections::HashSet;

use footprint_store::{AttendanceEvent, AttendanceOrganization, AttendanceQuery, Registration};
use serde_json::{Map, Value, json};

use crate::app::state::AppState;
use crate::attendance::import::{ImportMode, apply_line};
use crate::attendance::organizations::{OrganizationInput, declare};
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;

pub const EVENT_KIND: &str = "attendance_event";
pub const ORGANIZATION_KIND: &str = "attendance_organization";

/// Events read per page.
const PAGE: u32 = 500;

/// An organisation's declarations as a line.
fn organization_line(organization: &AttendanceOrganization) -> String {
    json!({
        "kind": ORGANIZATION_KIND,
        "organization_id": organization.organization_id,
        "timezone": organization.timezone,
        "attributes": serde_json::from_str::<Value>(&organization.attributes).unwrap_or_else(|_| json!({})),
    })
    .to_string()
}

/// An event and its registrations as a line.
fn event_line(event: &AttendanceEvent, registrations: &[&Registration]) -> String {
    let registrations: Vec<Value> = registrations
        .iter()
        .map(|r| {
            let mut line = json!({
                "user_id": r.user_id,
                "registered_at": rfc3339(r.registered_at_us),
                "attended": r.attended,
                "checked_in_at": r.checked_in_at_us.map(rfc3339),
            });
            if let Some(attributes) = r.attributes.as_deref().and_then(|a| serde_json::from_str::<Value>(a).ok()) {
                line["attributes"] = attributes;
            }
            line
        })
        .collect();
    json!({
        "kind": EVENT_KIND,
        "id": event.event_id,
        "name": event.name,
        "type": event.event_type,
        "start": rfc3339(event.start_us),
        "duration_minutes": event.duration_minutes,
        "location": event.location,
        "capacity": event.capacity,
        "price": event.price,
        "instructor": event.instructor,
        "organization_id": event.organization_id,
        "weather": event.weather.as_deref().and_then(|w| serde_json::from_str::<Value>(w).ok()),
        "timezone": event.timezone,
        "registrations": registrations,
    })
    .to_string()
}

/// A page of the export after `after` (start, id): its text, its line count and where the next
/// page starts (`None`: this was the last). `declared` holds the organisations already written.
pub async fn export_page(
    state: &AppState,
    after: Option<(i64, String)>,
    declared: &mut HashSet<String>,
) -> Result<(String, u64, Option<(i64, String)>), ApiError> {
    let events =
        state.store.attendance_events(AttendanceQuery { after, limit: PAGE, ..AttendanceQuery::default() }).await?;
    let ids: Vec<String> = events.iter().map(|event| event.event_id.clone()).collect();
    let registrations = if ids.is_empty() { Vec::new() } else { state.store.registrations(&ids).await? };
    let mut text = String::new();
    let mut lines = 0;
    for event in &events {
        if let Some(organization_id) = &event.organization_id
            && declared.insert(organization_id.clone())
            && let Some(organization) = state.store.attendance_organization(organization_id).await?
        {
            text.push_str(&organization_line(&organization));
            text.push('\n');
            lines += 1;
        }
        let own: Vec<&Registration> = registrations.iter().filter(|r| r.event_id == event.event_id).collect();
        text.push_str(&event_line(event, &own));
        text.push('\n');
        lines += 1;
    }
    let next = match events.last() {
        Some(last) if events.len() == PAGE as usize => Some((last.start_us, last.event_id.clone())),
        _ => None,
    };
    Ok((text, lines, next))
}

/// What importing a line of either kind did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    pub organizations: usize,
    pub events: usize,
    pub registrations: usize,
    /// The line changed nothing.
    pub duplicate: bool,
}

/// Imports an attendance line (`kind` removed from `object` by the caller): `Ok(Err(reason))`
/// when the line is refused.
pub async fn import_line(
    state: &AppState,
    kind: &str,
    mut object: Map<String, Value>,
    actor: &str,
) -> Result<Result<Imported, String>, ApiError> {
    if kind == ORGANIZATION_KIND {
        let Some(Value::String(id)) = object.remove("organization_id") else {
            return Ok(Err("organization_id: is required".to_owned()));
        };
        let input: OrganizationInput = match serde_json::from_value(Value::Object(object)) {
            Ok(input) => input,
            Err(error) => return Ok(Err(format!("not an organisation's declarations: {error}"))),
        };
        let before = state.store.attendance_organization(&id).await?;
        return match declare(state, &id, input, actor).await {
            Ok(_) => {
                let after = state.store.attendance_organization(&id).await?;
                let same = matches!((&before, &after), (Some(b), Some(a)) if b.timezone == a.timezone && b.attributes == a.attributes);
                Ok(Ok(Imported { organizations: usize::from(!same), duplicate: same, ..Imported::default() }))
            }
            Err(ApiError::Validation(reason) | ApiError::InvalidParameters(reason)) => Ok(Err(reason)),
            Err(other) => Err(other),
        };
    }
    let line = Value::Object(object).to_string();
    Ok(apply_line(state, &line, ImportMode::Upsert, state.clock.now_us()).await?.map(|applied| {
        let duplicate = applied.unchanged && applied.registrations == applied.registrations_unchanged;
        Imported {
            organizations: 0,
            events: usize::from(!applied.unchanged),
            registrations: applied.registrations - applied.registrations_unchanged,
            duplicate,
        }
    }))
}
