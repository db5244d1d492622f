//! Configuration: defaults < TOML file < environment, in one typed struct nested by concern.
//!
//! The environment names are SPEC §5's (`HOST`, `PORT`, `DATABASE_URL`, …). The TOML file
//! (`FOOTPRINT_CONFIG` or `--config`) uses the nested sections of `footprint.example.toml`
//! and may also set SPEC's names as top-level keys (`PORT = 9000`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use footprint_analytics::ConsentDefault;
use footprint_analytics::sequence::SequenceConfig;
use footprint_store::Synchronous;
use serde::{Deserialize, Serialize};

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
    pub log: LogConfig,
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
}

impl Default for MlConfig {
    fn default() -> Self {
        Self {
            analysis_timeout_secs: Duration::from_secs(30),
            call_log_days: 90,
            max_concurrent_analyses: 2,
            max_trainings_per_hour: 12,
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
    /// How often users are segmented again; 0 turns the scheduled run off.
    #[serde(with = "seconds")]
    pub segmentation_interval_secs: Duration,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            batch_events: 5_000,
            interval_ms: Duration::from_millis(1_000),
            debounce_ms: Duration::from_millis(250),
            catch_up_timeout_ms: Duration::from_millis(2_000),
            segmentation_interval_secs: Duration::from_secs(3_600),
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { host: "0.0.0.0".to_owned(), port: 8001, max_body_bytes: 1024 * 1024 }
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
    /// Failed logins in a row that lock an account.
    pub max_failed_logins: u32,
    #[serde(with = "seconds")]
    pub lockout_secs: Duration,
    /// How long a verified API key is trusted before it is looked up again (revocation delay).
    #[serde(with = "seconds")]
    pub api_key_cache_secs: Duration,
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
            api_key_cache_secs: Duration::from_secs(60),
            self_registration: true,
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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("configuration file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{name} is not valid: {message}")]
    Invalid { name: String, message: String },
}

impl Config {
    /// Loads the configuration: defaults, then the TOML file (`file`, else `FOOTPRINT_CONFIG`),
    /// then the environment as read by `env`.
    pub fn load(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let file = file.map(Path::to_owned).or_else(|| env("FOOTPRINT_CONFIG").map(PathBuf::from));
        let mut config = match &file {
            Some(path) => Self::from_toml_file(path)?,
            None => Config::default(),
        };
        for (name, _) in ENVIRONMENT {
            if let Some(value) = env(name) {
                config.set_named(name, &value)?;
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::from_toml(&text).map_err(|error| match error {
            ConfigError::Parse { message, .. } => ConfigError::Parse { path: path.to_owned(), message },
            other => other,
        })
    }

    /// Parses a TOML document: the nested sections, plus SPEC's names as top-level keys.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse { path: PathBuf::new(), message };
        let mut table: toml::Table = text.parse().map_err(|error: toml::de::Error| parse_error(error.to_string()))?;
        let mut flat = Vec::new();
        for (name, _) in ENVIRONMENT {
            let key = table.keys().find(|key| key.eq_ignore_ascii_case(name)).cloned();
            if let Some(value) = key.and_then(|key| table.remove(&key)) {
                let value = match value {
                    toml::Value::String(text) => text,
                    other => other.to_string(),
                };
                flat.push((*name, value));
            }
        }
        let mut config: Config =
            toml::Value::Table(table).try_into().map_err(|error: toml::de::Error| parse_error(error.to_string()))?;
        for (name, value) in flat {
            config.set_named(name, &value)?;
        }
        Ok(config)
    }

    /// Applies one of SPEC's named settings.
    fn set_named(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let invalid = |message: &str| ConfigError::Invalid { name: name.to_owned(), message: message.to_owned() };
        match name {
            "HOST" => self.server.host = value.trim().to_owned(),
            "PORT" => {
                self.server.port =
                    value.trim().parse().map_err(|_| invalid("must be a port number from 0 to 65535"))?;
            }
            "FOOTPRINT_DATA_DIR" => self.store.data_dir = PathBuf::from(value),
            "DATABASE_URL" => self.store.database_url = Some(Secret::new(value.trim())),
            "REDIS_URL" => self.store.redis_url = Some(Secret::new(value.trim())),
            "FOOTPRINT_JWT_SECRET" => self.auth.jwt_secret = Some(Secret::new(value)),
            "FOOTPRINT_ENCRYPTION_KEY" => self.privacy.encryption_key = Some(Secret::new(value.trim())),
            "FOOTPRINT_ADMIN_USERNAME" => self.auth.admin_username = Some(value.trim().to_owned()),
            "FOOTPRINT_ADMIN_PASSWORD" => self.auth.admin_password = Some(Secret::new(value)),
            "FOOTPRINT_CONSENT_DEFAULT" => {
                self.privacy.consent_default = value.trim().parse().map_err(|_| invalid("must be deny or grant"))?;
            }
            "FOOTPRINT_CONFIG" => {}
            _ => return Err(invalid("is not a Footprint setting")),
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |name: &str, message: String| Err(ConfigError::Invalid { name: name.to_owned(), message });
        if let Some(secret) = &self.auth.jwt_secret
            && secret.expose().len() < 32
        {
            return invalid("FOOTPRINT_JWT_SECRET", "must be at least 32 characters".to_owned());
        }
        if let Some(key) = &self.privacy.encryption_key
            && crate::crypto::decode_key(key.expose()).is_err()
        {
            return invalid("FOOTPRINT_ENCRYPTION_KEY", "must be the base64 encoding of exactly 32 bytes".to_owned());
        }
        if self.ingest.queue_capacity < self.ingest.batch_max_events {
            return invalid(
                "ingest.queue_capacity",
                format!("must be at least ingest.batch_max_events ({})", self.ingest.batch_max_events),
            );
        }
        if self.ingest.queue_capacity_bytes < self.ingest.batch_max_bytes
            || self.ingest.queue_capacity_bytes > u32::MAX as usize
        {
            return invalid(
                "ingest.queue_capacity_bytes",
                format!("must be between ingest.batch_max_bytes ({}) and 4 GiB", self.ingest.batch_max_bytes),
            );
        }
        let bounded = [
            ("ingest.max_future_secs", self.ingest.max_future_secs, 10 * 365 * 86_400),
            ("ingest.session_gap_secs", self.ingest.session_gap_secs, 30 * 86_400),
            ("auth.token_ttl_secs", self.auth.token_ttl_secs, 30 * 86_400),
            ("auth.lockout_secs", self.auth.lockout_secs, 30 * 86_400),
        ];
        for (name, value, max_secs) in bounded {
            if value.as_secs() > max_secs {
                return invalid(name, format!("must be at most {max_secs} seconds"));
            }
        }
        if self.retention.events_days == 0 || self.retention.per_type_days.values().any(|days| *days == 0) {
            return invalid("retention", "events_days and per_type_days must be at least 1 day".to_owned());
        }
        if self.ml.analysis_timeout_secs.is_zero() || self.ml.analysis_timeout_secs.as_secs() > 3600 {
            return invalid("ml.analysis_timeout_secs", "must be from 1 to 3600 seconds".to_owned());
        }
        if self.ml.max_concurrent_analyses == 0 || self.ml.max_concurrent_analyses > 1024 {
            return invalid("ml.max_concurrent_analyses", "must be from 1 to 1024".to_owned());
        }
        if self.ml.max_trainings_per_hour == 0 {
            return invalid("ml.max_trainings_per_hour", "must be at least 1".to_owned());
        }
        if self.ml.call_log_days == 0 {
            return invalid("ml.call_log_days", "must be at least 1 day".to_owned());
        }
        let matching = &self.match_model;
        if !(matching.l2 >= 0.0 && matching.l2.is_finite()) {
            return invalid("match_model.l2", "must be zero or positive".to_owned());
        }
        if !(matching.validation_fraction > 0.0 && matching.validation_fraction < 0.9) {
            return invalid("match_model.validation_fraction", "must be above 0 and below 0.9".to_owned());
        }
        if matching.min_training_rows < 4 {
            return invalid("match_model.min_training_rows", "must be at least 4".to_owned());
        }
        let model = &self.next_action;
        if model.max_order == 0 || model.max_order > 12 || model.user_max_order > 6 {
            return invalid("next_action", "max_order must be 1-12 and user_max_order 0-6".to_owned());
        }
        if !(model.global_prior >= 0.0 && model.user_prior >= 0.0) {
            return invalid("next_action", "global_prior and user_prior must be zero or positive".to_owned());
        }
        if self.processing.batch_events == 0 || self.processing.interval_ms.is_zero() {
            return invalid("processing", "batch_events and interval_ms must be positive".to_owned());
        }
        if self.auth.token_ttl_secs.is_zero() {
            return invalid("auth.token_ttl_secs", "must be positive".to_owned());
        }
        if self.ingest.commit_batch_max == 0 || self.ingest.batch_max_events == 0 {
            return invalid("ingest", "commit_batch_max and batch_max_events must be positive".to_owned());
        }
        if self.ingest.session_gap_secs.is_zero() {
            return invalid("ingest.session_gap_secs", "must be positive".to_owned());
        }
        Ok(())
    }
}

/// `Duration` as a whole number of milliseconds in TOML.
mod milliseconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// `Duration` as a whole number of seconds in TOML.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_listen_on_8001_and_deny_consent() {
        let config = Config::load(None, &env_of(&[])).unwrap();
        assert_eq!((config.server.host.as_str(), config.server.port), ("0.0.0.0", 8001));
        assert_eq!(config.privacy.consent_default, ConsentDefault::Deny);
        assert_eq!(config.store.data_dir, PathBuf::from("./footprint-data"));
        assert!(config.store.database_url.is_none());
    }

    #[test]
    fn the_example_file_lists_exactly_the_defaults() {
        let example = include_str!("../../../footprint.example.toml");
        assert_eq!(Config::from_toml(example).unwrap(), Config::default());
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("footprint.toml");
        std::fs::write(&path, "[server]\nport = 9000\nhost = \"127.0.0.1\"\n[privacy]\nconsent_default = \"grant\"\n")
            .unwrap();
        let path_text = path.to_str().unwrap();
        let config = Config::load(None, &env_of(&[("FOOTPRINT_CONFIG", path_text)])).unwrap();
        assert_eq!((config.server.host.as_str(), config.server.port), ("127.0.0.1", 9000));
        assert_eq!(config.privacy.consent_default, ConsentDefault::Grant);
        let config = Config::load(
            None,
            &env_of(&[("FOOTPRINT_CONFIG", path_text), ("PORT", "9100"), ("FOOTPRINT_CONSENT_DEFAULT", "deny")]),
        )
        .unwrap();
        assert_eq!(config.server.port, 9100);
        assert_eq!(config.privacy.consent_default, ConsentDefault::Deny);
    }

    #[test]
    fn the_file_may_use_specs_names_at_top_level() {
        let config =
            Config::from_toml("PORT = 9001\nDATABASE_URL = \"postgres://x@y/z\"\n[auth]\ntoken_ttl_secs = 60\n")
                .unwrap();
        assert_eq!(config.server.port, 9001);
        assert_eq!(config.store.database_url.as_ref().map(Secret::expose), Some("postgres://x@y/z"));
        assert_eq!(config.auth.token_ttl_secs, Duration::from_secs(60));
    }

    #[test]
    fn mistakes_are_named() {
        let error = Config::load(None, &env_of(&[("PORT", "eighty")])).unwrap_err().to_string();
        assert!(error.contains("PORT"), "{error}");
        let error = Config::load(None, &env_of(&[("FOOTPRINT_ENCRYPTION_KEY", "c2hvcnQ=")])).unwrap_err().to_string();
        assert!(error.contains("32 bytes"), "{error}");
        let error = Config::from_toml("[server]\nprot = 1\n").unwrap_err().to_string();
        assert!(error.contains("prot"), "{error}");
        let error = Config::load(None, &env_of(&[("FOOTPRINT_CONSENT_DEFAULT", "maybe")])).unwrap_err().to_string();
        assert!(error.contains("deny or grant"), "{error}");
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = Config::load(
            None,
            &env_of(&[
                ("FOOTPRINT_JWT_SECRET", "a-very-long-signing-secret-0123456789"),
                ("FOOTPRINT_ADMIN_PASSWORD", "hunter2hunter2"),
            ]),
        )
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("a-very-long-signing-secret"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("s3cr3t-pw"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }
}
