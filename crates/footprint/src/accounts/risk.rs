//! Risk-based login (seed 003): each login that passes the password is scored from the account's
//! own history (`footprint_analytics::risk`: device, network, hour, failures) and kept in its
//! login history; above the account's `security_settings.risk_score_threshold` (0.7 by default)
//! a second step is asked for — the authenticator when enrolled, else a code by e-mail.
//! `anomaly_detection_enabled: false` turns the scoring off for the account.

use std::collections::BTreeMap;
use std::net::IpAddr;

use footprint_analytics::privacy::network_of;
use footprint_analytics::risk::{self, LoginSignals, PastLogin, RiskScore};
use footprint_store::{LoginRecord, UserRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;

/// The default `security_settings.risk_score_threshold`.
pub const DEFAULT_THRESHOLD: f64 = 0.7;
/// Logins of the account the score compares with.
const HISTORY: u32 = 50;
const HOUR_US: i64 = 3_600_000_000;

/// Seed 003's login `context`: what the application knows of the end user's client. When the
/// application logs its users in from its own server, `ip_address` is the end user's address
/// (else the connection's is used).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct LoginContext {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub device_id: Option<String>,
}

/// A scored login.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub network: String,
    pub device: String,
    pub hour: u8,
    pub risk: RiskScore,
    pub threshold: f64,
    /// False when the account turned anomaly detection off.
    pub enabled: bool,
}

impl Assessment {
    pub fn exceeds_threshold(&self) -> bool {
        self.enabled && self.risk.score > self.threshold
    }
}

fn settings(state: &AppState, user: &UserRecord) -> (f64, bool) {
    let settings = crate::accounts::settings::security_settings(&state.keys.cipher, user);
    let threshold = settings.get("risk_score_threshold").and_then(Value::as_f64).unwrap_or(DEFAULT_THRESHOLD);
    let enabled = settings.get("anomaly_detection_enabled").and_then(Value::as_bool).unwrap_or(true);
    (threshold, enabled)
}

/// Scores a login of `user` that passed the password.
pub async fn assess(
    state: &AppState,
    user: &UserRecord,
    context: &LoginContext,
    client: Option<IpAddr>,
    failures_before: u32,
) -> Result<Assessment, ApiError> {
    let address = context.ip_address.as_deref().and_then(|text| text.trim().parse::<IpAddr>().ok()).or(client);
    let network = address.map_or_else(|| "unknown".to_owned(), |ip| network_of(ip).to_string());
    let device_text = context.device_id.as_deref().or(context.user_agent.as_deref()).unwrap_or("").trim();
    let device = state.keys.pseudonymizer.device(&user.user_id, device_text);
    let now_us = state.clock.now_us();
    let hour = u8::try_from(now_us.div_euclid(HOUR_US).rem_euclid(24)).unwrap_or(0);
    let history: Vec<PastLogin> = state
        .store
        .login_history(&user.user_id, HISTORY)
        .await?
        .into_iter()
        .filter(|login| login.outcome != "challenged")
        .map(|login| PastLogin {
            network: login.network,
            device: login.device,
            hour: u8::try_from(login.hour).unwrap_or(0),
        })
        .collect();
    let failing = state.store.failing_logins_on_network(&network, now_us - HOUR_US, &user.user_key).await?;
    let signals = LoginSignals {
        network: network.clone(),
        device: device.clone(),
        hour,
        failures_before,
        failing_logins_on_network: failing,
    };
    let (threshold, enabled) = settings(state, user);
    Ok(Assessment { risk: risk::score(&history, &signals), network, device, hour, threshold, enabled })
}

/// Keeps the login in the account's history.
pub async fn record(
    state: &AppState,
    user: &UserRecord,
    assessment: &Assessment,
    outcome: &str,
) -> Result<(), ApiError> {
    let login = LoginRecord {
        user_id: user.user_id.clone(),
        at_us: state.clock.now_us(),
        network: assessment.network.clone(),
        device: assessment.device.clone(),
        hour: i64::from(assessment.hour),
        outcome: outcome.to_owned(),
        score: assessment.risk.score,
        reasons: assessment.risk.reasons.clone(),
    };
    Ok(state.store.record_login(login).await?)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginView {
    pub at: String,
    pub network: String,
    /// The first characters of the device's keyed hash.
    pub device: String,
    pub score: f64,
    pub reasons: Vec<String>,
    pub outcome: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub device: String,
    pub first_seen: String,
    pub last_seen: String,
    pub logins: u32,
}

/// `GET /api/v1/users/{id}/security`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityView {
    pub user_id: String,
    pub risk_score_threshold: f64,
    pub anomaly_detection_enabled: bool,
    pub second_factor: bool,
    pub recent_logins: Vec<LoginView>,
    /// Devices of logins that went through (not the ones only challenged).
    pub known_devices: Vec<DeviceView>,
}

fn short(device: &str) -> String {
    device.chars().take(10).collect()
}

pub async fn security(state: &AppState, user_id: &str) -> Result<SecurityView, ApiError> {
    let Some(user) = state.store.user(user_id).await?.filter(UserRecord::has_account) else {
        return Err(ApiError::NotFound(format!("no account {user_id}")));
    };
    let history = state.store.login_history(user_id, HISTORY).await?;
    let mut devices: BTreeMap<String, (i64, i64, u32)> = BTreeMap::new();
    for login in history.iter().filter(|login| login.outcome != "challenged") {
        let entry = devices.entry(login.device.clone()).or_insert((login.at_us, login.at_us, 0));
        entry.0 = entry.0.min(login.at_us);
        entry.1 = entry.1.max(login.at_us);
        entry.2 += 1;
    }
    let mut known_devices: Vec<DeviceView> = devices
        .into_iter()
        .map(|(device, (first, last, logins))| DeviceView {
            device: short(&device),
            first_seen: rfc3339(first),
            last_seen: rfc3339(last),
            logins,
        })
        .collect();
    known_devices.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
    let (risk_score_threshold, anomaly_detection_enabled) = settings(state, &user);
    Ok(SecurityView {
        user_id: user.user_id.clone(),
        risk_score_threshold,
        anomaly_detection_enabled,
        second_factor: state.store.mfa(user_id).await?.is_some_and(|record| record.active),
        recent_logins: history
            .into_iter()
            .take(20)
            .map(|login| LoginView {
                at: rfc3339(login.at_us),
                network: login.network,
                device: short(&login.device),
                score: login.score,
                reasons: login.reasons,
                outcome: login.outcome,
            })
            .collect(),
        known_devices,
    })
}
