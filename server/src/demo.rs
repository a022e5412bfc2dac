//! The built-in demo: the services of the two shipped flows, simulated in-process.
//!
//! Registration starts an onboarding every few seconds; each check service answers after a while,
//! sometimes slowly, sometimes with a failure, and now and then never, so the dashboard has
//! running, completed, rejected and stuck instances. Now and then a retail order goes through its
//! payment, warehouse and shipping services the same way. The events go through [`Ingest`],
//! exactly as if they had been posted to `/api/v1/events`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::ingest::Ingest;

const CHECKS: [(&str, &str, &str, &str); 3] = [
    ("AddressCheckRequested", "AddressChecked", "AddressCheckFailed", "address"),
    ("CreditCheckRequested", "CreditChecked", "CreditCheckFailed", "credit"),
    ("CriminalRecordCheckRequested", "CriminalRecordChecked", "CriminalRecordCheckFailed", "criminal"),
];

const NAMES: [&str; 10] = ["Ada", "Grace", "Alan", "Barbara", "Edsger", "Frances", "Donald", "Radia", "Ken", "Margaret"];

pub fn spawn(ingest: Ingest, interval_secs: f64) {
    let interval = Duration::from_secs_f64(interval_secs.max(0.05));
    tokio::spawn(async move {
        let mut n: u64 = 0;
        loop {
            n += 1;
            tokio::spawn(customer(ingest.clone(), format!("cust-{:05}", fastrand::u32(10_000..100_000)), n));
            if n % 3 == 0 {
                tokio::spawn(order(ingest.clone(), format!("order-{:06}", fastrand::u32(100_000..1_000_000))));
            }
            tokio::time::sleep(interval).await;
        }
    });
}

fn event(ty: &str, key: &str, data: Value) -> Value {
    json!({ "type": ty, "key": key, "data": data })
}

async fn send(ingest: &Ingest, events: Vec<Value>) {
    if let Err(e) = ingest.submit("demo", events).await {
        tracing::warn!(error = %e, "demo event refused");
    }
}

/// One customer's registration, from request to decision.
async fn customer(ingest: Ingest, key: String, n: u64) {
    let name = NAMES[n as usize % NAMES.len()];
    let mut opening = vec![event(
        "RegistrationRequested",
        &key,
        json!({ "customerId": key, "name": name, "email": format!("{}@example.com", name.to_lowercase()) }),
    )];
    for (request, ..) in CHECKS {
        opening.push(event(request, &key, json!({ "customerId": key })));
    }
    send(&ingest, opening).await;

    // Each check service answers on its own time; the slowest one decides when the join completes.
    let mut answers = Vec::new();
    for (_, ok, failed, service) in CHECKS {
        let roll = fastrand::f64();
        if roll < 0.05 {
            // This service never answers: the instance gets stuck at this check.
            answers.push(None);
            continue;
        }
        let delay = if roll < 0.15 { fastrand::u64(30_000..90_000) } else { fastrand::u64(1_500..15_000) };
        let passed = fastrand::f64() > 0.08;
        answers.push(Some((delay, if passed { ok } else { failed }, service, passed)));
    }
    answers.sort_by_key(|a| a.map(|(d, ..)| d));
    let mut waited = 0;
    let mut all_passed = true;
    for (delay, ty, service, passed) in answers.iter().flatten().copied() {
        tokio::time::sleep(Duration::from_millis(delay - waited)).await;
        waited = delay;
        all_passed &= passed;
        let data = if passed {
            json!({ "customerId": key, "service": service, "result": "ok" })
        } else {
            json!({ "customerId": key, "service": service, "result": "failed", "reason": format!("{service} check refused the customer") })
        };
        send(&ingest, vec![event(ty, &key, data)]).await;
    }
    if answers.iter().any(Option::is_none) {
        return;
    }
    tokio::time::sleep(Duration::from_millis(fastrand::u64(300..1500))).await;
    let decision = if all_passed { "CustomerCreated" } else { "RegistrationRejected" };
    send(&ingest, vec![event(decision, &key, json!({ "customerId": key }))]).await;
}

/// One retail order: placed, paid, fetched, shipped, completed; its events carry the order number
/// in their data, where the retail flow looks for it.
async fn order(ingest: Ingest, order_id: String) {
    let data = |extra: Value| {
        let mut d = json!({ "orderId": order_id });
        if let (Some(d), Value::Object(extra)) = (d.as_object_mut(), extra) {
            d.extend(extra);
        }
        d
    };
    let pause = || tokio::time::sleep(Duration::from_millis(fastrand::u64(1_000..6_000)));
    let total = fastrand::u32(1..20) * 10;
    send(&ingest, vec![json!({ "type": "OrderPlaced", "data": data(json!({ "total": total, "currency": "EUR" })) })]).await;
    send(&ingest, vec![json!({ "type": "PaymentRequested", "data": data(json!({ "amount": total })) })]).await;
    pause().await;
    if fastrand::f64() < 0.1 {
        send(&ingest, vec![json!({ "type": "PaymentFailed", "data": data(json!({ "reason": "card declined" })) })]).await;
        pause().await;
        send(&ingest, vec![json!({ "type": "OrderPaymentAbandoned", "data": data(json!({})) })]).await;
        return;
    }
    send(&ingest, vec![json!({ "type": "PaymentReceived", "data": data(json!({ "amount": total })) })]).await;
    for (request, done) in [("FetchGoodsRequested", "GoodsFetched"), ("ShipGoodsRequested", "GoodsShipped")] {
        send(&ingest, vec![json!({ "type": request, "data": data(json!({})) })]).await;
        if fastrand::f64() < 0.05 {
            return; // this service never answers: the order is stuck here
        }
        pause().await;
        send(&ingest, vec![json!({ "type": done, "data": data(json!({})) })]).await;
    }
    send(&ingest, vec![json!({ "type": "OrderCompleted", "data": data(json!({})) })]).await;
}

/// What each demo service answers when a command asks it (again) for its work.
const ANSWERS: [(&str, &str); 6] = [
    ("CheckAddress", "AddressChecked"),
    ("CheckCredit", "CreditChecked"),
    ("CheckCriminalRecord", "CriminalRecordChecked"),
    ("RetrievePayment", "PaymentReceived"),
    ("FetchGoods", "GoodsFetched"),
    ("ShipGoods", "GoodsShipped"),
];

/// The demo services listening for commands: a retried step is answered after a moment, so a
/// retry visibly does something. Cancels and compensations are acknowledged in the log.
pub fn spawn_services(ingest: Ingest, mut commands: tokio::sync::broadcast::Receiver<flowlens_core::Command>) {
    tokio::spawn(async move {
        loop {
            let cmd = match commands.recv().await {
                Ok(cmd) => cmd,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "demo services fell behind on commands");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let Some((_, answer)) = ANSWERS.iter().find(|(c, _)| *c == cmd.command_type) else {
                tracing::info!(command = %cmd.command_type, key = %cmd.key, "demo services: acknowledged");
                continue;
            };
            let ingest = ingest.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(fastrand::u64(300..1_500))).await;
                let mut data = cmd.payload.clone();
                if let Value::Object(d) = &mut data {
                    d.insert("result".into(), json!("ok"));
                    d.insert("retried".into(), json!(true));
                }
                send(&ingest, vec![json!({ "type": answer, "key": cmd.key, "data": data })]).await;
            });
        }
    });
}
