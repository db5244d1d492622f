//! Configuration: defaults < TOML file < environment, in one typed struct nested by concern.
//!
//! The environment names are SPEC §5's (`HOST`, `PORT`, `DATABASE_URL`, …). The TOML file
//! (`FOOTPRINT_CONFIG` or `--config`) uses the nested sections of `footprint.example.toml`
//! and may also set SPEC's names as top-level keys (`PORT = 9000`). Here the structs and their
//! defaults; `load.rs` reads and checks them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use footprint_analytics::ConsentDefault;
use footprint_analytics::sequence::SequenceConfig;
use footprint_store::Synchronous;
use serde::{Deserialize, Serialize};

mod insights;
mod load;

pub use insights::{AutomationConfig, CronSchedule, InsightsConfig};

pub use load::ConfigError;
use load::{milliseconds, seconds};

/// The SPEC §5 environment variables, with the one-line help printed by `footprint --help`.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("HOST", "address to listen on (default 0.0.0.0)"),
    ("PORT", "port to listen on (default 8001)"),
    ("FOOTPRINT_DATA_DIR", "directory of the embedded store and generated files (default ./footprint-data)"),
    (
        "DATABASE_URL",
        "postgres://user@host/db selects PostgreSQL; sqlite://PATH an SQLite file (default: the data directory)",
    ),
    ("REDIS_URL", "redis://host:port for shared caches and rate-limit counters across nodes (optional)"),
    ("FOOTPRINT_JWT_SECRET", "secret signing access tokens (default: generated once and kept in the store)"),
    (
        "FOOTPRINT_ENCRYPTION_KEY",
        "base64 of 32 bytes: AES-256-GCM key for personal fields (default: generated once and kept in the store)",
    ),
    ("FOOTPRINT_ADMIN_USERNAME", "with FOOTPRINT_ADMIN_PASSWORD: create this admin at start if there is no admin yet"),
    ("FOOTPRINT_ADMIN_PASSWORD", "password of that admin (at least 8 characters)"),
    ("FOOTPRINT_CONSENT_DEFAULT", "deny | grant: the consent of a user who never recorded one (default deny)"),
    ("FOOTPRINT_CONFIG", "path of a TOML configuration file (see footprint.example.toml)"),
];

/// A secret value: never printed by `Debug`, never serialised back out.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub auth: AuthConfig,
    /// Seed 003's tiers: each one's request limit, and who gets which.
    pub tiers: TiersConfig,
    pub privacy: PrivacyConfig,
    pub ingest: IngestConfig,
    /// The next-action model (see EVALUATION.md for how its defaults were measured).
    pub next_action: SequenceConfig,
    /// What profiles read from events and how preferences are scored (seed 000).
    pub profiles: footprint_analytics::profile::ProfileConfig,
    /// How habits are looked for (seed 000).
    pub patterns: footprint_analytics::patterns::PatternConfig,
    /// How users are segmented (seed 000).
    pub segmentation: footprint_analytics::segmentation::SegmentationConfig,
    pub processing: ProcessingConfig,
    pub cache: CacheConfig,
    pub retention: RetentionConfig,
    pub match_model: MatchModelConfig,
    pub ml: MlConfig,
    /// Seed 003's insights: the churn model, engagement and usage against the tiers.
    pub insights: InsightsConfig,
    /// Seed 003's scheduled automation.
    pub automation: AutomationConfig,
    /// Seed 000's `BehaviorVisualization`: where chart files go, their theme and size.
    pub visualization: VisualizationConfig,
    /// Outbound webhooks: how deliveries are sent and retried.
    pub webhooks: WebhooksConfig,
    pub log: LogConfig,
}

/// Charts and dashboards (seed 000's `output_path`, `chart_theme`, `plot_size`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct VisualizationConfig {
    /// Where the library and `footprint visualize` write chart files and dashboards.
    pub output_path: PathBuf,
    /// `light` or `dark`.
    pub chart_theme: String,
    pub plot_size: PlotSize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlotSize {
    pub width: u32,
    pub height: u32,
}

impl Default for VisualizationConfig {
    fn default() -> Self {
        Self {
            output_path: PathBuf::from("./visualizations"),
            chart_theme: "light".to_owned(),
            plot_size: PlotSize { width: 800, height: 500 },
        }
    }
}

/// Seed 004's `/api/ml` service.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlConfig {
    /// Longest an analysis (insights, factors, anomalies, recommendations, batch predictions)
    /// may run before it answers `ANALYSIS_TIMEOUT`; a request may ask for less with `timeoutMs`.
    #[serde(with = "seconds")]
    pub analysis_timeout_secs: Duration,
    /// Days the log of ML calls behind `GET /api/ml/analytics` is kept.
    pub call_log_days: u32,
    /// Analyses computed at once on a node; one more waits up to a second, then gets 503
    /// `SERVICE_UNAVAILABLE` with `Retry-After`.
    pub max_concurrent_analyses: usize,
    /// Training runs started per hour across the cluster (counted in the model registry); one
    /// more gets 429 `RATE_LIMIT_EXCEEDED` with `Retry-After`.
    pub max_trainings_per_hour: u32,
    /// Longest a training run may take; past it the run is recorded as failed. A run found
    /// `training` at start is failed too: at once with SQLite (one node owns the store), and once
    /// it is older than this with PostgreSQL (another node may still be training it).
    #[serde(with = "seconds")]
    pub training_timeout_secs: Duration,
}

impl Default for MlConfig {
    fn default() -> Self {
        Self {
            analysis_timeout_secs: Duration::from_secs(30),
            call_log_days: 90,
            max_concurrent_analyses: 2,
            max_trainings_per_hour: 12,
            training_timeout_secs: Duration::from_secs(1800),
        }
    }
}

/// How long raw events are kept. Metrics survive: match events are folded into daily
/// aggregates before they are deleted.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days a raw event is kept, by event time.
    pub events_days: u32,
    /// Days for particular event types, overriding `events_days` (e.g. `match_feedback = 365`).
    pub per_type_days: std::collections::BTreeMap<String, u32>,
    /// How often the clean-up runs by itself; 0 turns the scheduled run off.
    #[serde(with = "seconds")]
    pub cleanup_interval_secs: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            events_days: 90,
            per_type_days: std::collections::BTreeMap::new(),
            cleanup_interval_secs: Duration::from_secs(86_400),
        }
    }
}

/// The `match_optimizer` model that `POST /api/ml/update` refits (seed 001).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchModelConfig {
    /// Fewest decided matches (with `improvement` consent) a fit needs.
    pub min_training_rows: u32,
    /// L2 penalty on the standardised weights.
    pub l2: f64,
    /// Share of the matches held out to validate the fit.
    pub validation_fraction: f64,
    /// Days of data a fit uses; 0 means everything still stored.
    pub window_days: u32,
    /// How often the model is refitted by itself; 0 turns the scheduled run off.
    #[serde(with = "seconds")]
    pub update_interval_secs: Duration,
}

impl Default for MatchModelConfig {
    fn default() -> Self {
        Self {
            min_training_rows: 20,
            l2: 1.0,
            validation_fraction: 0.2,
            window_days: 0,
            update_interval_secs: Duration::from_secs(0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// How often the outbox and the event log are looked at.
    #[serde(with = "milliseconds")]
    pub poll_ms: Duration,
    /// Longest wait for a receiver's answer.
    #[serde(with = "milliseconds")]
    pub timeout_ms: Duration,
    /// Delay before the first retry; it doubles at each attempt (with jitter) up to `retry_max_ms`.
    #[serde(with = "milliseconds")]
    pub retry_base_ms: Duration,
    #[serde(with = "milliseconds")]
    pub retry_max_ms: Duration,
    /// How long a delivery is retried before it is marked failed.
    #[serde(with = "seconds")]
    pub give_up_after_secs: Duration,
    /// How often churn crossings and anomalies are looked for (`churn.risk_crossed`,
    /// `anomaly.detected`); 0 turns the watch off.
    #[serde(with = "seconds")]
    pub watch_interval_secs: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            poll_ms: Duration::from_millis(1_000),
            timeout_ms: Duration::from_millis(10_000),
            retry_base_ms: Duration::from_millis(5_000),
            retry_max_ms: Duration::from_millis(3_600_000),
            give_up_after_secs: Duration::from_secs(86_400),
            watch_interval_secs: Duration::from_secs(3_600),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessingConfig {
    /// Most events one processing run takes from the log.
    pub batch_events: u32,
    /// How often the log is checked for events committed by other nodes.
    #[serde(with = "milliseconds")]
    pub interval_ms: Duration,
    /// After new events, how long to wait for more before processing them as one batch.
    #[serde(with = "milliseconds")]
    pub debounce_ms: Duration,
    /// How long a read waits for processing to catch up before answering with what is processed.
    #[serde(with = "milliseconds")]
    pub catch_up_timeout_ms: Duration,
    /// A read catches processing up first only when at most this many events wait to be
    /// processed; past it, the read answers at once from what is processed (plus, for a
    /// next-action prediction, the user's own unprocessed events) and says how many events it
    /// did not see in `Footprint-Processing-Lag`. 0: reads never wait.
    pub read_catch_up_events: u64,
    /// How often users are segmented again; 0 turns the scheduled run off.
    #[serde(with = "seconds")]
    pub segmentation_interval_secs: Duration,
    /// Between scheduled runs, users are segmented as soon as the minimum (3) have a profile,
    /// and again once the users with a profile are this many times the last run's (at most one
    /// such run every 30 s); 0 turns these runs off (1 or more otherwise).
    pub segmentation_growth: f64,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            batch_events: 50_000,
            interval_ms: Duration::from_millis(1_000),
            debounce_ms: Duration::from_millis(250),
            catch_up_timeout_ms: Duration::from_millis(2_000),
            read_catch_up_events: 2_000,
            segmentation_interval_secs: Duration::from_secs(3_600),
            segmentation_growth: 1.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// How long computed statistics are kept (a write that changes them invalidates them sooner).
    #[serde(with = "seconds")]
    pub stats_ttl_secs: Duration,
    /// Prefix of this instance's Redis keys: nodes of one instance share it, other instances
    /// on the same Redis need their own.
    pub redis_prefix: String,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { stats_ttl_secs: Duration::from_secs(300), redis_prefix: "footprint:".to_owned() }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// Largest request body outside the batch route.
    pub max_body_bytes: usize,
    /// Who may read `/metrics`.
    pub metrics_access: MetricsAccess,
    /// Addresses of the reverse proxies in front of Footprint. A request from one of them is
    /// taken to come from the address it names last in `X-Forwarded-For` (after any other
    /// trusted proxy); the header is ignored on a request from anywhere else. Empty: the
    /// peer's address is the client's.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".to_owned(),
            port: 8001,
            max_body_bytes: 1024 * 1024,
            metrics_access: MetricsAccess::Auto,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Who may read `/metrics`: anyone, or a bearer of an admin token or an API key with the
/// `metrics` scope; `auto` is public when the server listens on a loopback or private address
/// only, and token-protected otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    Auto,
    Public,
    Token,
}

impl ServerConfig {
    /// Whether `/metrics` answers without credentials.
    pub fn metrics_are_public(&self) -> bool {
        match self.metrics_access {
            MetricsAccess::Public => true,
            MetricsAccess::Token => false,
            MetricsAccess::Auto => {
                match self.host.trim().trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
                    Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
                    // A name: public only for localhost.
                    Err(_) => self.host.trim().eq_ignore_ascii_case("localhost"),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// Empty: the embedded SQLite store in `data_dir`. A `Secret`: it may hold a password.
    pub database_url: Option<Secret>,
    pub redis_url: Option<Secret>,
    pub sqlite_synchronous: Synchronous,
    pub sqlite_read_connections: usize,
    pub postgres_pool_size: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./footprint-data"),
            database_url: None,
            redis_url: None,
            sqlite_synchronous: Synchronous::Full,
            sqlite_read_connections: 8,
            postgres_pool_size: 16,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub jwt_secret: Option<Secret>,
    #[serde(with = "seconds")]
    pub token_ttl_secs: Duration,
    pub admin_username: Option<String>,
    pub admin_password: Option<Secret>,
    /// Failed logins in a row, for one login from one network (/24 or /48), that lock that
    /// network out of that login; other networks keep their own count.
    pub max_failed_logins: u32,
    /// How long the first lock lasts; each further lock of the same login and network (with no
    /// success in between) lasts twice as long as the one before…
    #[serde(with = "seconds")]
    pub lockout_secs: Duration,
    /// …up to this.
    #[serde(with = "seconds")]
    pub max_lockout_secs: Duration,
    /// How long a verified API key is trusted before it is looked up again (revocation delay).
    #[serde(with = "seconds")]
    pub api_key_cache_secs: Duration,
    /// How long a node trusts what it last read of an account's token generation: another
    /// node may accept the token of an account erased meanwhile for this long (at most 10 s).
    #[serde(with = "milliseconds")]
    pub token_check_cache_ms: Duration,
    /// Whether anyone may create a `user` account with `POST /create_user` (seed 002).
    pub self_registration: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            token_ttl_secs: Duration::from_secs(3600),
            admin_username: None,
            admin_password: None,
            max_failed_logins: 5,
            lockout_secs: Duration::from_secs(15 * 60),
            max_lockout_secs: Duration::from_secs(4 * 3600),
            api_key_cache_secs: Duration::from_secs(60),
            token_check_cache_ms: Duration::from_millis(2_000),
            self_registration: true,
        }
    }
}

/// Seed 003's tiers. Every authenticated request (an ingestion batch is one) counts against its
/// caller's tier: an account's, or the tier an API key was created with. Over the limit: 429
/// `RATE_LIMIT_EXCEEDED` with `Retry-After`; every limited answer carries `RateLimit-Limit`,
/// `RateLimit-Remaining` and `RateLimit-Reset`. With `REDIS_URL` the budget is shared by every
/// node.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TiersConfig {
    /// The tier of an account created without one.
    pub default_tier: footprint_analytics::Tier,
    /// The tier of the admin created from `FOOTPRINT_ADMIN_USERNAME` (unlimited, so that
    /// operating the instance is never throttled by accident).
    pub admin_tier: footprint_analytics::Tier,
    pub free: TierLimits,
    pub premium: TierLimits,
    pub enterprise: TierLimits,
    pub vip: TierLimits,
}

/// What one tier may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierLimits {
    /// Requests per hour, over a sliding hour (GCRA: the whole budget may be spent at once,
    /// then one more request every hour ÷ limit); 0 means unlimited.
    pub requests_per_hour: u32,
    /// Events a caller may send per 30 days (seed 003's storage quota, as Footprint stores
    /// events), counted when they are sent, a batch as its events; 0 means unlimited.
    pub events_per_month: u32,
}

impl TiersConfig {
    pub fn limits(&self, tier: footprint_analytics::Tier) -> TierLimits {
        use footprint_analytics::Tier;
        match tier {
            Tier::Free => self.free,
            Tier::Premium => self.premium,
            Tier::Enterprise => self.enterprise,
            Tier::Vip => self.vip,
        }
    }
}

impl Default for TiersConfig {
    fn default() -> Self {
        use footprint_analytics::Tier;
        Self {
            default_tier: Tier::Free,
            admin_tier: Tier::Vip,
            free: TierLimits { requests_per_hour: 100, events_per_month: 10_000 },
            premium: TierLimits { requests_per_hour: 5_000, events_per_month: 1_000_000 },
            enterprise: TierLimits { requests_per_hour: 50_000, events_per_month: 20_000_000 },
            vip: TierLimits { requests_per_hour: 0, events_per_month: 0 },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Base64 of 32 bytes.
    pub encryption_key: Option<Secret>,
    pub consent_default: ConsentDefault,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Events waiting to be committed before new requests get 503 with `Retry-After`.
    pub queue_capacity: usize,
    /// The same limit in bytes of event JSON.
    pub queue_capacity_bytes: usize,
    /// Most events committed in one transaction.
    pub commit_batch_max: usize,
    /// Most events in one `POST /api/track/batch`.
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    pub properties_max_bytes: usize,
    pub context_max_bytes: usize,
    #[serde(with = "seconds")]
    pub session_gap_secs: Duration,
    /// How far in the future a client timestamp may be (clock skew).
    #[serde(with = "seconds")]
    pub max_future_secs: Duration,
    #[serde(with = "seconds")]
    pub retry_after_secs: Duration,
    /// Batches a client IP may send to `/api/collect` (the browser tracker) per minute.
    pub browser_requests_per_minute: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 100_000,
            queue_capacity_bytes: 256 * 1024 * 1024,
            commit_batch_max: 2_000,
            batch_max_events: 10_000,
            batch_max_bytes: 10 * 1024 * 1024,
            properties_max_bytes: 32 * 1024,
            context_max_bytes: 8 * 1024,
            session_gap_secs: Duration::from_secs(30 * 60),
            max_future_secs: Duration::from_secs(24 * 3600),
            retry_after_secs: Duration::from_secs(1),
            browser_requests_per_minute: 120,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `footprint=debug,tower_http=info`; `RUST_LOG` overrides it.
    pub filter: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { filter: "info".to_owned(), format: LogFormat::Text }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}
