//! Loading the configuration (defaults, then the TOML file, then the environment) and
//! checking it, with the serde forms of its durations.

use std::path::{Path, PathBuf};

use super::*;

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
            && crate::kernel::crypto::decode_key(key.expose()).is_err()
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
        if footprint_charts::Theme::named(&self.visualization.chart_theme).is_none() {
            return invalid("visualization.chart_theme", "must be light or dark".to_owned());
        }
        let size = self.visualization.plot_size;
        let pixels = footprint_charts::Size::MIN..=footprint_charts::Size::MAX;
        if !pixels.contains(&size.width) || !pixels.contains(&size.height) {
            return invalid(
                "visualization.plot_size",
                format!("width and height must be from {} to {} pixels", pixels.start(), pixels.end()),
            );
        }
        let growth = self.processing.segmentation_growth;
        if !(growth == 0.0 || (growth >= 1.0 && growth.is_finite())) {
            return invalid("processing.segmentation_growth", "must be 0 (off) or at least 1".to_owned());
        }
        let bounded = [
            ("ingest.max_future_secs", self.ingest.max_future_secs, 10 * 365 * 86_400),
            ("ingest.session_gap_secs", self.ingest.session_gap_secs, 30 * 86_400),
            ("auth.token_ttl_secs", self.auth.token_ttl_secs, 30 * 86_400),
            ("auth.lockout_secs", self.auth.lockout_secs, 30 * 86_400),
            ("auth.max_lockout_secs", self.auth.max_lockout_secs, 30 * 86_400),
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
        if self.ml.training_timeout_secs.is_zero() || self.ml.training_timeout_secs.as_secs() > 86_400 {
            return invalid("ml.training_timeout_secs", "must be from 1 to 86400 seconds".to_owned());
        }
        let insights = &self.insights;
        if insights.churn_horizon_days == 0 || insights.churn_horizon_days > 365 {
            return invalid("insights.churn_horizon_days", "must be from 1 to 365".to_owned());
        }
        if !(56..=365).contains(&insights.churn_history_days) {
            return invalid(
                "insights.churn_history_days",
                "must be from 56 to 365 (the trend compares two 28-day spans)".to_owned(),
            );
        }
        if insights.churn_training_days < 7 || insights.churn_max_training_rows < 1_000 || insights.churn_min_users < 2
        {
            return invalid(
                "insights",
                "churn_training_days must be at least 7, churn_max_training_rows at least 1000 and churn_min_users at least 2"
                    .to_owned(),
            );
        }
        if insights.engagement_weeks < 3 || insights.engagement_weeks > 104 {
            return invalid("insights.engagement_weeks", "must be from 3 to 104".to_owned());
        }
        if insights.usage_window_days == 0 || insights.usage_keep_days < insights.usage_window_days {
            return invalid(
                "insights.usage_keep_days",
                "usage_window_days must be at least 1 and usage_keep_days at least usage_window_days".to_owned(),
            );
        }
        if insights.usage_flush_ms.is_zero() {
            return invalid("insights.usage_flush_ms", "must be positive".to_owned());
        }
        if let Err(message) = self.automation.schedules() {
            return Err(ConfigError::Invalid { name: "automation".to_owned(), message });
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
        if self.auth.max_lockout_secs < self.auth.lockout_secs {
            return invalid("auth.max_lockout_secs", "must be at least auth.lockout_secs".to_owned());
        }
        if self.auth.max_failed_logins == 0 {
            return invalid("auth.max_failed_logins", "must be at least 1".to_owned());
        }
        if self.auth.token_check_cache_ms > Duration::from_secs(10) {
            return invalid("auth.token_check_cache_ms", "must be at most 10000 ms".to_owned());
        }
        if self.auth.token_ttl_secs.is_zero() {
            return invalid("auth.token_ttl_secs", "must be positive".to_owned());
        }
        if self.ingest.browser_requests_per_minute == 0 {
            return invalid("ingest", "browser_requests_per_minute must be positive".to_owned());
        }
        if self.ingest.commit_batch_max == 0 || self.ingest.batch_max_events == 0 {
            return invalid("ingest", "commit_batch_max and batch_max_events must be positive".to_owned());
        }
        if self.ingest.session_gap_secs.is_zero() {
            return invalid("ingest.session_gap_secs", "must be positive".to_owned());
        }
        let hooks = &self.webhooks;
        if hooks.poll_ms.is_zero() || hooks.timeout_ms.is_zero() || hooks.retry_base_ms.is_zero() {
            return invalid("webhooks", "poll_ms, timeout_ms and retry_base_ms must be positive".to_owned());
        }
        if hooks.retry_max_ms < hooks.retry_base_ms {
            return invalid("webhooks.retry_max_ms", "must be at least retry_base_ms".to_owned());
        }
        Ok(())
    }
}

/// `Duration` as a whole number of milliseconds in TOML.
pub(super) mod milliseconds {
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
pub(super) mod seconds {
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
        let example = include_str!("../../../../../footprint.example.toml");
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
