//! Onboarding traffic as a Kafka producer would send it, for tests and benchmarks.

use flowlens_core::Millis;
use serde_json::json;

use super::broker::Record;

pub const STEPS: [&str; 8] = [
    "RegistrationRequested",
    "AddressCheckRequested",
    "CreditCheckRequested",
    "CriminalRecordCheckRequested",
    "AddressChecked",
    "CreditChecked",
    "CriminalRecordChecked",
    "CustomerCreated",
];

/// When step `s` of every test onboarding happened: a second apart, starting a minute before this
/// process started. Recent on purpose: older than the flow's four-hour SLA, the instances would be
/// cancelled by the scheduler while the test still ingests them.
pub fn step_time(s: usize) -> Millis {
    static BASE: std::sync::LazyLock<i64> = std::sync::LazyLock::new(|| (flowlens_store::now().0 / 1000 - 60) * 1000);
    Millis(*BASE + (s * 1000) as i64)
}

/// The whole onboarding of `customers` customers, as CloudEvents: structured mode for even
/// customers, binary mode (attributes in headers) for odd ones; keyed by customer id.
pub fn onboardings(prefix: &str, customers: usize) -> Vec<Record> {
    onboardings_with_rework(prefix, customers, 0)
}

/// The rework loop of an address check that failed: the customer is asked for a corrected
/// address and the check runs again (the flow's `correction` task), all within step 4's second.
pub const REWORK: [&str; 5] = ["AddressCheckFailed", "AddressCorrectionRequested", "AddressCorrected", "AddressCheckRequested", "AddressChecked"];

/// [`onboardings`], where every `rework_every`-th customer (none for 0) goes through the address
/// correction loop once: [`REWORK`] in place of its `AddressChecked`, so its instance has 12
/// events and two visits of the address check.
pub fn onboardings_with_rework(prefix: &str, customers: usize, rework_every: usize) -> Vec<Record> {
    let reworked = |c: usize| rework_every > 0 && c % rework_every == 0;
    let mut records = Vec::with_capacity(customers * STEPS.len() + (0..customers).filter(|&c| reworked(c)).count() * (REWORK.len() - 1));
    for (s, ty) in STEPS.iter().enumerate() {
        for c in 0..customers {
            let key = format!("{prefix}-{c}");
            let steps: Vec<(String, &str, Millis)> = if s == 4 && reworked(c) {
                REWORK.iter().enumerate().map(|(r, ty)| (format!("{key}-{s}-{r}"), *ty, Millis(step_time(s).0 + 100 * r as i64))).collect()
            } else {
                vec![(format!("{key}-{s}"), *ty, step_time(s))]
            };
            for (id, ty, time) in steps {
                records.push(cloud_event(c % 2 == 0, &key, &id, ty, time, json!({ "customerId": key, "step": s })));
            }
        }
    }
    records
}

fn cloud_event(structured: bool, key: &str, id: &str, ty: &str, time: Millis, data: serde_json::Value) -> Record {
    let time = time.to_rfc3339();
    if structured {
        let event = json!({ "specversion": "1.0", "id": id, "type": ty, "source": "/test", "time": time, "data": data });
        let headers = vec![("content-type".to_string(), b"application/cloudevents+json".to_vec())];
        (Some(key.to_string()), headers, event.to_string().into_bytes())
    } else {
        let headers = [("ce_specversion", "1.0"), ("ce_id", id), ("ce_type", ty), ("ce_source", "/test"), ("ce_time", &time)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        (Some(key.to_string()), headers, data.to_string().into_bytes())
    }
}
