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
    let mut records = Vec::with_capacity(customers * STEPS.len());
    for (s, ty) in STEPS.iter().enumerate() {
        for c in 0..customers {
            let key = format!("{prefix}-{c}");
            let id = format!("{key}-{s}");
            let time = step_time(s).to_rfc3339();
            let data = json!({ "customerId": key, "step": s });
            if c % 2 == 0 {
                let event = json!({ "specversion": "1.0", "id": id, "type": ty, "source": "/test", "time": time, "data": data });
                let headers = vec![("content-type".to_string(), b"application/cloudevents+json".to_vec())];
                records.push((Some(key), headers, event.to_string().into_bytes()));
            } else {
                let headers = [("ce_specversion", "1.0"), ("ce_id", id.as_str()), ("ce_type", ty), ("ce_source", "/test"), ("ce_time", &time)]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                    .collect();
                records.push((Some(key), headers, data.to_string().into_bytes()));
            }
        }
    }
    records
}

