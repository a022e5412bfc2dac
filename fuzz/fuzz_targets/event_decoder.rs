//! Any Kafka message or HTTP body, however broken, decodes to an event or to an error in words;
//! a decoded event routes and applies to an instance of the shipped flows without a panic.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use flowlens_core::{decode_message, EnvelopeFields, Event, Flow, Flows, Instance, Message, Millis};
use libfuzzer_sys::fuzz_target;

static FLOWS: LazyLock<Flows> = LazyLock::new(|| {
    let onboarding = Flow::parse_toml("customer-onboarding.toml", include_str!("../../flows/customer-onboarding.toml"));
    let retail = Flow::parse_bpmn(
        "retail-order.bpmn",
        include_str!("../../flows/retail-order.bpmn"),
        Some(("retail-order.bpmn.toml", include_str!("../../flows/retail-order.bpmn.toml"))),
    );
    Flows::new(vec![onboarding.expect("the shipped flows parse"), retail.expect("the shipped flows parse")]).expect("the shipped flows agree")
});

static ENVELOPES: LazyLock<Vec<EnvelopeFields>> = LazyLock::new(|| FLOWS.envelopes());

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    key: Option<&'a [u8]>,
    headers: Vec<(&'a str, &'a [u8])>,
    payload: Option<&'a [u8]>,
    /// Also read the payload as an HTTP body would be.
    as_http: bool,
}

fn check(event: Event) {
    assert!(!event.event_type.trim().is_empty(), "a decoded event has a type");
    if let Ok(route) = FLOWS.route(&event, "fuzz") {
        let mut instance = Instance::new(&route.flow);
        let id = event.id.as_deref().unwrap_or("fuzz");
        let _ = instance.apply(&route.flow, id, &event.event_type, event.time.unwrap_or(Millis(0)));
        let nodes = instance.nodes(&route.flow);
        assert_eq!(nodes.len(), route.flow.nodes.len());
        let _ = instance.deviations(&route.flow);
    }
}

fuzz_target!(|input: Input| {
    let message = Message { key: input.key, headers: &input.headers, payload: input.payload };
    match decode_message(&message, &ENVELOPES) {
        Ok(event) => check(event),
        Err(e) => assert!(!e.to_string().is_empty(), "a refusal says why"),
    }
    if input.as_http {
        if let Some(value) = input.payload.and_then(|p| serde_json::from_slice(p).ok()) {
            match Event::decode(value) {
                Ok(event) => check(event),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
});
