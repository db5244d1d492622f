//! Keys and the cryptography built on them: AES-256-GCM for personal fields at rest, keyed
//! pseudonyms (HMAC-SHA256) for behavioural data and lookups, random secrets.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

const NONCE_BYTES: usize = 12;
const CIPHERTEXT_PREFIX: &str = "v1:";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key must be the base64 encoding of exactly 32 bytes")]
    BadKey,
    #[error("a stored encrypted value cannot be decrypted with the configured key")]
    Undecryptable,
}

/// Decodes a base64 key of exactly 32 bytes.
pub fn decode_key(encoded: &str) -> Result<[u8; 32], CryptoError> {
    let bytes = STANDARD.decode(encoded.trim()).map_err(|_| CryptoError::BadKey)?;
    bytes.try_into().map_err(|_| CryptoError::BadKey)
}

/// `n` random bytes from the operating system's generator, base64-encoded.
pub fn random_base64(n_bytes: usize) -> String {
    let mut bytes = vec![0u8; n_bytes];
    rand::rng().fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

/// `n` random bytes as URL-safe text (tokens, API keys).
pub fn random_token(n_bytes: usize) -> String {
    let mut bytes = vec![0u8; n_bytes];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` random bytes from the OS-seeded generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// Equality of two secrets' encodings in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// A random token generation for a new account, from 1 to 2^53 (exact in any JSON reader): the
/// tokens of an earlier account with the same id, erased since, never carry it.
pub fn random_generation() -> i64 {
    i64::try_from(rand::rng().next_u64() >> 11).unwrap_or(0) + 1
}

/// Hex SHA-256, for high-entropy secrets such as API keys (passwords use argon2id).
pub fn sha256_hex(input: &str) -> String {
    hex::encode(Sha256::digest(input.as_bytes()))
}

/// Encrypts personal fields with AES-256-GCM; each value carries its own random nonce.
#[derive(Clone)]
pub struct FieldCipher {
    cipher: Aes256Gcm,
}

impl FieldCipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self { cipher: Aes256Gcm::new(key.into()) }
    }

    /// `v1:` + base64(nonce ‖ ciphertext ‖ tag).
    pub fn encrypt(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce), plaintext.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut packed = nonce.to_vec();
        packed.extend_from_slice(&ciphertext);
        format!("{CIPHERTEXT_PREFIX}{}", STANDARD.encode(packed))
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, CryptoError> {
        let encoded = stored.strip_prefix(CIPHERTEXT_PREFIX).ok_or(CryptoError::Undecryptable)?;
        let packed = STANDARD.decode(encoded).map_err(|_| CryptoError::Undecryptable)?;
        if packed.len() < NONCE_BYTES {
            return Err(CryptoError::Undecryptable);
        }
        let (nonce, ciphertext) = packed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| CryptoError::Undecryptable)?;
        let plaintext = self.cipher.decrypt(&Nonce::from(nonce), ciphertext).map_err(|_| CryptoError::Undecryptable)?;
        String::from_utf8(plaintext).map_err(|_| CryptoError::Undecryptable)
    }
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FieldCipher(<key redacted>)")
    }
}

/// Keyed one-way names: the pseudonym under which a user's behavioural data is stored, and
/// the blind index that finds an encrypted e-mail. Domain-separated so that one never equals
/// the other.
#[derive(Clone)]
pub struct Pseudonymizer {
    key: [u8; 32],
}

impl Pseudonymizer {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn keyed_hash(&self, domain: &str, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        // 128 bits keep collisions out of reach for any realistic number of users.
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The pseudonym of a user id.
    pub fn user_key(&self, user_id: &str) -> String {
        self.keyed_hash("user", user_id)
    }

    /// What is kept of an erased user id: recognises the id again, yet is neither the id nor
    /// its pseudonym.
    pub fn tombstone(&self, user_id: &str) -> String {
        self.keyed_hash("erased", user_id)
    }

    /// What failed logins with a login that names no account are counted under.
    pub fn login_key(&self, login: &str) -> String {
        self.keyed_hash("login", login)
    }

    /// The lookup index of a normalised e-mail address.
    pub fn email_index(&self, email: &str) -> String {
        self.keyed_hash("email", email)
    }

    /// The CSRF token of a dashboard session (or of a login form's nonce): the same on every
    /// node, and worthless without the key.
    pub fn csrf_token(&self, purpose: &str, value: &str) -> String {
        self.keyed_hash(&format!("csrf-{purpose}"), value)
    }

    /// What a recovery code of `user_id` is kept as (codes are random: a keyed hash suffices).
    pub fn recovery_code(&self, user_id: &str, code: &str) -> String {
        self.keyed_hash("mfa-recovery", &format!("{user_id}\n{code}"))
    }

    /// What an e-mailed one-time code of `user_id` is kept as.
    pub fn one_time_code(&self, user_id: &str, code: &str) -> String {
        self.keyed_hash("mfa-one-time", &format!("{user_id}\n{code}"))
    }

    /// The name of a user's device in their login history (the device id or user agent the
    /// client gave, never kept as such).
    pub fn device(&self, user_id: &str, device: &str) -> String {
        self.keyed_hash("device", &format!("{user_id}\n{device}"))
    }

    /// The signature of a pending second-factor challenge.
    pub fn mfa_challenge(&self, payload: &str) -> String {
        self.keyed_hash("mfa-challenge", payload)
    }

    /// A fingerprint of another key, stored so that a changed key is noticed at start.
    pub fn fingerprint(key: &[u8; 32]) -> String {
        Pseudonymizer::new(*key).keyed_hash("key-check", "footprint")
    }
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(<key redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_each_encryption_differs() {
        let cipher = FieldCipher::new(&[7u8; 32]);
        let first = cipher.encrypt("user@example.com");
        let second = cipher.encrypt("user@example.com");
        assert_ne!(first, second, "a fresh nonce per value");
        assert!(!first.contains("example"));
        assert_eq!(cipher.decrypt(&first).unwrap(), "user@example.com");
        assert!(FieldCipher::new(&[8u8; 32]).decrypt(&first).is_err(), "another key cannot read it");
        let mut tampered = first.clone();
        tampered.pop();
        tampered.push(if first.ends_with('A') { 'B' } else { 'A' });
        assert!(cipher.decrypt(&tampered).is_err(), "GCM detects tampering");
    }

    #[test]
    fn pseudonyms_are_stable_keyed_and_domain_separated() {
        let one = Pseudonymizer::new([1u8; 32]);
        assert_eq!(one.user_key("alice"), one.user_key("alice"));
        assert_eq!(one.user_key("alice").len(), 32);
        assert_ne!(one.user_key("alice"), one.user_key("bob"));
        assert_ne!(one.user_key("alice"), Pseudonymizer::new([2u8; 32]).user_key("alice"));
        assert_ne!(one.user_key("a@b.c"), one.email_index("a@b.c"));
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(decode_key(&random_base64(32)).is_ok());
        assert!(decode_key(&random_base64(16)).is_err());
        assert!(decode_key("not base64!").is_err());
    }
}
