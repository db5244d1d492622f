//! The TOTP second factor (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step of
//! skew either way). Enrolment stores an encrypted secret; the first correct code activates it
//! and hands out ten one-time recovery codes (kept as keyed hashes). A code is accepted once:
//! the last accepted step is kept and moved forward atomically in the store, so neither a
//! replay nor two nodes at once can use it twice. A login of an account with the factor active
//! answers a short-lived, signed challenge instead of a token; the code (or a recovery code)
//! completes it. Wrong codes count towards the same lockout as wrong passwords.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use footprint_store::{MfaRecord, UserRecord};
use serde::Serialize;
use serde_json::json;
use totp_rs::{Algorithm, Builder, Totp};
use utoipa::ToSchema;

use crate::accounts::audit;
use crate::accounts::lockout::{self, Admission};
use crate::accounts::risk::Assessment;
use crate::app::state::AppState;
use crate::kernel::crypto::{random_bytes, same_secret};
use crate::kernel::error::ApiError;
use footprint_analytics::risk::RiskScore;

/// The issuer shown by authenticator apps.
pub const ISSUER: &str = "Footprint";
/// How long a login's second-factor challenge may be completed.
pub const CHALLENGE_SECS: i64 = 300;
const STEP_SECS: u64 = 30;
const SECRET_BYTES: usize = 20;
const RECOVERY_CODES: usize = 10;
/// Letters and digits that are not easily mistaken for one another.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// The RFC 6238 generator for a secret.
pub fn totp(secret: Vec<u8>, account: &str) -> Result<Totp, ApiError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECS)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(account.replace(':', "_"))
        .build()
        .map_err(ApiError::internal)
}

/// The code an authenticator shows for `secret` (base32, as enrolment gives it) at `unix_secs`.
pub fn code_at(secret: &str, unix_secs: u64) -> Result<String, ApiError> {
    let bytes =
        totp_rs::Secret::try_from_base32(secret).map_err(|_| ApiError::Validation("secret: not base32".to_owned()))?;
    Ok(totp(bytes.as_ref().to_vec(), "code")?.generate(unix_secs).to_string())
}

/// What an authenticator app needs: the base32 secret, and the `otpauth://` URI (for a QR code).
#[derive(Debug, Serialize, ToSchema)]
pub struct Enrollment {
    pub secret: String,
    pub otpauth_uri: String,
}

/// The factor active, and the recovery codes: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct Activation {
    pub activated: bool,
    pub recovery_codes: Vec<String>,
}

/// A login that needs the second factor: no token yet.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MfaRequired {
    /// Always true.
    pub mfa_required: bool,
    /// Send it back to `POST /api/v1/auth/mfa/challenge` with the code, within `expires_in` seconds.
    pub mfa_token: String,
    pub methods: Vec<&'static str>,
    pub expires_in: i64,
}

fn account_label(user: &UserRecord) -> String {
    user.username.clone().unwrap_or_else(|| user.user_id.clone())
}

async fn account(state: &AppState, user_id: &str) -> Result<UserRecord, ApiError> {
    match state.store.user(user_id).await? {
        Some(user) if user.has_account() => Ok(user),
        _ => Err(ApiError::NotFound(format!("no account {user_id}"))),
    }
}

fn generator(state: &AppState, user: &UserRecord, record: &MfaRecord) -> Result<Totp, ApiError> {
    let secret = state.keys.cipher.decrypt(&record.secret_enc).map_err(ApiError::internal)?;
    let bytes = totp_rs::Secret::try_from_base32(&secret).map_err(ApiError::internal)?;
    totp(bytes.as_ref().to_vec(), &account_label(user))
}

/// Whether `code` is the current one (±1 step) and its step was not used before; the step is
/// then used up.
async fn accept_code(state: &AppState, user: &UserRecord, record: &MfaRecord, code: &str) -> Result<bool, ApiError> {
    let now = u64::try_from(state.clock.now_us() / 1_000_000).unwrap_or(0);
    let Some(step) = generator(state, user, record)?.check(code.trim(), now) else { return Ok(false) };
    Ok(state.store.accept_totp_step(&user.user_id, i64::try_from(step).unwrap_or(i64::MAX)).await?)
}

/// Starts enrolment: a new secret (replacing one not yet activated). 409 when a factor is active.
pub async fn enroll(state: &AppState, user_id: &str) -> Result<Enrollment, ApiError> {
    let user = account(state, user_id).await?;
    if state.store.mfa(user_id).await?.is_some_and(|record| record.active) {
        return Err(ApiError::Conflict(
            "a second factor is active: remove it first (DELETE /api/v1/auth/mfa)".to_owned(),
        ));
    }
    let generator = totp(random_bytes(SECRET_BYTES), &account_label(&user))?;
    let secret = generator.secret().to_base32();
    let record = MfaRecord {
        user_id: user.user_id.clone(),
        secret_enc: state.keys.cipher.encrypt(&secret),
        active: false,
        last_step: 0,
        recovery_hashes: Vec::new(),
        created_at_us: state.clock.now_us(),
    };
    state.store.put_mfa(record).await?;
    audit::record(state, "mfa.enroll", Some(user_id), Some(user_id), "started", json!({})).await;
    Ok(Enrollment { otpauth_uri: generator.to_url().map_err(ApiError::internal)?, secret })
}

fn recovery_code() -> String {
    let bytes = random_bytes(10);
    let letters: String =
        bytes.iter().map(|byte| char::from(RECOVERY_ALPHABET[usize::from(*byte) % RECOVERY_ALPHABET.len()])).collect();
    format!("{}-{}", &letters[..5], &letters[5..])
}

fn normalised(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// Activates the enrolled factor with a first correct code; returns the recovery codes.
pub async fn activate(state: &AppState, user_id: &str, code: &str) -> Result<Activation, ApiError> {
    let user = account(state, user_id).await?;
    let Some(record) = state.store.mfa(user_id).await? else {
        return Err(ApiError::Conflict("no second factor is enrolled: POST /api/v1/auth/mfa/enroll first".to_owned()));
    };
    if record.active {
        return Err(ApiError::Conflict("the second factor is already active".to_owned()));
    }
    if !accept_code(state, &user, &record, code).await? {
        audit::record(state, "mfa.verify", Some(user_id), Some(user_id), "failure", json!({})).await;
        return Err(ApiError::Validation("code: not the authenticator's current code".to_owned()));
    }
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let hashes = codes.iter().map(|code| state.keys.pseudonymizer.recovery_code(user_id, &normalised(code))).collect();
    // Re-read: the step accepted above is kept.
    let record = state.store.mfa(user_id).await?.unwrap_or(record);
    state.store.put_mfa(MfaRecord { active: true, recovery_hashes: hashes, ..record }).await?;
    audit::record(state, "mfa.verify", Some(user_id), Some(user_id), "activated", json!({})).await;
    Ok(Activation { activated: true, recovery_codes: codes })
}

/// Removes the factor, given a current code (or a recovery code).
pub async fn disable(state: &AppState, user_id: &str, code: &str) -> Result<(), ApiError> {
    let user = account(state, user_id).await?;
    let Some(record) = state.store.mfa(user_id).await? else {
        return Err(ApiError::NotFound("no second factor to remove".to_owned()));
    };
    let accepted = if record.active {
        accept_code(state, &user, &record, code).await?
            || state
                .store
                .use_recovery_code(user_id, &state.keys.pseudonymizer.recovery_code(user_id, &normalised(code)))
                .await?
    } else {
        // Enrolled, never activated: nothing to prove.
        true
    };
    if !accepted {
        audit::record(state, "mfa.disable", Some(user_id), Some(user_id), "failure", json!({})).await;
        return Err(ApiError::Validation("code: not the authenticator's current code nor a recovery code".to_owned()));
    }
    state.store.delete_mfa(user_id).await?;
    audit::record(state, "mfa.disable", Some(user_id), Some(user_id), "success", json!({})).await;
    Ok(())
}

/// How a login's second step is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The authenticator app's code, or a recovery code.
    Authenticator,
    /// A one-time code sent to the account's e-mail.
    Email,
    /// A one-time code sent by text message to the declared profile's `phone`.
    Sms,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Authenticator => "authenticator",
            Method::Email => "email",
            Method::Sms => "sms",
        }
    }
}

/// The phone number a text can go to: the declared profile's `phone` (or `phone_number`), when
/// it looks like one (digits, spaces, `+ - ( ) .`, 7 to 15 digits).
fn phone(state: &AppState, user: &UserRecord) -> Option<String> {
    let profile: serde_json::Map<String, serde_json::Value> = user
        .profile_enc
        .as_deref()
        .and_then(|stored| state.keys.cipher.decrypt(stored).ok())
        .and_then(|text| serde_json::from_str(&text).ok())?;
    let number = ["phone", "phone_number"].iter().find_map(|field| profile.get(*field)?.as_str())?.trim().to_owned();
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let allowed = number.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    (allowed && (7..=15).contains(&digits)).then_some(number)
}

/// The code method an account can receive: the first of `security_settings.mfa_methods` it has
/// the address for (`email`: an e-mail; `sms`: a phone in the profile), else an e-mail, else a
/// phone.
fn code_method(state: &AppState, user: &UserRecord) -> Option<Method> {
    let settings = crate::accounts::settings::security_settings(&state.keys.cipher, user);
    let listed: Vec<&str> = settings
        .get("mfa_methods")
        .and_then(serde_json::Value::as_array)
        .map(|methods| methods.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    let can = |method: Method| match method {
        Method::Email => user.email_enc.is_some(),
        Method::Sms => phone(state, user).is_some(),
        Method::Authenticator => false,
    };
    listed
        .iter()
        .filter_map(|name| match *name {
            "email" => Some(Method::Email),
            "sms" => Some(Method::Sms),
            _ => None,
        })
        .chain([Method::Email, Method::Sms])
        .find(|method| can(*method))
}

/// Whether a login of this account needs a second step, and which: the authenticator when one
/// is active, else a code sent by e-mail or text (see [`code_method`]) when
/// `security_settings.require_mfa` asks for one.
pub async fn required(state: &AppState, user: &UserRecord) -> Result<Option<Method>, ApiError> {
    if state.store.mfa(&user.user_id).await?.is_some_and(|record| record.active) {
        return Ok(Some(Method::Authenticator));
    }
    if !requires_mfa(state, user) {
        return Ok(None);
    }
    match code_method(state, user) {
        Some(method) => Ok(Some(method)),
        None => Err(ApiError::Forbidden(
            "this account requires a second factor but has neither an authenticator, nor an e-mail, nor a phone in its \
             profile to send a code to; an admin can turn security_settings.require_mfa off, or give the account an e-mail"
                .to_owned(),
        )),
    }
}

/// The second step to ask for when the login's risk calls for one and no authenticator is
/// active: a code by e-mail or text, if the account can receive one.
pub fn fallback(state: &AppState, user: &UserRecord) -> Option<Method> {
    code_method(state, user)
}

fn requires_mfa(state: &AppState, user: &UserRecord) -> bool {
    let settings = crate::accounts::settings::security_settings(&state.keys.cipher, user);
    settings.get("require_mfa").and_then(serde_json::Value::as_bool).unwrap_or(false)
}

/// What the challenge carries: whose, until when, under which token generation, how it is
/// proven, and where the login came from (kept in the login history once it passes).
fn challenge_payload(user: &UserRecord, expires_us: i64, method: Method, seen: &Assessment) -> String {
    format!(
        "{}\n{expires_us}\n{}\n{}\n{}\n{}\n{}\n{}",
        user.user_id,
        user.token_generation,
        method.name(),
        seen.network,
        seen.device,
        seen.hour,
        seen.risk.score
    )
}

/// How long an e-mailed code may be used.
const EMAILED_CODE_SECS: i64 = 600;

/// The challenge a login answers when the second step is needed; for `Email`, the code is sent
/// (and only its keyed hash kept).
pub async fn challenge(
    state: &AppState,
    user: &UserRecord,
    method: Method,
    seen: &Assessment,
) -> Result<MfaRequired, ApiError> {
    let now_us = state.clock.now_us();
    let expires_us = now_us + CHALLENGE_SECS * 1_000_000;
    if matches!(method, Method::Email | Method::Sms) {
        let bytes = random_bytes(4);
        let code = format!("{:06}", u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % 1_000_000);
        let hash = state.keys.pseudonymizer.one_time_code(&user.user_id, &code);
        state.store.put_mfa_code(&user.user_id, &hash, now_us + EMAILED_CODE_SECS * 1_000_000).await?;
        let recipient = match (method, user.email_enc.as_deref()) {
            (Method::Email, Some(stored)) => state.keys.cipher.decrypt(stored).map_err(ApiError::internal)?,
            (Method::Sms, _) => phone(state, user).ok_or_else(|| {
                ApiError::Forbidden("the account has no phone in its profile to text a code to".to_owned())
            })?,
            _ => return Err(ApiError::Forbidden("the account has no e-mail to send a code to".to_owned())),
        };
        let message = crate::accounts::outbox::Message {
            user_id: user.user_id.clone(),
            channel: if method == Method::Sms { "sms" } else { "email" },
            recipient,
            subject: "Your Footprint sign-in code".to_owned(),
            body: format!("Your sign-in code is {code}. It expires in {} minutes.", EMAILED_CODE_SECS / 60),
        };
        state.sender.send(message).await?;
    }
    let payload = challenge_payload(user, expires_us, method, seen);
    let signature = state.keys.pseudonymizer.mfa_challenge(&payload);
    Ok(MfaRequired {
        mfa_required: true,
        mfa_token: format!("{}.{signature}", URL_SAFE_NO_PAD.encode(payload.as_bytes())),
        methods: match method {
            Method::Authenticator => vec!["authenticator", "recovery_code"],
            Method::Email => vec!["email"],
            Method::Sms => vec!["sms"],
        },
        expires_in: CHALLENGE_SECS,
    })
}

/// The account a challenge was issued to, if it is genuine, unexpired, and its account's tokens
/// were not revoked since.
async fn challenged(state: &AppState, mfa_token: &str) -> Result<(UserRecord, Method, Assessment), ApiError> {
    let invalid = || ApiError::InvalidToken("mfa_token: not a valid or current challenge; log in again".to_owned());
    let (encoded, signature) = mfa_token.trim().split_once('.').ok_or_else(invalid)?;
    let payload =
        URL_SAFE_NO_PAD.decode(encoded).ok().and_then(|bytes| String::from_utf8(bytes).ok()).ok_or_else(invalid)?;
    if !same_secret(&state.keys.pseudonymizer.mfa_challenge(&payload), signature) {
        return Err(invalid());
    }
    let mut parts = payload.split('\n');
    let (Some(user_id), Some(expires), Some(generation), Some(method)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let method = match method {
        "authenticator" => Method::Authenticator,
        "email" => Method::Email,
        "sms" => Method::Sms,
        _ => return Err(invalid()),
    };
    let (Some(network), Some(device), Some(hour), Some(score)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let seen = Assessment {
        network: network.to_owned(),
        device: device.to_owned(),
        hour: hour.parse().map_err(|_| invalid())?,
        risk: RiskScore {
            score: score.parse().map_err(|_| invalid())?,
            reasons: vec!["passed the second step".to_owned()],
        },
        threshold: 0.0,
        enabled: true,
    };
    let expires_us: i64 = expires.parse().map_err(|_| invalid())?;
    if expires_us < state.clock.now_us() {
        return Err(ApiError::TokenExpired);
    }
    let user = state.store.user(user_id).await?.filter(UserRecord::has_account).ok_or_else(invalid)?;
    if generation != user.token_generation.to_string() {
        return Err(invalid());
    }
    Ok((user, method, seen))
}

/// Completes a login's challenge with the authenticator's code or a recovery code: the account
/// to issue the access token to. Wrong codes count towards the login's lockout.
pub async fn complete(
    state: &AppState,
    mfa_token: &str,
    code: Option<&str>,
    recovery_code: Option<&str>,
    client: Option<IpAddr>,
) -> Result<UserRecord, ApiError> {
    let (user, method, seen) = challenged(state, mfa_token).await?;
    let record = state.store.mfa(&user.user_id).await?.filter(|record| record.active);
    if method == Method::Authenticator && record.is_none() {
        return Err(ApiError::InvalidToken("the second factor was removed meanwhile: log in again".to_owned()));
    }
    let subject = Some(user.user_id.as_str());
    let pair = lockout::pair(state, Some(&user), &user.user_id, client);
    let attempt = match lockout::admit(state, pair).await? {
        Admission::Checked(attempt) => attempt,
        Admission::Refused { retry_after_secs, .. } => return Err(lockout::refusal(retry_after_secs)),
    };
    let (accepted, method) = match (code, recovery_code, &record) {
        (Some(code), _, _) if matches!(method, Method::Email | Method::Sms) => {
            let hash = state.keys.pseudonymizer.one_time_code(&user.user_id, code.trim());
            (state.store.take_mfa_code(&user.user_id, &hash, state.clock.now_us()).await?, method.name())
        }
        (Some(code), _, Some(record)) => (accept_code(state, &user, record, code).await?, "authenticator"),
        (None, Some(recovery), Some(_)) => {
            let hash = state.keys.pseudonymizer.recovery_code(&user.user_id, &normalised(recovery));
            (state.store.use_recovery_code(&user.user_id, &hash).await?, "recovery_code")
        }
        _ => {
            return Err(ApiError::Validation("code (or, with an authenticator, recovery_code) is required".to_owned()));
        }
    };
    if !accepted {
        let outcome = if lockout::failed(state, &attempt).await? { "locked" } else { "failure" };
        audit::record(state, "login.mfa", subject, subject, outcome, json!({"method": method})).await;
        return Err(ApiError::InvalidCredentials);
    }
    lockout::succeeded(state, &attempt).await?;
    // The device and network are known from now on.
    crate::accounts::risk::record(state, &user, &seen, "mfa_passed").await?;
    audit::record(state, "login.mfa", subject, subject, "success", json!({"method": method})).await;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B (SHA-1, the 20-byte ASCII secret), the codes cut to 6 digits as
    /// authenticator apps show them.
    #[test]
    fn the_rfc_6238_test_vectors_pass() {
        let generator = totp(b"12345678901234567890".to_vec(), "test").unwrap();
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(generator.generate(time).to_string(), code, "T = {time}");
        }
        assert_eq!(generator.check("287082", 59 + 30), Some(1), "one step late is accepted, as step 1");
        assert_eq!(generator.check("287082", 59 + 90), None, "three steps late is not");
    }

    #[test]
    fn recovery_codes_are_ten_easy_letters_read_either_way() {
        let code = recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(normalised(&code).len(), 10);
        assert_eq!(normalised(&code.to_uppercase().replace('-', " ")), normalised(&code));
        assert!(normalised(&code).bytes().all(|b| RECOVERY_ALPHABET.contains(&b)));
    }
}
