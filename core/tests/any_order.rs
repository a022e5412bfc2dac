//! Property: whatever order events arrive in, and however often each is delivered, an instance ends
//! in the same state as when they came once each, in time order.

use flowlens_core::{Flow, Instance, Millis};
use proptest::prelude::*;

fn onboarding() -> Flow {
    Flow::parse_toml("customer-onboarding.toml", include_str!("../../flows/customer-onboarding.toml")).unwrap()
}

const CHECKS: [(&str, &str, &str); 3] = [
    ("AddressCheckRequested", "AddressChecked", "AddressCheckFailed"),
    ("CreditCheckRequested", "CreditChecked", "CreditCheckFailed"),
    ("CriminalRecordCheckRequested", "CriminalRecordChecked", "CriminalRecordCheckFailed"),
];

/// One instance's events: (id, type, time). Paths through the flow vary, including ones that
/// contradict it (two starts, outcomes without requests, both ends, foreign types).
fn instance_events() -> impl Strategy<Value = Vec<(String, &'static str, i64)>> {
    let check = (any::<bool>(), 0u8..4);
    (1usize..3, prop::array::uniform3(check), 0u8..3, any::<bool>(), prop::collection::vec(0i64..1_000_000, 16))
        .prop_map(|(starts, checks, decision, foreign, times)| {
            let mut types: Vec<&'static str> = vec!["RegistrationRequested"; starts];
            for ((requested, outcome), (req, ok, failed)) in checks.into_iter().zip(CHECKS) {
                if requested {
                    types.push(req);
                }
                match outcome {
                    0 => types.push(ok),
                    1 => types.push(failed),
                    2 => types.extend([ok, failed]),
                    _ => {}
                }
            }
            match decision {
                0 => types.push("CustomerCreated"),
                1 => types.push("RegistrationRejected"),
                _ => {}
            }
            if foreign {
                types.push("NewsletterSent");
            }
            types.into_iter().enumerate().map(|(i, ty)| (format!("evt-{i}"), ty, times[i % times.len()])).collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn shuffled_and_duplicated_streams_end_in_the_in_order_state(
        (events, order, dups) in instance_events().prop_flat_map(|events| {
            let n = events.len();
            (Just(events), Just((0..n).collect::<Vec<_>>()).prop_shuffle(), prop::collection::vec(0..n, 0..8))
        }),
        now in 0i64..20_000_000,
    ) {
        let flow = onboarding();
        let mut sorted = events.clone();
        sorted.sort_by_key(|(id, _, t)| (*t, id.clone()));
        let mut in_order = Instance::new(&flow);
        for (id, ty, t) in &sorted {
            in_order.apply(&flow, id, ty, Millis(*t));
        }
        let mut shuffled = Instance::new(&flow);
        for i in order.iter().chain(&dups) {
            let (id, ty, t) = &events[*i];
            shuffled.apply(&flow, id, ty, Millis(*t));
        }
        prop_assert_eq!(&shuffled, &in_order);
        prop_assert_eq!(shuffled.status(&flow), in_order.status(&flow));
        prop_assert_eq!(shuffled.nodes(&flow), in_order.nodes(&flow));
        prop_assert_eq!(shuffled.deviations(&flow), in_order.deviations(&flow));
        prop_assert_eq!(shuffled.sla(&flow, Millis(now)), in_order.sla(&flow, Millis(now)));
    }
}
