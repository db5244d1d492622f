//! Password hashing with argon2id (the crate's defaults: 19 MiB, 2 passes, OWASP's minimum).
//! Hashing is CPU- and memory-heavy: [`Passwords`] runs it on the blocking pool, a few at a
//! time, so that a flood of logins cannot exhaust memory or starve the store's blocking work.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A password the service accepts to hash, or why not.
pub fn check_password_policy(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("password: must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("password: must be at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default().hash_password(password.as_bytes())?.to_string())
}

/// False for a wrong password and for a hash that does not parse.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    match PasswordHash::new(stored_hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of a real verification, so that an unknown login takes as long as a
/// wrong password and does not reveal which accounts exist.
pub fn verify_against_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("footprint-timing-equaliser").unwrap_or_default());
    let _ = verify_password(password, dummy);
}

/// Hashing and verification, at most `concurrency` at a time.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashingError(String);

impl Passwords {
    pub fn new(concurrency: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(concurrency.max(1))) }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashingError> {
        let _permit = self.permits.acquire().await.map_err(|error| HashingError(error.to_string()))?;
        tokio::task::spawn_blocking(work).await.map_err(|error| HashingError(error.to_string()))
    }

    pub async fn hash(&self, password: String) -> Result<String, HashingError> {
        self.run(move || hash_password(&password)).await?.map_err(|error| HashingError(error.to_string()))
    }

    pub async fn verify(&self, password: String, stored_hash: String) -> Result<bool, HashingError> {
        self.run(move || verify_password(&password, &stored_hash)).await
    }

    /// As long as a real verification, for logins that match no account.
    pub async fn verify_nothing(&self, password: String) -> Result<(), HashingError> {
        self.run(move || verify_against_dummy(&password)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verifiable() {
        let first = hash_password("correct horse").unwrap();
        let second = hash_password("correct horse").unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_ne!(first, second, "a fresh salt per hash");
        assert!(verify_password("correct horse", &first));
        assert!(!verify_password("correct horsE", &first));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn the_policy_names_the_rule() {
        assert!(check_password_policy("1234567").unwrap_err().contains("at least 8"));
        assert!(check_password_policy("mot_de_passe").is_ok());
        assert!(check_password_policy(&"x".repeat(1025)).is_err());
    }
}
