//! The baseline: the same HTTP stack with handlers that do nothing else — parse the JSON body
//! and answer 202 (ingestion), or answer a constant small JSON (reads). It measures the ceiling
//! the real routes are compared with.

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

async fn accept(axum::Json(body): axum::Json<serde_json::Value>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let received = body.get("batch").and_then(|batch| batch.as_array()).map_or(1, Vec::len);
    (StatusCode::ACCEPTED, axum::Json(serde_json::json!({"status": "accepted", "received": received})))
}

pub async fn start() -> anyhow::Result<(SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let router = Router::new().route("/api/track", post(accept)).route("/api/track/batch", post(accept)).route(
        "/answer",
        get(|| async { axum::Json(serde_json::json!({"predicted_next_action": "baseline", "probability": 1.0})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok((address, stop))
}
