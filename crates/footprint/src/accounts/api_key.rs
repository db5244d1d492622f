//! API keys for server-to-server calls: `fp_<id>_<secret>`. Only the SHA-256 of the whole
//! key is stored; the key itself is shown once, when created.

use footprint_analytics::Tier;
use footprint_store::ApiKeyRecord;

use crate::kernel::crypto::{random_token, sha256_hex};

const PREFIX: &str = "fp_";

/// A publishable key of the browser tracker: it may only send events to `/api/collect`, from the
/// origins it lists (each kept as a scope `origin:<origin>`), and never read.
pub const SCOPE_BROWSER: &str = "browser";
pub const ORIGIN_SCOPE_PREFIX: &str = "origin:";

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

/// A publishable key for the browser tracker (`fp_pub_…`): it may only send events to
/// `/api/collect` from `origins` (already normalised by [`origin`]).
pub fn generate_browser(name: &str, origins: &[String], tier: Tier, now_us: i64) -> (String, ApiKeyRecord) {
    let mut scopes = vec![SCOPE_BROWSER.to_owned()];
    scopes.extend(origins.iter().map(|origin| format!("{ORIGIN_SCOPE_PREFIX}{origin}")));
    let (_, mut record) = generate(name, scopes, tier, now_us);
    record.key_id = record.key_id.replacen(PREFIX, "fp_pub_", 1);
    let secret = format!("{}_{}", record.key_id, random_token(32));
    record.key_hash = hash(&secret);
    (secret, record)
}

/// An origin as browsers send it in the `Origin` header: `scheme://host[:port]`, lower case,
/// without a path or the scheme's default port. `https://Shop.example/` → `https://shop.example`.
pub fn origin(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let why = || format!("{text:?} is not an origin: write scheme://host[:port], e.g. https://shop.example");
    let (scheme, rest) = text.split_once("://").ok_or_else(why)?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(why());
    }
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    Ok(format!("{scheme}://{}", rest.strip_suffix(default_port).unwrap_or(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_key_is_publishable_and_lists_its_origins() {
        let origins = vec![origin("https://Shop.example/").unwrap(), origin("http://localhost:3000").unwrap()];
        assert_eq!(origins, ["https://shop.example", "http://localhost:3000"]);
        let (secret, record) = generate_browser("site", &origins, Tier::Vip, 1);
        assert!(secret.starts_with("fp_pub_") && secret.starts_with(&record.key_id) && looks_like_api_key(&secret));
        assert_eq!(record.key_hash, hash(&secret));
        assert_eq!(record.scopes, ["browser", "origin:https://shop.example", "origin:http://localhost:3000"]);
        assert_eq!(origin("https://shop.example:443").unwrap(), "https://shop.example");
        for bad in ["shop.example", "ftp://x", "https://x/path", "https://", "javascript://x"] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }

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
