//! A PostgreSQL schema of its own for tests and benchmarks: created fresh, reached through
//! `search_path`, dropped when the value is dropped.

use crate::error::{StoreError, StoreResult};

pub struct ScratchSchema {
    base_url: String,
    name: String,
}

async fn execute(url: &str, sql: &str) -> StoreResult<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|error| StoreError::Unavailable(format!("cannot connect to PostgreSQL at {url}: {error}")))?;
    let connection = tokio::spawn(connection);
    client.batch_execute(sql).await?;
    drop(client);
    let _ = connection.await;
    Ok(())
}

impl ScratchSchema {
    /// Creates `<prefix>_<random>` in the database at `base_url`.
    pub async fn create(base_url: &str, prefix: &str) -> StoreResult<Self> {
        let name = format!("{prefix}_{:016x}", rand_suffix());
        execute(base_url, &format!("CREATE SCHEMA {name}")).await?;
        Ok(Self { base_url: base_url.to_owned(), name })
    }

    /// A `DATABASE_URL` whose connections work in this schema.
    pub fn url(&self) -> String {
        let separator = if self.base_url.contains('?') { '&' } else { '?' };
        format!("{}{separator}options=-csearch_path%3D{}", self.base_url, self.name)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        let (url, sql) = (self.base_url.clone(), format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        // Drop may run inside or outside a runtime: the clean-up gets a thread and runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            if let Err(error) = runtime.block_on(execute(&url, &sql)) {
                tracing::warn!(error = %error, "could not drop a scratch schema");
            }
        })
        .join();
    }
}

/// Enough randomness to keep concurrent test processes apart.
fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish()
}
