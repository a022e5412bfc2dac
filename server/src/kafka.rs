//! Kafka in: a consumer group whose committed offsets follow the database.
//!
//! Messages are taken in batches; a batch is decoded, routed and stored in one transaction
//! together with its dead letters, and only after that transaction commits are the batch's offsets
//! committed. A crash at any point therefore redelivers at most the last two batches, and
//! redelivered events are recognised by id. While a batch is being stored only the next one is
//! taken, so a slow store slows consumption instead of filling memory (librdkafka's own prefetch
//! is bounded too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowlens_core::{decode_message, EnvelopeFields, Message as BusMessage};
use flowlens_store::{DeadLetter, Routed};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::{sleep, timeout_at, Instant};

use crate::config::KafkaSettings;
use crate::ingest::Ingest;
use crate::operations::Lag;

/// Most messages in one transaction.
const BATCH: usize = 1000;
/// How long a batch waits to fill once it has its first message.
const LINGER: Duration = Duration::from_millis(20);

/// One message taken apart: what to store, and where it came from.
struct Taken {
    topic: String,
    partition: i32,
    offset: i64,
    outcome: Result<Routed, DeadLetter>,
}

pub fn consumer(settings: &KafkaSettings) -> Result<StreamConsumer, rdkafka::error::KafkaError> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", &settings.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        // A live view: an idle partition's fetch returns within this, not librdkafka's 500 ms.
        .set("fetch.wait.max.ms", "50")
        // Bounded prefetch: at most this much waits in librdkafka's queues per consumer.
        .set("queued.max.messages.kbytes", "16384")
        .create()?;
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    Ok(consumer)
}

/// Where this consumer has got to, per partition: the next offset to store.
type Positions = Arc<Mutex<HashMap<(String, i32), i64>>>;

/// Every few seconds, the messages waiting on the partitions this replica owns: the high
/// watermark (asked of the broker) minus what has been stored. Shown in the status strip.
fn watch_lag(consumer: Arc<StreamConsumer>, positions: Positions, lag: Lag) {
    tokio::spawn(async move {
        loop {
            sleep(Duration::from_secs(5)).await;
            let (consumer, positions, assigned_to) = (consumer.clone(), positions.clone(), lag.clone());
            let measured = tokio::task::spawn_blocking(move || {
                let assigned = consumer.assignment().ok()?;
                assigned_to.set_partitions(assigned.elements().iter().map(|tp| format!("{}/{}", tp.topic(), tp.partition())).collect());
                let mut total = 0i64;
                for tp in assigned.elements() {
                    let (_, high) = consumer.fetch_watermarks(tp.topic(), tp.partition(), Duration::from_secs(2)).ok()?;
                    let at = positions.lock().expect("not poisoned").get(&(tp.topic().to_string(), tp.partition())).copied();
                    total += (high - at.unwrap_or(high)).max(0);
                }
                Some(total)
            })
            .await;
            match measured {
                Ok(Some(n)) => lag.set(n),
                _ => lag.set(-1),
            }
        }
    });
}

/// A batch taken off the bus, decoded and routed, waiting to be stored.
struct Batch {
    routed: Vec<Routed>,
    dead: Vec<DeadLetter>,
    offsets: TopicPartitionList,
}

/// Consumes until the process ends. Two stages overlap: while one batch is being stored, the next
/// is taken and decoded (one core each). At most one batch waits between them, so memory stays
/// bounded, and batches are stored and their offsets committed strictly in order.
pub async fn run(ingest: Ingest, consumer: StreamConsumer, lag: Lag) {
    let consumer = Arc::new(consumer);
    let positions: Positions = Arc::default();
    watch_lag(consumer.clone(), positions.clone(), lag);
    let (batches, mut to_store) = tokio::sync::mpsc::channel::<Batch>(1);
    tokio::spawn(take_batches(ingest.clone(), consumer.clone(), batches));
    while let Some(Batch { routed, dead, offsets }) = to_store.recv().await {
        let started = Instant::now();
        let taken = routed.len() + dead.len();
        store_until_it_works(&ingest, routed, dead).await;
        tracing::debug!(messages = taken, store_ms = started.elapsed().as_millis() as u64, "kafka: batch stored");
        {
            let mut at = positions.lock().expect("not poisoned");
            for e in offsets.elements() {
                if let Offset::Offset(o) = e.offset() {
                    at.insert((e.topic().to_string(), e.partition()), o);
                }
            }
        }
        if let Err(e) = consumer.commit(&offsets, CommitMode::Async) {
            // Not fatal: the next commit covers these offsets, and a redelivery is deduplicated.
            tracing::warn!(error = %e, "kafka: offset commit failed");
        }
    }
}

/// The first stage: fills a batch (up to BATCH messages, or whatever came within LINGER of the
/// first), decodes and routes it, and hands it on; waits while the store is still busy.
async fn take_batches(ingest: Ingest, consumer: Arc<StreamConsumer>, batches: tokio::sync::mpsc::Sender<Batch>) {
    let envelopes = ingest.store().flows().envelopes();
    loop {
        let first = match consumer.recv().await {
            Ok(m) => take(&ingest, &envelopes, &m),
            Err(e) => {
                tracing::warn!(error = %e, "kafka: receive failed; retrying");
                sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut batch = vec![first];
        let deadline = Instant::now() + LINGER;
        while batch.len() < BATCH {
            match timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(m)) => batch.push(take(&ingest, &envelopes, &m)),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "kafka: receive failed");
                    break;
                }
                Err(_) => break,
            }
        }
        let offsets = next_offsets(&batch);
        let (mut routed, mut dead) = (Vec::with_capacity(batch.len()), Vec::new());
        for t in batch {
            match t.outcome {
                Ok(r) => routed.push(r),
                Err(d) => dead.push(d),
            }
        }
        if batches.send(Batch { routed, dead, offsets }).await.is_err() {
            return; // the storing stage is gone: the process is ending
        }
    }
}

/// The store may be down (a database restart): keep the batch and try again, consuming nothing
/// more meanwhile, so nothing is lost and nothing is committed early.
async fn store_until_it_works(ingest: &Ingest, routed: Vec<Routed>, dead: Vec<DeadLetter>) {
    let mut wait = Duration::from_millis(100);
    loop {
        match ingest.store_batch(&routed, &dead).await {
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, retry_in = ?wait, "kafka: storing a batch failed; will retry");
                sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn take(ingest: &Ingest, envelopes: &[EnvelopeFields], m: &BorrowedMessage) -> Taken {
    let origin = format!("kafka:{}/{}/{}", m.topic(), m.partition(), m.offset());
    let headers: Vec<(&str, &[u8])> =
        m.headers().map(|h| h.iter().filter_map(|h| h.value.map(|v| (h.key, v))).collect()).unwrap_or_default();
    let message = BusMessage { key: m.key(), headers: &headers, payload: m.payload() };
    let outcome = decode_message(&message, envelopes)
        .map_err(|e| e.to_string())
        .and_then(|mut event| {
            // Without an id, the message's place in the log is its identity.
            event.id.get_or_insert_with(|| origin.clone());
            let route = ingest.store().flows().route(&event).map_err(|e| e.to_string())?;
            Ok(Routed { event, route })
        })
        .map_err(|reason| DeadLetter {
            source: "kafka".into(),
            origin: Some(origin.clone()),
            reason,
            raw: m.payload().unwrap_or_default().to_vec(),
        });
    Taken { topic: m.topic().to_string(), partition: m.partition(), offset: m.offset(), outcome }
}

/// For each partition in the batch, the offset to resume from: one past the last message.
fn next_offsets(batch: &[Taken]) -> TopicPartitionList {
    let mut last: HashMap<(&str, i32), i64> = HashMap::new();
    for t in batch {
        let slot = last.entry((t.topic.as_str(), t.partition)).or_insert(t.offset);
        *slot = (*slot).max(t.offset);
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in last {
        let _ = list.add_partition_offset(topic, partition, Offset::Offset(offset + 1));
    }
    list
}
