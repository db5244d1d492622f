//! Requests per caller and hour, for usage against the tiers' limits (seed 003's insights and
//! `automation analyze-tiers`). Every authenticated request is counted here in memory — one
//! map update, no I/O on the request's path — and the counts are added to the store every few
//! seconds by the `jobs` loop that calls [`RequestCounter::flush`], so that every node's
//! requests add up. A caller is a user's pseudonym (never their id) or `key:` and an API key's id.

use std::collections::HashMap;
use std::sync::Mutex;

use footprint_store::{RequestUsage, Store, StoreResult};

use crate::accounts::principal::Principal;
use crate::kernel::time::HOUR_US;

/// The key a caller's requests are counted under.
pub fn caller_key(principal: &Principal, user_key: Option<&str>) -> Option<String> {
    match (principal, user_key) {
        (Principal::ApiKey { key_id, .. }, _) => Some(format!("key:{key_id}")),
        (Principal::User { .. }, Some(user_key)) => Some(user_key.to_owned()),
        (Principal::User { .. }, None) => None,
    }
}

/// This node's counts not yet in the store: (caller, hour) → (requests, limited).
#[derive(Default)]
pub struct RequestCounter {
    pending: Mutex<HashMap<(String, i64), (i64, i64)>>,
}

impl RequestCounter {
    /// Counts one request of `caller_key` at `now_us`; `limited` when the tier's limit refused it.
    pub fn count(&self, caller_key: &str, now_us: i64, limited: bool) {
        let hour_us = now_us.div_euclid(HOUR_US) * HOUR_US;
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = pending.entry((caller_key.to_owned(), hour_us)).or_default();
        entry.0 += 1;
        entry.1 += i64::from(limited);
    }

    /// This node's counts of `caller_key` not yet in the store, by hour.
    pub fn pending_for(&self, caller_key: &str) -> Vec<RequestUsage> {
        let pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pending
            .iter()
            .filter(|((caller, _), _)| caller == caller_key)
            .map(|((caller, hour_us), (requests, limited))| RequestUsage {
                caller_key: caller.clone(),
                hour_us: *hour_us,
                requests: *requests,
                limited: *limited,
            })
            .collect()
    }

    /// Adds what was counted to the store; on failure the counts are kept for the next flush.
    pub async fn flush(&self, store: &dyn Store) -> StoreResult<usize> {
        let taken: Vec<RequestUsage> = {
            let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            pending
                .drain()
                .map(|((caller_key, hour_us), (requests, limited))| RequestUsage {
                    caller_key,
                    hour_us,
                    requests,
                    limited,
                })
                .collect()
        };
        let n = taken.len();
        if let Err(error) = store.add_request_usage(taken.clone()).await {
            let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for usage in taken {
                let entry = pending.entry((usage.caller_key, usage.hour_us)).or_default();
                entry.0 += usage.requests;
                entry.1 += usage.limited;
            }
            return Err(error);
        }
        Ok(n)
    }

    /// Drops an erased or anonymised user's counts not yet stored.
    pub fn forget(&self, caller_key: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.retain(|(caller, _), _| caller != caller_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_add_up_per_caller_and_hour_and_can_be_forgotten() {
        let counter = RequestCounter::default();
        counter.count("u1", HOUR_US + 5, false);
        counter.count("u1", HOUR_US + 10, true);
        counter.count("u1", 2 * HOUR_US, false);
        counter.count("key:k", HOUR_US, false);
        let mut u1: Vec<(i64, i64, i64)> =
            counter.pending_for("u1").iter().map(|u| (u.hour_us / HOUR_US, u.requests, u.limited)).collect();
        u1.sort_unstable();
        assert_eq!(u1, [(1, 2, 1), (2, 1, 0)]);
        counter.forget("u1");
        assert!(counter.pending_for("u1").is_empty());
        assert_eq!(counter.pending_for("key:k").len(), 1);
    }
}
