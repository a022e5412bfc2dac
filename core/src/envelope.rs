//! Messages from a bus (Kafka) into [`Event`]s: CloudEvents 1.0 in structured mode (the whole
//! event as JSON), in binary mode (attributes in `ce_*` headers, data as the value in whatever
//! content type the `content-type` header names), and plain JSON envelopes whose field names a
//! flow configures.
//!
//! Everything a sender can get wrong is an error in words, so the adapter can dead-letter the
//! message with its reason and move on.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::{Data, DecodeError, Event};

/// The most bytes one message value may have.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// A message as a bus delivers it.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub key: Option<&'a [u8]>,
    pub headers: &'a [(&'a str, &'a [u8])],
    pub payload: Option<&'a [u8]>,
}

/// Field names of a plain JSON envelope, e.g. type in `messageType`, key in `traceId`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeFields {
    #[serde(rename = "type")]
    pub type_field: String,
    #[serde(default = "default_id")]
    pub id: String,
    #[serde(default = "default_key")]
    pub key: String,
    #[serde(default = "default_time")]
    pub time: String,
    #[serde(default = "default_data")]
    pub data: String,
    /// The field naming who sent the event; events are told apart by source and id.
    #[serde(default = "default_source")]
    pub source: String,
}

fn default_id() -> String {
    "id".into()
}
fn default_key() -> String {
    "key".into()
}
fn default_time() -> String {
    "time".into()
}
fn default_data() -> String {
    "data".into()
}
fn default_source() -> String {
    "source".into()
}

fn header<'a>(msg: &Message<'a>, name: &str) -> Option<&'a [u8]> {
    msg.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(bytes)
        .map_err(|e| DecodeError(format!("{what} is not UTF-8 text (invalid byte at offset {})", e.valid_up_to())))
}

/// Decodes one message. `plain` lists the envelopes flows configure, tried before the default one.
pub fn decode_message(msg: &Message, plain: &[EnvelopeFields]) -> Result<Event, DecodeError> {
    let payload = msg.payload.ok_or_else(|| DecodeError("the message has no value".into()))?;
    if payload.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError(format!("the value is {} bytes, over the limit of {MAX_MESSAGE_BYTES}", payload.len())));
    }
    let message_key = msg.key.map(|k| utf8(k, "the message key")).transpose()?.filter(|k| !k.is_empty());

    let mut event = if header(msg, "ce_type").is_some() || header(msg, "ce_specversion").is_some() {
        // Binary mode: attributes in headers, the value is the data in the content type the
        // `content-type` header names (any: tracking needs only the attributes).
        let mut obj = Map::new();
        for (name, value) in msg.headers {
            if let Some(attr) = name.strip_prefix("ce_").or_else(|| name.strip_prefix("CE_")) {
                obj.insert(attr.to_ascii_lowercase(), Value::String(utf8(value, &format!("header `{name}`"))?.to_string()));
            }
        }
        let content_type = header(msg, "content-type").map(|ct| utf8(ct, "header `content-type`")).transpose()?;
        if let Some(ct) = content_type {
            obj.insert("datacontenttype".into(), Value::String(ct.to_string()));
        }
        let mut event = Event::decode(Value::Object(obj))?;
        event.data = Data::from_bytes(payload, content_type)?;
        event
    } else {
        let text = utf8(payload, "the value")?;
        let value = serde_json::from_str::<Value>(text).map_err(|e| DecodeError(format!("the value is not JSON: {e}")))?;
        let structured = header(msg, "content-type").is_some_and(|ct| ct.starts_with(b"application/cloudevents"))
            || value.get("specversion").is_some();
        match plain.iter().find(|f| !structured && value.get(&f.type_field).is_some_and(Value::is_string)) {
            Some(fields) => Event::decode(canonical(value, fields))?,
            None => Event::decode(value)?,
        }
    };
    if event.key.is_none() {
        event.key = message_key.map(str::to_string);
    }
    Ok(event)
}

/// Renames a plain envelope's fields to the names [`Event::decode`] reads.
fn canonical(value: Value, f: &EnvelopeFields) -> Value {
    let Value::Object(mut obj) = value else { return value };
    let mut out = Map::new();
    for (from, to) in [(&f.type_field, "type"), (&f.id, "id"), (&f.key, "key"), (&f.time, "time"), (&f.data, "data"), (&f.source, "source")] {
        if let Some(v) = obj.remove(from.as_str()) {
            out.insert(to.to_string(), v);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Millis;
    use serde_json::json;

    fn msg<'a>(key: Option<&'a [u8]>, headers: &'a [(&'a str, &'a [u8])], payload: &'a [u8]) -> Message<'a> {
        Message { key, headers, payload: Some(payload) }
    }

    #[test]
    fn structured_cloudevents_take_the_message_key_when_they_have_none() {
        let body = br#"{"specversion":"1.0","id":"a1","type":"CreditChecked","source":"/credit","time":"2026-11-27T08:00:00Z","data":{"score":700}}"#;
        let ev = decode_message(&msg(Some(b"cust-1"), &[("content-type", b"application/cloudevents+json")], body), &[]).unwrap();
        assert_eq!((ev.id.as_deref(), ev.event_type.as_str(), ev.key.as_deref()), (Some("a1"), "CreditChecked", Some("cust-1")));
        assert_eq!(ev.attributes.get("source").map(String::as_str), Some("/credit"));
        assert_eq!(ev.data, Data::Json(json!({"score": 700})));
    }

    #[test]
    fn binary_cloudevents_read_attributes_from_headers() {
        let headers: [(&str, &[u8]); 4] =
            [("ce_specversion", b"1.0"), ("ce_id", b"b2"), ("ce_type", b"AddressChecked"), ("ce_subject", b"cust-2")];
        let ev = decode_message(&msg(Some(b"cust-2"), &headers, br#"{"ok":true}"#), &[]).unwrap();
        assert_eq!((ev.id.as_deref(), ev.event_type.as_str()), (Some("b2"), "AddressChecked"));
        assert_eq!(ev.attributes.get("subject").map(String::as_str), Some("cust-2"));
        assert_eq!(ev.data, Data::Json(json!({"ok": true})));
    }

    #[test]
    fn binary_mode_takes_data_of_any_content_type() {
        let headers = |ct: &'static [u8]| -> Vec<(&'static str, &'static [u8])> {
            vec![("ce_specversion", b"1.0"), ("ce_id", b"x"), ("ce_source", b"/s"), ("ce_type", b"T"), ("content-type", ct)]
        };
        let plain = headers(b"text/plain; charset=utf-8");
        assert_eq!(decode_message(&msg(Some(b"k"), &plain, b"not json"), &[]).unwrap().data, Data::Text("not json".into()));
        let avro = headers(b"application/avro");
        assert_eq!(decode_message(&msg(Some(b"k"), &avro, b"\x00\xff\x10"), &[]).unwrap().data, Data::Bytes(vec![0, 255, 16]));
        let json_charset = headers(b"application/json; charset=UTF-8");
        let ev = decode_message(&msg(Some(b"k"), &json_charset, br#"{"n":1}"#), &[]).unwrap();
        assert_eq!((ev.data, ev.attributes.get("datacontenttype").map(String::as_str)), (Data::Json(json!({"n": 1})), Some("application/json; charset=UTF-8")));
        let undeclared: [(&str, &[u8]); 2] = [("ce_type", b"T"), ("ce_id", b"y")];
        assert_eq!(decode_message(&msg(Some(b"k"), &undeclared, b"\xfe\xff"), &[]).unwrap().data, Data::Bytes(vec![254, 255]));
    }

    #[test]
    fn plain_envelopes_use_the_field_names_a_flow_configures() {
        let fields = EnvelopeFields {
            type_field: "messageType".into(),
            id: "id".into(),
            key: "traceId".into(),
            time: "timestamp".into(),
            data: "payload".into(),
            source: "origin".into(),
        };
        let body = br#"{"messageType":"OrderPlaced","id":"p3","traceId":"o-9","timestamp":1795773600000,"payload":{"orderId":"o-9"},"origin":"shop"}"#;
        let ev = decode_message(&msg(None, &[], body), std::slice::from_ref(&fields)).unwrap();
        assert_eq!((ev.event_type.as_str(), ev.key.as_deref(), ev.time), ("OrderPlaced", Some("o-9"), Some(Millis(1_795_773_600_000))));
        assert_eq!(ev.data, Data::Json(json!({"orderId": "o-9"})));
        assert_eq!(ev.identity().as_deref(), Some("shop p3"));
    }

    #[test]
    fn what_cannot_be_an_event_says_why() {
        let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
        let cases: Vec<(Message, &str)> = vec![
            (Message { key: None, headers: &[], payload: None }, "the message has no value"),
            (msg(None, &[], b"\xff\xfe{}"), "the value is not UTF-8 text (invalid byte at offset 0)"),
            (msg(None, &[], b"{\"type\": "), "the value is not JSON"),
            (msg(None, &[], br#"{"id": "x"}"#), "the event has no `type`"),
            (msg(Some(b"\xc3\x28"), &[], br#"{"type": "T"}"#), "the message key is not UTF-8"),
            (msg(None, &[], &big), "over the limit"),
            (msg(None, &[("ce_type", b"T"), ("content-type", b"application/json")], b"not json"), "declared `application/json` but is not JSON"),
        ];
        for (m, expected) in cases {
            let err = decode_message(&m, &[]).unwrap_err().0;
            assert!(err.contains(expected), "got {err:?}, expected {expected:?}");
        }
    }
}
