//! Seed 003's login risk score, from the account's own history. Documented weights, summed and
//! capped at 1:
//!
//! | signal | weight |
//! |---|---|
//! | a device never seen in this account's logins | 0.35 |
//! | a network (/24 or /48) never seen | 0.25 |
//! | an hour (UTC) improbable under the account's own hours: with at least 5 logins, no login within an hour of it | 0.20 |
//! | failed attempts for this account from this network before this one | 0.05 each, up to 0.10 |
//! | other logins failing from this network in the last hour (credential stuffing): 3 or more | 0.20 |
//!
//! An account's first login is not scored (there is nothing to compare with). A new device on a
//! new network at an unusual hour scores 0.80, above the default threshold of 0.7; a new device
//! alone 0.35.

use serde::Serialize;

pub const NEW_DEVICE: f64 = 0.35;
pub const NEW_NETWORK: f64 = 0.25;
pub const UNUSUAL_HOUR: f64 = 0.20;
pub const PER_FAILURE: f64 = 0.05;
pub const FAILURES_MAX: f64 = 0.10;
pub const STUFFING: f64 = 0.20;
/// Other logins failing from one network within the hour that count as credential stuffing.
pub const STUFFING_LOGINS: u32 = 3;
/// Logins of the account before its hours are judged.
pub const HOURS_AFTER: usize = 5;

/// One earlier successful login of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastLogin {
    pub network: String,
    pub device: String,
    /// 0–23, UTC.
    pub hour: u8,
}

/// The login being scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSignals {
    pub network: String,
    pub device: String,
    pub hour: u8,
    /// Failed attempts for this account from this network since its last success.
    pub failures_before: u32,
    /// Other logins with failed attempts from this network in the last hour.
    pub failing_logins_on_network: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskScore {
    pub score: f64,
    /// Why, one short phrase per signal that counted.
    pub reasons: Vec<String>,
}

fn hour_gap(a: u8, b: u8) -> u8 {
    let gap = a.abs_diff(b) % 24;
    gap.min(24 - gap)
}

pub fn score(history: &[PastLogin], login: &LoginSignals) -> RiskScore {
    let mut score = 0.0;
    let mut reasons = Vec::new();
    if history.is_empty() {
        reasons.push("first login of the account: nothing to compare with".to_owned());
    } else {
        if !history.iter().any(|past| past.device == login.device) {
            score += NEW_DEVICE;
            reasons.push("a device never seen for this account".to_owned());
        }
        if !history.iter().any(|past| past.network == login.network) {
            score += NEW_NETWORK;
            reasons.push("a network never seen for this account".to_owned());
        }
        if history.len() >= HOURS_AFTER && !history.iter().any(|past| hour_gap(past.hour, login.hour) <= 1) {
            score += UNUSUAL_HOUR;
            reasons.push(format!(
                "{:02}:00 UTC is unusual: none of {} logins within an hour of it",
                login.hour,
                history.len()
            ));
        }
    }
    if login.failures_before > 0 {
        score += (PER_FAILURE * f64::from(login.failures_before)).min(FAILURES_MAX);
        reasons.push(format!("{} failed attempts before this one", login.failures_before));
    }
    if login.failing_logins_on_network >= STUFFING_LOGINS {
        score += STUFFING;
        reasons.push(format!(
            "{} other logins failing from this network in the last hour",
            login.failing_logins_on_network
        ));
    }
    // Rounded to hundredths so that sums of the weights read as written (0.35 + 0.25 + 0.20 = 0.80).
    RiskScore { score: (score.min(1.0) * 100.0).round() / 100.0, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn past(network: &str, device: &str, hour: u8) -> PastLogin {
        PastLogin { network: network.into(), device: device.into(), hour }
    }

    fn login(network: &str, device: &str, hour: u8) -> LoginSignals {
        LoginSignals {
            network: network.into(),
            device: device.into(),
            hour,
            failures_before: 0,
            failing_logins_on_network: 0,
        }
    }

    #[test]
    fn the_first_login_is_not_punished_for_being_first() {
        let first = score(&[], &login("n1", "d1", 3));
        assert_eq!(first.score, 0.0);
        assert_eq!(first.reasons.len(), 1);
    }

    #[test]
    fn a_usual_login_scores_nothing_and_a_strange_one_adds_up() {
        let history: Vec<PastLogin> = (0..6).map(|day| past("n1", "d1", 9 + (day % 2))).collect();
        assert_eq!(score(&history, &login("n1", "d1", 10)).score, 0.0);
        assert_eq!(score(&history, &login("n1", "d2", 10)).score, 0.35, "a new device alone");
        let strange = score(&history, &login("n9", "d9", 3));
        assert_eq!(strange.score, 0.8, "{:?}", strange.reasons);
        assert_eq!(strange.reasons.len(), 3);
        let mut attacked = login("n9", "d9", 3);
        attacked.failures_before = 4;
        attacked.failing_logins_on_network = 5;
        assert_eq!(score(&history, &attacked).score, 1.0, "capped at 1");
        // Hours wrap around midnight.
        let late: Vec<PastLogin> = (0..6).map(|_| past("n1", "d1", 23)).collect();
        assert_eq!(score(&late, &login("n1", "d1", 0)).score, 0.0);
    }

    #[test]
    fn hours_are_judged_only_after_enough_logins() {
        let history: Vec<PastLogin> = (0..4).map(|_| past("n1", "d1", 9)).collect();
        assert_eq!(score(&history, &login("n1", "d1", 3)).score, 0.0);
    }
}
