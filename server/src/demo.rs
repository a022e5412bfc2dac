//! The built-in demo: the services of the two shipped flows, simulated in-process.
//!
//! Registration starts an onboarding every few seconds; each check service answers after a while,
//! sometimes slowly, sometimes with a failure, and now and then never, so the dashboard has
//! running, completed, rejected and stuck instances. A failed address check is reworked: the
//! customer corrects the address and the check runs again; a declined payment is retried with a
//! new card, or the order is given up. Now and then a retail order goes through its
//! payment, warehouse and shipping services the same way.
//!
//! In `flowlens serve --demo` the events go to the service, exactly as if they had been posted to
//! `/api/v1/events`, and commands arrive over an in-process channel. In `flowlens simulate`
//! the same services talk through Kafka: events out as CloudEvents, commands in from the flows'
//! command topics.

use std::time::Duration;

use flowlens_core::Command;
use flowlens_service::{Origin, Service};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Where the demo services' events go.
#[derive(Clone)]
pub enum Sink {
    Service(Service),
    Kafka { producer: FutureProducer, topic: String },
}

impl Sink {
    async fn send(&self, events: Vec<Value>) {
        match self {
            Sink::Service(service) => {
                if let Err(e) = service.submit(&Origin::Demo, events).await {
                    tracing::warn!(error = %e, "demo event refused");
                }
            }
            Sink::Kafka { producer, topic } => {
                for e in events {
                    // Keyed by the business key, so one instance's events stay in order on one partition.
                    let key = e["key"].as_str().or_else(|| e["data"]["orderId"].as_str()).unwrap_or_default().to_string();
                    let cloud_event = json!({
                        "specversion": "1.0",
                        "id": format!("sim-{:016x}", fastrand::u64(..)),
                        "type": e["type"],
                        "source": "flowlens-simulate",
                        "time": flowlens_store::now().to_rfc3339(),
                        "data": e["data"],
                    })
                    .to_string();
                    let record = FutureRecord::to(topic).key(&key).payload(&cloud_event);
                    if let Err((err, _)) = producer.send(record, Duration::from_secs(10)).await {
                        tracing::warn!(error = %err, "simulate: could not produce an event");
                    }
                }
            }
        }
    }
}

const CHECKS: [(&str, &str, &str, &str); 3] = [
    ("AddressCheckRequested", "AddressChecked", "AddressCheckFailed", "address"),
    ("CreditCheckRequested", "CreditChecked", "CreditCheckFailed", "credit"),
    ("CriminalRecordCheckRequested", "CriminalRecordChecked", "CriminalRecordCheckFailed", "criminal"),
];

const NAMES: [&str; 10] = ["Ada", "Grace", "Alan", "Barbara", "Edsger", "Frances", "Donald", "Radia", "Ken", "Margaret"];

/// Starts a registration every `interval_secs` (and now and then an order) until `stop`; the
/// journeys under way end with it.
pub async fn run(sink: Sink, interval_secs: f64, stop: CancellationToken) {
    let interval = Duration::from_secs_f64(interval_secs.max(0.05));
    let mut journeys = JoinSet::new();
    let mut n: u64 = 0;
    loop {
        n += 1;
        journeys.spawn(customer(sink.clone(), format!("cust-{:05}", fastrand::u32(10_000..100_000)), n));
        if n % 3 == 0 {
            journeys.spawn(order(sink.clone(), format!("order-{:06}", fastrand::u32(100_000..1_000_000))));
        }
        while journeys.try_join_next().is_some() {}
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

fn event(ty: &str, key: &str, data: Value) -> Value {
    json!({ "type": ty, "key": key, "data": data })
}


/// One customer's registration, from request to decision.
async fn customer(sink: Sink, key: String, n: u64) {
    let name = NAMES[n as usize % NAMES.len()];
    let mut opening = vec![event(
        "RegistrationRequested",
        &key,
        json!({ "customerId": key, "name": name, "email": format!("{}@example.com", name.to_lowercase()) }),
    )];
    for (request, ..) in CHECKS {
        opening.push(event(request, &key, json!({ "customerId": key })));
    }
    sink.send(opening).await;

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
        // The rework below takes its own time: a later answer may already be due.
        tokio::time::sleep(Duration::from_millis(delay.saturating_sub(waited))).await;
        waited = waited.max(delay);
        if service == "address" && !passed {
            // Rework: the customer sends a corrected address and the check runs again, and passes.
            let started = std::time::Instant::now();
            let reason = json!({ "customerId": key, "service": service, "result": "failed", "reason": "address not found" });
            sink.send(vec![event(ty, &key, reason)]).await;
            sink.send(vec![event("AddressCorrectionRequested", &key, json!({ "customerId": key }))]).await;
            tokio::time::sleep(Duration::from_millis(fastrand::u64(1_000..4_000))).await;
            sink.send(vec![event("AddressCorrected", &key, json!({ "customerId": key, "street": "Corrected Street 1" }))]).await;
            sink.send(vec![event("AddressCheckRequested", &key, json!({ "customerId": key }))]).await;
            tokio::time::sleep(Duration::from_millis(fastrand::u64(500..2_000))).await;
            sink.send(vec![event("AddressChecked", &key, json!({ "customerId": key, "service": service, "result": "ok" }))]).await;
            waited += started.elapsed().as_millis() as u64;
            continue;
        }
        all_passed &= passed;
        let data = if passed {
            json!({ "customerId": key, "service": service, "result": "ok" })
        } else {
            json!({ "customerId": key, "service": service, "result": "failed", "reason": format!("{service} check refused the customer") })
        };
        sink.send(vec![event(ty, &key, data)]).await;
    }
    if answers.iter().any(Option::is_none) {
        return;
    }
    tokio::time::sleep(Duration::from_millis(fastrand::u64(300..1500))).await;
    let decision = if all_passed { "CustomerCreated" } else { "RegistrationRejected" };
    sink.send(vec![event(decision, &key, json!({ "customerId": key }))]).await;
}

/// One retail order: placed, paid, fetched, shipped, completed; its events carry the order number
/// in their data, where the retail flow looks for it.
async fn order(sink: Sink, order_id: String) {
    let data = |extra: Value| {
        let mut d = json!({ "orderId": order_id });
        if let (Some(d), Value::Object(extra)) = (d.as_object_mut(), extra) {
            d.extend(extra);
        }
        d
    };
    let pause = || tokio::time::sleep(Duration::from_millis(fastrand::u64(1_000..6_000)));
    let total = fastrand::u32(1..20) * 10;
    sink.send(vec![json!({ "type": "OrderPlaced", "data": data(json!({ "total": total, "currency": "EUR" })) })]).await;
    sink.send(vec![json!({ "type": "PaymentRequested", "data": data(json!({ "amount": total })) })]).await;
    pause().await;
    // A declined card: the customer updates it and the payment runs again, up to three times,
    // or gives up.
    let mut tries = 0;
    while fastrand::f64() < 0.15 {
        tries += 1;
        sink.send(vec![json!({ "type": "PaymentFailed", "data": data(json!({ "reason": "card declined" })) })]).await;
        pause().await;
        if tries == 3 || fastrand::f64() < 0.3 {
            sink.send(vec![json!({ "type": "OrderPaymentAbandoned", "data": data(json!({})) })]).await;
            return;
        }
        sink.send(vec![json!({ "type": "PaymentRequested", "data": data(json!({ "amount": total, "card": "updated" })) })]).await;
        pause().await;
    }
    sink.send(vec![json!({ "type": "PaymentReceived", "data": data(json!({ "amount": total })) })]).await;
    for (request, done) in [("FetchGoodsRequested", "GoodsFetched"), ("ShipGoodsRequested", "GoodsShipped")] {
        sink.send(vec![json!({ "type": request, "data": data(json!({})) })]).await;
        if fastrand::f64() < 0.05 {
            return; // this service never answers: the order is stuck here
        }
        pause().await;
        sink.send(vec![json!({ "type": done, "data": data(json!({})) })]).await;
    }
    sink.send(vec![json!({ "type": "OrderCompleted", "data": data(json!({})) })]).await;
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

/// Answers one command: a retried step is answered after a moment, so a retry visibly does
/// something. Cancels and compensations are acknowledged in the log.
fn answer(answers: &mut JoinSet<()>, sink: &Sink, command: &str, key: String, mut data: Value) {
    let Some((_, answer)) = ANSWERS.iter().find(|(c, _)| *c == command) else {
        tracing::info!(command, key, "demo services: acknowledged");
        return;
    };
    let sink = sink.clone();
    while answers.try_join_next().is_some() {}
    answers.spawn(async move {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(300..1_500))).await;
        if let Value::Object(d) = &mut data {
            d.insert("result".into(), json!("ok"));
            d.insert("retried".into(), json!(true));
        }
        sink.send(vec![json!({ "type": answer, "key": key, "data": data })]).await;
    });
}

/// The in-process demo services, answering commands from a channel until `stop`.
pub async fn answer_commands(sink: Sink, mut commands: tokio::sync::broadcast::Receiver<Command>, stop: CancellationToken) {
    let mut answers = JoinSet::new();
    loop {
        let received = tokio::select! {
            _ = stop.cancelled() => return,
            r = commands.recv() => r,
        };
        match received {
            Ok(cmd) => answer(&mut answers, &sink, &cmd.command_type, cmd.key, cmd.payload),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "demo services fell behind on commands");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The same services on Kafka: commands come in as CloudEvents on the flows' command topics.
pub async fn answer_kafka_commands(sink: Sink, consumer: rdkafka::consumer::StreamConsumer, stop: CancellationToken) {
    use rdkafka::message::Message;
    let mut answers = JoinSet::new();
    loop {
        let received = tokio::select! {
            _ = stop.cancelled() => return,
            r = consumer.recv() => r,
        };
        let m = match received {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "simulate: receive failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let Some(event) = m.payload().and_then(|p| serde_json::from_slice::<Value>(p).ok()) else { continue };
        let key = m.key().and_then(|k| std::str::from_utf8(k).ok()).or(event["subject"].as_str()).unwrap_or_default();
        let command = event["type"].as_str().unwrap_or_default();
        tracing::info!(command, key, "simulate: command received");
        answer(&mut answers, &sink, command, key.to_string(), event["data"].clone());
    }
}
