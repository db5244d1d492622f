//! Snapshots of the JSON answers the seeds' example requests get, with their status codes, and
//! of `/openapi.json`: the shapes the API has today, pinned so that moving code around cannot
//! change them unnoticed.
//!
//! Each snapshotted request is one snapshot named after its route (`tests/api/snapshots/`);
//! the fixtures they stand on are sent without one. The server's clock stands still (it moves
//! only when a test moves it: a second before each snapshotted request) and its secrets are
//! fixed, so that everything computed from "now" or from pseudonyms is the same on every run;
//! ULIDs, date-times, tokens, keys and timings are replaced by [`redacted`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use footprint::kernel::clock::Clock;
use footprint_analytics::Role;
use footprint_analytics::attendance::synthetic;
use footprint_analytics::rng::SplitMix64;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp, body};

const SECOND_US: i64 = 1_000_000;
const MINUTE_US: i64 = 60 * SECOND_US;
const HOUR_US: i64 = 60 * MINUTE_US;
const DAY_US: i64 = 24 * HOUR_US;
/// Wednesday 2025-01-15 12:00 UTC: "now" for the seeds that do not place time themselves.
const NOON: i64 = 1_736_942_400_000_000;

// ---------------------------------------------------------------------------------------------
// Redaction

/// Keys whose values are timings: they measure the machine, not the data.
const TIMING_KEYS: &[&str] = &["averageResponseTime", "averageResponseTimeMs", "maxResponseTimeMs", "trainingDuration"];

/// `value` with what differs between runs replaced by a placeholder: timings (by key, see
/// [`TIMING_KEYS`]), JWTs, API keys, and inside any string the ULIDs and RFC 3339 / ISO 8601
/// date-times. Everything else, key order included, is kept.
fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| {
                    let value = if TIMING_KEYS.contains(&key.as_str()) && !value.is_null() {
                        json!("[timing]")
                    } else {
                        redacted(value)
                    };
                    (key.clone(), value)
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        Value::String(text) => Value::String(redacted_text(text)),
        other => other.clone(),
    }
}

fn redacted_text(text: &str) -> String {
    if is_jwt(text) {
        return "[jwt]".to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let at_boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if at_boundary {
            if let Some((end, zoned)) = date_time_at(bytes, i) {
                out.push_str(if zoned { "[datetime]" } else { "[naive-datetime]" });
                i = end;
                continue;
            }
            if bytes[i..].starts_with(b"fp_") {
                let end =
                    i + 3 + bytes[i + 3..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
                out.push_str("[api-key]");
                i = end;
                continue;
            }
            let word = bytes[i..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
            if word == 26 && is_ulid(&bytes[i..i + 26]) {
                out.push_str("[ulid]");
                i += 26;
                continue;
            }
            if word > 0 {
                out.push_str(&text[i..i + word]);
                i += word;
                continue;
            }
        }
        let ch = text[i..].chars().next().unwrap_or_default();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn is_jwt(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && text.starts_with("eyJ")
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// 26 characters of Crockford's base32 (either case), the first at most 7 (48 bits of time).
fn is_ulid(word: &[u8]) -> bool {
    word[0] <= b'7'
        && word.iter().all(|b| b.is_ascii_digit() || (b.is_ascii_alphabetic() && !b"iloIOLuU".contains(b)))
        && word.iter().any(u8::is_ascii_digit)
}

/// `YYYY-MM-DDTHH:MM:SS`, then optional fractional seconds and an optional `Z` or `±HH:MM`,
/// starting at `i`: where it ends, and whether it has a zone.
fn date_time_at(bytes: &[u8], i: usize) -> Option<(usize, bool)> {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    let head = bytes.get(i..i + SHAPE.len())?;
    let fits = head.iter().zip(SHAPE).all(|(b, s)| if *s == b'd' { b.is_ascii_digit() } else { b == s });
    if !fits {
        return None;
    }
    let mut end = i + SHAPE.len();
    if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end += 1 + bytes[end + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
    }
    match bytes.get(end) {
        Some(b'Z') => Some((end + 1, true)),
        Some(b'+' | b'-') => {
            let zone = bytes.get(end + 1..end + 6)?;
            let fits = zone[0..2].iter().chain(&zone[3..5]).all(u8::is_ascii_digit) && zone[2] == b':';
            fits.then_some((end + 6, true)).or(Some((end, false)))
        }
        _ => Some((end, false)),
    }
}

#[test]
fn redaction_replaces_only_what_differs_between_runs() {
    let value = json!({
        "id": "pred-01jq3v5k7m8n9p0qrstvwxyz12", "event_id": "01JQ3V5K7M8N9P0QRSTVWXYZ12",
        "at": "2024-03-15T10:00:00Z", "micro": "2024-12-05T12:34:56.123456Z", "offset": "2024-12-05T13:34:56+01:00",
        "naive": "2024-12-05T12:34:56.5", "date": "2024-03-01", "month": "2024-03",
        "text": "trained at 2024-03-15T10:00:00Z as model-01jq3v5k7m8n9p0qrstvwxyz12.",
        "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "key": "fp_ab12CD34_s3cr3t-",
        "trainingDuration": "0.00s", "averageResponseTimeMs": null, "duration_minutes": 60, "rate": 0.85,
        "word": "abcdefghjkmnpqrstvwxyz0123456", "zebra": 1, "weights": {"skills": 2.5, "location": -0.5}
    });
    assert_eq!(
        redacted(&value),
        json!({
            "id": "pred-[ulid]", "event_id": "[ulid]",
            "at": "[datetime]", "micro": "[datetime]", "offset": "[datetime]",
            "naive": "[naive-datetime]", "date": "2024-03-01", "month": "2024-03",
            "text": "trained at [datetime] as model-[ulid].",
            "access_token": "[jwt]", "key": "[api-key]-",
            "trainingDuration": "[timing]", "averageResponseTimeMs": null, "duration_minutes": 60, "rate": 0.85,
            "word": "abcdefghjkmnpqrstvwxyz0123456", "zebra": 1, "weights": {"skills": 2.5, "location": -0.5}
        })
    );
    let order: Vec<&String> = value.as_object().unwrap().keys().collect();
    let kept: Vec<String> = redacted(&value).as_object().unwrap().keys().cloned().collect();
    assert_eq!(order, kept.iter().collect::<Vec<_>>(), "key order is kept");
    let shown = redacted(&value);
    let weights: Vec<&str> = shown["weights"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(weights, ["skills", "location"], "nested objects keep their order too");
}

// ---------------------------------------------------------------------------------------------
// A server whose clock stands still, and requests that are snapshotted

/// The server's time: still, until the test moves it.
struct StillClock(AtomicI64);

impl Clock for StillClock {
    fn now(&self) -> OffsetDateTime {
        footprint::kernel::clock::from_us(self.0.load(Ordering::SeqCst))
    }
}

impl StillClock {
    fn advance(&self, us: i64) {
        self.0.fetch_add(us, Ordering::SeqCst);
    }
}

struct Snap {
    app: TestApp,
    clock: Arc<StillClock>,
}

impl std::ops::Deref for Snap {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl Snap {
    /// A server on SQLite whose clock stands at `now_us`, with fixed secrets: pseudonyms, and
    /// so the order in which the store lists users, are the same on every run. Users are
    /// segmented only when a test asks (not as their number grows, at a moment of its own).
    async fn start(now_us: i64) -> Self {
        let clock = Arc::new(StillClock(AtomicI64::new(now_us)));
        let app = TestApp::spawn_with_clock_and(clock.clone(), |config| {
            crate::helpers::fixed_secrets(config);
            config.processing.segmentation_growth = 0.0;
        })
        .await;
        Snap { app, clock }
    }

    fn with(&self, request: RequestBuilder, token: Option<&str>) -> RequestBuilder {
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Moves the clock on a second, sends, snapshots `{status, body}` under `name`, and returns
    /// the body as received (unredacted, for the ids and tokens the next requests need).
    async fn send(&self, name: &str, request: RequestBuilder) -> Value {
        self.clock.advance(SECOND_US);
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{name}: not JSON: {text}"))
        };
        let shown = redacted(&json!({"status": status, "body": body}));
        insta::assert_json_snapshot!(name, shown);
        body
    }

    async fn get(&self, name: &str, path: &str, token: Option<&str>) -> Value {
        self.send(name, self.with(self.client.get(self.url(path)), token)).await
    }

    async fn post(&self, name: &str, path: &str, token: Option<&str>, json_body: &Value) -> Value {
        self.send(name, self.with(self.client.post(self.url(path)).json(json_body), token)).await
    }

    /// `requests.post(url, params=…, json=…)` as seed 001's README sends it.
    async fn post_params(
        &self,
        name: &str,
        path: &str,
        token: Option<&str>,
        params: &[(&str, &str)],
        json_body: Option<&Value>,
    ) -> Value {
        let mut request = self.client.post(self.url(path)).query(params);
        if let Some(json_body) = json_body {
            request = request.json(json_body);
        }
        self.send(name, self.with(request, token)).await
    }

    async fn put(&self, name: &str, path: &str, token: Option<&str>, json_body: &Value) -> Value {
        self.send(name, self.with(self.client.put(self.url(path)).json(json_body), token)).await
    }

    async fn delete(&self, name: &str, path: &str, token: Option<&str>) -> Value {
        self.send(name, self.with(self.client.delete(self.url(path)), token)).await
    }

    async fn ndjson(&self, name: &str, path: &str, token: &str, lines: String) -> Value {
        let request = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(lines);
        self.send(name, request).await
    }

    /// Sends without a snapshot, checking the status.
    async fn quietly(&self, request: RequestBuilder, expected: StatusCode) -> Value {
        let response = request.send().await.expect("request");
        let status = response.status();
        let answer = body(response).await;
        assert_eq!(status, expected, "{answer}");
        answer
    }
}

fn rfc3339(us: i64) -> String {
    footprint::kernel::clock::rfc3339(us)
}

#[path = "snapshot_seeds/errors.rs"]
mod errors;
#[path = "snapshot_seeds/generic.rs"]
mod generic;
#[path = "snapshot_seeds/seed000.rs"]
mod seed000;
#[path = "snapshot_seeds/seed001.rs"]
mod seed001;
#[path = "snapshot_seeds/seed002.rs"]
mod seed002;
#[path = "snapshot_seeds/seed003.rs"]
mod seed003;
#[path = "snapshot_seeds/seed004.rs"]
mod seed004;
