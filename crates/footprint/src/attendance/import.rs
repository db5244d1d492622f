//! The attendance history as JSON lines (`POST /api/v1/attendance/import`, the demo and the
//! bench): one event a line with its registrations, each line checked as the single-record
//! routes check it (`records.rs`) and taking its organisation's declarations; a bad line is
//! reported with its number and reason, the others are kept.

use footprint_store::{AttendanceEvent, Registration};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::accounts::audit;
use crate::app::state::AppState;
use crate::attendance::input::invalid;
use crate::attendance::organizations::declarations;
use crate::attendance::records::{
    EventInput, RegistrationInput, WeatherInput, event_from_input, registration_from_input,
};
use crate::kernel::error::ApiError;

/// One imported line: an event (as `EventInput`, unknown fields refused) with its
/// `registrations` embedded.
fn import_line(line: &str) -> Result<(EventInput, Vec<RegistrationInput>), String> {
    let object: Value = serde_json::from_str(line).map_err(|error| format!("not an event: {error}"))?;
    if let Some(field) = crate::kernel::input::nul_in_json(&object) {
        return Err(crate::kernel::input::nul_message(&field));
    }
    let line: ImportLine = serde_json::from_value(object).map_err(|error| format!("not an event: {error}"))?;
    let (event, registrations) = line.into_parts();
    let mut first_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (index, registration) in registrations.iter().enumerate() {
        if let Some(first) = first_of.insert(registration.user_id.as_str(), index) {
            return Err(format!(
                "registrations: user {:?} appears twice (items {} and {}); send one registration per user and event",
                registration.user_id,
                first + 1,
                index + 1
            ));
        }
    }
    Ok((event, registrations))
}

/// One line of an import: an event (its fields as for `POST /api/v1/attendance/events`) with its
/// registrations. Only `name`, `type`, `start` and `duration_minutes` are required.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportLine {
    /// Given by the client, or generated.
    #[serde(alias = "event_id")]
    pub id: Option<String>,
    pub name: String,
    /// e.g. `workshop`, `class`, `meeting`.
    #[serde(rename = "type", alias = "event_type")]
    pub event_type: String,
    /// RFC 3339.
    pub start: String,
    pub duration_minutes: i64,
    pub location: Option<String>,
    pub capacity: Option<i64>,
    pub price: Option<f64>,
    pub instructor: Option<String>,
    pub organization_id: Option<String>,
    /// A condition (`sunny`, `cloudy`, `rainy`, `snowy`, …) or an object such as
    /// `{"condition": "rain", "temperature_c": 12}`.
    #[schema(value_type = Option<Object>)]
    pub weather: Option<WeatherInput>,
    /// IANA time zone of the event (`Europe/Paris`).
    pub timezone: Option<String>,
    /// One per user: a line naming a user twice is refused.
    pub registrations: Option<Vec<RegistrationInput>>,
}

impl ImportLine {
    fn into_parts(self) -> (EventInput, Vec<RegistrationInput>) {
        let event = EventInput {
            id: self.id,
            name: self.name,
            event_type: self.event_type,
            start: self.start,
            duration_minutes: self.duration_minutes,
            location: self.location,
            capacity: self.capacity,
            price: self.price,
            instructor: self.instructor,
            organization_id: self.organization_id,
            weather: self.weather,
            timezone: self.timezone,
        };
        (event, self.registrations.unwrap_or_default())
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rejected {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

/// What an import does with a line whose event id is already stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportMode {
    /// The line is refused with the reason, and the stored event left as it is.
    #[default]
    Insert,
    /// The line replaces the event (its creation time kept); the registrations it carries are
    /// added or updated, and those already stored that it does not mention stay attached to
    /// the event, counted in `registrations_kept`.
    Upsert,
}

impl ImportMode {
    /// `insert` or `upsert` (`mode` in the query), `insert` without it.
    pub fn parse(mode: Option<&str>) -> Result<Self, ApiError> {
        match mode {
            None | Some("insert") => Ok(ImportMode::Insert),
            Some("upsert") => Ok(ImportMode::Upsert),
            Some(other) => Err(invalid(format!(
                "mode: insert (the default: a line whose event exists is refused) or upsert (it replaces the event), not {other}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    pub mode: ImportMode,
    pub lines: usize,
    /// Events stored: created and replaced.
    pub events_imported: usize,
    pub events_created: usize,
    pub events_replaced: usize,
    pub registrations_imported: usize,
    /// Registrations already stored on a replaced event that its line did not mention: they stay
    /// attached to the replaced event.
    pub registrations_kept: usize,
    pub rejected: Vec<Rejected>,
}

/// Imports JSON lines, one event per line with its registrations; a bad line is reported and
/// skipped, the others are kept. A line whose event exists is refused unless `mode` is
/// `upsert`.
pub async fn import(state: &AppState, body: &str, mode: ImportMode, actor: &str) -> Result<ImportReport, ApiError> {
    let mut report = ImportReport {
        mode,
        lines: 0,
        events_imported: 0,
        events_created: 0,
        events_replaced: 0,
        registrations_imported: 0,
        registrations_kept: 0,
        rejected: Vec::new(),
    };
    let now_us = state.clock.now_us();
    for (index, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        report.lines += 1;
        match apply_line(state, line, mode, now_us).await? {
            Ok(applied) => {
                if applied.replaced {
                    report.events_replaced += 1;
                } else {
                    report.events_created += 1;
                }
                report.events_imported += 1;
                report.registrations_imported += applied.registrations;
                report.registrations_kept += applied.registrations_kept;
            }
            Err(reason) => report.rejected.push(Rejected { line: index + 1, reason }),
        }
    }
    audit::record(
        state,
        "attendance.import",
        Some(actor),
        None,
        "success",
        serde_json::json!({"mode": mode, "created": report.events_created, "replaced": report.events_replaced,
            "registrations": report.registrations_imported, "rejected": report.rejected.len()}),
    )
    .await;
    Ok(report)
}

/// What one line did to the stored records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// The event existed (and was replaced: upsert).
    pub replaced: bool,
    /// The event existed exactly as the line has it.
    pub unchanged: bool,
    /// Registrations stored (created or updated).
    pub registrations: usize,
    /// Of those, the ones stored exactly as the line has them already.
    pub registrations_unchanged: usize,
    /// Registrations already stored that the line does not mention (they stay).
    pub registrations_kept: usize,
}

/// Checks one line (an event with its registrations) and stores it: `Ok(Err(reason))` when
/// the line is refused, nothing of it stored.
pub async fn apply_line(
    state: &AppState,
    line: &str,
    mode: ImportMode,
    now_us: i64,
) -> Result<Result<Applied, String>, ApiError> {
    let (input, registrations) = match import_line(line) {
        Ok(parsed) => parsed,
        Err(reason) => return Ok(Err(reason)),
    };
    let mut event = match event_from_input(input, None, now_us) {
        Ok(event) => event,
        Err(error) => return Ok(Err(error.to_string())),
    };
    let registrations: Result<Vec<Registration>, ApiError> =
        registrations.into_iter().map(|registration| registration_from_input(&event.event_id, registration)).collect();
    let mut registrations = match registrations {
        Ok(registrations) => registrations,
        Err(error) => return Ok(Err(format!("registrations: {error}"))),
    };
    if let Some(declared) = declarations(state, event.organization_id.as_deref()).await? {
        declared.fill_zone(&mut event);
        if let Err(reason) = registrations.iter_mut().try_for_each(|r| declared.convert(r)) {
            return Ok(Err(format!("registrations: {reason}")));
        }
    }
    let mut applied = Applied::default();
    let mut stored = Vec::new();
    match (mode, state.store.attendance_event(&event.event_id).await?) {
        (ImportMode::Insert, Some(_)) => {
            return Ok(Err(format!(
                "event {} exists and was left as it is: import with mode=upsert to replace it",
                event.event_id
            )));
        }
        (ImportMode::Upsert, Some(existing)) => {
            event.created_at_us = existing.created_at_us;
            applied.unchanged = AttendanceEvent { updated_at_us: existing.updated_at_us, ..event.clone() } == existing;
            stored = state.store.registrations(std::slice::from_ref(&event.event_id)).await?;
            applied.registrations_kept =
                stored.iter().filter(|old| !registrations.iter().any(|new| new.user_id == old.user_id)).count();
            applied.replaced = true;
        }
        (_, None) => {}
    }
    // What is stored exactly as the line has it is not written again (its update time stays).
    if !applied.unchanged {
        state.store.upsert_attendance_event(event).await?;
    }
    for registration in registrations {
        applied.registrations += 1;
        if stored.contains(&registration) {
            applied.registrations_unchanged += 1;
            continue;
        }
        state.store.upsert_registration(registration).await?;
    }
    Ok(Ok(applied))
}

/// The JSON lines `import` reads, for events and registrations as the model sees them (a
/// generated history, say), moved `shift_us` in time. Bad weather becomes `{"condition": "rain"}`.
pub fn import_lines(
    events: &[footprint_analytics::attendance::EventInfo],
    registrations: &[footprint_analytics::attendance::RegistrationInfo],
    name: &str,
    shift_us: i64,
) -> Vec<String> {
    use crate::kernel::clock::rfc3339;
    let mut by_event: std::collections::HashMap<&str, Vec<serde_json::Value>> = std::collections::HashMap::new();
    for r in registrations {
        by_event.entry(r.event_id.as_str()).or_default().push(serde_json::json!({
            "user_id": r.user_id, "registered_at": rfc3339(r.registered_at_us + shift_us), "attended": r.attended,
        }));
    }
    events
        .iter()
        .map(|event| {
            let weather = event.bad_weather.map(|bad| serde_json::json!({"condition": if bad { "rain" } else { "clear" }}));
            serde_json::json!({
                "id": event.event_id, "name": name, "type": event.event_type, "start": rfc3339(event.start_us + shift_us),
                "duration_minutes": event.duration_minutes, "price": event.price, "weather": weather,
                "registrations": by_event.remove(event.event_id.as_str()).unwrap_or_default(),
            })
            .to_string()
        })
        .collect()
}
