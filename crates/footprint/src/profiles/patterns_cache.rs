//! Each user's habits as last found, kept by this node while the user has no new event: finding
//! them re-reads up to 100 000 of the user's events and mines them again. An entry is used only
//! while what processing knows of the user is unchanged (how many of their actions it folded,
//! and the last one's time) and for at most a minute, since the habits are read as of now
//! (today, the last 7 days); the answer's `computed_at` says when they were found.

use std::collections::HashMap;
use std::sync::Mutex;

use footprint_analytics::patterns::Patterns;

/// How long found habits are used, at most.
const FRESH_FOR_US: i64 = 60_000_000;
/// Users whose habits are kept; past it, the oldest half is dropped.
const CAPACITY: usize = 10_000;

/// What processing knows of a user: their habits are found again when it changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamp {
    pub n_actions: i64,
    pub last_us: Option<i64>,
}

struct Kept {
    stamp: Stamp,
    computed_us: i64,
    patterns: Patterns,
}

#[derive(Default)]
pub struct PatternCache {
    kept: Mutex<HashMap<String, Kept>>,
}

impl PatternCache {
    /// The user's habits and when they were found, if still good for `stamp` at `now_us`.
    pub fn get(&self, user_key: &str, stamp: Stamp, now_us: i64) -> Option<(Patterns, i64)> {
        let kept = self.kept.lock().ok()?;
        let entry = kept.get(user_key)?;
        (entry.stamp == stamp && (0..FRESH_FOR_US).contains(&(now_us - entry.computed_us)))
            .then(|| (entry.patterns.clone(), entry.computed_us))
    }

    pub fn put(&self, user_key: &str, stamp: Stamp, computed_us: i64, patterns: Patterns) {
        let Ok(mut kept) = self.kept.lock() else { return };
        if kept.len() >= CAPACITY && !kept.contains_key(user_key) {
            let mut ages: Vec<i64> = kept.values().map(|entry| entry.computed_us).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            kept.retain(|_, entry| entry.computed_us > cut);
        }
        kept.insert(user_key.to_owned(), Kept { stamp, computed_us, patterns });
    }

    /// Drops what is kept of the user (erased or anonymised).
    pub fn forget(&self, user_key: &str) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.remove(user_key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(events: usize) -> Patterns {
        footprint_analytics::patterns::detect(
            &vec![("view".to_owned(), 0); events],
            0,
            &footprint_analytics::patterns::PatternConfig::default(),
        )
    }

    #[test]
    fn habits_are_kept_while_nothing_changed_for_a_minute() {
        let cache = PatternCache::default();
        let stamp = Stamp { n_actions: 3, last_us: Some(10) };
        cache.put("k", stamp, 1_000, patterns(3));
        assert_eq!(cache.get("k", stamp, 1_000 + 59_000_000).map(|(p, at)| (p.events, at)), Some((3, 1_000)));
        assert!(cache.get("k", stamp, 1_000 + 60_000_000).is_none(), "a minute old");
        assert!(cache.get("k", Stamp { n_actions: 4, last_us: Some(10) }, 2_000).is_none(), "a new action");
        assert!(cache.get("k", Stamp { n_actions: 3, last_us: Some(11) }, 2_000).is_none(), "a moved last action");
        assert!(cache.get("other", stamp, 2_000).is_none());
        cache.forget("k");
        assert!(cache.get("k", stamp, 2_000).is_none(), "forgotten");
    }

    #[test]
    fn a_full_cache_drops_its_oldest_half() {
        let cache = PatternCache::default();
        let stamp = Stamp::default();
        for n in 0..CAPACITY {
            cache.put(&format!("k{n}"), stamp, n as i64, patterns(0));
        }
        cache.put("new", stamp, CAPACITY as i64, patterns(0));
        assert!(cache.get("new", stamp, CAPACITY as i64).is_some());
        assert!(cache.get("k0", stamp, CAPACITY as i64).is_none(), "among the oldest");
        assert!(cache.get(&format!("k{}", CAPACITY - 1), stamp, CAPACITY as i64).is_some(), "among the newest");
    }
}
