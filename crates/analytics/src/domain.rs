//! Validated domain values: parse at the edge, trust behind it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a raw value is not a valid domain value; the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidValue {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

/// A user's stable identifier chosen by the client application:
/// 1–128 characters from `[A-Za-z0-9._@:+-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        parse_identifier("user_id", raw, Self::MAX_LEN).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | ':' | '+' | '-')
}

fn parse_identifier(field: &'static str, raw: &str, max_len: usize) -> Result<String, InvalidValue> {
    if raw.is_empty() {
        return Err(InvalidValue::new(field, "must not be empty"));
    }
    if raw.len() > max_len {
        return Err(InvalidValue::new(field, format!("must be at most {max_len} characters")));
    }
    if let Some(bad) = raw.chars().find(|c| !is_identifier_char(*c)) {
        return Err(InvalidValue::new(
            field,
            format!("character {bad:?} is not allowed; use letters, digits and . _ @ : + -"),
        ));
    }
    Ok(raw.to_owned())
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A login name. Seed 002 makes the username the user's `user_id`, so it obeys the same
/// character rules, with a shorter limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        parse_identifier("username", raw, Self::MAX_LEN).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address, trimmed and lower-cased so that lookups are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let normalised = raw.trim().to_lowercase();
        if normalised.len() > Self::MAX_LEN {
            return Err(InvalidValue::new("email", format!("must be at most {} characters", Self::MAX_LEN)));
        }
        let valid = match normalised.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && !normalised.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if !valid {
            return Err(InvalidValue::new("email", "must look like name@example.com"));
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The type of a tracked event: 1–200 printable Unicode characters. Seed 002's actions
/// are French phrases (`ajout d'un produit au panier`), so spaces and accents are allowed;
/// control characters and blank names are not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EventType(String);

impl EventType {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.trim().is_empty() {
            return Err(InvalidValue::new("type", "must not be empty or blank"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue::new("type", format!("must be at most {} characters", Self::MAX_CHARS)));
        }
        if raw.chars().any(|c| c.is_control() || is_invisible_format(c)) {
            return Err(InvalidValue::new(
                "type",
                "must be printable: no control characters (newlines, tabs, …) nor invisible format characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Unicode format characters (category Cf) that render as nothing or reorder text: soft hyphen,
/// zero-width and joiner characters, bidirectional overrides, the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Account roles, from most to least privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Manager,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::User => "user",
        }
    }

    /// Managers and admins may read and write other users' data.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Manager)
    }
}

impl FromStr for Role {
    type Err = InvalidValue;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "user" => Ok(Role::User),
            _ => Err(InvalidValue::new("role", "must be one of admin, manager, user")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Seed 003's service tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    #[default]
    Free,
    Premium,
    Enterprise,
    Vip,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Premium => "premium",
            Tier::Enterprise => "enterprise",
            Tier::Vip => "vip",
        }
    }
}

impl FromStr for Tier {
    type Err = InvalidValue;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.to_ascii_lowercase().as_str() {
            "free" => Ok(Tier::Free),
            "premium" => Ok(Tier::Premium),
            "enterprise" => Ok(Tier::Enterprise),
            "vip" => Ok(Tier::Vip),
            _ => Err(InvalidValue::new("tier", "must be one of free, premium, enterprise, vip")),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's consent for each of seed 001's three purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Consent {
    /// Store behavioural events and profile them.
    pub analytics: bool,
    /// Compute preference scores and recommendations.
    pub preferences: bool,
    /// Use the user's data to train models.
    pub improvement: bool,
}

impl Consent {
    pub const DENY_ALL: Consent = Consent { analytics: false, preferences: false, improvement: false };
    pub const GRANT_ALL: Consent = Consent { analytics: true, preferences: true, improvement: true };
}

/// What applies to a user who never recorded a consent: `deny` unless configured
/// otherwise (privacy by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentDefault {
    #[default]
    Deny,
    Grant,
}

impl ConsentDefault {
    pub fn consent(self) -> Consent {
        match self {
            ConsentDefault::Deny => Consent::DENY_ALL,
            ConsentDefault::Grant => Consent::GRANT_ALL,
        }
    }
}

impl FromStr for ConsentDefault {
    type Err = InvalidValue;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.to_ascii_lowercase().as_str() {
            "deny" => Ok(ConsentDefault::Deny),
            "grant" => Ok(ConsentDefault::Grant),
            _ => Err(InvalidValue::new("consent_default", "must be deny or grant")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn user_id_accepts_the_documented_alphabet() {
        for ok in ["user123", "a", "john.doe@example.com", "tenant:42+x-y_z"] {
            assert!(UserId::parse(ok).is_ok(), "{ok} should be valid");
        }
        assert!(UserId::parse(&"x".repeat(128)).is_ok());
    }

    #[test]
    fn user_id_rejects_with_a_reason() {
        assert_eq!(UserId::parse("").unwrap_err().reason, "must not be empty");
        assert!(UserId::parse(&"x".repeat(129)).unwrap_err().reason.contains("128"));
        let err = UserId::parse("jean dupont").unwrap_err();
        assert_eq!(err.field, "user_id");
        assert!(err.reason.contains("' '"), "{err}");
        assert!(UserId::parse("é").is_err());
    }

    #[test]
    fn event_type_allows_french_phrases_but_not_control_characters() {
        assert!(EventType::parse("ajout d'un produit au panier").is_ok());
        assert!(EventType::parse("sélection du mode de paiement").is_ok());
        assert!(EventType::parse(&"é".repeat(200)).is_ok(), "the limit counts characters, not bytes");
        assert!(EventType::parse(&"é".repeat(201)).is_err());
        assert!(EventType::parse("   ").is_err());
        assert!(EventType::parse("click\n").is_err());
        assert!(EventType::parse("pay\u{202E}ment").is_err(), "a bidirectional override");
        assert!(EventType::parse("cl\u{200B}ick").is_err(), "a zero-width space");
    }

    #[test]
    fn email_is_normalised() {
        assert_eq!(Email::parse("  User@Example.COM ").unwrap().as_str(), "user@example.com");
        for bad in ["user", "@example.com", "user@localhost", "a b@example.com", "a@b@c.com", "a@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn roles_and_tiers_round_trip() {
        for role in [Role::Admin, Role::Manager, Role::User] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        for tier in [Tier::Free, Tier::Premium, Tier::Enterprise, Tier::Vip] {
            assert_eq!(tier.as_str().parse::<Tier>().unwrap(), tier);
        }
        assert!("root".parse::<Role>().is_err());
    }

    proptest! {
        #[test]
        fn user_id_parse_accepts_exactly_the_alphabet(raw in "\\PC{0,140}") {
            let expected = !raw.is_empty() && raw.len() <= 128 && raw.chars().all(is_identifier_char);
            prop_assert_eq!(UserId::parse(&raw).is_ok(), expected);
        }

        #[test]
        fn event_type_never_accepts_control_characters(prefix in "[a-z]{0,5}", ctrl in "[\\x00-\\x1f\\x7f]") {
            let raw = format!("{prefix}{ctrl}");
            prop_assert!(EventType::parse(&raw).is_err());
        }
    }
}
