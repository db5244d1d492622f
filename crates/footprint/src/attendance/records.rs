//! Seed 004's attendance data: an organiser's events, registrations and check-ins, entered one
//! by one (`import.rs` takes them as JSON lines). This is operational data (legitimate interest): it needs
//! no analytics consent; erasure of a user removes their registrations.

use footprint_analytics::UserId;
use footprint_store::{AttendanceEvent, AttendanceQuery, Registration};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::accounts::audit;
use crate::app::state::AppState;
use crate::attendance::input::{MAX_ATTRIBUTES, MAX_TEXT, invalid, text, timezone};
use crate::attendance::organizations::declarations;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::time::TimeWindow;

/// An attendance event as clients send it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
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
    /// IANA time zone of the event (`Europe/Paris`): its weekday and time slot are taken there
    /// (UTC without one).
    pub timezone: Option<String>,
}

/// An event's weather as clients send it: a condition on its own, or the details.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum WeatherInput {
    Condition(String),
    Details(Map<String, Value>),
}

impl WeatherInput {
    /// As stored: always an object, a condition on its own under `condition`.
    pub fn to_stored(&self, field: &str) -> Result<String, ApiError> {
        match self {
            WeatherInput::Condition(condition) => {
                let condition = condition.trim();
                if condition.is_empty() || condition.chars().count() > 50 || condition.chars().any(char::is_control) {
                    return Err(invalid(format!(
                        "{field}: a condition such as rainy, or an object, not {condition:?}"
                    )));
                }
                Ok(Value::Object(Map::from_iter([("condition".to_owned(), Value::from(condition))])).to_string())
            }
            WeatherInput::Details(details) => Ok(Value::Object(details.clone()).to_string()),
        }
    }
}

/// A registration as clients send it; `attended` when already known (imports).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationInput {
    pub user_id: String,
    /// RFC 3339.
    pub registered_at: String,
    pub attended: Option<bool>,
    pub checked_in_at: Option<String>,
    /// What is known of the person and of this registration, for the attendance model: up to
    /// 32 names, each a boolean (`"reminder_sent": true`), a number (`"age": 34`) or a text
    /// (`"channel": "email"`, a category). A name keeps one kind across registrations.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    pub attended: bool,
    /// RFC 3339.
    pub checked_in_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub start: String,
    pub duration_minutes: i64,
    pub location: Option<String>,
    pub capacity: Option<i64>,
    pub price: Option<f64>,
    pub instructor: Option<String>,
    pub organization_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub weather: Option<Value>,
    pub timezone: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// With a single event: its registrations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registrations: Option<Vec<RegistrationView>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegistrationView {
    pub event_id: String,
    pub user_id: String,
    pub registered_at: String,
    pub attended: Option<bool>,
    pub checked_in_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
}

impl From<&Registration> for RegistrationView {
    fn from(r: &Registration) -> Self {
        RegistrationView {
            event_id: r.event_id.clone(),
            user_id: r.user_id.clone(),
            registered_at: rfc3339(r.registered_at_us),
            attended: r.attended,
            checked_in_at: r.checked_in_at_us.map(rfc3339),
            attributes: r.attributes.as_deref().and_then(|a| serde_json::from_str(a).ok()),
        }
    }
}

pub fn view(event: &AttendanceEvent, registrations: Option<&[Registration]>) -> EventView {
    EventView {
        id: event.event_id.clone(),
        name: event.name.clone(),
        event_type: event.event_type.clone(),
        start: rfc3339(event.start_us),
        duration_minutes: event.duration_minutes,
        location: event.location.clone(),
        capacity: event.capacity,
        price: event.price,
        instructor: event.instructor.clone(),
        organization_id: event.organization_id.clone(),
        weather: event.weather.as_deref().and_then(|w| serde_json::from_str(w).ok()),
        timezone: event.timezone.clone(),
        created_at: rfc3339(event.created_at_us),
        updated_at: rfc3339(event.updated_at_us),
        registrations: registrations.map(|list| list.iter().map(RegistrationView::from).collect()),
    }
}

/// A record's RFC 3339 field, in microseconds: 422 when it does not parse (a query's or an
/// analysis's times are parameters: `kernel::time`, 400).
pub fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    crate::kernel::time::instant(field, text).map_err(invalid)
}

/// Checks an event; `id` from the path wins over the body's.
pub fn event_from_input(input: EventInput, path_id: Option<&str>, now_us: i64) -> Result<AttendanceEvent, ApiError> {
    let id = match (path_id, input.id.as_deref()) {
        (Some(path), Some(body)) if path != body => {
            return Err(invalid(format!("id: the body says {body} but the path says {path}")));
        }
        (Some(path), _) => path.to_owned(),
        (None, Some(body)) => body.to_owned(),
        (None, None) => ulid::Ulid::new().to_string().to_lowercase(),
    };
    let id = text("id", Some(&id), true)?.unwrap_or_default();
    if !(1..=7 * 24 * 60).contains(&input.duration_minutes) {
        return Err(invalid("duration_minutes: must be from 1 to 10080 (a week)".to_owned()));
    }
    if input.capacity.is_some_and(|c| c < 0) {
        return Err(invalid("capacity: must be zero or more".to_owned()));
    }
    if input.price.is_some_and(|p| !p.is_finite() || p < 0.0) {
        return Err(invalid("price: must be a number, zero or more".to_owned()));
    }
    Ok(AttendanceEvent {
        event_id: id,
        organization_id: text("organization_id", input.organization_id.as_deref(), false)?,
        name: text("name", Some(&input.name), true)?.unwrap_or_default(),
        event_type: text("type", Some(&input.event_type), true)?.unwrap_or_default().to_lowercase(),
        start_us: parse_time("start", &input.start)?,
        duration_minutes: input.duration_minutes,
        location: text("location", input.location.as_deref(), false)?,
        capacity: input.capacity,
        price: input.price,
        instructor: text("instructor", input.instructor.as_deref(), false)?,
        weather: input.weather.as_ref().map(|w| w.to_stored("weather")).transpose()?,
        created_at_us: now_us,
        updated_at_us: now_us,
        timezone: input.timezone.as_deref().map(timezone).transpose()?,
    })
}

pub fn registration_from_input(event_id: &str, input: RegistrationInput) -> Result<Registration, ApiError> {
    let user_id =
        UserId::parse(&input.user_id).map_err(|error| invalid(format!("user_id: {}", error.reason)))?.into_string();
    Ok(Registration {
        event_id: event_id.to_owned(),
        user_id,
        registered_at_us: parse_time("registered_at", &input.registered_at)?,
        attended: input.attended,
        checked_in_at_us: input.checked_in_at.as_deref().map(|t| parse_time("checked_in_at", t)).transpose()?,
        attributes: input.attributes.as_ref().map(checked_attributes).transpose()?,
    })
}

/// Checked attributes, stored as a JSON object: names of 1–64 characters, values booleans,
/// finite numbers or texts of at most 200 characters.
pub fn checked_attributes(input: &Map<String, Value>) -> Result<String, ApiError> {
    if input.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!("attributes: at most {MAX_ATTRIBUTES}, not {}", input.len())));
    }
    for (name, value) in input {
        if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(invalid(format!(
                "attributes: {name:?} is not a name (1–64 characters, no control characters)"
            )));
        }
        let fits = match value {
            Value::Bool(_) => true,
            Value::Number(number) => number.as_f64().is_some_and(f64::is_finite),
            Value::String(text) => text.chars().count() <= MAX_TEXT && !text.chars().any(char::is_control),
            _ => false,
        };
        if !fits {
            return Err(invalid(format!(
                "attributes.{name}: a boolean, a number or a text of at most {MAX_TEXT} characters, not {value}"
            )));
        }
    }
    Ok(Value::Object(input.clone()).to_string())
}

/// Creates an event; 409 when its id is taken (use PUT to replace).
pub async fn create(state: &AppState, input: EventInput, actor: &str) -> Result<EventView, ApiError> {
    let mut event = event_from_input(input, None, state.clock.now_us())?;
    if let Some(declared) = declarations(state, event.organization_id.as_deref()).await? {
        declared.fill_zone(&mut event);
    }
    if state.store.attendance_event(&event.event_id).await?.is_some() {
        return Err(ApiError::Conflict(format!("event {} exists: replace it with PUT", event.event_id)));
    }
    state.store.upsert_attendance_event(event.clone()).await?;
    audit::record(
        state,
        "attendance.event.create",
        Some(actor),
        None,
        "success",
        serde_json::json!({"event": event.event_id}),
    )
    .await;
    Ok(view(&event, None))
}

/// Creates or replaces the event at `id`; true when created.
pub async fn replace(state: &AppState, id: &str, input: EventInput) -> Result<(bool, EventView), ApiError> {
    let now_us = state.clock.now_us();
    let mut event = event_from_input(input, Some(id), now_us)?;
    if let Some(declared) = declarations(state, event.organization_id.as_deref()).await? {
        declared.fill_zone(&mut event);
    }
    if let Some(existing) = state.store.attendance_event(id).await? {
        event.created_at_us = existing.created_at_us;
    }
    let created = state.store.upsert_attendance_event(event.clone()).await?;
    Ok((created, view(&event, None)))
}

pub async fn get(state: &AppState, id: &str) -> Result<EventView, ApiError> {
    let event = state.store.attendance_event(id).await?.ok_or_else(|| ApiError::NotFound(format!("no event {id}")))?;
    let registrations = state.store.registrations(&[id.to_owned()]).await?;
    Ok(view(&event, Some(&registrations)))
}

pub async fn delete(state: &AppState, id: &str) -> Result<(), ApiError> {
    if !state.store.delete_attendance_event(id).await? {
        return Err(ApiError::NotFound(format!("no event {id}")));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<EventView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

pub async fn list(
    state: &AppState,
    organization_id: Option<String>,
    from: Option<&str>,
    to: Option<&str>,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<EventList, ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::InvalidParameters("limit: must be from 1 to 1000".to_owned()));
    }
    let window = TimeWindow::from_bounds(("from", from), ("to", to))?;
    let (from_us, to_us) = (window.start_us, window.end_us);
    let after = cursor
        .map(|c| {
            let (start, id) = c.split_once(':').ok_or(())?;
            Ok::<_, ()>((start.parse::<i64>().map_err(|_| ())?, id.to_owned()))
        })
        .transpose()
        .map_err(|()| ApiError::InvalidParameters("cursor: not one this API gave".to_owned()))?;
    let events =
        state.store.attendance_events(AttendanceQuery { organization_id, from_us, to_us, after, limit }).await?;
    let next_cursor = (events.len() == limit as usize)
        .then(|| events.last().map(|e| format!("{}:{}", e.start_us, e.event_id)))
        .flatten();
    Ok(EventList { events: events.iter().map(|e| view(e, None)).collect(), next_cursor })
}

/// Registers a user; 404 for an unknown event. True when created.
pub async fn register(
    state: &AppState,
    event_id: &str,
    input: RegistrationInput,
) -> Result<(bool, RegistrationView), ApiError> {
    let mut registration = registration_from_input(event_id, input)?;
    if let Some(event) = state.store.attendance_event(event_id).await?
        && let Some(declared) = declarations(state, event.organization_id.as_deref()).await?
    {
        declared.convert(&mut registration).map_err(invalid)?;
    }
    let created = state.store.upsert_registration(registration.clone()).await.map_err(|error| match error {
        footprint_store::StoreError::NotFound => ApiError::NotFound(format!("no event {event_id}")),
        other => other.into(),
    })?;
    Ok((created, RegistrationView::from(&registration)))
}

pub async fn check_in(
    state: &AppState,
    event_id: &str,
    user_id: &str,
    input: CheckIn,
) -> Result<RegistrationView, ApiError> {
    let checked_in_at_us = input.checked_in_at.as_deref().map(|t| parse_time("checked_in_at", t)).transpose()?;
    if !state.store.set_attended(event_id, user_id, input.attended, checked_in_at_us).await? {
        return Err(ApiError::NotFound(format!("{user_id} is not registered to event {event_id}")));
    }
    state
        .store
        .registrations(&[event_id.to_owned()])
        .await?
        .iter()
        .find(|r| r.user_id == user_id)
        .map(RegistrationView::from)
        .ok_or_else(|| ApiError::NotFound(format!("{user_id} is not registered to event {event_id}")))
}
