//! What every text a client sends must be before it reaches a store: free of the NUL character.
//! PostgreSQL's text and JSON types cannot hold U+0000 while SQLite stores it, so it is refused
//! at the edge (the extractors, the ingestion validator, the import) with a 4xx naming the field,
//! and both backends accept the same inputs.

use serde_json::Value;

/// The message for a field holding NUL.
pub fn nul_message(field: &str) -> String {
    format!("{field}: must not contain the NUL character (\\u0000)")
}

/// The path (`reasons[0]`, `testData.userId`, `(key)`) of the first string or key holding NUL.
pub fn nul_in_json(value: &Value) -> Option<String> {
    fn walk(value: &Value, path: &str) -> Option<String> {
        let child = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
        match value {
            Value::String(text) if text.contains('\0') => {
                Some(if path.is_empty() { "body".to_owned() } else { path.to_owned() })
            }
            Value::Array(items) => {
                items.iter().enumerate().find_map(|(index, item)| walk(item, &format!("{path}[{index}]")))
            }
            Value::Object(map) => {
                map.iter().find_map(
                    |(key, item)| {
                        if key.contains('\0') { Some(child("(a key)")) } else { walk(item, &child(key)) }
                    },
                )
            }
            _ => None,
        }
    }
    walk(value, "")
}

/// The name of the first of `pairs` (query, form or path parameters) whose name or value holds NUL.
pub fn nul_in_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    pairs
        .into_iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| if name.contains('\0') { "(a parameter name)".to_owned() } else { name.to_owned() })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nul_is_found_anywhere_and_named_by_its_path() {
        assert_eq!(nul_in_json(&json!({"reasons": ["ok", "r\u{0}"]})).as_deref(), Some("reasons[1]"));
        assert_eq!(nul_in_json(&json!({"testData": {"userId": "a\u{0}b"}})).as_deref(), Some("testData.userId"));
        assert_eq!(nul_in_json(&json!({"a\u{0}": 1})).as_deref(), Some("(a key)"));
        assert_eq!(nul_in_json(&json!("x\u{0}")).as_deref(), Some("body"));
        // A backslash followed by `u0000` is six characters, not NUL.
        assert_eq!(nul_in_json(&json!({"text": "\\u0000", "n": 0, "list": [[], {}]})), None);
        assert_eq!(nul_in_pairs([("user_id", "u1"), ("match_id", "m\u{0}")]).as_deref(), Some("match_id"));
        assert_eq!(nul_in_pairs([("user_id", "u1")]), None);
    }
}
