//! The datasets `footprint eval attendance` reads: a generic registrations CSV (extra columns
//! become attributes), the medical appointments table (one all-day event per appointment, the
//! patient's columns as attributes) and Wooldridge's `attend` (a term of 32 classes per student,
//! the attended ones picked by a seeded shuffle).

use std::collections::{BTreeMap, HashSet};

use anyhow::{Context, bail};
use footprint_analytics::attendance::{self, AttributeValue, EventInfo, RegistrationInfo};
use footprint_analytics::rng::SplitMix64;

use crate::kernel::time::DAY_US;

/// Monday 2024-09-02 10:00 UTC: the first class of the Wooldridge term (its dates are not
/// known; only their order matters).
const TERM_START: i64 = 1_725_271_200_000_000;
/// Classes per student in the Wooldridge `attend` data.
const WOOLDRIDGE_CLASSES: i64 = 32;
/// What is evaluated: events and registrations (with their attributes).
pub(super) struct Dataset {
    pub name: String,
    pub events: Vec<EventInfo>,
    pub registrations: Vec<RegistrationInfo>,
    /// Made by `attendance::synthetic`, whose true probabilities are known.
    pub generated: bool,
}

fn parse_time(text: &str) -> anyhow::Result<i64> {
    crate::kernel::clock::parse_rfc3339(text)
        .map(crate::kernel::clock::to_us)
        .with_context(|| format!("{text:?} is not RFC 3339"))
}

fn parse_bool(text: &str) -> anyhow::Result<bool> {
    match text.trim().to_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        other => bail!("attended: {other:?} is not 0/1 or true/false"),
    }
}

/// A CSV cell as an attribute value: true/false (yes/no) as a flag, a number, else text.
fn attribute_value(text: &str) -> Option<AttributeValue> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match text.to_lowercase().as_str() {
        "true" | "yes" => AttributeValue::Flag(true),
        "false" | "no" => AttributeValue::Flag(false),
        _ => match text.parse::<f64>() {
            Ok(number) if number.is_finite() => AttributeValue::Number(number),
            _ => AttributeValue::Level(text.to_owned()),
        },
    })
}

/// The columns `read_csv` reads itself; any other is an attribute of the registration.
const KNOWN_COLUMNS: [&str; 12] = [
    "event_id",
    "user_id",
    "start",
    "attended",
    "registered_at",
    "event_type",
    "duration_minutes",
    "price",
    "weather",
    "location",
    "instructor",
    "timezone_offset_minutes",
];

pub(super) fn read_csv(path: &std::path::Path, seed: u64) -> anyhow::Result<Dataset> {
    let mut reader = csv::Reader::from_reader(super::sequences::open(path)?);
    let headers: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    if column("attend").is_some() && column("priGPA").is_some() {
        return wooldridge(path, &headers, &records, seed);
    }
    if column("PatientId").is_some() && column("AppointmentDay").is_some() && column("No-show").is_some() {
        return appointments(path, &headers, &records);
    }
    let (Some(event_at), Some(user_at), Some(start_at), Some(attended_at)) =
        (column("event_id"), column("user_id"), column("start"), column("attended"))
    else {
        bail!(
            "{} needs the columns event_id, user_id, start, attended (or the appointments or Wooldridge's attend table); it has {}",
            path.display(),
            headers.join(", ")
        );
    };
    let optional = |record: &csv::StringRecord, name: &str| {
        column(name).and_then(|i| record.get(i)).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
    };
    let attribute_columns: Vec<(usize, &String)> =
        headers.iter().enumerate().filter(|(_, h)| !KNOWN_COLUMNS.contains(&h.as_str())).collect();
    let mut events: BTreeMap<String, EventInfo> = BTreeMap::new();
    let mut registrations = Vec::with_capacity(records.len());
    for (line, record) in records.iter().enumerate() {
        let at = |message: String| format!("row {}: {message}", line + 2);
        let event_id = record.get(event_at).unwrap_or_default().to_owned();
        let start =
            parse_time(record.get(start_at).unwrap_or_default()).map_err(|e| anyhow::anyhow!(at(e.to_string())))?;
        // The same rule as the API's: the column is a condition such as "rain".
        let (bad_weather, temperature_c) = optional(record, "weather")
            .map_or((None, None), |w| attendance::weather_from_json(&serde_json::json!({"condition": w})));
        events.entry(event_id.clone()).or_insert_with(|| EventInfo {
            event_id: event_id.clone(),
            event_type: optional(record, "event_type").unwrap_or_else(|| "event".to_owned()),
            start_us: start,
            duration_minutes: optional(record, "duration_minutes").and_then(|d| d.parse().ok()).unwrap_or(60),
            price: optional(record, "price").and_then(|p| p.parse().ok()),
            bad_weather,
            temperature_c,
            condition: optional(record, "weather")
                .and_then(|w| attendance::weather_condition(&serde_json::json!({"condition": w}))),
            location: optional(record, "location"),
            instructor: optional(record, "instructor"),
            utc_offset_minutes: optional(record, "timezone_offset_minutes").and_then(|m| m.parse().ok()).unwrap_or(0),
        });
        let registered_at = match optional(record, "registered_at") {
            Some(text) => parse_time(&text).map_err(|e| anyhow::anyhow!(at(e.to_string())))?,
            None => start - 7 * DAY_US,
        };
        registrations.push(RegistrationInfo {
            event_id,
            user_id: record.get(user_at).unwrap_or_default().to_owned(),
            registered_at_us: registered_at,
            attended: Some(
                parse_bool(record.get(attended_at).unwrap_or_default())
                    .map_err(|e| anyhow::anyhow!(at(e.to_string())))?,
            ),
            attributes: attribute_columns
                .iter()
                .filter_map(|(i, name)| Some(((*name).clone(), attribute_value(record.get(*i)?)?)))
                .collect(),
        });
    }
    Ok(Dataset {
        name: path.display().to_string(),
        events: events.into_values().collect(),
        registrations,
        generated: false,
    })
}

/// The medical appointments table (Kaggle "Medical Appointment No Shows"): one event per
/// appointment on its day (a date without a time), the patient as the user, booked at
/// `ScheduledDay`, attended unless `No-show` is `Yes`; the patient's age, gender,
/// neighbourhood, welfare and conditions, and whether an SMS reminder was sent, as attributes.
fn appointments(path: &std::path::Path, headers: &[String], records: &[csv::StringRecord]) -> anyhow::Result<Dataset> {
    let column = |name: &str| headers.iter().position(|h| h == name).with_context(|| format!("no column {name}"));
    let (patient, appointment, scheduled, day, no_show) = (
        column("PatientId")?,
        column("AppointmentID")?,
        column("ScheduledDay")?,
        column("AppointmentDay")?,
        column("No-show")?,
    );
    let attribute_columns: Vec<(usize, &String)> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            !["PatientId", "AppointmentID", "ScheduledDay", "AppointmentDay", "No-show"].contains(&h.as_str())
        })
        .collect();
    let flags = ["Scholarship", "Hipertension", "Diabetes", "Alcoholism", "SMS_received"];
    let mut events = Vec::with_capacity(records.len());
    let mut registrations = Vec::with_capacity(records.len());
    for (line, record) in records.iter().enumerate() {
        let at = |message: String| anyhow::anyhow!("row {}: {message}", line + 2);
        let field = |index: usize| record.get(index).unwrap_or_default().trim();
        let start = parse_time(field(day)).map_err(|e| at(e.to_string()))?;
        let booked = parse_time(field(scheduled)).map_err(|e| at(e.to_string()))?;
        let event_id = format!("appointment-{}", field(appointment));
        events.push(EventInfo::plain(event_id.clone(), "appointment", start, 15));
        let attended = match field(no_show) {
            "No" => true,
            "Yes" => false,
            other => return Err(at(format!("No-show: {other:?} is not Yes or No"))),
        };
        let attributes = attribute_columns
            .iter()
            .filter_map(|(i, name)| {
                let value = attribute_value(record.get(*i)?)?;
                // 0/1 columns are flags; Handcap (0–4) and Age stay numbers.
                let value = match value {
                    AttributeValue::Number(x) if flags.contains(&name.as_str()) => AttributeValue::Flag(x != 0.0),
                    other => other,
                };
                Some(((*name).clone(), value))
            })
            .collect();
        registrations.push(RegistrationInfo {
            event_id,
            user_id: format!("patient-{}", field(patient)),
            registered_at_us: booked,
            attended: Some(attended),
            attributes,
        });
    }
    Ok(Dataset {
        name: format!("{} (appointments: one event per appointment, patients as users)", path.display()),
        events,
        registrations,
        generated: false,
    })
}

/// Wooldridge's `attend`: for each student, classes attended out of 32, with prior GPA, ACT and
/// year. The term is laid out as 32 classes on Mondays and Wednesdays; which of a student's
/// classes were the attended ones is not in the data, so a seeded shuffle picks them (their
/// order is exchangeable). History features then measure what a student's past attendance says
/// about the next class; GPA, ACT and year are the student's attributes.
pub(super) fn wooldridge(
    path: &std::path::Path,
    headers: &[String],
    records: &[csv::StringRecord],
    seed: u64,
) -> anyhow::Result<Dataset> {
    let column = |name: &str| headers.iter().position(|h| h == name).with_context(|| format!("no column {name}"));
    let (attend, gpa, act, frosh, soph) =
        (column("attend")?, column("priGPA")?, column("ACT")?, column("frosh")?, column("soph")?);
    let events: Vec<EventInfo> = (0..WOOLDRIDGE_CLASSES)
        // Two a week: Monday and Wednesday.
        .map(|class| {
            EventInfo::plain(
                format!("class-{class:02}"),
                "lecture",
                TERM_START + ((class / 2) * 7 + (class % 2) * 2) * DAY_US,
                75,
            )
        })
        .collect();
    let mut rng = SplitMix64::new(seed);
    let mut registrations = Vec::new();
    for (row, record) in records.iter().enumerate() {
        let number = |index: usize| -> anyhow::Result<f64> {
            record
                .get(index)
                .unwrap_or_default()
                .trim()
                .parse::<f64>()
                .with_context(|| format!("row {}: not a number", row + 2))
        };
        let attended = number(attend)? as i64;
        anyhow::ensure!((0..=WOOLDRIDGE_CLASSES).contains(&attended), "row {}: attend must be 0–32", row + 2);
        let user = format!("student-{row}");
        let attributes: BTreeMap<String, AttributeValue> = [
            ("priGPA", AttributeValue::Number(number(gpa)?)),
            ("ACT", AttributeValue::Number(number(act)?)),
            ("frosh", AttributeValue::Flag(number(frosh)? != 0.0)),
            ("soph", AttributeValue::Flag(number(soph)? != 0.0)),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        // A seeded shuffle of the 32 classes; the first `attended` were attended.
        let mut order: Vec<i64> = (0..WOOLDRIDGE_CLASSES).collect();
        rng.shuffle(&mut order);
        let came: HashSet<i64> = order[..attended as usize].iter().copied().collect();
        for (class, event) in events.iter().enumerate() {
            registrations.push(RegistrationInfo {
                event_id: event.event_id.clone(),
                user_id: user.clone(),
                registered_at_us: TERM_START - DAY_US,
                attended: Some(came.contains(&(class as i64))),
                attributes: attributes.clone(),
            });
        }
    }
    Ok(Dataset {
        name: format!("{} (Wooldridge attend: {} students × 32 classes, seed {seed})", path.display(), records.len()),
        events,
        registrations,
        generated: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wooldridge_rows_become_32_classes_with_the_attended_count() {
        let headers: Vec<String> = ["attend", "priGPA", "ACT", "frosh", "soph"].map(str::to_owned).to_vec();
        let records = vec![csv::StringRecord::from(vec!["27", "2.64", "23", "0", "1"])];
        let data = wooldridge(std::path::Path::new("attend.csv"), &headers, &records, 1).unwrap();
        assert_eq!(data.events.len(), 32);
        assert_eq!(data.registrations.len(), 32);
        assert_eq!(data.registrations.iter().filter(|r| r.attended == Some(true)).count(), 27);
        let attributes = &data.registrations[0].attributes;
        assert_eq!(attributes["priGPA"], AttributeValue::Number(2.64));
        assert_eq!(attributes["soph"], AttributeValue::Flag(true));
        assert_eq!(data.events[1].local_weekday(), 2, "the second class is on a Wednesday");
    }

    #[test]
    fn appointments_are_events_of_their_day_with_the_patients_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("appointments.csv");
        std::fs::write(
            &path,
            "PatientId,AppointmentID,Gender,ScheduledDay,AppointmentDay,Age,Neighbourhood,Scholarship,Hipertension,Diabetes,Alcoholism,Handcap,SMS_received,No-show\n\
             11,1,F,2016-04-25T17:29:31Z,2016-04-29T00:00:00Z,8,CENTRO,0,0,0,0,0,1,No\n\
             12,2,M,2016-04-29T08:00:00Z,2016-04-29T00:00:00Z,56,JARDIM,1,1,0,0,2,0,Yes\n",
        )
        .unwrap();
        let data = read_csv(&path, 1).unwrap();
        assert_eq!(data.events.len(), 2);
        assert!(data.events.iter().all(|e| e.is_all_day() && e.local_slot() == "all_day"), "a date, not a morning");
        let (first, second) = (&data.registrations[0], &data.registrations[1]);
        assert_eq!((first.attended, second.attended), (Some(true), Some(false)));
        assert_eq!(first.user_id, "patient-11");
        assert_eq!(first.attributes["SMS_received"], AttributeValue::Flag(true));
        assert_eq!(second.attributes["Handcap"], AttributeValue::Number(2.0));
        assert_eq!(second.attributes["Gender"], AttributeValue::Level("M".to_owned()));
        assert_eq!(second.attributes["Scholarship"], AttributeValue::Flag(true));
        // Booked four days ahead; the second was booked the same day, after midnight.
        assert_eq!((data.events[0].start_us - first.registered_at_us) / DAY_US, 3);
        assert!(second.registered_at_us > data.events[1].start_us);
    }
}
