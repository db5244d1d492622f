//! Seed 003's two settings objects kept in the declared profile: `ai_preferences` and
//! `security_settings`. Each known field is checked (and normalised) wherever a profile is
//! written; an unknown field is refused with the list of known ones, so a typo does not pass
//! for a setting.

use std::time::Duration;

use footprint_store::UserRecord;
use serde_json::{Map, Value};

use crate::kernel::crypto::FieldCipher;

/// `personalization_level`'s values, in increasing order.
pub const PERSONALIZATION_LEVELS: [&str; 3] = ["basic", "standard", "advanced"];
/// `mfa_methods`' values.
pub const MFA_METHODS: [&str; 3] = ["email", "sms", "authenticator"];
/// The longest `session_timeout_minutes`: 30 days.
pub const SESSION_TIMEOUT_MAX_MINUTES: u64 = 30 * 24 * 60;

const AI_FIELDS: [&str; 5] = [
    "personalization_level",
    "mood_detection_enabled",
    "learning_rate",
    "custom_model_training",
    "bias_mitigation_enabled",
];
const SECURITY_FIELDS: [&str; 5] =
    ["require_mfa", "mfa_methods", "session_timeout_minutes", "risk_score_threshold", "anomaly_detection_enabled"];

/// Checks and normalises `profile.ai_preferences` and `profile.security_settings` in place.
pub fn check(profile: &mut Map<String, Value>) -> Result<(), String> {
    if let Some(value) = profile.get_mut("ai_preferences") {
        check_object("ai_preferences", value, &AI_FIELDS, check_ai_field)?;
    }
    if let Some(value) = profile.get_mut("security_settings") {
        check_object("security_settings", value, &SECURITY_FIELDS, check_security_field)?;
    }
    Ok(())
}

fn check_object(
    name: &str,
    value: &mut Value,
    known: &[&str],
    check_field: fn(&str, &mut Value) -> Result<(), String>,
) -> Result<(), String> {
    let object = match value {
        Value::Null => return Ok(()),
        Value::Object(object) => object,
        _ => return Err(format!("profile.{name}: must be an object with some of {}", known.join(", "))),
    };
    // Null removes a field (as in a merge).
    object.retain(|_, field| !field.is_null());
    for (field, value) in object.iter_mut() {
        if !known.contains(&field.as_str()) {
            return Err(format!("profile.{name}.{field}: not a known setting; the settings are {}", known.join(", ")));
        }
        check_field(field, value).map_err(|reason| format!("profile.{name}.{field}: {reason}"))?;
    }
    Ok(())
}

fn boolean(value: &Value) -> Result<(), String> {
    if value.is_boolean() { Ok(()) } else { Err("must be true or false".to_owned()) }
}

fn share(value: &Value) -> Result<(), String> {
    match value.as_f64() {
        Some(x) if (0.0..=1.0).contains(&x) => Ok(()),
        _ => Err("must be a number from 0 to 1".to_owned()),
    }
}

fn check_ai_field(field: &str, value: &mut Value) -> Result<(), String> {
    match field {
        "personalization_level" => {
            let level = value.as_str().map(|text| text.trim().to_ascii_lowercase());
            match level {
                Some(level) if PERSONALIZATION_LEVELS.contains(&level.as_str()) => {
                    *value = Value::String(level);
                    Ok(())
                }
                _ => Err(format!("must be one of {}", PERSONALIZATION_LEVELS.join(", "))),
            }
        }
        "learning_rate" => share(value),
        _ => boolean(value),
    }
}

fn check_security_field(field: &str, value: &mut Value) -> Result<(), String> {
    match field {
        "mfa_methods" => {
            let reason = || format!("must be a list of distinct methods among {}", MFA_METHODS.join(", "));
            let Some(items) = value.as_array() else { return Err(reason()) };
            let mut methods = Vec::new();
            for item in items {
                let method = item.as_str().map(|text| text.trim().to_ascii_lowercase()).ok_or_else(reason)?;
                if !MFA_METHODS.contains(&method.as_str()) || methods.contains(&method) {
                    return Err(reason());
                }
                methods.push(method);
            }
            *value = Value::Array(methods.into_iter().map(Value::String).collect());
            Ok(())
        }
        "session_timeout_minutes" => match value.as_u64() {
            Some(minutes) if (1..=SESSION_TIMEOUT_MAX_MINUTES).contains(&minutes) => Ok(()),
            _ => Err(format!("must be a whole number of minutes from 1 to {SESSION_TIMEOUT_MAX_MINUTES}")),
        },
        "risk_score_threshold" => share(value),
        _ => boolean(value),
    }
}

/// Merges a change of one settings object into the kept one, field by field (a null field
/// removes it); any other value replaces it whole.
pub fn merge(kept: Option<Value>, change: Value) -> Value {
    match (kept, change) {
        (Some(Value::Object(mut kept)), Value::Object(change)) => {
            for (field, value) in change {
                if value.is_null() {
                    kept.remove(&field);
                } else {
                    kept.insert(field, value);
                }
            }
            Value::Object(kept)
        }
        (_, change) => change,
    }
}

/// An account's `security_settings` as last written (empty when none, or unreadable: the
/// defaults then apply).
pub fn security_settings(cipher: &FieldCipher, user: &UserRecord) -> Map<String, Value> {
    user.profile_enc
        .as_deref()
        .and_then(|stored| cipher.decrypt(stored).ok())
        .and_then(|text| serde_json::from_str::<Map<String, Value>>(&text).ok())
        .and_then(|mut profile| match profile.remove("security_settings") {
            Some(Value::Object(settings)) => Some(settings),
            _ => None,
        })
        .unwrap_or_default()
}

/// The longest a session of this profile may last (`security_settings.session_timeout_minutes`).
pub fn session_timeout(settings: &Map<String, Value>) -> Option<Duration> {
    let minutes = settings.get("session_timeout_minutes")?.as_u64()?;
    Some(Duration::from_secs(minutes.min(SESSION_TIMEOUT_MAX_MINUTES) * 60))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn checked(profile: Value) -> Result<Value, String> {
        let mut profile = profile.as_object().cloned().unwrap_or_default();
        check(&mut profile).map(|()| Value::Object(profile))
    }

    #[test]
    fn the_seeds_settings_pass_and_are_normalised() {
        let profile = json!({
            "ai_preferences": {"personalization_level": "ADVANCED", "mood_detection_enabled": true, "learning_rate": 0.1,
                               "custom_model_training": true, "bias_mitigation_enabled": true},
            "security_settings": {"require_mfa": true, "mfa_methods": ["email", "SMS", "authenticator"],
                                  "session_timeout_minutes": 1440, "risk_score_threshold": 0.7, "anomaly_detection_enabled": true}
        });
        let profile = checked(profile).unwrap();
        assert_eq!(profile["ai_preferences"]["personalization_level"], "advanced");
        assert_eq!(profile["security_settings"]["mfa_methods"], json!(["email", "sms", "authenticator"]));
        let settings = profile["security_settings"].as_object().unwrap();
        assert_eq!(session_timeout(settings), Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn each_bad_field_is_named() {
        for (profile, named) in [
            (json!({"ai_preferences": {"personalization_level": "extreme"}}), "ai_preferences.personalization_level"),
            (json!({"ai_preferences": {"learning_rate": 1.5}}), "ai_preferences.learning_rate"),
            (json!({"ai_preferences": {"mood_detection_enabled": "yes"}}), "ai_preferences.mood_detection_enabled"),
            (json!({"ai_preferences": {"personalisation_level": "basic"}}), "ai_preferences.personalisation_level"),
            (json!({"ai_preferences": "advanced"}), "ai_preferences"),
            (json!({"security_settings": {"mfa_methods": ["email", "email"]}}), "security_settings.mfa_methods"),
            (json!({"security_settings": {"mfa_methods": ["pigeon"]}}), "security_settings.mfa_methods"),
            (json!({"security_settings": {"session_timeout_minutes": 0}}), "security_settings.session_timeout_minutes"),
            (
                json!({"security_settings": {"session_timeout_minutes": 90.5}}),
                "security_settings.session_timeout_minutes",
            ),
            (json!({"security_settings": {"risk_score_threshold": -0.1}}), "security_settings.risk_score_threshold"),
        ] {
            let error = checked(profile.clone()).unwrap_err();
            assert!(error.starts_with(&format!("profile.{named}:")), "{profile}: {error}");
        }
    }

    #[test]
    fn a_change_merges_field_by_field() {
        let kept = json!({"personalization_level": "basic", "learning_rate": 0.2});
        let merged = merge(
            Some(kept),
            json!({"personalization_level": "advanced", "learning_rate": null, "mood_detection_enabled": true}),
        );
        assert_eq!(merged, json!({"personalization_level": "advanced", "mood_detection_enabled": true}));
        assert_eq!(merge(None, json!({"require_mfa": true})), json!({"require_mfa": true}));
    }
}
