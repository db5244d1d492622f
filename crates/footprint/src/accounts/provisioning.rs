//! Seed 003's provisioning: accounts created or updated in bulk from a file (CSV with a header,
//! or JSON lines), idempotently — running the same file again changes nothing. A row names its
//! account by `user_id`, else `username`, else `email` (as account creation derives the id);
//! an existing account gets the row's tier, role and profile fields, a new one is created.
//! Passwords are never printed nor logged: a new account without one gets a random password
//! sent in an invitation through the message sender (the outbox by default), which needs an
//! e-mail. Rows are read one at a time (constant memory); a bad row is reported with its line
//! number and reason and the others go on.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use footprint_analytics::{Email, Role, Tier, UserId, Username};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::accounts::changes::{AccountChange, change_account};
use crate::accounts::outbox::Message;
use crate::accounts::principal::Principal;
use crate::accounts::service::{NewUserRequest, create_account};
use crate::app::config::Secret;
use crate::app::state::AppState;
use crate::kernel::crypto::random_token;
use crate::kernel::error::ApiError;

/// The actor provisioning is recorded as.
pub const ACTOR: &str = "automation";

/// One row that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rejection {
    /// 1-based, counting a CSV header as line 1.
    pub line: usize,
    pub reason: String,
}

/// What a provisioning run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProvisionReport {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// New accounts given a random password, sent to their e-mail.
    pub invitations: usize,
    pub rejected: Vec<Rejection>,
}

/// A row's account, as read.
#[derive(Debug, Clone, Default)]
struct Row {
    user_id: Option<String>,
    username: Option<String>,
    email: Option<String>,
    password: Option<Secret>,
    role: Option<Role>,
    tier: Option<Tier>,
    profile: Map<String, Value>,
}

/// The formats of a provisioning file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    /// From the file's extension (`.csv`; `.jsonl`, `.ndjson`, `.json`), else from its first
    /// character (`{` for JSON lines).
    pub fn of(path: &Path, first_byte: Option<u8>) -> Format {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => Format::Csv,
            Some("jsonl" | "ndjson" | "json") => Format::JsonLines,
            _ if first_byte == Some(b'{') => Format::JsonLines,
            _ => Format::Csv,
        }
    }
}

fn text_field(object: &mut Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match object.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.trim().to_owned())),
        Some(_) => Err(format!("{field}: must be a string")),
    }
}

/// The fields of a row that are the account's, not its profile's (named in any case).
const ACCOUNT_FIELDS: [&str; 8] =
    ["user_id", "username", "email", "password", "role", "tier", "profile_data", "profile"];

/// A row from its fields (a JSON object, or a CSV row made into one). Profile fields may be
/// given at the top level (`display_name`, `language`, `timezone`, …) or in `profile_data`; a
/// field that looks like a password anywhere but `password` is refused, never kept in a profile.
fn row_of(object: Map<String, Value>) -> Result<Row, String> {
    let mut object: Map<String, Value> = object
        .into_iter()
        .map(|(field, value)| {
            let lower = field.trim().to_ascii_lowercase();
            (if ACCOUNT_FIELDS.contains(&lower.as_str()) { lower } else { field }, value)
        })
        .collect();
    let mut profile = match object.remove("profile_data").or_else(|| object.remove("profile")) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(profile)) => profile,
        Some(_) => return Err("profile_data: must be an object".to_owned()),
    };
    let user_id = text_field(&mut object, "user_id")?;
    let username = text_field(&mut object, "username")?;
    let email = text_field(&mut object, "email")?;
    let password = text_field(&mut object, "password")?.map(Secret::new);
    let role = match text_field(&mut object, "role")? {
        Some(role) => Some(role.parse::<Role>().map_err(|e| format!("{e} (got {role:?})"))?),
        None => None,
    };
    let tier = match text_field(&mut object, "tier")? {
        Some(tier) => Some(tier.parse::<Tier>().map_err(|e| format!("{e} (got {tier:?})"))?),
        None => None,
    };
    for (field, value) in object {
        if !value.is_null() && value != Value::String(String::new()) {
            profile.insert(field, value);
        }
    }
    if let Some(field) = profile.keys().find(|field| {
        let lower = field.to_ascii_lowercase();
        lower.contains("password") || lower.contains("passwd")
    }) {
        return Err(format!("{field}: a password goes in the password field, and is never kept in a profile"));
    }
    Ok(Row { user_id, username, email, password, role, tier, profile })
}

/// The user id a row names, derived as account creation does.
fn user_id_of(row: &Row) -> Result<String, String> {
    let invalid = |error: footprint_analytics::InvalidValue| error.to_string();
    let id = match (&row.user_id, &row.username, &row.email) {
        (Some(id), _, _) => id.clone(),
        (None, Some(username), _) => Username::parse(username).map_err(invalid)?.as_str().to_owned(),
        (None, None, Some(email)) => Email::parse(email).map_err(invalid)?.as_str().to_owned(),
        (None, None, None) => return Err("a row needs user_id, username or email".to_owned()),
    };
    Ok(UserId::parse(&id).map_err(invalid)?.as_str().to_owned())
}

/// Applies one row: created, updated or unchanged (and whether an invitation went out).
async fn apply(state: &AppState, row: Row, report: &mut ProvisionReport) -> Result<(), String> {
    let user_id = user_id_of(&row)?;
    let existing = state.store.user(&user_id).await.map_err(|error| error.to_string())?;
    let automation = Principal::User { user_id: ACTOR.to_owned(), role: Role::Admin, username: None };
    match existing {
        Some(user) if user.has_account() => {
            let declared: Map<String, Value> = match user.profile_enc.as_deref() {
                Some(stored) => {
                    let text = state.keys.cipher.decrypt(stored).map_err(|error| error.to_string())?;
                    serde_json::from_str(&text).unwrap_or_default()
                }
                None => Map::new(),
            };
            let profile: Map<String, Value> =
                row.profile.into_iter().filter(|(field, value)| declared.get(field) != Some(value)).collect();
            let change = AccountChange {
                profile,
                role: row.role.filter(|role| *role != user.role),
                tier: row.tier.filter(|tier| *tier != user.tier),
            };
            if change == AccountChange::default() {
                report.unchanged += 1;
                return Ok(());
            }
            change_account(state, &automation, &user_id, change).await.map_err(|error| error.to_string())?;
            report.updated += 1;
        }
        _ => {
            let invite = row.password.is_none();
            if invite && row.email.is_none() {
                return Err("a new account needs a password, or an email to send an invitation to".to_owned());
            }
            // Long enough for any password policy; sent once, in the invitation, never kept in clear.
            let password = row.password.unwrap_or_else(|| Secret::new(random_token(18)));
            let invitation = invite.then(|| password.clone());
            let request = NewUserRequest {
                user_id: Some(user_id.clone()),
                username: row.username,
                email: row.email.clone(),
                password,
                role: row.role,
                tier: row.tier,
                profile: (!row.profile.is_empty()).then_some(row.profile),
            };
            create_account(state, request, ACTOR).await.map_err(|error| error.to_string())?;
            report.created += 1;
            if let (Some(password), Some(email)) = (invitation, row.email) {
                let message = Message {
                    user_id: user_id.clone(),
                    channel: "email",
                    recipient: email,
                    subject: "Your Footprint account".to_owned(),
                    body: format!(
                        "An account was created for you: log in as {user_id} with the temporary password {}",
                        password.expose()
                    ),
                };
                state.sender.send(message).await.map_err(|error| error.to_string())?;
                report.invitations += 1;
            }
        }
    }
    Ok(())
}

/// Applies a row read at `line`, or reports why it could not be.
async fn apply_row(state: &AppState, line: usize, row: Result<Row, String>, report: &mut ProvisionReport) {
    report.rows += 1;
    let outcome = match row {
        Ok(row) => apply(state, row, report).await,
        Err(reason) => Err(reason),
    };
    if let Err(reason) = outcome {
        report.rejected.push(Rejection { line, reason });
    }
}

/// Provisions every row of `reader`; `progress` is told after each row (the rows done).
pub async fn provision(
    state: &AppState,
    reader: impl Read,
    format: Format,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<ProvisionReport, ApiError> {
    let mut report = ProvisionReport::default();
    let mut reader = BufReader::new(reader);
    // A UTF-8 byte-order mark (spreadsheets write one) is not part of the first field.
    if reader.fill_buf().map_err(|error| ApiError::Validation(format!("line 1: {error}")))?.starts_with(b"\xEF\xBB\xBF")
    {
        reader.consume(3);
    }
    match format {
        Format::JsonLines => {
            for (index, line) in reader.lines().enumerate() {
                let line_number = index + 1;
                let text = line.map_err(|error| ApiError::Validation(format!("line {line_number}: {error}")))?;
                if text.trim().is_empty() {
                    continue;
                }
                let row = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(object)) => row_of(object),
                    Ok(_) => Err("not a JSON object".to_owned()),
                    Err(error) => Err(format!("not JSON: {error}")),
                };
                apply_row(state, line_number, row, &mut report).await;
                progress(report.rows);
            }
        }
        Format::Csv => {
            let mut csv = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(reader);
            let headers: Vec<String> = csv
                .headers()
                .map_err(|error| ApiError::Validation(format!("line 1: {error}")))?
                .iter()
                .map(|header| header.to_ascii_lowercase())
                .collect();
            if !headers.iter().any(|h| ["user_id", "username", "email"].contains(&h.as_str())) {
                return Err(ApiError::Validation(
                    "line 1: the header must name user_id, username or email (and may name password, role, tier, display_name, language, timezone…)"
                        .to_owned(),
                ));
            }
            for (index, record) in csv.records().enumerate() {
                let row = match record {
                    Ok(record) => row_of(
                        headers
                            .iter()
                            .zip(record.iter())
                            .map(|(header, value)| (header.clone(), Value::String(value.to_owned())))
                            .collect(),
                    ),
                    Err(error) => Err(error.to_string()),
                };
                apply_row(state, index + 2, row, &mut report).await;
                progress(report.rows);
            }
        }
    }
    Ok(report)
}

/// Provisions from a file, or from every `.csv`, `.jsonl`, `.ndjson` and `.json` file of a
/// drop folder, in name order (running them again changes nothing); the reports add up, a
/// rejection naming its file.
pub async fn provision_path(
    state: &AppState,
    path: &Path,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<ProvisionReport, ApiError> {
    if !path.is_dir() {
        return provision_file(state, path, progress).await;
    }
    let listing = std::fs::read_dir(path)
        .map_err(|error| ApiError::Validation(format!("cannot read the folder {}: {error}", path.display())))?;
    let mut files: Vec<std::path::PathBuf> = listing
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|file| {
            file.is_file()
                && file
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| ["csv", "jsonl", "ndjson", "json"].contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    let mut total = ProvisionReport::default();
    for file in files {
        let done = total.rows;
        let report = provision_file(state, &file, &|rows| progress(done + rows)).await?;
        total.rows += report.rows;
        total.created += report.created;
        total.updated += report.updated;
        total.unchanged += report.unchanged;
        total.invitations += report.invitations;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        total.rejected.extend(
            report.rejected.into_iter().map(|r| Rejection { line: r.line, reason: format!("{name}: {}", r.reason) }),
        );
    }
    Ok(total)
}

/// Provisions from a file.
pub async fn provision_file(
    state: &AppState,
    path: &Path,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<ProvisionReport, ApiError> {
    let mut file = std::fs::File::open(path)
        .map_err(|error| ApiError::Validation(format!("cannot open {}: {error}", path.display())))?;
    let mut first = [0u8; 1];
    let first_byte = match file.read(&mut first) {
        Ok(1) => Some(first[0]),
        _ => None,
    };
    let format = Format::of(path, first_byte);
    let file = std::fs::File::open(path)
        .map_err(|error| ApiError::Validation(format!("cannot open {}: {error}", path.display())))?;
    provision(state, file, format, progress).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: Value) -> Map<String, Value> {
        match json {
            Value::Object(object) => object,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_row_takes_the_seeds_shape_and_flat_profile_fields() {
        let row = row_of(object(serde_json::json!({
            "email": "user@example.com", "password": "mot_de_passe_securise", "tier": "premium",
            "profile_data": {"display_name": "Jean Dupont", "language": "fr"}, "timezone": "Europe/Paris"
        })))
        .unwrap();
        assert_eq!(row.tier, Some(Tier::Premium));
        assert_eq!(row.profile.len(), 3);
        assert_eq!(user_id_of(&row).unwrap(), "user@example.com");
        assert!(row_of(object(serde_json::json!({"email": "a@b.c", "tier": "gold"}))).unwrap_err().contains("gold"));
        assert!(row_of(object(serde_json::json!({"username": 5}))).unwrap_err().contains("username"));
        let cased =
            row_of(object(serde_json::json!({"Email": "a@b.c", "Password": "x-secret-1234", "TIER": "vip"}))).unwrap();
        assert_eq!((cased.email.as_deref(), cased.tier, cased.profile.len()), (Some("a@b.c"), Some(Tier::Vip), 0));
        assert!(cased.password.is_some(), "a field of the account, in any case");
        let hidden = row_of(object(serde_json::json!({"email": "a@b.c", "old_password": "x"}))).unwrap_err();
        assert!(hidden.contains("old_password"), "{hidden}");
        let anonymous = row_of(object(serde_json::json!({"display_name": "x"}))).unwrap();
        assert!(user_id_of(&anonymous).unwrap_err().contains("user_id, username or email"));
    }

    #[test]
    fn the_format_comes_from_the_extension_or_the_first_byte() {
        assert_eq!(Format::of(Path::new("users.csv"), Some(b'{')), Format::Csv);
        assert_eq!(Format::of(Path::new("users.jsonl"), Some(b'u')), Format::JsonLines);
        assert_eq!(Format::of(Path::new("users"), Some(b'{')), Format::JsonLines);
        assert_eq!(Format::of(Path::new("users.txt"), Some(b'e')), Format::Csv);
    }
}
