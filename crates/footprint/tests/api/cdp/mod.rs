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
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

mod events;
mod wire;

use events::{LoadState, PageState, exception_text};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use wire::*;

/// How long to wait for chromium to print its DevTools websocket URL.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(90);
/// How long to wait for the answer to a single command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for `Page.loadEventFired` after a navigation or click.
const LOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// Number of chromium stderr lines kept for error messages.
const STDERR_TAIL: usize = 40;

type Answer = Result<Value, String>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

/// The browser the tests drive: Debian's `chromium`, or `FOOTPRINT_TEST_CHROMIUM`.
pub fn chromium() -> String {
    std::env::var("FOOTPRINT_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
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
