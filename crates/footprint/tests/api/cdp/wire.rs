//! The websocket to the browser: commands matched to their answers by id, events routed to
//! their page by `sessionId`, and every waiter failed at once when the connection goes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use super::events::PageState;
use super::{Answer, lock};

/// A command waiting for its answer.
pub(super) struct Pending {
    pub(super) session: Option<String>,
    pub(super) tx: oneshot::Sender<Answer>,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) pending: HashMap<u64, Pending>,
    pub(super) sessions: HashMap<String, Arc<PageState>>,
    /// Set once the connection is gone; every later command fails with this reason.
    pub(super) closed: Option<String>,
}

/// The websocket connection shared by the browser, its pages and the reader task.
pub(super) struct Conn {
    pub(super) inner: Mutex<Inner>,
    pub(super) next_id: AtomicU64,
    pub(super) out: mpsc::UnboundedSender<Message>,
}

/// Removes a pending entry if the waiting future is dropped or times out.
pub(super) struct PendingGuard<'a> {
    pub(super) conn: &'a Conn,
    pub(super) id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.conn.inner).pending.remove(&self.id);
    }
}

impl Conn {
    pub(super) fn message(&self, session: Option<&str>, method: &str, params: Value) -> (u64, Message) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = Value::from(s);
        }
        (id, Message::Text(msg.to_string().into()))
    }

    pub(super) async fn call(&self, page: Option<&PageState>, method: &str, params: Value, limit: Duration) -> Answer {
        let session = page.map(|p| p.session_id.as_str());
        let (id, msg) = self.message(session, method, params);
        let (tx, rx) = oneshot::channel();
        {
            // Checked under the same lock that `shutdown`/`kill_session` hold, so a command can
            // never be registered after its failure was broadcast.
            let mut inner = lock(&self.inner);
            if let Some(reason) = &inner.closed {
                return Err(format!("{method}: connection closed: {reason}"));
            }
            if let Some(reason) = page.and_then(PageState::dead) {
                return Err(format!("{method}: page is gone: {reason}"));
            }
            let session = session.map(String::from);
            inner.pending.insert(id, Pending { session, tx });
        }
        let _guard = PendingGuard { conn: self, id };
        if self.out.send(msg).is_err() {
            return Err(format!("{method}: connection closed"));
        }
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(answer)) => answer.map_err(|e| format!("{method}: {e}")),
            Ok(Err(_)) => Err(format!("{method}: connection closed")),
            Err(_) => Err(format!("{method}: no answer within {limit:?}")),
        }
    }

    /// Handles one message from the browser.
    pub(super) fn dispatch(&self, text: &str) {
        let Ok(msg) = serde_json::from_str::<Value>(text) else {
            return;
        };
        if let Some(id) = msg.get("id").and_then(Value::as_u64) {
            let pending = lock(&self.inner).pending.remove(&id);
            if let Some(p) = pending {
                let answer = match msg.get("error") {
                    Some(err) => Err(format!(
                        "{} (code {})",
                        err.get("message").and_then(Value::as_str).unwrap_or("unknown error"),
                        err.get("code").unwrap_or(&Value::Null)
                    )),
                    None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
                };
                let _ = p.tx.send(answer);
            }
            return;
        }
        let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
        let params = msg.get("params").unwrap_or(&Value::Null);
        match msg.get("sessionId").and_then(Value::as_str) {
            Some(sid) => {
                let state = lock(&self.inner).sessions.get(sid).cloned();
                if let Some(state) = state {
                    state.on_event(method, params);
                    if method == "Inspector.targetCrashed" {
                        self.kill_session(sid, "the page's renderer crashed");
                    }
                }
            }
            None => {
                if method == "Target.detachedFromTarget"
                    && let Some(sid) = params.get("sessionId").and_then(Value::as_str)
                {
                    self.kill_session(sid, "detached from target (closed or crashed)");
                }
            }
        }
    }

    /// Marks a page dead and fails its pending commands and load waits.
    pub(super) fn kill_session(&self, sid: &str, reason: &str) {
        let mut inner = lock(&self.inner);
        if let Some(state) = inner.sessions.remove(sid) {
            state.set_dead(reason);
        }
        let ids: Vec<u64> =
            inner.pending.iter().filter(|(_, p)| p.session.as_deref() == Some(sid)).map(|(id, _)| *id).collect();
        for id in ids {
            if let Some(p) = inner.pending.remove(&id) {
                let _ = p.tx.send(Err(format!("page is gone: {reason}")));
            }
        }
    }

    /// Fails everything: the connection is gone.
    pub(super) fn shutdown(&self, reason: &str) {
        let mut inner = lock(&self.inner);
        if inner.closed.is_none() {
            inner.closed = Some(reason.to_string());
        }
        for (_, p) in inner.pending.drain() {
            let _ = p.tx.send(Err(format!("connection closed: {reason}")));
        }
        for (_, state) in inner.sessions.drain() {
            state.set_dead(&format!("connection closed: {reason}"));
        }
    }
}

pub(super) type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) async fn read_loop(conn: Arc<Conn>, mut stream: futures_util::stream::SplitStream<Ws>) {
    let reason = loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => conn.dispatch(text.as_str()),
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    conn.dispatch(text);
                }
            }
            Some(Ok(Message::Close(frame))) => break format!("browser closed the websocket ({frame:?})"),
            Some(Ok(_)) => {}
            Some(Err(e)) => break format!("websocket error: {e}"),
            None => break "websocket ended (browser exited?)".to_string(),
        }
    };
    conn.shutdown(&reason);
}

pub(super) async fn write_loop(
    conn: Weak<Conn>,
    mut sink: futures_util::stream::SplitSink<Ws, Message>,
    mut rx: mpsc::UnboundedReceiver<Message>,
) {
    while let Some(msg) = rx.recv().await {
        if let Err(e) = sink.send(msg).await {
            if let Some(conn) = conn.upgrade() {
                conn.shutdown(&format!("websocket write failed: {e}"));
            }
            return;
        }
    }
}
