//! Reading events back: filters, pages, parameter errors.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body};

async fn seed_events(app: &TestApp) {
    app.grant_consent("a").await;
    app.grant_consent("b").await;
    let events: Vec<Value> = (0..9)
        .map(|n| {
            json!({
                "user_id": if n % 3 == 0 { "b" } else { "a" },
                "type": if n % 2 == 0 { "view" } else { "click" },
                "timestamp": format!("2026-03-01T12:0{n}:00Z"),
                "properties": {"n": n}
            })
        })
        .collect();
    assert_eq!(body(app.track_batch(&app.admin_token, &events).await).await["accepted"], 9);
}

fn numbers(page: &Value) -> Vec<i64> {
    page["events"].as_array().unwrap().iter().map(|e| e["properties"]["n"].as_i64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_combine() {
    let app = TestApp::spawn().await;
    seed_events(&app).await;
    let get = async |query: &str| app.get(&format!("/api/v1/events?{query}"), Some(&app.admin_token)).await;
    assert_eq!(numbers(&body(get("user_id=b").await).await), vec![0, 3, 6]);
    assert_eq!(numbers(&body(get("type=click").await).await), vec![1, 3, 5, 7]);
    assert_eq!(numbers(&body(get("user_id=a&type=view").await).await), vec![2, 4, 8]);
    let window = body(get("from=2026-03-01T12:02:00Z&to=2026-03-01T12:05:00Z").await).await;
    assert_eq!(numbers(&window), vec![2, 3, 4]);
    assert_eq!(numbers(&body(get("user_id=nobody").await).await), Vec::<i64>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_cursor_to_the_end() {
    let app = TestApp::spawn().await;
    seed_events(&app).await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/events?limit=4".to_owned();
    loop {
        let page = body(app.get(&path, Some(&app.admin_token)).await).await;
        seen.extend(numbers(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/events?limit=4&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, (0..9).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_named() {
    let app = TestApp::spawn().await;
    for (query, named) in [
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("limit=ten", "limit"),
        ("from=yesterday", "from"),
        ("cursor=garbage", "cursor"),
        ("user_id=bad%20id", "user_id"),
    ] {
        let response = app.get(&format!("/api/v1/events?{query}"), Some(&app.admin_token)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let error = body(response).await;
        assert_eq!(error["error"]["code"], "INVALID_PARAMETERS");
        assert!(error["error"]["message"].as_str().unwrap().contains(named), "{query}: {error}");
    }
}
