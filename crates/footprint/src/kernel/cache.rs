//! The statistics cache: Redis when `REDIS_URL` is set (shared by every node), in-process
//! otherwise. Entries are keyed by a *generation* that every write changing the statistics
//! bumps, so a write is visible in the next read; entries also expire. An erasure purges:
//! entries of earlier generations, which may name the user, are deleted at once. A cache
//! failure never fails a request: it is logged and the value is computed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::AsyncCommands;

#[async_trait]
pub trait Cache: Send + Sync {
    /// `redis` or `local`.
    fn kind(&self) -> &'static str;
    async fn get(&self, key: &str) -> Option<String>;
    async fn put(&self, key: &str, value: &str, ttl: Duration);
    async fn generation(&self) -> u64;
    /// Makes every entry stored before stale.
    async fn invalidate(&self);
    /// Invalidates, and deletes every entry of every generation at once rather than letting
    /// them expire: after an erasure or anonymisation, whose user they may name.
    async fn purge(&self);
}

/// A value kept for `ttl` under `key` whatever is written meanwhile (not tied to the
/// generation): for aggregates that may lag a few minutes (cohort retention), never for what a
/// write must show at once. An erasure purges them with the rest. A value that cannot be read
/// back is computed again.
pub async fn memo<T, F>(
    cache: &dyn Cache,
    key: &str,
    ttl: Duration,
    compute: F,
) -> Result<T, crate::kernel::error::ApiError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    F: Future<Output = Result<T, crate::kernel::error::ApiError>>,
{
    let key = format!("memo:{key}");
    if let Some(text) = cache.get(&key).await
        && let Ok(value) = serde_json::from_str(&text)
    {
        return Ok(value);
    }
    let value = compute.await?;
    if let Ok(text) = serde_json::to_string(&value) {
        cache.put(&key, &text, ttl).await;
    }
    Ok(value)
}

/// One process's cache.
#[derive(Default)]
pub struct LocalCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

#[async_trait]
impl Cache for LocalCache {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn get(&self, key: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(key).filter(|(_, expires)| *expires > Instant::now()).map(|(value, _)| value.clone())
    }

    async fn put(&self, key: &str, value: &str, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        entries.retain(|_, (_, expires)| *expires > now);
        entries.insert(key.to_owned(), (value.to_owned(), now + ttl));
    }

    async fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    async fn invalidate(&self) {
        // Entries keyed by an earlier generation are unreachable now, and expire; entries
        // keyed without one (aggregates that may lag, see `memo`) stay until their time.
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    async fn purge(&self) {
        self.invalidate().await;
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

/// Redis, shared by every node.
pub struct RedisCache {
    connection: redis::aio::ConnectionManager,
    prefix: String,
}

impl RedisCache {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client =
            redis::Client::open(url).map_err(|error| anyhow::anyhow!("REDIS_URL is not a valid Redis URL: {error}"))?;
        let connection = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(|error| anyhow::anyhow!("cannot reach Redis at REDIS_URL: {error}"))?;
        Ok(Self { connection, prefix: prefix.to_owned() })
    }

    /// The key of an entry; entries live apart from the generation counter, so that a purge
    /// can delete them all and keep the counter (generations never repeat).
    fn key(&self, key: &str) -> String {
        format!("{}entry:{key}", self.prefix)
    }

    fn generation_key(&self) -> String {
        format!("{}generation", self.prefix)
    }
}

/// A `SCAN MATCH` pattern for every entry under `prefix`, its glob characters escaped.
fn entries_pattern(prefix: &str) -> String {
    let mut pattern = String::new();
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str("entry:*");
    pattern
}

fn warn(operation: &str, error: &redis::RedisError) {
    tracing::warn!(operation, error = %error, "redis cache unavailable; computing instead");
}

#[async_trait]
impl Cache for RedisCache {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, key: &str) -> Option<String> {
        let mut connection = self.connection.clone();
        match connection.get::<_, Option<String>>(self.key(key)).await {
            Ok(value) => value,
            Err(error) => {
                warn("get", &error);
                None
            }
        }
    }

    async fn put(&self, key: &str, value: &str, ttl: Duration) {
        let mut connection = self.connection.clone();
        if let Err(error) = connection.set_ex::<_, _, ()>(self.key(key), value, ttl.as_secs().max(1)).await {
            warn("put", &error);
        }
    }

    async fn generation(&self) -> u64 {
        let mut connection = self.connection.clone();
        match connection.get::<_, Option<u64>>(self.generation_key()).await {
            Ok(value) => value.unwrap_or(0),
            Err(error) => {
                warn("generation", &error);
                // An unknown generation must not serve stale entries: use one nobody stored under.
                u64::MAX
            }
        }
    }

    async fn invalidate(&self) {
        let mut connection = self.connection.clone();
        if let Err(error) = connection.incr::<_, _, u64>(self.generation_key(), 1).await {
            warn("invalidate", &error);
        }
    }

    async fn purge(&self) {
        self.invalidate().await;
        let mut connection = self.connection.clone();
        let mut keys: Vec<String> = Vec::new();
        match connection.scan_match::<_, String>(entries_pattern(&self.prefix)).await {
            Ok(mut found) => {
                while let Some(key) = found.next_item().await {
                    match key {
                        Ok(key) => keys.push(key),
                        Err(error) => {
                            warn("purge", &error);
                            break;
                        }
                    }
                }
            }
            Err(error) => warn("purge", &error),
        }
        let mut connection = self.connection.clone();
        for batch in keys.chunks(500) {
            if let Err(error) = connection.unlink::<_, usize>(batch).await {
                warn("purge", &error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_entry_expires_and_an_invalidation_changes_the_generation() {
        let cache = LocalCache::default();
        cache.put("a", "1", Duration::from_secs(60)).await;
        cache.put("b", "2", Duration::from_millis(1)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(cache.get("a").await.as_deref(), Some("1"));
        assert_eq!(cache.get("b").await, None);
        let before = cache.generation().await;
        cache.invalidate().await;
        assert_ne!(cache.generation().await, before);
        assert_eq!(cache.get("a").await.as_deref(), Some("1"), "keys name their generation; a memo lags on purpose");
        cache.purge().await;
        assert_eq!(cache.get("a").await, None, "a purge forgets everything");
    }

    #[tokio::test]
    async fn a_memo_is_computed_once_until_it_expires_or_is_purged() {
        let cache = LocalCache::default();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let compute = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, crate::kernel::error::ApiError>(vec![1, 2, 3])
        };
        let ttl = Duration::from_secs(60);
        assert_eq!(memo(&cache, "k", ttl, compute()).await.unwrap(), [1, 2, 3]);
        cache.invalidate().await;
        assert_eq!(memo(&cache, "k", ttl, compute()).await.unwrap(), [1, 2, 3]);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a write does not drop it");
        cache.purge().await;
        memo(&cache, "k", ttl, compute()).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "an erasure does");
    }

    #[test]
    fn a_purge_matches_the_prefix_literally() {
        assert_eq!(entries_pattern("footprint:"), "footprint:entry:*");
        assert_eq!(entries_pattern("a*b?[c]\\:"), "a\\*b\\?\\[c\\]\\\\:entry:*");
    }
}
