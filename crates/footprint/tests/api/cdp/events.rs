//! What the reader task keeps for each page: its load count, whether it died, and the problems
//! (console errors, exceptions, failed requests) seen on it.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::watch;

use super::lock;

#[derive(Clone, Default)]
pub(super) struct LoadState {
    /// Number of `Page.loadEventFired` events seen so far.
    pub(super) loads: u64,
    /// Why the page can no longer be used, if it can't.
    pub(super) dead: Option<String>,
}

/// Per-page state updated by the reader task.
pub(super) struct PageState {
    pub(super) session_id: String,
    pub(super) target_id: String,
    pub(super) load: watch::Sender<LoadState>,
    pub(super) problems: Mutex<Vec<String>>,
    /// requestId -> URL, so that `Network.loadingFailed` can name the URL.
    pub(super) requests: Mutex<HashMap<String, String>>,
    /// URL of the main frame, used when an event carries no URL of its own.
    pub(super) url: Mutex<String>,
}

pub(super) fn remote_object_text(obj: &Value) -> String {
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
pub(super) fn stack_location(stack: Option<&Value>) -> Option<String> {
    let frame =
        stack?.get("callFrames")?.as_array()?.iter().find(|f| f["url"].as_str().is_some_and(|u| !u.is_empty()))?;
    let line = frame.get("lineNumber").and_then(Value::as_u64).unwrap_or(0) + 1;
    Some(format!("{}:{line}", frame["url"].as_str().unwrap_or("")))
}

pub(super) fn exception_text(details: &Value) -> String {
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
    pub(super) fn dead(&self) -> Option<String> {
        self.load.borrow().dead.clone()
    }

    pub(super) fn set_dead(&self, reason: &str) {
        self.load.send_modify(|s| {
            if s.dead.is_none() {
                s.dead = Some(reason.to_string());
            }
        });
    }

    pub(super) fn problem(&self, line: String) {
        lock(&self.problems).push(line);
    }

    pub(super) fn page_url(&self) -> String {
        lock(&self.url).clone()
    }

    pub(super) fn on_event(&self, method: &str, p: &Value) {
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
