//! How many events per second one core applies to onboarding instances.
//!
//! `cargo bench -p flowlens-core` (or `scripts/bench`); divan prints the throughput per benchmark.

use flowlens_core::{Flow, Instance, Millis};

fn main() {
    divan::main();
}

const INSTANCES: usize = 10_000;
const STEPS: [&str; 8] = [
    "RegistrationRequested",
    "AddressCheckRequested",
    "CreditCheckRequested",
    "CriminalRecordCheckRequested",
    "AddressChecked",
    "CreditChecked",
    "CriminalRecordChecked",
    "CustomerCreated",
];

fn onboarding() -> Flow {
    Flow::parse_toml("customer-onboarding.toml", include_str!("../../flows/customer-onboarding.toml")).unwrap()
}

/// Interleaved like a busy bus: step 1 of every instance, then step 2 of every instance, ...
fn stream() -> Vec<(usize, String, &'static str, Millis)> {
    let mut events = Vec::with_capacity(INSTANCES * STEPS.len());
    for (s, ty) in STEPS.iter().enumerate() {
        for i in 0..INSTANCES {
            events.push((i, format!("evt-{i}-{s}"), *ty, Millis((s * INSTANCES + i) as i64)));
        }
    }
    events
}

/// Applies the whole stream to fresh instances; with `derive`, also derives the node states after
/// each event, as the server does for the list and the push.
fn run(bencher: divan::Bencher, derive: bool) {
    let flow = onboarding();
    let events = stream();
    bencher
        .counter(divan::counter::ItemsCount::new(events.len()))
        .with_inputs(|| vec![Instance::new(&flow); INSTANCES])
        .bench_local_values(|mut instances| {
            let mut derived = 0usize;
            for (i, id, ty, t) in &events {
                instances[*i].apply(&flow, id, ty, *t);
                if derive {
                    derived += instances[*i].nodes(&flow).len();
                }
            }
            (instances, derived)
        });
}

#[divan::bench(sample_count = 20)]
fn apply(bencher: divan::Bencher) {
    run(bencher, false);
}

/// What the server does per event: apply, then derive the node states for the list and the push.
#[divan::bench(sample_count = 20)]
fn apply_and_derive(bencher: divan::Bencher) {
    run(bencher, true);
}
