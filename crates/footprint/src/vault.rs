//! Where secrets that the configuration does not give are generated once and kept.
//!
//! Beside an SQLite store they go to a file of their own (`secrets.json`, mode 0600, in the
//! data directory), so that a copy of the database alone does not carry the keys that protect
//! it. With PostgreSQL they go to the database, because every node must share them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use footprint_store::Store;

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
