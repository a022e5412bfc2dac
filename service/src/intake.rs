//! One intake for every source: bytes (or a JSON value) and where they came from in, a routed
//! event or the reason it cannot be tracked out. Kafka records, HTTP bodies, demo events and
//! file rows all pass here, so an event means the same whatever carried it.
//!
//! What a source does with a rejection is its own policy: Kafka dead-letters every one (a bad
//! message must never block its partition); HTTP refuses a batch holding a malformed event (the
//! sender is there to fix it) and dead-letters only events no flow handles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flowlens_core::{decode_message, EnvelopeFields, Event, Flows, Message, Millis, RouteError};
use flowlens_store::{DeadClass, DeadLetter, Routed};
use serde_json::Value;

/// Where a piece of input came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `POST /api/v1/events`, on the channel the poster named (a replayed file's name), if any.
    Http { channel: Option<String> },
    /// The built-in demo services.
    Demo,
    /// A Kafka record.
    Kafka { topic: String, partition: i32, offset: i64 },
    /// A row of an event-log file.
    File { path: String, line: u64 },
}

impl Origin {
    /// The source's name, as dead letters and generated ids show it.
    pub fn source(&self) -> &'static str {
        match self {
            Origin::Http { .. } => "http",
            Origin::Demo => "demo",
            Origin::Kafka { .. } => "kafka",
            Origin::File { .. } => "file",
        }
    }

    /// The channel it came in on, as a discovered flow names it: the Kafka topic, the file's
    /// name (without its directories), or the source.
    pub fn channel(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Origin::Kafka { topic, .. } => topic.as_str().into(),
            Origin::File { path, .. } => path.rsplit(['/', '\\']).next().unwrap_or(path).into(),
            Origin::Http { channel: Some(channel) } => channel.as_str().into(),
            other => other.source().into(),
        }
    }

    /// The exact place, when the source has one: a record read twice has the same place, so its
    /// dead letter is not kept twice and an event without an id keeps one identity.
    pub fn place(&self) -> Option<String> {
        match self {
            Origin::Http { .. } | Origin::Demo => None,
            Origin::Kafka { topic, partition, offset } => Some(format!("kafka:{topic}/{partition}/{offset}")),
            // Zero-padded: rows of one time replay in id order, which is then file order.
            Origin::File { path, line } => Some(format!("file:{path}:{line:010}")),
        }
    }
}

/// One piece of input, taken apart.
#[derive(Debug)]
pub enum Taken {
    /// Tracked: its flow and business key are known.
    Event(Routed),
    /// Not an event Flowlens can read: bad JSON, a missing type, no business key where its flow looks.
    Malformed { reason: String, raw: Vec<u8> },
    /// A good event that no flow handles.
    Unroutable { reason: String, raw: Vec<u8> },
}

impl Taken {
    /// The routed event, or the dead letter to keep instead.
    pub fn or_dead_letter(self, origin: &Origin) -> Result<Routed, DeadLetter> {
        match self {
            Taken::Event(routed) => Ok(routed),
            Taken::Malformed { reason, raw } => Err(DeadLetter { source: origin.source().to_string(), origin: origin.place(), reason, class: DeadClass::Malformed, raw }),
            Taken::Unroutable { reason, raw } => Err(DeadLetter { source: origin.source().to_string(), origin: origin.place(), reason, class: DeadClass::Unroutable, raw }),
        }
    }
}

/// Decodes and routes against the loaded flows.
pub struct Intake {
    /// The flows and their envelopes; replaced whole when a flow is added while running.
    routing: std::sync::RwLock<Arc<(Flows, Vec<EnvelopeFields>)>>,
    /// Tells apart the ids given to events that came without one and without a place.
    seq: AtomicU64,
}

impl Intake {
    pub fn new(flows: Flows) -> Intake {
        let envelopes = flows.envelopes();
        Intake { routing: std::sync::RwLock::new(Arc::new((flows, envelopes))), seq: AtomicU64::new(0) }
    }

    /// Routes against `flows` from now on.
    pub fn replace(&self, flows: Flows) {
        let envelopes = flows.envelopes();
        *self.routing.write().expect("no writer panics holding the routing") = Arc::new((flows, envelopes));
    }

    fn routing(&self) -> Arc<(Flows, Vec<EnvelopeFields>)> {
        self.routing.read().expect("no writer panics holding the routing").clone()
    }

    /// A message as a bus delivers it (key, headers, value): CloudEvents structured or binary
    /// mode, or a flow's plain envelope.
    pub fn message(&self, origin: &Origin, message: &Message, now: Millis) -> Taken {
        let raw = || message.payload.unwrap_or_default().to_vec();
        let routing = self.routing();
        match decode_message(message, &routing.1) {
            Ok(event) => self.route(&routing.0, origin, event, now, raw),
            Err(e) => Taken::Malformed { reason: e.to_string(), raw: raw() },
        }
    }

    /// One JSON event with CloudEvents names (`type`, `id`, `key` or `subject`, `time`, `data`).
    pub fn json(&self, origin: &Origin, value: Value, now: Millis) -> Taken {
        let raw = value.to_string();
        match Event::decode(value) {
            Ok(event) => self.route(&self.routing().0, origin, event, now, || raw.into_bytes()),
            Err(e) => Taken::Malformed { reason: e.to_string(), raw: raw.into_bytes() },
        }
    }

    fn route(&self, flows: &Flows, origin: &Origin, mut event: Event, now: Millis, raw: impl FnOnce() -> Vec<u8>) -> Taken {
        // From here on the id is the identity: source and id, so equal ids of two sources are
        // two events.
        event.id = event.identity();
        if event.id.is_none() {
            // Without an id, the event's place is its identity; without a place, the sender gave
            // up deduplication and each submission is a new event. The counter is zero-padded:
            // events of one millisecond replay in id order, which is then the order they came in.
            let id = origin.place().unwrap_or_else(|| {
                let n = self.seq.fetch_add(1, Ordering::Relaxed);
                format!("{}-{}-{n:012}", origin.source(), now.0)
            });
            event.id = Some(id);
        }
        match flows.route(&event, &origin.channel()) {
            Ok(route) => Taken::Event(Routed { event, route }),
            Err(e @ RouteError::NoKey { .. }) => Taken::Malformed { reason: e.to_string(), raw: raw() },
            Err(e @ RouteError::NoFlow { .. }) => Taken::Unroutable { reason: e.to_string(), raw: raw() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn intake() -> Intake {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/customer-onboarding.toml");
        let flow = flowlens_core::Flow::parse_toml("onboarding", &std::fs::read_to_string(dir).unwrap()).unwrap();
        Intake::new(Flows::new(vec![flow]).unwrap())
    }

    #[test]
    fn an_event_without_id_takes_its_place_or_a_fresh_one() {
        let intake = intake();
        let kafka = Origin::Kafka { topic: "t".into(), partition: 2, offset: 7 };
        let event = json!({ "type": "RegistrationRequested", "key": "c-1" });
        let Taken::Event(a) = intake.json(&kafka, event.clone(), Millis(5)) else { panic!("routed") };
        assert_eq!(a.event.id.as_deref(), Some("kafka:t/2/7"));
        let Taken::Event(b) = intake.json(&Origin::Http { channel: None }, event.clone(), Millis(5)) else { panic!("routed") };
        let Taken::Event(c) = intake.json(&Origin::Http { channel: None }, event, Millis(5)) else { panic!("routed") };
        assert_ne!(b.event.id, c.event.id, "two submissions without an id are two events");
    }

    #[test]
    fn equal_ids_of_two_sources_are_two_events() {
        let intake = intake();
        let from = |source: &str| {
            let Taken::Event(r) = intake.json(&Origin::Http { channel: None }, json!({ "type": "RegistrationRequested", "key": "c-1", "id": "1", "source": source }), Millis(5)) else {
                panic!("routed")
            };
            r.event.id
        };
        assert_ne!(from("/web"), from("/mobile"));
        assert_eq!(from("/web"), from("/web"));
    }

    #[test]
    fn rejections_say_why_and_keep_the_bytes() {
        let intake = intake();
        let bus = Message { key: Some(b"c-1"), headers: &[], payload: Some(b"{not json") };
        let Taken::Malformed { raw, .. } = intake.message(&Origin::Http { channel: None }, &bus, Millis(0)) else { panic!("malformed") };
        assert_eq!(raw, b"{not json");
        let Taken::Unroutable { reason, .. } = intake.json(&Origin::Demo, json!({ "type": "Nobody", "key": "k" }), Millis(0)) else {
            panic!("unroutable")
        };
        assert!(reason.contains("`Nobody`"), "{reason}");
        let place = Origin::File { path: "log.csv".into(), line: 3 };
        let dead = intake.json(&place, json!({ "type": "Nobody" }), Millis(0)).or_dead_letter(&place).unwrap_err();
        assert_eq!((dead.source.as_str(), dead.origin.as_deref()), ("file", Some("file:log.csv:0000000003")));
    }
}
