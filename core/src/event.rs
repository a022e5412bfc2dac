//! Events as Flowlens sees them, whatever bus they came over, and the decoder for the JSON envelope.
//!
//! The envelope follows CloudEvents 1.0 names (`id`, `type`, `time`, `data`, and attributes such
//! as `source` or `subject`) and also takes `key` for the message key, the way a Kafka record
//! carries it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time::Millis;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event; a second event with the same id is a duplicate. `None` until the adapter
    /// that received it assigns one.
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub event_type: String,
    pub key: Option<String>,
    pub time: Option<Millis>,
    /// Other CloudEvents attributes (`source`, `subject`, extensions), for correlation.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    pub data: Value,
}

/// Why an envelope was refused, in words for the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const MAX_TEXT: usize = 256;
const MAX_ATTRIBUTES: usize = 32;

impl Event {
    pub fn decode(value: Value) -> Result<Event, DecodeError> {
        let bad = |s: String| Err(DecodeError(s));
        let Value::Object(mut obj) = value else {
            return bad(format!("an event must be a JSON object, not {}", kind_of(&value)));
        };
        let mut text = |field: &str, required: bool| -> Result<Option<String>, DecodeError> {
            match obj.remove(field) {
                None | Some(Value::Null) if required => Err(DecodeError(format!("the event has no `{field}`"))),
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Err(DecodeError(format!("`{field}` is empty"))),
                Some(Value::String(s)) if s.len() > MAX_TEXT => {
                    Err(DecodeError(format!("`{field}` is longer than {MAX_TEXT} bytes")))
                }
                Some(Value::String(s)) => Ok(Some(s)),
                Some(Value::Number(n)) if field != "type" => Ok(Some(n.to_string())),
                Some(other) => Err(DecodeError(format!("`{field}` must be a string, not {}", kind_of(&other)))),
            }
        };
        let event_type = text("type", true)?.unwrap_or_default();
        let id = text("id", false)?;
        let key = text("key", false)?;
        // RFC 3339, or milliseconds since the epoch as plain envelopes often carry them.
        let time = text("time", false)?
            .map(|t| match t.parse::<i64>() {
                Ok(ms) => Ok(Millis(ms)),
                Err(_) => Millis::parse_rfc3339(&t),
            })
            .transpose()
            .map_err(DecodeError)?;
        let data = obj.remove("data").unwrap_or(Value::Null);
        let mut attributes = BTreeMap::new();
        for (name, value) in obj {
            // Attributes are text; anything else at the top level is not part of the envelope.
            if let Value::String(v) = value {
                if v.len() <= MAX_TEXT && attributes.len() < MAX_ATTRIBUTES {
                    attributes.insert(name, v);
                }
            }
        }
        Ok(Event { id, event_type, key, time, attributes, data })
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_a_full_envelope() {
        let ev = Event::decode(json!({"id": "e1", "type": "AddressChecked", "key": "c-1",
            "time": "2026-11-27T08:00:00Z", "data": {"ok": true}}))
        .unwrap();
        assert_eq!(ev.id.as_deref(), Some("e1"));
        assert_eq!(ev.key.as_deref(), Some("c-1"));
        assert_eq!(ev.time, Some(Millis::parse_rfc3339("2026-11-27T08:00:00Z").unwrap()));
        assert_eq!(ev.data, json!({"ok": true}));
    }

    #[test]
    fn attributes_are_kept_and_numbers_are_text() {
        let ev = Event::decode(json!({"type": "T", "key": 42, "id": 7, "subject": "c-9", "specversion": "1.0"})).unwrap();
        assert_eq!((ev.key.as_deref(), ev.id.as_deref()), (Some("42"), Some("7")));
        assert_eq!(ev.attributes.get("subject").map(String::as_str), Some("c-9"));
        assert_eq!(ev.attributes.len(), 2);
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let cases = [
            (json!([1]), "must be a JSON object, not an array"),
            (json!({"key": "k"}), "no `type`"),
            (json!({"type": ""}), "`type` is empty"),
            (json!({"type": 5}), "`type` must be a string, not a number"),
            (json!({"type": "T", "time": "noon"}), "`noon` is not an RFC 3339 time"),
            (json!({"type": "T", "key": {"a": 1}}), "`key` must be a string, not an object"),
            (json!({"type": "x".repeat(300)}), "longer than 256 bytes"),
        ];
        for (input, expected) in cases {
            let err = Event::decode(input.clone()).unwrap_err().0;
            assert!(err.contains(expected), "{input}: got {err:?}, expected {expected:?}");
        }
    }
}
