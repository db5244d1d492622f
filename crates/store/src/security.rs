//! What the store keeps of accounts' security (seed 003): role and tier changes, the TOTP
//! second factor, the outbox, and the login history.

use footprint_analytics::{Role, Tier};

/// A change of an account's role or tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantChange {
    pub role: Option<Role>,
    pub tier: Option<Tier>,
    /// The token generation given with a new role.
    pub new_generation: i64,
    /// Who changed it (kept in the tier history).
    pub changed_by: String,
    pub now_us: i64,
}

/// One change of an account's tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierChange {
    pub from_tier: Tier,
    pub to_tier: Tier,
    pub changed_by: String,
    pub at_us: i64,
}

/// An account's TOTP second factor.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaRecord {
    pub user_id: String,
    /// The secret, encrypted like the other personal fields.
    pub secret_enc: String,
    /// False between enrolment and the first verified code.
    pub active: bool,
    /// The last time step whose code was accepted (codes of it and before are refused).
    pub last_step: i64,
    /// Keyed hashes of the unused recovery codes.
    pub recovery_hashes: Vec<String>,
    pub created_at_us: i64,
}

impl std::fmt::Debug for MfaRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaRecord")
            .field("user_id", &self.user_id)
            .field("active", &self.active)
            .field("last_step", &self.last_step)
            .field("recovery_codes_left", &self.recovery_hashes.len())
            .finish_non_exhaustive()
    }
}

/// A message left in the outbox by the default sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Set by the store.
    pub id: i64,
    pub user_id: String,
    /// `email` or `sms`.
    pub channel: String,
    pub recipient_enc: String,
    pub subject: String,
    pub body_enc: String,
    pub created_at_us: i64,
}

/// One login that passed the password, with its risk score.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginRecord {
    pub user_id: String,
    pub at_us: i64,
    pub network: String,
    /// A keyed hash of the device id (or user agent) the client gave.
    pub device: String,
    /// 0–23, UTC.
    pub hour: i64,
    /// `success` (a token issued), `challenged` (a second step asked for) or `mfa_passed`.
    pub outcome: String,
    pub score: f64,
    pub reasons: Vec<String>,
}
