//! A small Chrome DevTools Protocol client for the browser tests (Debian's chromium, headless).
//!
//! One [`Browser`] owns a headless chromium process (killed on drop) plus a temporary
//! user-data-dir, and one websocket connection to it. A background task reads the websocket:
//! command answers are matched to callers by id, events are routed by `sessionId` to the
//! [`Page`] they belong to. Every wait is bounded by a timeout, and when the connection or the
//! page dies all pending and future commands fail instead of hanging.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// How long to wait for chromium to print its DevTools websocket URL.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to wait for the answer to a single command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for `Page.loadEventFired` after a navigation or click.
const LOAD_TIMEOUT: Duration = Duration::from_secs(20);
/// Number of chromium stderr lines kept for error messages.
const STDERR_TAIL: usize = 40;

type Answer = Result<Value, String>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A command waiting for its answer.
struct Pending {
    session: Option<String>,
    tx: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Inner {
    pending: HashMap<u64, Pending>,
    sessions: HashMap<String, Arc<PageState>>,
    /// Set once the connection is gone; every later command fails with this reason.
    closed: Option<String>,
}

/// The websocket connection shared by the browser, its pages and the reader task.
struct Conn {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    out: mpsc::UnboundedSender<Message>,
}

/// Removes a pending entry if the waiting future is dropped or times out.
struct PendingGuard<'a> {
    conn: &'a Conn,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.conn.inner).pending.remove(&self.id);
    }
}

impl Conn {
    fn message(&self, session: Option<&str>, method: &str, params: Value) -> (u64, Message) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = Value::from(s);
        }
        (id, Message::Text(msg.to_string().into()))
    }

    async fn call(&self, page: Option<&PageState>, method: &str, params: Value, limit: Duration) -> Answer {
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
    fn dispatch(&self, text: &str) {
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
    fn kill_session(&self, sid: &str, reason: &str) {
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
    fn shutdown(&self, reason: &str) {
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

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn read_loop(conn: Arc<Conn>, mut stream: futures_util::stream::SplitStream<Ws>) {
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

async fn write_loop(
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

#[derive(Clone, Default)]
struct LoadState {
    /// Number of `Page.loadEventFired` events seen so far.
    loads: u64,
    /// Why the page can no longer be used, if it can't.
    dead: Option<String>,
}

/// Per-page state updated by the reader task.
struct PageState {
    session_id: String,
    target_id: String,
    load: watch::Sender<LoadState>,
    problems: Mutex<Vec<String>>,
    /// requestId -> URL, so that `Network.loadingFailed` can name the URL.
    requests: Mutex<HashMap<String, String>>,
    /// URL of the main frame, used when an event carries no URL of its own.
    url: Mutex<String>,
}

fn remote_object_text(obj: &Value) -> String {
    if let Some(v) = obj.get("value") {
        return match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    }
    for key in ["unserializableValue", "description", "type"] {
        if let Some(s) = obj.get(key).and_then(Value::as_str) {
            return s.to_string();
        }
    }
    obj.to_string()
}

/// `url:line` of the top frame of a `Runtime.StackTrace`, if any.
fn stack_location(stack: Option<&Value>) -> Option<String> {
    let frame =
        stack?.get("callFrames")?.as_array()?.iter().find(|f| f["url"].as_str().is_some_and(|u| !u.is_empty()))?;
    let line = frame.get("lineNumber").and_then(Value::as_u64).unwrap_or(0) + 1;
    Some(format!("{}:{line}", frame["url"].as_str().unwrap_or("")))
}

fn exception_text(details: &Value) -> String {
    let mut text = details
        .get("exception")
        .and_then(|e| e.get("description").or_else(|| e.get("value")))
        .map(|d| match d {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| details.get("text").and_then(Value::as_str).unwrap_or("exception").to_string());
    if let Some(t) = details.get("text").and_then(Value::as_str)
        && !text.contains(t)
        && t != "Uncaught"
    {
        text = format!("{t} {text}");
    }
    text
}

impl PageState {
    fn dead(&self) -> Option<String> {
        self.load.borrow().dead.clone()
    }

    fn set_dead(&self, reason: &str) {
        self.load.send_modify(|s| {
            if s.dead.is_none() {
                s.dead = Some(reason.to_string());
            }
        });
    }

    fn problem(&self, line: String) {
        lock(&self.problems).push(line);
    }

    fn page_url(&self) -> String {
        lock(&self.url).clone()
    }

    fn on_event(&self, method: &str, p: &Value) {
        let s = |v: &Value| v.as_str().unwrap_or("").to_string();
        match method {
            "Page.loadEventFired" => self.load.send_modify(|s| s.loads += 1),
            "Page.frameNavigated" => {
                let frame = &p["frame"];
                if frame.get("parentId").is_none() {
                    *lock(&self.url) = s(&frame["url"]);
                }
            }
            "Runtime.consoleAPICalled" => {
                let kind = p["type"].as_str().unwrap_or("");
                if kind == "error" || kind == "assert" {
                    let args = p["args"].as_array().map(|a| a.iter().map(remote_object_text).collect::<Vec<_>>());
                    let text = args.map(|a| a.join(" ")).unwrap_or_default();
                    let at = stack_location(p.get("stackTrace")).unwrap_or_else(|| self.page_url());
                    self.problem(format!("console.{kind}: {text} (at {at})"));
                }
            }
            "Runtime.exceptionThrown" => {
                let d = &p["exceptionDetails"];
                let at = match d.get("url").and_then(Value::as_str).filter(|u| !u.is_empty()) {
                    Some(url) => format!("{url}:{}", d["lineNumber"].as_u64().unwrap_or(0) + 1),
                    None => stack_location(d.get("stackTrace")).unwrap_or_else(|| self.page_url()),
                };
                self.problem(format!("uncaught exception: {} (at {at})", exception_text(d)));
            }
            "Log.entryAdded" => {
                let e = &p["entry"];
                if e["level"].as_str() == Some("error") {
                    let url = e.get("url").and_then(Value::as_str).map(String::from).unwrap_or_else(|| self.page_url());
                    self.problem(format!("log error [{}]: {} (url {url})", s(&e["source"]), s(&e["text"])));
                }
            }
            "Network.requestWillBeSent" => {
                lock(&self.requests).insert(s(&p["requestId"]), s(&p["request"]["url"]));
            }
            "Network.loadingFinished" => {
                lock(&self.requests).remove(p["requestId"].as_str().unwrap_or(""));
            }
            "Network.loadingFailed" => {
                let url = lock(&self.requests).remove(p["requestId"].as_str().unwrap_or("")).unwrap_or_default();
                if !p["canceled"].as_bool().unwrap_or(false) {
                    let reason = p.get("blockedReason").map(|b| format!(", blocked: {}", s(b))).unwrap_or_default();
                    self.problem(format!("request failed: {} {url} ({}{reason})", s(&p["errorText"]), s(&p["type"])));
                }
            }
            "Network.responseReceived" => {
                let r = &p["response"];
                let status = r["status"].as_f64().unwrap_or(0.0);
                if status >= 400.0 {
                    self.problem(format!(
                        "HTTP {status} {}: {} ({})",
                        s(&r["statusText"]),
                        s(&r["url"]),
                        s(&p["type"])
                    ));
                }
            }
            "Inspector.targetCrashed" => self.problem(format!("renderer crashed (at {})", self.page_url())),
            _ => {}
        }
    }
}

/// Whether this process runs as root (effective uid 0), read from `/proc/self/status`.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?.to_string();
            // "Uid: real effective saved fs"
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

fn push_tail(tail: &Mutex<VecDeque<String>>, line: String) {
    let mut tail = lock(tail);
    if tail.len() == STDERR_TAIL {
        tail.pop_front();
    }
    tail.push_back(line);
}

/// A headless chromium process with one CDP websocket connection.
///
/// Dropping it kills chromium and removes its temporary profile.
pub struct Browser {
    conn: Arc<Conn>,
    tasks: Vec<JoinHandle<()>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    // Field order matters: the process must go before its user-data-dir is removed.
    child: Child,
    _user_data_dir: tempfile::TempDir,
}

impl Browser {
    /// Starts `chromium` headless and connects to its browser websocket.
    pub async fn launch(chromium: &str) -> Result<Browser, String> {
        let dir = tempfile::Builder::new()
            .prefix("cdp-profile-")
            .tempdir()
            .map_err(|e| format!("creating user-data-dir: {e}"))?;
        let mut cmd = Command::new(chromium);
        cmd.args([
            "--headless=new",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--remote-debugging-port=0",
        ]);
        if running_as_root() {
            cmd.arg("--no-sandbox");
        }
        cmd.arg(format!("--user-data-dir={}", dir.path().display()))
            .arg("--window-size=1280,900")
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| format!("starting {chromium}: {e}"))?;
        let stderr = child.stderr.take().ok_or("chromium stderr is not piped")?;
        let mut stderr = BufReader::new(stderr);
        let tail = Arc::new(Mutex::new(VecDeque::new()));

        let find_url = async {
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match stderr.read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
                let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                let url = line
                    .strip_prefix("DevTools listening on ")
                    .filter(|u| u.starts_with("ws://"))
                    .map(|u| u.trim().to_string());
                push_tail(&tail, line);
                if url.is_some() {
                    return url;
                }
            }
        };
        let found = tokio::time::timeout(LAUNCH_TIMEOUT, find_url).await;
        let ws_url = match found {
            Ok(Some(url)) => url,
            Ok(None) | Err(_) => {
                let why = if found.is_err() { "timed out waiting for" } else { "stderr ended without" };
                let status = match child.try_wait() {
                    Ok(Some(status)) => format!("exited with {status}"),
                    _ => "still running".to_string(),
                };
                let _ = child.start_kill();
                let tail: Vec<String> = lock(&tail).iter().cloned().collect();
                return Err(format!("{chromium} {why} the DevTools URL ({status}); stderr:\n{}", tail.join("\n")));
            }
        };

        // Keep draining stderr, or chromium blocks once the pipe buffer is full.
        let drain_tail = Arc::clone(&tail);
        let drain = tokio::spawn(async move {
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match stderr.read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => push_tail(&drain_tail, String::from_utf8_lossy(&buf).trim_end().to_string()),
                }
            }
        });

        // Full-page screenshots arrive as one large base64 message.
        let config = WebSocketConfig::default().max_message_size(Some(1 << 30)).max_frame_size(Some(1 << 30));
        let connected = tokio::time::timeout(
            LAUNCH_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(&ws_url, Some(config), true),
        )
        .await;
        let ws = match connected {
            Ok(Ok((ws, _response))) => ws,
            Ok(Err(e)) => {
                drain.abort();
                return Err(format!("connecting to {ws_url}: {e}"));
            }
            Err(_) => {
                drain.abort();
                return Err(format!("connecting to {ws_url}: timed out"));
            }
        };
        let (sink, stream) = ws.split();
        let (out, out_rx) = mpsc::unbounded_channel();
        let conn = Arc::new(Conn { inner: Mutex::new(Inner::default()), next_id: AtomicU64::new(1), out });
        let reader = tokio::spawn(read_loop(Arc::clone(&conn), stream));
        let writer = tokio::spawn(write_loop(Arc::downgrade(&conn), sink, out_rx));
        Ok(Browser { conn, tasks: vec![reader, writer, drain], stderr_tail: tail, child, _user_data_dir: dir })
    }

    /// Opens a new tab on `about:blank`, attached with its own session, with the Page, Runtime,
    /// Network and Log domains enabled.
    pub async fn new_page(&self) -> Result<Page, String> {
        let created = self.command("Target.createTarget", json!({ "url": "about:blank" })).await?;
        let target_id = created["targetId"].as_str().ok_or("Target.createTarget: no targetId")?.to_string();
        let attached = self.command("Target.attachToTarget", json!({ "targetId": target_id, "flatten": true })).await?;
        let session_id = attached["sessionId"].as_str().ok_or("Target.attachToTarget: no sessionId")?.to_string();
        let state = Arc::new(PageState {
            session_id: session_id.clone(),
            target_id,
            load: watch::Sender::new(LoadState::default()),
            problems: Mutex::new(Vec::new()),
            requests: Mutex::new(HashMap::new()),
            url: Mutex::new("about:blank".to_string()),
        });
        {
            let mut inner = lock(&self.conn.inner);
            if let Some(reason) = &inner.closed {
                return Err(format!("new_page: connection closed: {reason}"));
            }
            inner.sessions.insert(session_id, Arc::clone(&state));
        }
        let page = Page { conn: Arc::clone(&self.conn), state };
        for domain in ["Page", "Runtime", "Network", "Log"] {
            page.command(&format!("{domain}.enable"), json!({})).await?;
        }
        Ok(page)
    }

    /// Sends a raw browser-level CDP command and returns its `result`.
    pub async fn command(&self, method: &str, params: Value) -> Result<Value, String> {
        self.conn.call(None, method, params, COMMAND_TIMEOUT).await
    }

    /// The last lines chromium wrote to stderr (useful in failure messages).
    pub fn stderr_tail(&self) -> Vec<String> {
        lock(&self.stderr_tail).iter().cloned().collect()
    }

    /// Asks chromium to exit cleanly (waiting up to 5 s), then cleans up like drop does.
    pub async fn close(mut self) -> Result<(), String> {
        let _ = self.conn.call(None, "Browser.close", json!({}), Duration::from_secs(5)).await;
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("waiting for chromium: {e}")),
            Err(_) => Err("chromium did not exit within 5 s after Browser.close; killing it".to_string()),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.conn.shutdown("browser dropped");
        for task in &self.tasks {
            task.abort();
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.start_kill();
            // Reap it (briefly) so the profile directory is not in use while it is removed.
            let deadline = Instant::now() + Duration::from_secs(2);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// One tab, attached through a flattened session. Dropping it closes the tab.
pub struct Page {
    conn: Arc<Conn>,
    state: Arc<PageState>,
}

/// Quotes a Rust string as a JavaScript string literal.
fn js_str(s: &str) -> String {
    Value::from(s).to_string()
}

impl Page {
    /// Sends a raw CDP command on this page's session and returns its `result`.
    pub async fn command(&self, method: &str, params: Value) -> Result<Value, String> {
        self.command_with_timeout(method, params, COMMAND_TIMEOUT).await
    }

    async fn command_with_timeout(&self, method: &str, params: Value, limit: Duration) -> Result<Value, String> {
        self.conn.call(Some(self.state.as_ref()), method, params, limit).await
    }

    /// Waits until the load counter passes `before` (or the page dies, or the timeout passes).
    async fn wait_load(&self, mut rx: watch::Receiver<LoadState>, before: u64, what: &str) -> Result<(), String> {
        let waited = tokio::time::timeout(LOAD_TIMEOUT, rx.wait_for(|s| s.loads > before || s.dead.is_some())).await;
        match waited {
            Ok(Ok(state)) => match &state.dead {
                Some(reason) if state.loads <= before => Err(format!("{what}: page is gone: {reason}")),
                _ => Ok(()),
            },
            Ok(Err(_)) => Err(format!("{what}: page is gone")),
            Err(_) => Err(format!("{what}: no load event within {LOAD_TIMEOUT:?}")),
        }
    }

    /// Navigates to `url` and waits for its load event.
    pub async fn goto(&self, url: &str) -> Result<(), String> {
        let rx = self.state.load.subscribe();
        let before = rx.borrow().loads;
        let nav = self.command("Page.navigate", json!({ "url": url })).await?;
        if let Some(err) = nav.get("errorText").and_then(Value::as_str).filter(|e| !e.is_empty()) {
            return Err(format!("navigating to {url}: {err}"));
        }
        if nav.get("loaderId").is_none() {
            // Same-document navigation (e.g. only the #fragment changed): no load event follows.
            return Ok(());
        }
        self.wait_load(rx, before, &format!("navigating to {url}")).await
    }

    /// Evaluates `expression` in the page (promises are awaited) and returns its JSON value.
    ///
    /// `undefined` and non-serializable results become `null`; `NaN`, `Infinity`, `-0` and
    /// bigints become strings. A thrown exception is an `Err` with its message.
    pub async fn eval(&self, expression: &str) -> Result<Value, String> {
        let params = json!({
            "expression": expression,
            "returnByValue": true,
            "awaitPromise": true,
            "userGesture": true,
        });
        let answer = self.command("Runtime.evaluate", params).await?;
        if let Some(details) = answer.get("exceptionDetails") {
            let short: String = expression.chars().take(80).collect();
            return Err(format!("eval `{short}`: {}", exception_text(details)));
        }
        let result = &answer["result"];
        Ok(match (result.get("value"), result.get("unserializableValue")) {
            (Some(v), _) => v.clone(),
            (None, Some(u)) => u.clone(),
            (None, None) => Value::Null,
        })
    }

    /// Emulates a viewport of `width` x `height` CSS pixels (device scale factor 1); `mobile`
    /// also turns on mobile layout (meta viewport) and touch emulation.
    pub async fn set_viewport(&self, width: u32, height: u32, mobile: bool) -> Result<(), String> {
        self.command(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        )
        .await?;
        let touch = if mobile { json!({ "enabled": true, "maxTouchPoints": 5 }) } else { json!({ "enabled": false }) };
        self.command("Emulation.setTouchEmulationEnabled", touch).await?;
        Ok(())
    }

    /// Writes a PNG screenshot of the whole page (not just the viewport) to `path`.
    pub async fn screenshot(&self, path: &Path) -> Result<(), String> {
        let metrics = self.command("Page.getLayoutMetrics", json!({})).await?;
        let size = metrics.get("cssContentSize").or_else(|| metrics.get("contentSize")).unwrap_or(&Value::Null);
        let width = size["width"].as_f64().unwrap_or(0.0).ceil().max(1.0);
        let height = size["height"].as_f64().unwrap_or(0.0).ceil().max(1.0);
        let params = json!({
            "format": "png",
            "captureBeyondViewport": true,
            "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
        });
        let shot = self.command_with_timeout("Page.captureScreenshot", params, Duration::from_secs(60)).await?;
        let data = shot["data"].as_str().ok_or("Page.captureScreenshot: no data")?;
        let png = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data)
            .map_err(|e| format!("base64: {e}"))?;
        tokio::fs::write(path, png).await.map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// Sets the value of the form field matching `selector` and dispatches `input` and `change`.
    pub async fn fill(&self, selector: &str, value: &str) -> Result<(), String> {
        let script = format!(
            r#"(() => {{
                const el = document.querySelector({sel});
                if (!el) return "missing";
                if (!("value" in el)) return "novalue";
                el.focus();
                const proto = Object.getPrototypeOf(el);
                const desc = proto && Object.getOwnPropertyDescriptor(proto, "value");
                if (desc && desc.set) desc.set.call(el, {val}); else el.value = {val};
                el.dispatchEvent(new Event("input", {{ bubbles: true }}));
                el.dispatchEvent(new Event("change", {{ bubbles: true }}));
                return "ok";
            }})()"#,
            sel = js_str(selector),
            val = js_str(value)
        );
        match self.eval(&script).await?.as_str() {
            Some("ok") => Ok(()),
            Some("missing") => Err(format!("fill: no element matches {selector:?}")),
            Some("novalue") => Err(format!("fill: element {selector:?} has no value property")),
            other => Err(format!("fill {selector:?}: unexpected result {other:?}")),
        }
    }

    /// Clicks the element matching `selector` and waits for the next page load.
    pub async fn click_and_wait(&self, selector: &str) -> Result<(), String> {
        let rx = self.state.load.subscribe();
        let before = rx.borrow().loads;
        let script = format!(
            "(() => {{ const el = document.querySelector({}); if (!el) return false; el.click(); return true; }})()",
            js_str(selector)
        );
        match self.eval(&script).await {
            Ok(Value::Bool(true)) => {}
            Ok(_) => return Err(format!("click: no element matches {selector:?}")),
            // The click may navigate away before the evaluation is answered.
            Err(e) if e.contains("context was destroyed") || e.contains("navigated or closed") => {}
            Err(e) => return Err(e),
        }
        self.wait_load(rx, before, &format!("after clicking {selector:?}")).await
    }

    /// Everything bad seen on this page so far: console errors and failed assertions, uncaught
    /// exceptions, error log entries, failed requests (not canceled ones) and HTTP statuses >= 400.
    pub fn problems(&self) -> Vec<String> {
        lock(&self.state.problems).clone()
    }

    /// Forgets the problems seen so far.
    pub fn clear_problems(&self) {
        lock(&self.state.problems).clear();
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // Fire and forget: close the tab; the answer (if any) is ignored.
        let (_, msg) = self.conn.message(None, "Target.closeTarget", json!({ "targetId": self.state.target_id }));
        let _ = self.conn.out.send(msg);
        lock(&self.conn.inner).sessions.remove(&self.state.session_id);
        self.state.set_dead("page dropped");
    }
}
