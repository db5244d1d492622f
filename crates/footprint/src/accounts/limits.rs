//! Seed 003's per-tier request limits. Each caller (an account, or an API key) has one budget
//! per tier, kept by GCRA: `limit` requests may be spent at once, then one more every
//! `window ÷ limit`; a single number per caller (its "theoretical arrival time") is all that is
//! kept. With `REDIS_URL` the numbers live in Redis (one Lua script per request, timed by
//! Redis's own clock), so every node spends the same budget; without it, in this process. When
//! Redis fails, this node falls back to its own numbers, says so once in the log and in
//! `/ready`, and goes back to Redis as soon as it answers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use footprint_analytics::Tier;

use crate::accounts::principal::Principal;
use crate::app::config::TiersConfig;
use crate::kernel::error::ApiError;

/// The window the tiers' limits are counted over.
pub const WINDOW: Duration = Duration::from_secs(3600);
/// The window of the tiers' event quotas.
pub const MONTH: Duration = Duration::from_secs(30 * 86_400);

/// The tier the request's caller counts against, left in the request by the `Principal`
/// extractor for the routes that charge a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerTier(pub Tier);

/// What the limiter answered for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests still allowed right now.
    pub remaining: u32,
    /// Seconds until the whole budget is back.
    pub reset_secs: u64,
    /// Seconds until one more request is allowed (0 when this one was).
    pub retry_after_secs: u64,
}

/// A budget's state after spending `cost`: whether it was allowed, and how far the budget's
/// theoretical arrival time lies ahead of now (in µs) once it is counted (or, refused, as it
/// stands).
fn decide(allowed: bool, ahead_us: i64, limit: u32, window_us: i64, cost: u32) -> Decision {
    let interval_us = window_us / i64::from(limit.max(1));
    let ahead_us = ahead_us.max(0);
    let remaining = ((window_us - ahead_us).max(0) / interval_us.max(1)).min(i64::from(limit));
    let up = |us: i64| u64::try_from(us.max(0)).unwrap_or(0).div_ceil(1_000_000);
    let needed_us = ahead_us + i64::from(cost.max(1)) * interval_us - window_us;
    Decision {
        allowed,
        limit,
        remaining: u32::try_from(remaining).unwrap_or(0),
        reset_secs: up(ahead_us),
        retry_after_secs: if allowed { 0 } else { up(needed_us).max(1) },
    }
}

/// GCRA on a stored arrival time, spending `cost` at once: the new time to keep (when allowed),
/// and the decision. A cost above the limit never fits.
fn gcra(kept_us: Option<i64>, now_us: i64, limit: u32, window_us: i64, cost: u32) -> (Option<i64>, Decision) {
    let interval_us = window_us / i64::from(limit.max(1));
    let tat = kept_us.unwrap_or(now_us).max(now_us);
    let next = tat.saturating_add(i64::from(cost.max(1)).saturating_mul(interval_us));
    if next - now_us > window_us {
        return (None, decide(false, tat - now_us, limit, window_us, cost));
    }
    (Some(next), decide(true, next - now_us, limit, window_us, cost))
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// `redis` or `local`.
    fn kind(&self) -> &'static str;
    /// Counts one request of `key` against `limit` per `window`.
    async fn check(&self, key: &str, limit: u32, window: Duration, now_us: i64) -> Decision {
        self.spend(key, 1, limit, window, now_us).await
    }
    /// Spends `cost` of `key`'s budget of `limit` per `window` at once, or nothing.
    async fn spend(&self, key: &str, cost: u32, limit: u32, window: Duration, now_us: i64) -> Decision;
    /// Forgets these budgets (an erased user's: their keys name the user's pseudonym).
    async fn forget(&self, keys: &[String]);
    /// Whether the shared counters are unreachable and this node counts on its own.
    fn degraded(&self) -> bool {
        false
    }
}

/// One process's budgets.
#[derive(Default)]
pub struct LocalLimiter {
    arrivals: Mutex<HashMap<String, i64>>,
}

/// Budgets kept before an idle one is dropped (a dropped one is a full budget, as it would be).
const LOCAL_KEYS_MAX: usize = 100_000;

#[async_trait]
impl RateLimiter for LocalLimiter {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn spend(&self, key: &str, cost: u32, limit: u32, window: Duration, now_us: i64) -> Decision {
        let window_us = i64::try_from(window.as_micros()).unwrap_or(i64::MAX / 4);
        let mut arrivals = self.arrivals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if arrivals.len() >= LOCAL_KEYS_MAX {
            // A budget whose arrival time has passed is full again: forgetting it changes nothing.
            arrivals.retain(|_, tat| *tat > now_us);
        }
        let (kept, decision) = gcra(arrivals.get(key).copied(), now_us, limit, window_us, cost);
        if let Some(tat) = kept {
            arrivals.insert(key.to_owned(), tat);
        }
        decision
    }

    async fn forget(&self, keys: &[String]) {
        let mut arrivals = self.arrivals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in keys {
            arrivals.remove(key);
        }
    }
}

/// GCRA in one atomic step on the Redis server, timed by its clock (nodes' clocks may differ).
/// Returns `{allowed, µs ahead}`.
const GCRA_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3] or '1')
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next = tat + cost * interval
if next - now > window then
  return {0, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.ceil((next - now) / 1000) + 1)
return {1, next - now}
";

/// Budgets shared by every node through Redis.
pub struct RedisLimiter {
    connection: redis::aio::ConnectionManager,
    prefix: String,
    fallback: LocalLimiter,
    degraded: AtomicBool,
}

impl RedisLimiter {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client =
            redis::Client::open(url).map_err(|error| anyhow::anyhow!("REDIS_URL is not a valid Redis URL: {error}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1);
        let connection = redis::aio::ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|error| anyhow::anyhow!("cannot reach Redis at REDIS_URL: {error}"))?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            fallback: LocalLimiter::default(),
            degraded: AtomicBool::new(false),
        })
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn spend(&self, key: &str, cost: u32, limit: u32, window: Duration, now_us: i64) -> Decision {
        let window_us = i64::try_from(window.as_micros()).unwrap_or(i64::MAX / 4);
        let interval_us = window_us / i64::from(limit.max(1));
        let mut connection = self.connection.clone();
        // EVAL with the script's text (a few hundred bytes): Redis caches its compilation.
        let answer: Result<(i64, i64), redis::RedisError> = redis::cmd("EVAL")
            .arg(GCRA_SCRIPT)
            .arg(1)
            .arg(format!("{}rate:{key}", self.prefix))
            .arg(interval_us)
            .arg(window_us)
            .arg(cost.max(1))
            .query_async(&mut connection)
            .await;
        match answer {
            Ok((allowed, ahead_us)) => {
                if self.degraded.swap(false, Ordering::AcqRel) {
                    tracing::info!("redis answers again: rate limits are shared by every node");
                }
                decide(allowed == 1, ahead_us, limit, window_us, cost)
            }
            Err(error) => {
                if !self.degraded.swap(true, Ordering::AcqRel) {
                    tracing::warn!(error = %error, "redis unavailable: rate limits are counted by this node alone");
                }
                self.fallback.spend(key, cost, limit, window, now_us).await
            }
        }
    }

    async fn forget(&self, keys: &[String]) {
        self.fallback.forget(keys).await;
        let mut connection = self.connection.clone();
        let keys: Vec<String> = keys.iter().map(|key| format!("{}rate:{key}", self.prefix)).collect();
        if let Err(error) = redis::cmd("DEL").arg(&keys).query_async::<()>(&mut connection).await {
            // They expire within the window anyway; what they hold is a time, not data.
            tracing::warn!(error = %error, "redis unavailable: an erased user's rate budgets are left to expire");
        }
    }

    fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }
}

/// One budget per tier and caller: a caller moved to a new tier starts with its whole budget.
fn budget(tier: Tier, who: &str) -> String {
    format!("{}:{who}", tier.as_str())
}

/// The tiers' limits applied to callers.
pub struct Limits {
    tiers: TiersConfig,
    limiter: Box<dyn RateLimiter>,
}

impl Limits {
    pub fn new(tiers: TiersConfig, limiter: Box<dyn RateLimiter>) -> Self {
        Self { tiers, limiter }
    }

    pub fn limiter(&self) -> &dyn RateLimiter {
        self.limiter.as_ref()
    }

    /// Counts one request of `principal` against `tier`'s limit: `None` for an unlimited tier,
    /// the decision otherwise (see [`Limits::refusal`] when it is refused). A user's budget is
    /// kept under their pseudonym (`user_key`), never their id.
    pub async fn admit(
        &self,
        principal: &Principal,
        user_key: Option<&str>,
        tier: Tier,
        now_us: i64,
    ) -> Option<Decision> {
        let limit = self.tiers.limits(tier).requests_per_hour;
        if limit == 0 {
            return None;
        }
        let who = match (principal, user_key) {
            (Principal::ApiKey { key_id, .. }, _) => format!("key:{key_id}"),
            (Principal::User { .. }, Some(user_key)) => format!("user:{user_key}"),
            (Principal::User { user_id, .. }, None) => format!("user:{user_id}"),
        };
        Some(self.limiter.check(&budget(tier, &who), limit, WINDOW, now_us).await)
    }

    /// Spends `events` of the caller's monthly event quota, or refuses them all: 429
    /// `RATE_LIMIT_EXCEEDED` with `Retry-After` (when room for them comes back, if ever).
    pub async fn charge_events(
        &self,
        principal: &Principal,
        user_key: Option<&str>,
        tier: Tier,
        events: usize,
        now_us: i64,
    ) -> Result<(), ApiError> {
        let limit = self.tiers.limits(tier).events_per_month;
        if limit == 0 || events == 0 {
            return Ok(());
        }
        let who = match (principal, user_key) {
            (Principal::ApiKey { key_id, .. }, _) => format!("key:{key_id}"),
            (Principal::User { .. }, Some(user_key)) => format!("user:{user_key}"),
            (Principal::User { user_id, .. }, None) => format!("user:{user_id}"),
        };
        let cost = u32::try_from(events).unwrap_or(u32::MAX);
        let decision = self.limiter.spend(&format!("events:{}", budget(tier, &who)), cost, limit, MONTH, now_us).await;
        if decision.allowed {
            return Ok(());
        }
        let message = if cost > limit {
            format!(
                "the {} tier allows {limit} events per 30 days: a request of {events} events never fits; split it, or ask an admin for a higher tier",
                tier.as_str()
            )
        } else {
            format!(
                "the {} tier allows {limit} events per 30 days and {} are left; room for these {events} comes back in {} s, or ask an admin for a higher tier",
                tier.as_str(),
                decision.remaining,
                decision.retry_after_secs
            )
        };
        Err(ApiError::TooManyRequests { message, retry_after_secs: decision.retry_after_secs })
    }

    /// Forgets an erased or anonymised user's budgets (they name the user's pseudonym).
    pub async fn forget_user(&self, user_key: &str) {
        let keys: Vec<String> = [Tier::Free, Tier::Premium, Tier::Enterprise, Tier::Vip]
            .iter()
            .flat_map(|tier| {
                let budget = budget(*tier, &format!("user:{user_key}"));
                [format!("events:{budget}"), budget]
            })
            .collect();
        self.limiter.forget(&keys).await;
    }

    /// The answer to a refused request: 429 `RATE_LIMIT_EXCEEDED` with `Retry-After`.
    pub fn refusal(tier: Tier, decision: &Decision) -> ApiError {
        ApiError::TooManyRequests {
            message: format!(
                "the {} tier allows {} requests per hour; retry in {} s, or ask an admin for a higher tier",
                tier.as_str(),
                decision.limit,
                decision.retry_after_secs
            ),
            retry_after_secs: decision.retry_after_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_US: i64 = 3_600_000_000;

    #[tokio::test]
    async fn a_budget_of_100_an_hour_refuses_the_101st_then_refills_one_every_36_seconds() {
        let limiter = LocalLimiter::default();
        let now = 1_000 * HOUR_US;
        for n in 1..=100 {
            let decision = limiter.check("u", 100, WINDOW, now).await;
            assert!(decision.allowed, "request {n}");
            assert_eq!(decision.remaining, 100 - n);
        }
        let refused = limiter.check("u", 100, WINDOW, now).await;
        assert!(!refused.allowed);
        assert_eq!((refused.remaining, refused.retry_after_secs, refused.reset_secs), (0, 36, 3600));
        assert!(!limiter.check("u", 100, WINDOW, now + 35_000_000).await.allowed, "35 s later: not yet");
        let later = limiter.check("u", 100, WINDOW, now + 36_000_000).await;
        assert!(later.allowed, "36 s later: one more");
        assert_eq!(later.remaining, 0);
        assert!(limiter.check("v", 100, WINDOW, now).await.allowed, "another caller has its own budget");
        let idle = limiter.check("u", 100, WINDOW, now + 2 * HOUR_US).await;
        assert_eq!(idle.remaining, 99, "after an idle hour the budget is whole again");
    }

    #[test]
    fn a_refused_request_says_when_to_come_back() {
        // 10 per hour: one every 6 minutes. Spent 54 minutes ahead, one more fits exactly.
        let (kept, decision) = gcra(Some(54 * 60_000_000), 0, 10, HOUR_US, 1);
        assert_eq!((kept, decision.allowed, decision.remaining), (Some(HOUR_US), true, 0));
        assert!(!gcra(Some(55 * 60_000_000), 0, 10, HOUR_US, 1).1.allowed, "55 + 6 minutes is past the hour");
        let (kept, decision) = gcra(Some(HOUR_US), 0, 10, HOUR_US, 1);
        assert_eq!(kept, None);
        assert_eq!((decision.allowed, decision.retry_after_secs, decision.reset_secs), (false, 360, 3600));
    }

    #[test]
    fn a_cost_spends_several_units_at_once_or_none() {
        // 100 events in 30 days: 60 at once, then 50 do not fit; 40 do, and the budget is spent.
        const MONTH_US: i64 = 30 * 24 * HOUR_US;
        let (kept, decision) = gcra(None, 0, 100, MONTH_US, 60);
        assert_eq!((decision.allowed, decision.remaining), (true, 40));
        let (refused, decision) = gcra(kept, 0, 100, MONTH_US, 50);
        assert_eq!((refused, decision.allowed, decision.remaining), (None, false, 40));
        // Room for 10 more comes back at one every 7.2 hours: 72 hours.
        assert_eq!(decision.retry_after_secs, 72 * 3600);
        let (kept, decision) = gcra(kept, 0, 100, MONTH_US, 40);
        assert_eq!((kept, decision.allowed, decision.remaining), (Some(MONTH_US), true, 0));
        assert!(!gcra(None, 0, 100, MONTH_US, 101).1.allowed, "more than the whole budget never fits");
    }
}
