//! API keys for server-to-server calls: `fp_<id>_<secret>`. Only the SHA-256 of the whole
//! key is stored; the key itself is shown once, when created.

use footprint_analytics::Tier;
use footprint_store::ApiKeyRecord;

use crate::kernel::crypto::{random_token, sha256_hex};

const PREFIX: &str = "fp_";

pub fn looks_like_api_key(credential: &str) -> bool {
    credential.starts_with(PREFIX) && credential.matches('_').count() >= 2 && !credential.contains('.')
}

pub fn hash(secret: &str) -> String {
    sha256_hex(secret)
}

/// A new key: the secret to hand out once, and the record to store. Its calls count against
/// `tier`'s request limit.
pub fn generate(name: &str, scopes: Vec<String>, tier: Tier, now_us: i64) -> (String, ApiKeyRecord) {
    let id: String = random_token(6).chars().filter(char::is_ascii_alphanumeric).take(8).collect();
    let key_id = format!("{PREFIX}{id}");
    let secret = format!("{key_id}_{}", random_token(32));
    let record = ApiKeyRecord {
        key_id,
        key_hash: hash(&secret),
        name: name.to_owned(),
        scopes,
        tier,
        created_at_us: now_us,
        revoked_at_us: None,
    };
    (secret, record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_recognised_and_only_its_hash_is_kept() {
        let (secret, record) = generate("web", vec!["ingest".into()], Tier::Free, 1);
        assert!(looks_like_api_key(&secret));
        assert!(secret.starts_with(&record.key_id));
        assert_eq!(record.key_hash, hash(&secret));
        assert!(!record.key_hash.contains(&secret));
        assert!(!looks_like_api_key("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig"), "a JWT is not an API key");
    }
}
