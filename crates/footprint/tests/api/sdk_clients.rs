//! The real SDKs from the registries — Segment's `segment-analytics-python` and
//! `@segment/analytics-node`, PostHog's `posthog` (Python) and `posthog-node` — sending to a
//! Footprint started by the test: their events land under the right users, anonymous histories
//! join the user who identifies, traits reach the declared profile, and a resent message is
//! stored once. `.ci/test` installs the SDKs, at the versions pinned in `sdk_clients/`, into
//! `target/sdk-clients` (or set `FOOTPRINT_SDK_CLIENTS`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{TestApp, body};
use crate::sdk::granting;

pub(crate) fn clients_dir() -> PathBuf {
    std::env::var_os("FOOTPRINT_SDK_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/sdk-clients"))
}

/// Runs a client to completion (at most two minutes) and fails with its output otherwise.
async fn run(program: &Path, script: &Path, app: &TestApp, key: &str) {
    assert!(
        program.exists(),
        "{} is missing: run `bash .ci/test`, which installs the SDKs into target/sdk-clients",
        program.display()
    );
    let mut command = tokio::process::Command::new(program);
    command.arg(script).arg(&app.address).arg(key).kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish in two minutes", script.display()))
        .unwrap();
    assert!(
        output.status.success(),
        "{} failed:\n{}\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn stored(app: &TestApp, user_id: &str) -> Vec<(String, String)> {
    let mut events: Vec<(String, String)> = app
        .events_of(user_id)
        .await
        .iter()
        .map(|event| {
            (event["type"].as_str().unwrap().to_owned(), event["message_id"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    events.sort();
    events
}

async fn declared(app: &TestApp, user_id: &str) -> Value {
    body(app.get(&format!("/api/profile/{user_id}"), Some(&app.admin_token)).await).await["declared"].clone()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(kind, id)| ((*kind).to_owned(), (*id).to_owned())).collect()
}

#[tokio::test]
async fn the_real_segment_and_posthog_sdks_deliver_into_the_store() {
    let app = granting(false).await;
    let key = app.ingest_key().await;
    let dir = clients_dir();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/sdk_clients");
    let python = dir.join("venv/bin/python");
    run(&python, &scripts.join("segment_client.py"), &app, &key).await;
    run(&python, &scripts.join("posthog_client.py"), &app, &key).await;
    // Node resolves the SDKs from the script's own folder.
    let node_script = dir.join("clients.mjs");
    std::fs::write(&node_script, include_str!("sdk_clients/clients.mjs")).unwrap();
    run(Path::new("/usr/bin/node"), &node_script, &app, &key).await;

    for (user, anonymous, device) in
        [("ada-segpy", "anon-segpy", "device-segpy"), ("ada-segnode", "anon-segnode", "device-segnode")]
    {
        let prefix = user.trim_start_matches("ada-");
        let id = |n: u32| format!("{prefix}-{n}");
        let expected = [
            ("Opened App", id(5)),
            ("Order Completed", id(4)),
            ("Viewed Product", id(1)),
            ("identify", id(3)),
            ("page_view", id(2)),
        ];
        let expected: Vec<(&str, &str)> = expected.iter().map(|(kind, id)| (*kind, id.as_str())).collect();
        assert_eq!(
            stored(&app, user).await,
            pairs(&expected),
            "{user}: identify and alias merged, the resent order once"
        );
        assert!(app.events_of(anonymous).await.is_empty() && app.events_of(device).await.is_empty());
    }
    assert_eq!(declared(&app, "ada-segpy").await["display_name"], "Ada");
    assert_eq!(declared(&app, "ada-segnode").await["display_name"], "Ada N");

    assert_eq!(
        stored(&app, "grace-phpy").await,
        pairs(&[
            ("clicked buy", "0190a5e4-0000-7000-8000-000000000002"),
            ("logged in", "0190a5e4-0000-7000-8000-000000000003"),
            ("page_view", "0190a5e4-0000-7000-8000-000000000001"),
        ]),
        "posthog-python: the alias joined the visitor, the resent click stored once"
    );
    assert_eq!(declared(&app, "grace-phpy").await["display_name"], "Grace");
    let node = stored(&app, "grace-phnode").await;
    let types: Vec<&str> = node.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(types, ["clicked buy", "identify", "opened app", "page_view"], "posthog-node: {node:?}");
    assert_eq!(declared(&app, "grace-phnode").await["display_name"], "Grace N");
    for gone in ["anon-phpy", "anon-phnode", "device-phnode"] {
        assert!(app.events_of(gone).await.is_empty(), "{gone} joined its user");
    }
}
