//! Events in and out as JSON lines (`footprint export` / `footprint import`): the export streams
//! the stored events page by page in time order, one line each in the shape of
//! `GET /api/v1/events`; the import reads such lines (or any event a client could send) in
//! batches through the same validation, consent and durable path as `POST /api/track/batch`,
//! so an import is idempotent through `message_id` (an exported event without one is imported
//! under its `event_id` as its message id). Records other than events carry a `kind`:
//! `account` (`accounts::transfer`), `attendance_organization` and `attendance_event`
//! (`attendance::transfer`), `consent`; an export writes them before the events, and an import
//! stores everything read before a record first. The command line's import into a store with no
//! events writes them as one bulk load instead of commits ([`Storing`]), judged the same way.

use std::collections::VecDeque;
use std::io::{BufRead, Write};

use footprint_analytics::EventType;
use footprint_store::{BulkLoad, EventPosition, EventQuery};
use serde::Serialize;
use serde_json::Value;

use crate::app::state::AppState;
use crate::kernel::error::ApiError;
use crate::tracking::events::view;
use crate::tracking::ingest::{EventResult, ingest, limits, prepare, results};
use crate::tracking::validate::{ValidEvent, validate_event};

/// Events read from the store per page, and sent to the ingestion queue per batch.
const PAGE: u32 = 5_000;
const BATCH: usize = 1_000;
const IN_FLIGHT: usize = 4;
/// Rejected lines listed one by one; beyond, only counted.
const LISTED: usize = 1_000;

/// Which events to export.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub event_type: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// Every consent record first (`{"kind": "consent", …}` lines), so that an import into an
    /// instance whose default is `deny` keeps the events their users consented to.
    pub consents: bool,
    /// Every account first (`{"kind": "account", …}` lines, `accounts::transfer`).
    pub accounts: bool,
    /// The attendance records (organisations' declarations, events with their registrations:
    /// `attendance::transfer`) after the accounts.
    pub attendance: bool,
    /// CSV with a header row (`CSV_COLUMNS`) instead of JSON lines; events only.
    pub csv: bool,
}

/// The columns of a CSV export, in order; `properties` and `context` hold JSON text.
pub const CSV_COLUMNS: [&str; 9] =
    ["event_id", "user_id", "session_id", "type", "timestamp", "received_at", "message_id", "properties", "context"];

/// An event as a CSV row (with its line end).
fn csv_row(event: &crate::tracking::events::EventView) -> Result<String, ApiError> {
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    writer
        .write_record([
            event.event_id.as_str(),
            event.user_id.as_str(),
            event.session_id.as_str(),
            event.event_type.as_str(),
            event.timestamp.as_str(),
            event.received_at.as_str(),
            event.message_id.as_deref().unwrap_or_default(),
            &event.properties.to_string(),
            &event.context.to_string(),
        ])
        .map_err(ApiError::internal)?;
    String::from_utf8(writer.into_inner().map_err(|error| ApiError::internal(error.to_string()))?)
        .map_err(ApiError::internal)
}

/// Where an export stands: the accounts after a user id, the attendance events after a (start,
/// id), the consent records after a number, then the events after a position, then done.
#[derive(Debug, Clone)]
enum Cursor {
    Accounts(Option<String>),
    Attendance(Option<(i64, String)>),
    Consents(i64),
    Events(Option<EventPosition>),
    Done,
}

impl Cursor {
    /// The first part of the export `filter` asks for, from part `from` on (0: accounts,
    /// 1: attendance, 2: consents, 3: events).
    fn first(filter: &ExportFilter, from: u8) -> Cursor {
        match from {
            0 if filter.accounts => Cursor::Accounts(None),
            0 | 1 if filter.attendance => Cursor::Attendance(None),
            0..=2 if filter.consents => Cursor::Consents(0),
            _ => Cursor::Events(None),
        }
    }
}

/// A consent record as a line of the export.
fn consent_line(record: &footprint_store::ConsentRecord) -> String {
    serde_json::json!({
        "kind": "consent",
        "user_id": record.user_id,
        "analytics": record.consent.analytics,
        "preferences": record.consent.preferences,
        "improvement": record.consent.improvement,
        "source": record.source,
        "recorded_at": crate::kernel::clock::rfc3339(record.recorded_at_us),
    })
    .to_string()
}

/// The lines `filter` selects (its consent records, then its events), a page (up to 5 000
/// lines) per item with the number of lines, read from the store one page at a time: constant
/// memory whatever the export's size.
pub fn export_pages(
    state: &AppState,
    filter: &ExportFilter,
) -> Result<impl futures_util::Stream<Item = Result<(String, u64), ApiError>> + Send + 'static, ApiError> {
    let event_type = match &filter.event_type {
        Some(raw) => Some(
            EventType::parse(raw).map_err(|e| ApiError::InvalidParameters(format!("type: {e}")))?.as_str().to_owned(),
        ),
        None => None,
    };
    if filter.csv && (filter.consents || filter.accounts || filter.attendance) {
        return Err(ApiError::InvalidParameters(
            "accounts, attendance and consent records are exported as JSON lines only: leave out the CSV format or \
             the records"
                .to_owned(),
        ));
    }
    let (state, filter) = (state.clone(), filter.clone());
    let start = (Cursor::first(&filter, 0), std::collections::HashSet::new());
    let header = filter.csv.then(|| format!("{}\n", CSV_COLUMNS.join(",")));
    let pages = futures_util::stream::try_unfold(start, move |(cursor, mut declared)| {
        let (state, filter, event_type) = (state.clone(), filter.clone(), event_type.clone());
        async move {
            let mut cursor = cursor;
            loop {
                match cursor {
                    Cursor::Done => return Ok(None),
                    Cursor::Accounts(after) => {
                        let (text, lines, next) = crate::accounts::transfer::export_page(&state, after).await?;
                        cursor = next.map_or_else(|| Cursor::first(&filter, 1), |id| Cursor::Accounts(Some(id)));
                        if lines > 0 {
                            return Ok(Some(((text, lines), (cursor, declared))));
                        }
                    }
                    Cursor::Attendance(after) => {
                        let (text, lines, next) =
                            crate::attendance::transfer::export_page(&state, after, &mut declared).await?;
                        cursor = next.map_or_else(|| Cursor::first(&filter, 2), |at| Cursor::Attendance(Some(at)));
                        if lines > 0 {
                            return Ok(Some(((text, lines), (cursor, declared))));
                        }
                    }
                    Cursor::Consents(after_id) => {
                        let page = state.store.consents_page(after_id, PAGE).await?;
                        let Some((last_id, _)) = page.last() else {
                            cursor = Cursor::Events(None);
                            continue;
                        };
                        let next =
                            if page.len() == PAGE as usize { Cursor::Consents(*last_id) } else { Cursor::Events(None) };
                        let mut text = String::new();
                        for (_, record) in &page {
                            text.push_str(&consent_line(record));
                            text.push('\n');
                        }
                        return Ok(Some(((text, page.len() as u64), (next, declared))));
                    }
                    Cursor::Events(after) => {
                        let query = EventQuery {
                            user_key: None,
                            event_type: event_type.clone(),
                            from_us: filter.from_us,
                            to_us: filter.to_us,
                            after,
                            limit: PAGE,
                        };
                        let page = state.store.events(query).await?;
                        if page.is_empty() {
                            return Ok(None);
                        }
                        let next = match page.last() {
                            Some(event) if page.len() == PAGE as usize => {
                                Cursor::Events(Some(EventPosition { timestamp_us: event.timestamp_us, seq: event.seq }))
                            }
                            _ => Cursor::Done,
                        };
                        let count = page.len() as u64;
                        let mut text = String::new();
                        for event in page {
                            let event = view(event)?;
                            if filter.csv {
                                text.push_str(&csv_row(&event)?);
                            } else {
                                text.push_str(&serde_json::to_string(&event).map_err(ApiError::internal)?);
                                text.push('\n');
                            }
                        }
                        return Ok(Some(((text, count), (next, declared))));
                    }
                }
            }
        }
    });
    let header = futures_util::stream::iter(header.map(|header| Ok((header, 0))));
    Ok(futures_util::StreamExt::chain(header, pages))
}

/// Writes the events `filter` selects as JSON lines; returns how many. `progress` is told the
/// running count after each page.
pub async fn export_events(
    state: &AppState,
    filter: &ExportFilter,
    out: &mut (dyn Write + Send),
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, ApiError> {
    use futures_util::TryStreamExt;
    let pages = export_pages(state, filter)?;
    futures_util::pin_mut!(pages);
    let mut written = 0u64;
    while let Some((text, count)) = pages.try_next().await? {
        out.write_all(text.as_bytes()).map_err(ApiError::internal)?;
        written += count;
        progress(written);
    }
    out.flush().map_err(ApiError::internal)?;
    Ok(written)
}

/// A line the import could not take.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectedLine {
    /// 1-based.
    pub line: usize,
    pub reason: String,
}

/// What an import did, line by line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// Non-empty lines read.
    pub lines: usize,
    pub imported: usize,
    /// Consent records (`"kind": "consent"` lines) added to their user's history.
    pub consents: usize,
    /// Accounts created (`"kind": "account"` lines).
    pub accounts: usize,
    /// Organisations' declarations stored (`"kind": "attendance_organization"` lines).
    pub organizations: usize,
    /// Attendance events created or changed, and registrations stored, (`"kind":
    /// "attendance_event"` lines).
    pub attendance_events: usize,
    pub registrations: usize,
    /// Already stored (an event with the same user and `message_id`, the same consent record, an
    /// account of the same id, an attendance line that changes nothing): nothing new was stored.
    pub duplicates: usize,
    /// Refused by consent or erasure, with the reason in `rejected`.
    pub not_collected: usize,
    /// Lines refused: invalid, or not collected.
    pub rejected_count: usize,
    /// The first 1 000 rejected or not collected lines with their reasons.
    pub rejected: Vec<RejectedLine>,
}

impl ImportReport {
    fn refuse(&mut self, line: usize, reason: String) {
        self.rejected_count += 1;
        if self.rejected.len() < LISTED {
            self.rejected.push(RejectedLine { line, reason });
        }
    }
}

/// How an import stores its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storing {
    /// Through the ingestion queue, like any client's events (an import into a running server).
    Commits,
    /// Into a store that holds no events, as one bulk load whose indexes are built at the end
    /// (`footprint import`); through the queue if the store holds events. The load holds the
    /// store's writers until its events are stored: up to the first record line, or the end.
    BulkIfEmpty,
}

/// One item of an import: its line number, and what the line holds (`None`: an empty line).
type Item = (usize, Option<Result<Value, String>>);

/// Reads JSON lines of events (and of consent records, `"kind": "consent"`) and ingests them a
/// batch at a time; a consent record is added once every line before it is stored, so that it
/// applies to the events after it. `progress` is told the lines read so far after each batch.
pub async fn import_events(
    state: &AppState,
    input: &mut (dyn BufRead + Send),
    storing: Storing,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<ImportReport, ApiError> {
    let mut text = String::new();
    let mut number = 0usize;
    let mut next = || -> Result<Option<Item>, ApiError> {
        text.clear();
        let read = input.read_line(&mut text).map_err(|e| ApiError::InvalidParameters(format!("cannot read: {e}")))?;
        if read == 0 {
            return Ok(None);
        }
        number += 1;
        let line = text.trim();
        if line.is_empty() {
            return Ok(Some((number, None)));
        }
        Ok(Some((number, Some(serde_json::from_str::<Value>(line).map_err(|error| format!("not JSON: {error}"))))))
    };
    import_items(state, &mut next, storing, progress).await
}

/// Reads CSV events with a header row and ingests them like JSON lines: the columns of
/// `CSV_COLUMNS` (`user_id` and `type` required; `properties` and `context` as JSON text), and
/// any other column as a property of that name. Empty cells are left out.
pub async fn import_csv(
    state: &AppState,
    input: &mut (dyn BufRead + Send),
    storing: Storing,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<ImportReport, ApiError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|error| ApiError::InvalidParameters(format!("the CSV header row cannot be read: {error}")))?
        .iter()
        .map(|header| header.trim().to_owned())
        .collect();
    if !headers.iter().any(|header| header == "user_id") || !headers.iter().any(|header| header == "type") {
        return Err(ApiError::InvalidParameters(format!(
            "the CSV header row must name user_id and type (and may name {})",
            CSV_COLUMNS.join(", ")
        )));
    }
    let mut records = reader.into_records();
    let mut next = || -> Result<Option<Item>, ApiError> {
        let Some(record) = records.next() else { return Ok(None) };
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map_or(0, |position| position.line() as usize);
                return Ok(Some((line, Some(Err(format!("not CSV: {error}"))))));
            }
        };
        let line = record.position().map_or(0, |position| position.line() as usize);
        Ok(Some((line, Some(csv_event(&headers, &record)))))
    };
    import_items(state, &mut next, storing, progress).await
}

/// A CSV row as an event object.
fn csv_event(headers: &[String], record: &csv::StringRecord) -> Result<Value, String> {
    let mut event = serde_json::Map::new();
    let mut properties = serde_json::Map::new();
    for (header, cell) in headers.iter().zip(record.iter()) {
        if cell.is_empty() {
            continue;
        }
        match header.as_str() {
            "properties" | "context" => match serde_json::from_str::<Value>(cell) {
                Ok(Value::Object(map)) if header == "properties" => properties.extend(map),
                Ok(value @ Value::Object(_)) => {
                    event.insert(header.clone(), value);
                }
                _ => return Err(format!("{header}: must be a JSON object")),
            },
            "event_id" | "user_id" | "session_id" | "type" | "timestamp" | "message_id" => {
                event.insert(header.clone(), Value::String(cell.to_owned()));
            }
            "received_at" => {}
            other => {
                properties.insert(other.to_owned(), Value::String(cell.to_owned()));
            }
        }
    }
    event.insert("properties".to_owned(), Value::Object(properties));
    Ok(Value::Object(event))
}

/// Ingests the items `next` reads, a batch at a time, in order.
async fn import_items(
    state: &AppState,
    next: &mut (dyn FnMut() -> Result<Option<Item>, ApiError> + Send),
    storing: Storing,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<ImportReport, ApiError> {
    let mut report = ImportReport::default();
    // A bulk load is tried once, at the first batch of events (the records an export writes
    // first are stored before it).
    let mut bulk_untried = storing == Storing::BulkIfEmpty;
    let mut bulk: Option<Box<dyn BulkLoad>> = None;
    let limits = limits(state);
    let mut batch: Vec<(usize, Result<ValidEvent, String>)> = Vec::with_capacity(BATCH);
    // Batches in the ingestion queue at once, in line order: the queue commits them together.
    let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(IN_FLIGHT);
    let mut number = 0usize;
    loop {
        let item = next()?;
        let done = item.is_none();
        let mut record = None;
        if let Some((line, content)) = item {
            number = line;
            if let Some(content) = content {
                report.lines += 1;
                let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(state.clock.now_us()) * 1_000)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                match content {
                    Ok(Value::Object(mut object)) if object.get("kind").is_some_and(Value::is_string) => {
                        let kind = object.remove("kind").and_then(|kind| kind.as_str().map(str::to_owned));
                        record = Some((kind.unwrap_or_default(), object));
                    }
                    Ok(mut raw) => {
                        // An exported event keeps its identity across imports.
                        if let Some(object) = raw.as_object_mut()
                            && object.get("message_id").is_none_or(Value::is_null)
                            && let Some(id) = object.get("event_id").cloned().filter(Value::is_string)
                        {
                            object.insert("message_id".to_owned(), id);
                        }
                        batch.push((line, validate_event(&raw, now, &limits)));
                    }
                    Err(reason) => batch.push((line, Err(reason))),
                }
            }
        }
        // Everything read so far is stored before a record, and at the end.
        let settle = done || record.is_some();
        if batch.len() >= BATCH || (settle && !batch.is_empty()) {
            let lines: Vec<usize> = batch.iter().map(|(line, _)| *line).collect();
            let items: Vec<Result<ValidEvent, String>> = batch.drain(..).map(|(_, item)| item).collect();
            if std::mem::take(&mut bulk_untried) {
                bulk = state.store.bulk_load(state.ingest.commit_options()).await?;
            }
            let task = match &bulk {
                // Prepared here, in line order, so that the load judges batches in that order.
                Some(load) => {
                    let (events, slots) = prepare(state, items).await?;
                    let written = load.add(events);
                    tokio::spawn(async move { results(slots, written.await.map_err(ApiError::internal)??) })
                }
                None => {
                    let state = state.clone();
                    tokio::spawn(async move { ingest(&state, items).await })
                }
            };
            in_flight.push_back((lines, number, task));
        }
        while in_flight.len() >= IN_FLIGHT || (settle && !in_flight.is_empty()) {
            let Some((lines, read_so_far, task)) = in_flight.pop_front() else { break };
            let results = task.await.map_err(ApiError::internal)??;
            for (line, result) in lines.into_iter().zip(results) {
                match result {
                    EventResult::Accepted { .. } => report.imported += 1,
                    EventResult::Duplicate => report.duplicates += 1,
                    EventResult::Rejected { reason } => report.refuse(line, reason),
                    EventResult::NotCollected { reason } => {
                        report.not_collected += 1;
                        report.refuse(line, reason);
                    }
                }
            }
            progress(read_so_far);
        }
        if settle && let Some(load) = bulk.take() {
            let loaded = load.finish().await.map_err(ApiError::internal)??;
            report.imported -= loaded.late_duplicates as usize;
            report.duplicates += loaded.late_duplicates as usize;
        }
        if let Some((kind, object)) = record {
            import_record(state, &kind, object, number, &mut report).await?;
        }
        if done {
            return Ok(report);
        }
    }
}

/// Stores a record line (`kind` taken out of `object`) read at `line`.
async fn import_record(
    state: &AppState,
    kind: &str,
    object: serde_json::Map<String, Value>,
    line: usize,
    report: &mut ImportReport,
) -> Result<(), ApiError> {
    use crate::attendance::transfer as attendance;
    match kind {
        "consent" => match consent_record(&Value::Object(object), state.clock.now_us()) {
            Ok(record) => {
                let history = state.store.consent_history(&record.user_id).await?;
                let same = |kept: &footprint_store::ConsentRecord| {
                    kept.recorded_at_us == record.recorded_at_us && kept.consent == record.consent
                };
                if history.iter().any(same) {
                    report.duplicates += 1;
                } else {
                    // Not `consent::record`: an imported record does not lift an erasure here.
                    state.store.append_consent(record).await?;
                    report.consents += 1;
                }
            }
            Err(reason) => report.refuse(line, reason),
        },
        crate::accounts::transfer::KIND => match crate::accounts::transfer::import_line(state, object, ACTOR).await? {
            Ok(true) => report.accounts += 1,
            Ok(false) => report.duplicates += 1,
            Err(reason) => report.refuse(line, format!("account: {reason}")),
        },
        attendance::EVENT_KIND | attendance::ORGANIZATION_KIND => {
            match attendance::import_line(state, kind, object, ACTOR).await? {
                Ok(imported) if imported.duplicate => report.duplicates += 1,
                Ok(imported) => {
                    report.organizations += imported.organizations;
                    report.attendance_events += imported.events;
                    report.registrations += imported.registrations;
                }
                Err(reason) => report.refuse(line, format!("{kind}: {reason}")),
            }
        }
        other => report.refuse(
            line,
            format!(
                "kind: {other:?} is not a kind of line (account, attendance_organization, attendance_event, consent; \
                 an event has none)"
            ),
        ),
    }
    Ok(())
}

/// Who the audit log says stored the records of an import.
const ACTOR: &str = "import";

/// A consent line: `{"kind": "consent", "user_id", "analytics", "preferences", "improvement",
/// "recorded_at"?, "source"?}` (a purpose left out is not given; no time: now).
fn consent_record(raw: &Value, now_us: i64) -> Result<footprint_store::ConsentRecord, String> {
    let user_id = raw.get("user_id").and_then(Value::as_str).ok_or("user_id: is required")?;
    let user_id = footprint_analytics::UserId::parse(user_id).map_err(|error| error.to_string())?;
    let consent =
        crate::tracking::validate::parse_consent(raw).map_err(|reason| reason.replace("context.consent", "consent"))?;
    let recorded_at_us = match raw.get("recorded_at") {
        None | Some(Value::Null) => now_us,
        Some(Value::String(text)) => crate::kernel::time::instant("recorded_at", text)?,
        Some(_) => return Err("recorded_at: must be an RFC 3339 time".to_owned()),
    };
    let source = raw.get("source").and_then(Value::as_str).filter(|source| source.len() <= 64).unwrap_or("import");
    Ok(footprint_store::ConsentRecord {
        user_id: user_id.into_string(),
        consent,
        source: source.to_owned(),
        recorded_at_us,
    })
}

/// A batch sent to the queue: its line numbers, the lines read when it left, and its results.
type InFlight = (Vec<usize>, usize, tokio::task::JoinHandle<Result<Vec<EventResult>, ApiError>>);
