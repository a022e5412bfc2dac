//! Events as Flowlens sees them, whatever bus they came over, and the decoder for the JSON envelope.
//!
//! The envelope follows CloudEvents 1.0 names (`id`, `type`, `time`, `data`, and attributes such
//! as `source` or `subject`) and also takes `key` for the message key, the way a Kafka record
//! carries it.
//!
//! An event's identity is its `source` and `id`, as CloudEvents defines it: two producers may well
//! number their events alike, and neither event may be lost as the other's duplicate.
//!
//! Tracking needs only the attributes, so the data may be anything: JSON (looked into for
//! correlation), text, or bytes (Avro, Protobuf), as the sender's content type says.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time::Millis;

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Unique per source; a second event with the same source and id is a duplicate (see
    /// [`Event::identity`]). `None` until the adapter that received it assigns one.
    pub id: Option<String>,
    pub event_type: String,
    pub key: Option<String>,
    pub time: Option<Millis>,
    /// Other CloudEvents attributes (`source`, `subject`, extensions), for correlation.
    pub attributes: BTreeMap<String, String>,
    pub data: Data,
}

/// An event's data, as its content type says to read it.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// JSON (no content type, or `application/json`, `*+json`): correlation may look inside.
    Json(Value),
    /// Text in any other content type (`text/plain`, XML, CSV), decoded from its charset.
    Text(String),
    /// Anything else (Avro, Protobuf, images): kept as it came.
    Bytes(Vec<u8>),
}

impl Default for Data {
    fn default() -> Data {
        Data::Json(Value::Null)
    }
}

/// How [`Data`] is written into one text column: JSON as JSON, text as itself, bytes in base64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DataForm {
    #[default]
    Json,
    Text,
    Base64,
}

impl DataForm {
    /// The stored name (none for JSON, so rows written before this existed read as JSON).
    pub fn stored(self) -> Option<&'static str> {
        match self {
            DataForm::Json => None,
            DataForm::Text => Some("text"),
            DataForm::Base64 => Some("base64"),
        }
    }

    pub fn from_stored(s: Option<&str>) -> DataForm {
        match s {
            Some("text") => DataForm::Text,
            Some("base64") => DataForm::Base64,
            _ => DataForm::Json,
        }
    }
}

impl Data {
    pub fn json(&self) -> Option<&Value> {
        match self {
            Data::Json(v) => Some(v),
            _ => None,
        }
    }

    /// How it is stored.
    pub fn form(&self) -> DataForm {
        match self {
            Data::Json(_) => DataForm::Json,
            Data::Text(_) => DataForm::Text,
            Data::Bytes(_) => DataForm::Base64,
        }
    }

    /// The form and text to store.
    pub fn to_stored(&self) -> (DataForm, String) {
        match self {
            Data::Json(v) => (DataForm::Json, v.to_string()),
            Data::Text(t) => (DataForm::Text, t.clone()),
            Data::Bytes(b) => (DataForm::Base64, base64::engine::general_purpose::STANDARD.encode(b)),
        }
    }

    /// What was stored, read back; `None` when the text is not of its form.
    pub fn from_stored(form: DataForm, text: &str) -> Option<Data> {
        match form {
            DataForm::Json => serde_json::from_str(text).ok().map(Data::Json),
            DataForm::Text => Some(Data::Text(text.to_string())),
            DataForm::Base64 => base64::engine::general_purpose::STANDARD.decode(text).ok().map(Data::Bytes),
        }
    }

    /// Bytes received with a content type (`None`: not declared), read as that type says.
    /// Declared JSON that is not JSON is an error; undeclared data is JSON if it parses, then text
    /// if it is UTF-8, else bytes.
    pub fn from_bytes(bytes: &[u8], content_type: Option<&str>) -> Result<Data, DecodeError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Data::default());
        }
        let media = content_type.map(MediaType::parse);
        match &media {
            Some(m) if m.is_json() => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|e| DecodeError(format!("the data is declared `{}` but is not UTF-8 (invalid byte at offset {})", m.essence, e.valid_up_to())))?;
                serde_json::from_str(text)
                    .map(Data::Json)
                    .map_err(|e| DecodeError(format!("the data is declared `{}` but is not JSON: {e}", m.essence)))
            }
            // Latin-1 maps byte for byte onto the first 256 code points.
            Some(m) if matches!(m.charset.as_deref(), Some("iso-8859-1" | "latin1" | "latin-1")) => {
                Ok(Data::Text(bytes.iter().map(|&b| b as char).collect()))
            }
            Some(m) if m.is_text() => Ok(match std::str::from_utf8(bytes) {
                Ok(text) => Data::Text(text.to_string()),
                Err(_) => Data::Bytes(bytes.to_vec()),
            }),
            Some(_) => Ok(Data::Bytes(bytes.to_vec())),
            None => Ok(match std::str::from_utf8(bytes) {
                Ok(text) => serde_json::from_str(text).map(Data::Json).unwrap_or_else(|_| Data::Text(text.to_string())),
                Err(_) => Data::Bytes(bytes.to_vec()),
            }),
        }
    }

    /// The data as the timeline shows it: JSON and text as they are, bytes as size and hex.
    pub fn preview(&self) -> String {
        match self {
            Data::Json(v) => v.to_string(),
            Data::Text(t) => t.clone(),
            Data::Bytes(b) => bytes_preview(b),
        }
    }
}

/// Bytes that are readable text are shown as text; others as `12 bytes: 0a 0b …` (the first 64).
fn bytes_preview(b: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(b) {
        if !text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            return text.to_string();
        }
    }
    let mut out = format!("{} bytes:", b.len());
    for byte in b.iter().take(64) {
        out.push_str(&format!(" {byte:02x}"));
    }
    if b.len() > 64 {
        out.push_str(" …");
    }
    out
}

/// A content type taken apart: `application/json; charset=utf-8` is `application/json` in UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaType {
    /// Type and subtype, lower case.
    pub essence: String,
    /// The `charset` parameter, lower case.
    pub charset: Option<String>,
}

impl MediaType {
    pub fn parse(s: &str) -> MediaType {
        let mut parts = s.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let charset = parts.find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches('"').to_ascii_lowercase())
        });
        MediaType { essence, charset }
    }

    /// Text types: `text/*`, XML, or anything that names its charset.
    pub fn is_text(&self) -> bool {
        self.essence.starts_with("text/") || self.essence == "application/xml" || self.essence.ends_with("+xml") || self.charset.is_some()
    }

    pub fn is_json(&self) -> bool {
        self.essence == "application/json" || self.essence == "text/json" || self.essence.ends_with("+json")
    }
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
        let content_type = match obj.get("datacontenttype") {
            Some(Value::String(ct)) => Some(MediaType::parse(ct)),
            _ => None,
        };
        let data = match (obj.remove("data"), obj.remove("data_base64")) {
            (Some(d), Some(_)) if !d.is_null() => return bad("the event has both `data` and `data_base64`; it may have one".into()),
            (_, Some(Value::String(b64))) => Data::Bytes(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| DecodeError(format!("`data_base64` is not base64: {e}")))?,
            ),
            (_, Some(other)) if !other.is_null() => return bad(format!("`data_base64` must be a string, not {}", kind_of(&other))),
            // Text data of a declared non-JSON type is that text, not a JSON string.
            (Some(Value::String(t)), _) if content_type.as_ref().is_some_and(|m| !m.is_json()) => Data::Text(t),
            (d, _) => Data::Json(d.unwrap_or(Value::Null)),
        };
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

    /// Source and id: what makes an event itself. Events without a source are told apart by id.
    pub fn identity(&self) -> Option<String> {
        let id = self.id.as_deref()?;
        Some(match self.attributes.get("source") {
            Some(source) => format!("{source} {id}"),
            None => id.to_string(),
        })
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
        assert_eq!(ev.data, Data::Json(json!({"ok": true})));
    }

    #[test]
    fn identity_is_source_and_id() {
        let a = Event::decode(json!({"id": "1", "type": "T", "source": "/billing"})).unwrap();
        let b = Event::decode(json!({"id": "1", "type": "T", "source": "/shipping"})).unwrap();
        let c = Event::decode(json!({"id": "1", "type": "T"})).unwrap();
        assert_ne!(a.identity(), b.identity());
        assert_eq!(a.identity().as_deref(), Some("/billing 1"));
        assert_eq!(c.identity().as_deref(), Some("1"));
    }

    #[test]
    fn data_takes_the_form_its_content_type_says() {
        let text = Event::decode(json!({"type": "T", "datacontenttype": "text/plain; charset=utf-8", "data": "hello"})).unwrap();
        assert_eq!(text.data, Data::Text("hello".into()));
        let json_string = Event::decode(json!({"type": "T", "data": "hello"})).unwrap();
        assert_eq!(json_string.data, Data::Json(json!("hello")));
        let bytes = Event::decode(json!({"type": "T", "data_base64": "AAH/"})).unwrap();
        assert_eq!(bytes.data, Data::Bytes(vec![0, 1, 255]));
        assert_eq!(Data::from_bytes(b"\x00\x01", Some("application/avro")).unwrap(), Data::Bytes(vec![0, 1]));
        assert_eq!(Data::from_bytes(b"caf\xe9", Some("text/plain; charset=ISO-8859-1")).unwrap(), Data::Text("café".into()));
        assert_eq!(Data::from_bytes(br#"{"a":1}"#, Some("application/cloudevents+json")).unwrap(), Data::Json(json!({"a": 1})));
        assert_eq!(Data::from_bytes(b"<a/>", None).unwrap(), Data::Text("<a/>".into()));
        assert_eq!(Data::from_bytes(b"\xff", None).unwrap(), Data::Bytes(vec![255]));
        let err = Data::from_bytes(b"nope", Some("Application/JSON; charset=utf-8")).unwrap_err().0;
        assert!(err.contains("declared `application/json` but is not JSON"), "{err}");
        for data in [Data::Json(json!({"x": [1]})), Data::Text("a\nb".into()), Data::Bytes(vec![0, 159, 146, 150])] {
            let (form, text) = data.to_stored();
            assert_eq!(Data::from_stored(DataForm::from_stored(form.stored()), &text), Some(data));
        }
        assert_eq!(bytes_preview(&[0, 255]), "2 bytes: 00 ff");
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
            (json!({"type": "T", "data_base64": "%%%"}), "`data_base64` is not base64"),
            (json!({"type": "T", "data": 1, "data_base64": "AA=="}), "both `data` and `data_base64`"),
        ];
        for (input, expected) in cases {
            let err = Event::decode(input.clone()).unwrap_err().0;
            assert!(err.contains(expected), "{input}: got {err:?}, expected {expected:?}");
        }
    }
}
