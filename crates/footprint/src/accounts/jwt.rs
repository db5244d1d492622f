//! Access tokens: JWT signed with HS256, carrying the user id, role, username and the account's
//! token generation (a token whose generation is no longer the account's is refused).

use std::time::Duration;

use footprint_analytics::Role;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const ISSUER: &str = "footprint";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    /// Makes two tokens issued in the same second differ.
    pub jti: String,
    /// The account's token generation when the token was issued; tokens from before
    /// generations existed have none, which reads as 0 (the generation those accounts kept).
    #[serde(rename = "gen", default)]
    pub generation: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid: {0}")]
    Invalid(String),
}

/// Whom a token is issued to: the account's id, role, username and token generation.
#[derive(Debug, Clone, Copy)]
pub struct TokenSubject<'a> {
    pub user_id: &'a str,
    pub role: Role,
    pub username: Option<&'a str>,
    pub generation: i64,
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
}

/// Clock skew tolerated on expiry, in seconds.
const LEEWAY_SECS: u64 = 5;

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        validation.leeway = LEEWAY_SECS;
        // Expiry is checked against the server's clock (the one that issued), not the OS's.
        validation.validate_exp = false;
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation, ttl }
    }

    pub fn issue(&self, subject: TokenSubject<'_>, now: OffsetDateTime) -> IssuedToken {
        self.issue_within(subject, now, None)
    }

    /// A token lasting the configured lifetime, or `limit` when that is shorter.
    pub fn issue_within(&self, subject: TokenSubject<'_>, now: OffsetDateTime, limit: Option<Duration>) -> IssuedToken {
        let ttl = limit.map_or(self.ttl, |limit| limit.min(self.ttl));
        let claims = Claims {
            sub: subject.user_id.to_owned(),
            role: subject.role,
            username: subject.username.map(str::to_owned),
            generation: subject.generation,
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            iss: ISSUER.to_owned(),
            jti: crate::kernel::crypto::random_token(12),
        };
        let access_token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of serialisable claims cannot fail");
        IssuedToken { access_token, expires_in: ttl.as_secs() }
    }

    /// The claims of a token signed here and not expired at `now` (the server's clock).
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Claims, TokenError> {
        let claims =
            decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|error| {
                match error.kind() {
                    ErrorKind::InvalidSignature => TokenError::Invalid("bad signature".to_owned()),
                    ErrorKind::InvalidIssuer => TokenError::Invalid("not issued by this Footprint".to_owned()),
                    _ => TokenError::Invalid("malformed token".to_owned()),
                }
            })?;
        if claims.exp.saturating_add(i64::try_from(LEEWAY_SECS).unwrap_or(0)) < now.unix_timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(3600))
    }

    fn subject(role: Role, username: Option<&str>) -> TokenSubject<'_> {
        TokenSubject { user_id: "alice", role, username, generation: 42 }
    }

    #[test]
    fn a_token_round_trips_its_claims() {
        let now = OffsetDateTime::now_utc();
        let issued = keys().issue(subject(Role::Manager, Some("alice")), now);
        assert_eq!(issued.expires_in, 3600);
        let claims = keys().verify(&issued.access_token, now).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role, claims.username.as_deref(), claims.generation),
            ("alice", Role::Manager, Some("alice"), 42)
        );
        assert_ne!(keys().issue(subject(Role::Manager, None), now).access_token, issued.access_token);
    }

    #[test]
    fn expired_forged_and_garbage_tokens_are_refused() {
        let long_ago = OffsetDateTime::now_utc() - time::Duration::hours(2);
        let expired = keys().issue(subject(Role::User, None), long_ago);
        assert_eq!(keys().verify(&expired.access_token, OffsetDateTime::now_utc()), Err(TokenError::Expired));
        // Expiry is read on the clock given (the server's), not the OS's.
        assert!(keys().verify(&expired.access_token, long_ago).is_ok());
        let other = JwtKeys::new(b"another-secret-another-secret-xx", Duration::from_secs(60));
        let forged = other.issue(subject(Role::Admin, None), OffsetDateTime::now_utc());
        assert!(matches!(keys().verify(&forged.access_token, OffsetDateTime::now_utc()), Err(TokenError::Invalid(_))));
        assert!(matches!(keys().verify("not-a-jwt", OffsetDateTime::now_utc()), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn a_token_from_before_generations_reads_as_generation_zero() {
        let now = OffsetDateTime::now_utc();
        let claims = serde_json::json!({"sub": "alice", "role": "user", "iat": now.unix_timestamp(),
            "exp": now.unix_timestamp() + 60, "iss": ISSUER, "jti": "x"});
        let key = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let token = encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert_eq!(keys().verify(&token, now).unwrap().generation, 0);
    }
}
