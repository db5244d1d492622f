//! Metrics (Prometheus/OpenMetrics text at `/metrics`) and logging set-up.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

use crate::app::config::{LogConfig, LogFormat};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

fn latency_histogram() -> Histogram {
    // 50 µs … ~1.6 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric Footprint exports; one instance per server, so tests do not share counters.
pub struct Metrics {
    registry: Registry,
    events: Family<OutcomeLabels, Counter>,
    pub queue_depth: Gauge,
    pub commit_batch_size: Histogram,
    pub commit_seconds: Histogram,
    http_seconds: Family<HttpLabels, Histogram, fn() -> Histogram>,
    /// Events accepted in each of the last seconds (this node), for the dashboard's live rate.
    recent_accepted: std::sync::Mutex<std::collections::VecDeque<(u64, u64)>>,
}

/// The seconds the live ingestion rate is averaged over.
pub const LIVE_RATE_SECONDS: u64 = 60;

fn unix_second() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("footprint");
        let events = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "ingest_events",
            "Events received, by outcome (accepted, duplicate, rejected, not_collected)",
            events.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register("ingest_queue_depth_events", "Events waiting in the ingestion queue", queue_depth.clone());
        let commit_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 15));
        registry.register("ingest_commit_batch_events", "Events per group commit", commit_batch_size.clone());
        let commit_seconds = latency_histogram();
        registry.register("ingest_commit_seconds", "Duration of a group commit", commit_seconds.clone());
        let http_seconds = Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_seconds",
            "HTTP request latency by method, route and status",
            http_seconds.clone(),
        );
        Self {
            registry,
            events,
            queue_depth,
            commit_batch_size,
            commit_seconds,
            http_seconds,
            recent_accepted: Default::default(),
        }
    }
}

impl Metrics {
    pub fn count_events(&self, outcome: &'static str, n: u64) {
        if n > 0 {
            self.events.get_or_create(&OutcomeLabels { outcome }).inc_by(n);
            if outcome == "accepted" {
                self.note_accepted(unix_second(), n);
            }
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<(u64, u64)>> {
        self.recent_accepted.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn note_accepted(&self, second: u64, n: u64) {
        let mut recent = self.recent();
        match recent.back_mut() {
            Some((last, count)) if *last == second => *count += n,
            _ => recent.push_back((second, n)),
        }
        while recent.front().is_some_and(|(s, _)| s + LIVE_RATE_SECONDS <= second) {
            recent.pop_front();
        }
    }

    /// Events accepted by this node in the last [`LIVE_RATE_SECONDS`] seconds before `second`
    /// (the current second, still filling, left out).
    fn accepted_before(&self, second: u64) -> u64 {
        self.recent().iter().filter(|(s, _)| *s < second && s + LIVE_RATE_SECONDS >= second).map(|(_, n)| n).sum()
    }

    /// This node's accepted events per second over the last minute.
    pub fn accepted_per_second(&self) -> f64 {
        self.accepted_before(unix_second()) as f64 / LIVE_RATE_SECONDS as f64
    }

    /// Events this node has counted under `outcome` since it started.
    pub fn events_total(&self, outcome: &'static str) -> u64 {
        self.events.get_or_create(&OutcomeLabels { outcome }).get()
    }

    /// Records one request's latency under its route template.
    pub fn observe_http(&self, labels: HttpLabels, seconds: f64) {
        self.http_seconds.get_or_create(&labels).observe(seconds);
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// Structured logs on stderr; `RUST_LOG` overrides the configured filter.
pub fn init_logging(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.filter));
    // Colours only for a person at a terminal, never in files or log collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match config.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_rate_counts_the_last_minute_of_whole_seconds() {
        let metrics = Metrics::default();
        metrics.note_accepted(1_000, 30);
        metrics.note_accepted(1_000, 10);
        metrics.note_accepted(1_030, 20);
        assert_eq!(metrics.accepted_before(1_030), 40, "the second still filling is left out");
        assert_eq!(metrics.accepted_before(1_031), 60);
        metrics.note_accepted(1_061, 7);
        assert_eq!(metrics.accepted_before(1_061), 20, "second 1 000 is more than a minute before 1 061");
        assert_eq!(metrics.accepted_before(1_062), 27);
        assert_eq!(metrics.accepted_before(2_000), 0);
    }
}
