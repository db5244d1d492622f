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
        Self { registry, events, queue_depth, commit_batch_size, commit_seconds, http_seconds }
    }
}

impl Metrics {
    pub fn count_events(&self, outcome: &'static str, n: u64) {
        if n > 0 {
            self.events.get_or_create(&OutcomeLabels { outcome }).inc_by(n);
        }
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
