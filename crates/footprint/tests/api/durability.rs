//! The process is killed (SIGKILL) while clients ingest; after a restart every acknowledged
//! event is there exactly once. A backup taken while clients ingest restores every event
//! acknowledged before it started.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, ADMIN_PASSWORD, body};
use crate::process::{self, Server};

/// How long the clients may take to get 2 000 events acknowledged: far beyond what they take,
/// so only a broken server reaches it.
const INGEST_DEADLINE: Duration = Duration::from_secs(120);

fn start_binary(data_dir: &Path) -> Server {
    process::start_binary(data_dir, &[])
}

async fn login(client: &reqwest::Client, address: &str) -> String {
    process::login(client, address, ADMIN, ADMIN_PASSWORD).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_a_sigkill_exactly_once_on_sqlite() {
    sigkill_under_load(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_a_sigkill_exactly_once_on_postgres() {
    let base = crate::helpers::postgres_base_url();
    let schema = footprint_store::ScratchSchema::create(&base, "fp_crash")
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at {base} (.ci/run starts it): {e}"));
    sigkill_under_load(&[("DATABASE_URL", &schema.url())]).await;
}

/// Four clients send batches until 2 000 events are acknowledged; the server is killed; once
/// started again it has every acknowledged event once, and refuses them sent again.
async fn sigkill_under_load(env: &[(&str, &str)]) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = process::start_binary(data_dir.path(), env);
    let client = reqwest::Client::new();
    let token = login(&client, &server.address).await;

    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (client, url, token, acknowledged) =
            (client.clone(), format!("{}/api/track/batch", server.address), token.clone(), Arc::clone(&acknowledged));
        workers.push(tokio::spawn(async move {
            for round in 0.. {
                let ids: Vec<String> = (0..20).map(|n| format!("w{worker}-r{round}-n{n}")).collect();
                let events: Vec<Value> = ids
                    .iter()
                    .map(|id| json!({"user_id": format!("worker{worker}"), "type": "tick", "message_id": id}))
                    .collect();
                let Ok(response) = client.post(&url).bearer_auth(&token).json(&json!({"batch": events})).send().await
                else {
                    break;
                };
                if response.status() != StatusCode::OK {
                    break;
                }
                let Ok(result) = response.json::<Value>().await else { break };
                let mut acknowledged = acknowledged.lock().unwrap();
                for (id, outcome) in ids.iter().zip(result["results"].as_array().unwrap()) {
                    assert_eq!(outcome["status"], "accepted", "{outcome}");
                    acknowledged.insert(id.clone());
                }
            }
        }));
    }
    let deadline = tokio::time::Instant::now() + INGEST_DEADLINE;
    while acknowledged.lock().unwrap().len() < 2000 {
        if tokio::time::Instant::now() >= deadline || workers.iter().all(|w| w.is_finished()) {
            let _ = server.child.kill();
            panic!(
                "only {} events were acknowledged within {INGEST_DEADLINE:?} (or every client stopped)",
                acknowledged.lock().unwrap().len()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    for worker in workers {
        worker.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let mut server = process::start_binary(data_dir.path(), env);
    let token = login(&client, &server.address).await;
    // Sent again after the restart, acknowledged events are duplicates.
    let again: Vec<Value> =
        (0..20).map(|n| json!({"user_id": "worker0", "type": "tick", "message_id": format!("w0-r0-n{n}")})).collect();
    let resent = body(
        client
            .post(format!("{}/api/track/batch", server.address))
            .bearer_auth(&token)
            .json(&json!({"batch": again}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(resent["results"].as_array().unwrap().iter().all(|result| result["status"] == "duplicate"), "{resent}");
    let mut stored: HashMap<String, usize> = HashMap::new();
    let mut url = format!("{}/api/v1/events?limit=1000", server.address);
    loop {
        let page = body(client.get(&url).bearer_auth(&token).send().await.unwrap()).await;
        for event in page["events"].as_array().unwrap() {
            *stored.entry(event["message_id"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("{}/api/v1/events?limit=1000&cursor={cursor}", server.address),
            None => break,
        }
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let missing: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains_key(*id)).collect();
    assert!(missing.is_empty(), "{} acknowledged events lost, e.g. {:?}", missing.len(), missing.first());
    let repeated: Vec<(&String, &usize)> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "events stored twice: {repeated:?}");
    assert!(acknowledged.len() >= 2000);
}

/// Runs `footprint ARGS…` on the data directory and returns its status and output.
pub fn footprint(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_footprint"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FOOTPRINT_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .expect("run footprint");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Every stored event's message id, through the API.
async fn stored_ids(client: &reqwest::Client, address: &str, token: &str) -> HashMap<String, usize> {
    let mut stored: HashMap<String, usize> = HashMap::new();
    let mut url = format!("{address}/api/v1/events?limit=1000");
    loop {
        let page = body(client.get(&url).bearer_auth(token).send().await.unwrap()).await;
        for event in page["events"].as_array().unwrap() {
            *stored.entry(event["message_id"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("{address}/api/v1/events?limit=1000&cursor={cursor}"),
            None => return stored,
        }
    }
}

/// `footprint backup` while clients ingest; `footprint restore` into an empty data directory;
/// the restored server has every event acknowledged before the backup started, once, and the
/// same secrets (the admin's token signing key and the encryption key) so it can be used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_every_event_acknowledged_before_it() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = start_binary(data_dir.path());
    let client = reqwest::Client::new();
    let token = login(&client, &server.address).await;

    // (message id, acknowledged before the backup started)
    let acknowledged: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let backup_started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..2 {
        let (client, url, token) = (client.clone(), format!("{}/api/track/batch", server.address), token.clone());
        let (acknowledged, backup_started, stop) =
            (Arc::clone(&acknowledged), Arc::clone(&backup_started), Arc::clone(&stop));
        workers.push(tokio::spawn(async move {
            for round in 0.. {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let ids: Vec<String> = (0..20).map(|n| format!("b{worker}-r{round}-n{n}")).collect();
                let events: Vec<Value> = ids
                    .iter()
                    .map(|id| json!({"user_id": format!("loader{worker}"), "type": "tick", "message_id": id}))
                    .collect();
                let response =
                    client.post(&url).bearer_auth(&token).json(&json!({"batch": events})).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                // Read after the answer: false means the answer came before the backup began.
                let before = !backup_started.load(std::sync::atomic::Ordering::SeqCst);
                acknowledged.lock().unwrap().extend(ids.into_iter().map(|id| (id, before)));
            }
        }));
    }
    let deadline = tokio::time::Instant::now() + INGEST_DEADLINE;
    while acknowledged.lock().unwrap().len() < 1000 {
        assert!(tokio::time::Instant::now() < deadline, "the clients could not get 1 000 events acknowledged");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("nightly.db");
    backup_started.store(true, std::sync::atomic::Ordering::SeqCst);
    let (data, out_text) = (data_dir.path().to_owned(), out.to_string_lossy().into_owned());
    let (ok, text) =
        tokio::task::spawn_blocking(move || footprint(&data, &["backup", "--out", &out_text])).await.unwrap();
    assert!(ok, "{text}");
    assert!(text.contains("both files pass their integrity check"), "{text}");
    // The clients went on during the backup; a few more rounds after it.
    let after = acknowledged.lock().unwrap().len();
    while acknowledged.lock().unwrap().len() < after + 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }
    assert!(out_dir.path().join("nightly-derived.db").exists());
    assert!(out_dir.path().join("nightly-secrets.json").exists(), "{text}");
    // Nothing is overwritten.
    let (ok, again) = footprint(data_dir.path(), &["backup", "--out", &out.to_string_lossy()]);
    assert!(!ok && again.contains("exists"), "{again}");
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    // Restore into an empty directory, and only there.
    let restored_dir = tempfile::tempdir().unwrap();
    let (ok, text) = footprint(restored_dir.path(), &["restore", &out.to_string_lossy()]);
    assert!(ok, "{text}");
    let (ok, twice) = footprint(restored_dir.path(), &["restore", &out.to_string_lossy()]);
    assert!(!ok && twice.contains("exists"), "{twice}");

    let mut restored = start_binary(restored_dir.path());
    let token = login(&client, &restored.address).await;
    let stored = stored_ids(&client, &restored.address, &token).await;
    restored.child.kill().unwrap();
    restored.child.wait().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let before: Vec<&String> = acknowledged.iter().filter(|(_, before)| *before).map(|(id, _)| id).collect();
    assert!(before.len() >= 1000);
    let missing: Vec<&&String> = before.iter().filter(|id| !stored.contains_key(**id)).collect();
    assert!(
        missing.is_empty(),
        "{} events acknowledged before the backup are missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    assert!(stored.values().all(|n| *n == 1), "an event restored twice");
    assert!(stored.len() <= acknowledged.len());
}

/// With PostgreSQL, backup and restore refuse and say what to use instead; nothing is written.
#[test]
fn backup_and_restore_point_postgres_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("copy.db");
    for args in [vec!["backup", "--out", out.to_str().unwrap()], vec!["restore", out.to_str().unwrap()]] {
        let output = Command::new(env!("CARGO_BIN_EXE_footprint"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FOOTPRINT_DATA_DIR", dir.path())
            .env("DATABASE_URL", "postgres://footprint@127.0.0.1:1/nowhere")
            .args(&args)
            .output()
            .expect("run footprint");
        let text = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(text.contains("pg_dump") && text.contains("PostgreSQL"), "{args:?}: {text}");
    }
    assert!(!out.exists());
}
