//! Opening the store, and the instance's secrets: given by the configuration, or generated
//! once and kept ([`SecretVault`]).
//!
//! Beside an SQLite store they go to a file of their own (`secrets.json`, mode 0600, in the
//! data directory), so that a copy of the database alone does not carry the keys that protect
//! it. With PostgreSQL they go to the database, because every node must share them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use anyhow::Context;
use footprint_store::{PostgresOptions, SqliteOptions, Store, StoreLocation};

use crate::app::config::{Config, Secret};
use crate::app::state::Keys;
use crate::kernel::crypto::{FieldCipher, Pseudonymizer, decode_key, random_base64};

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let location =
        StoreLocation::resolve(config.store.database_url.as_ref().map(Secret::expose), &config.store.data_dir)?;
    let sqlite = SqliteOptions {
        synchronous: config.store.sqlite_synchronous,
        read_connections: config.store.sqlite_read_connections,
        ..SqliteOptions::default()
    };
    let postgres = PostgresOptions { pool_size: config.store.postgres_pool_size };
    let store = footprint_store::open(&location, &sqlite, &postgres).await.with_context(|| match &location {
        StoreLocation::Sqlite(path) => {
            format!("cannot open the SQLite store at {}", path.display())
        }
        StoreLocation::Postgres(_) => "cannot open the PostgreSQL store given by DATABASE_URL".to_owned(),
    })?;
    tracing::info!(backend = store.backend(), "store ready");
    Ok(store)
}

/// The JWT secret and the data keys: from the configuration when given, otherwise generated
/// once and kept (see [`SecretVault`]), so that a restart (or another node) uses the same ones.
/// The fingerprints of the data keys are kept in the store: a key that does not match the data
/// is refused at start rather than corrupting it.
pub async fn resolve_secrets(config: &Config, store: &dyn Store) -> anyhow::Result<(Vec<u8>, Keys)> {
    let vault = match store.backend() {
        "sqlite" => SecretVault::File(config.store.data_dir.join("secrets.json")),
        _ => SecretVault::Store(store),
    };
    let jwt_secret = match &config.auth.jwt_secret {
        Some(secret) => secret.expose().to_owned(),
        None => vault.get_or_create("jwt_secret", random_base64(48)).await?,
    };
    let encryption_key = match &config.privacy.encryption_key {
        Some(key) => decode_key(key.expose())?,
        None => {
            if matches!(vault, SecretVault::Store(_)) {
                tracing::warn!(
                    "FOOTPRINT_ENCRYPTION_KEY is not set: the generated key is kept in the database it protects; \
                     give the key from outside to keep them apart"
                );
            }
            decode_key(&vault.get_or_create("encryption_key", random_base64(32)).await?)?
        }
    };
    let pseudonym_key = decode_key(&vault.get_or_create("pseudonym_key", random_base64(32)).await?)?;
    for (name, key, remedy) in [
        (
            "encryption_key_fingerprint",
            &encryption_key,
            "start with the FOOTPRINT_ENCRYPTION_KEY the data was written with",
        ),
        (
            "pseudonym_key_fingerprint",
            &pseudonym_key,
            "restore the secrets file (or database) the data was written with",
        ),
    ] {
        let fingerprint = Pseudonymizer::fingerprint(key);
        if store.secret(name, fingerprint.clone()).await? != fingerprint {
            anyhow::bail!(
                "the {} does not match this store's data: {remedy}",
                name.trim_end_matches("_fingerprint").replace('_', " ")
            );
        }
    }
    let keys = Keys { cipher: FieldCipher::new(&encryption_key), pseudonymizer: Pseudonymizer::new(pseudonym_key) };
    Ok((jwt_secret.into_bytes(), keys))
}

pub enum SecretVault<'a> {
    File(PathBuf),
    Store(&'a dyn Store),
}

impl SecretVault<'_> {
    /// The secret kept under `name`, after storing `generated` if there was none.
    pub async fn get_or_create(&self, name: &str, generated: String) -> anyhow::Result<String> {
        match self {
            SecretVault::Store(store) => Ok(store.secret(name, generated).await?),
            SecretVault::File(path) => get_or_create_in_file(path, name, generated),
        }
    }
}

fn get_or_create_in_file(path: &Path, name: &str, generated: String) -> anyhow::Result<String> {
    let mut secrets: BTreeMap<String, String> = match std::fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("{} is not a valid secrets file", path.display()))?
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    if let Some(existing) = secrets.get(name) {
        return Ok(existing.clone());
    }
    secrets.insert(name.to_owned(), generated.clone());
    write_private(path, &serde_json::to_string_pretty(&secrets)?)
        .with_context(|| format!("cannot write the generated secrets to {}", path.display()))?;
    Ok(generated)
}

/// Writes readable by the owner only, replacing the file atomically.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_vault_keeps_the_first_value_privately() {
        let dir = tempfile::tempdir().unwrap();
        let vault = SecretVault::File(dir.path().join("secrets.json"));
        assert_eq!(vault.get_or_create("jwt", "one".into()).await.unwrap(), "one");
        assert_eq!(vault.get_or_create("jwt", "two".into()).await.unwrap(), "one");
        assert_eq!(vault.get_or_create("other", "x".into()).await.unwrap(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets.json")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
