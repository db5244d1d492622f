//! Login lockout. Failed logins are counted per *pair*: a login (the account, or a login that
//! names no account, counted just the same so that answers do not tell which usernames exist)
//! from a source network (the client's address truncated to /24 or /48). After
//! `max_failed_logins` failures in a row the pair is locked: that network gets 429 for that
//! login, the owner's other networks keep working. Each further lock of the pair lasts twice
//! as long, up to `max_lockout_secs`; a success forgets the pair, and so does a day of quiet.

use std::net::IpAddr;
use std::time::Duration;

use footprint_analytics::privacy::network_of;
use footprint_store::{LoginAttempt, LoginPair, UserRecord};

use crate::app::config::AuthConfig;
use crate::app::state::AppState;
use crate::kernel::error::ApiError;

/// A pair quiet for this long (or for twice the longest lock, if longer) is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(86_400);
/// The network of a request that came without a socket (the router driven in-process).
const NO_NETWORK: &str = "unknown";

/// An attempt counted within the budget: its password may be checked.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub pair: LoginPair,
    number: i64,
    lockouts: i64,
}

/// Whether an attempt may go on to the password check.
#[derive(Debug, Clone)]
pub enum Admission {
    Checked(Attempt),
    /// Locked: answer [`refusal`]. `locked_now` when this attempt's parallel siblings used up
    /// the budget and it took the lock.
    Refused {
        retry_after_secs: u64,
        locked_now: bool,
    },
}

/// The pair an attempt is counted under: the account's pseudonym when the login names an
/// account, else a keyed hash of the login as typed (trimmed, in lower case).
impl Attempt {
    /// The failed attempts of this pair before this one (since its last success or lock).
    pub fn previous_failures(&self) -> u32 {
        u32::try_from((self.number - 1).max(0)).unwrap_or(u32::MAX)
    }
}

pub fn pair(state: &AppState, account: Option<&UserRecord>, login: &str, client: Option<IpAddr>) -> LoginPair {
    let login_key = match account {
        Some(user) => user.user_key.clone(),
        None => state.keys.pseudonymizer.login_key(&login.trim().to_lowercase()),
    };
    let network = client.map_or_else(|| NO_NETWORK.to_owned(), |ip| network_of(ip).to_string());
    LoginPair { login_key, network }
}

/// Counts the attempt before its password is checked, so that parallel guesses share one budget.
pub async fn admit(state: &AppState, pair: LoginPair) -> Result<Admission, ApiError> {
    let now_us = state.clock.now_us();
    let auth = &state.config.auth;
    match state.store.count_login_attempt(&pair, now_us).await? {
        LoginAttempt::Locked { until_us } => {
            Ok(Admission::Refused { retry_after_secs: retry_after_secs(until_us, now_us), locked_now: false })
        }
        LoginAttempt::Counted { attempts, lockouts } if attempts > i64::from(auth.max_failed_logins) => {
            // Parallel guesses went past the limit: this one is not even checked.
            let until_us = now_us + micros(lock_duration(auth, lockouts));
            let locked_now = state.store.lock_login(&pair, until_us, now_us).await?;
            Ok(Admission::Refused { retry_after_secs: retry_after_secs(until_us, now_us), locked_now })
        }
        LoginAttempt::Counted { attempts, lockouts } => {
            Ok(Admission::Checked(Attempt { pair, number: attempts, lockouts }))
        }
    }
}

/// After a wrong password: locks the pair when this attempt used up the budget; true when it did.
pub async fn failed(state: &AppState, attempt: &Attempt) -> Result<bool, ApiError> {
    let auth = &state.config.auth;
    if attempt.number < i64::from(auth.max_failed_logins) {
        return Ok(false);
    }
    let now_us = state.clock.now_us();
    let until_us = now_us + micros(lock_duration(auth, attempt.lockouts));
    Ok(state.store.lock_login(&attempt.pair, until_us, now_us).await?)
}

/// After the right password: the pair starts over.
pub async fn succeeded(state: &AppState, attempt: &Attempt) -> Result<(), ApiError> {
    Ok(state.store.clear_login_attempts(&attempt.pair).await?)
}

/// Forgets the pairs with no attempt for a day (or twice the longest lock); returns how many.
pub async fn forget_quiet_pairs(state: &AppState) -> Result<u64, ApiError> {
    let quiet = FORGET_AFTER.max(state.config.auth.max_lockout_secs * 2);
    Ok(state.store.expire_login_attempts(state.clock.now_us() - micros(quiet)).await?)
}

/// The same answer for every locked pair, whether or not the login names an account.
pub fn refusal(retry_after_secs: u64) -> ApiError {
    ApiError::TooManyRequests {
        message: format!(
            "too many failed logins for this login from your network: it is locked; retry in {retry_after_secs} s"
        ),
        retry_after_secs,
    }
}

/// The lock after `lockouts` earlier ones: `lockout_secs`, doubled for each, at most `max_lockout_secs`.
fn lock_duration(auth: &AuthConfig, lockouts: i64) -> Duration {
    let doublings = u32::try_from(lockouts.clamp(0, 30)).unwrap_or(30);
    auth.lockout_secs.saturating_mul(1 << doublings).min(auth.max_lockout_secs)
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX / 4)
}

fn retry_after_secs(until_us: i64, now_us: i64) -> u64 {
    u64::try_from((until_us - now_us) / 1_000_000).unwrap_or(0) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lock_lasts_twice_the_last_up_to_the_longest() {
        let auth = AuthConfig {
            lockout_secs: Duration::from_secs(60),
            max_lockout_secs: Duration::from_secs(300),
            ..AuthConfig::default()
        };
        let secs: Vec<u64> = (0..5).map(|lockouts| lock_duration(&auth, lockouts).as_secs()).collect();
        assert_eq!(secs, [60, 120, 240, 300, 300]);
        assert_eq!(lock_duration(&auth, i64::MAX).as_secs(), 300);
        assert_eq!(retry_after_secs(2_500_000, 0), 3);
        assert_eq!(retry_after_secs(0, 10), 1, "never less than a second");
    }
}
