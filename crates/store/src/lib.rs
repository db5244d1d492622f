//! Footprint's storage: the [`Store`] trait, made of one trait per area (accounts, events,
//! sequences, segments, registry, privacy, attendance, insights, automation), and its two backends, SQLite (embedded,
//! the default) and PostgreSQL, each with its own migrations. Both pass the same behaviour
//! suite (`tests/behaviour/`).

mod activity;
pub mod ceiling;
mod error;
mod insights;
mod inspect;
pub mod model;
mod plan;
mod postgres;
mod scratch;
mod security;
mod sqlite;
mod traits;
mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

pub use error::{StoreError, StoreResult};
pub use insights::*;
pub use inspect::every_row;
pub use model::*;
pub use postgres::PostgresOptions;
pub use scratch::ScratchSchema;
pub use sqlite::backup::{BackupReport, backup as backup_sqlite, restore as restore_sqlite};
pub use sqlite::files::store_files as sqlite_files;
pub use sqlite::{SqliteOptions, Synchronous};
pub use traits::{
    AccountStore, AttendanceStore, AutomationStore, BulkLoad, EventStore, InsightsStore, PrivacyStore, RegistryStore,
    SecurityStore, SegmentStore, SequenceStore, WebhookStore,
};
pub use webhooks::*;

/// Everything Footprint persists goes through this trait (its area traits, in `traits.rs`,
/// hold the rest of the contract); handlers and services never see SQL or driver types. A
/// `dyn Store` answers every area's methods without their traits being imported.
#[async_trait]
pub trait Store:
    AccountStore
    + SecurityStore
    + EventStore
    + SequenceStore
    + SegmentStore
    + RegistryStore
    + PrivacyStore
    + AttendanceStore
    + InsightsStore
    + AutomationStore
    + WebhookStore
    + Send
    + Sync
    + 'static
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Succeeds when the store answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;

    /// The instance secret stored under `name`; if there is none yet, `generated` is stored
    /// and returned. Several nodes racing here all get the same value.
    async fn secret(&self, name: &str, generated: String) -> StoreResult<String>;
}

/// Which backend to open.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// An SQLite file, created with its directory if missing.
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl StoreLocation {
    /// `DATABASE_URL` when set (`postgres://…`, `sqlite://PATH`, or a plain path), else
    /// `footprint.db` in the data directory.
    pub fn resolve(database_url: Option<&str>, data_dir: &std::path::Path) -> Result<Self, StoreError> {
        let Some(url) = database_url.map(str::trim).filter(|url| !url.is_empty()) else {
            return Ok(StoreLocation::Sqlite(data_dir.join("footprint.db")));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
        }
        if url.contains("://") {
            return Err(StoreError::Unavailable(format!(
                "DATABASE_URL scheme not supported: use postgres://… or sqlite://PATH (got {})",
                url.split("://").next().unwrap_or_default()
            )));
        }
        Ok(StoreLocation::Sqlite(PathBuf::from(url)))
    }
}

/// Opens the store and brings its schema up to date.
pub async fn open(
    location: &StoreLocation,
    sqlite: &SqliteOptions,
    postgres: &PostgresOptions,
) -> StoreResult<Arc<dyn Store>> {
    match location {
        StoreLocation::Sqlite(path) => Ok(Arc::new(sqlite::SqliteStore::open(path, sqlite).await?)),
        StoreLocation::Postgres(url) => Ok(Arc::new(postgres::PostgresStore::open(url, postgres).await?)),
    }
}

/// Wall-clock time for the store's own bookkeeping columns (migration and secret creation
/// times); everything the product reasons about gets its time from the caller.
pub(crate) fn now_us() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_selects_the_backend() {
        let dir = std::path::Path::new("/data");
        assert!(
            matches!(StoreLocation::resolve(None, dir).unwrap(), StoreLocation::Sqlite(p) if p == dir.join("footprint.db"))
        );
        assert!(matches!(StoreLocation::resolve(Some(""), dir).unwrap(), StoreLocation::Sqlite(_)));
        assert!(matches!(
            StoreLocation::resolve(Some("postgres://u@h/db"), dir).unwrap(),
            StoreLocation::Postgres(u) if u == "postgres://u@h/db"
        ));
        assert!(matches!(
            StoreLocation::resolve(Some("sqlite:///tmp/x.db"), dir).unwrap(),
            StoreLocation::Sqlite(p) if p == std::path::Path::new("/tmp/x.db")
        ));
        assert!(StoreLocation::resolve(Some("mysql://h/db"), dir).is_err());
    }
}
