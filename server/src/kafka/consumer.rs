//! Kafka in: a consumer group whose committed offsets follow the database.
//!
//! Messages are taken in batches; a batch is decoded, routed and stored in one transaction
//! together with its dead letters, and only after that transaction commits are the batch's offsets
//! committed. A crash at any point therefore redelivers at most the last two batches, and
//! redelivered events are recognised by id. While a batch is being stored only the next one is
//! taken, so a slow store slows consumption instead of filling memory (librdkafka's own prefetch
//! is bounded too).
//!
//! On shutdown it stops taking, stores the batches in hand, commits their offsets synchronously,
//! and leaves the group: a restart resumes exactly after the last stored event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowlens_core::Message as BusMessage;
use flowlens_service::{Origin, Service};
use flowlens_store::{DeadLetter, Routed};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::{sleep, timeout_at, Instant};
use tokio_util::sync::CancellationToken;

use super::connection::{classify, Connection, Context, Role};
use crate::config::KafkaSettings;

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

/// The consumer Flowlens runs: its context reports connection problems (and supplies tokens).
pub type KafkaConsumer = StreamConsumer<Context>;

pub fn consumer(connection: &Connection, settings: &KafkaSettings) -> Result<KafkaConsumer, rdkafka::error::KafkaError> {
    let mut config = connection.config(Role::Consumer);
    // Defaults a passed option may change.
    for (key, value) in [
        ("auto.offset.reset", "earliest"),
        ("session.timeout.ms", "6000"),
        // A live view: an idle partition's fetch returns within this, not librdkafka's 500 ms.
        ("fetch.wait.max.ms", "50"),
        // Bounded prefetch: at most this much waits in librdkafka's queues per consumer.
        ("queued.max.messages.kbytes", "16384"),
    ] {
        if config.get(key).is_none() {
            config.set(key, value);
        }
    }
    // Set last: offsets follow the database, whatever was passed.
    config
        .set("group.id", &settings.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    let consumer: KafkaConsumer = config.create_with_context(connection.context())?;
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    Ok(consumer)
}

/// The consumer, shared by the consuming tasks. Closing a consumer talks to the broker (it leaves
/// the group), and with the broker gone it may wait for ever: whoever holds the last share closes
/// it on a thread of its own, so nothing async (a runtime shutting down) waits on it.
#[derive(Clone)]
struct Shared(Option<Arc<KafkaConsumer>>);

impl std::ops::Deref for Shared {
    type Target = KafkaConsumer;
    fn deref(&self) -> &KafkaConsumer {
        self.0.as_deref().expect("present until dropped")
    }
}

impl Shared {
    /// Gives this share up; on the thread it is handed to, the consumer closes if it was the last.
    fn give_up(&mut self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        self.0.take().and_then(Arc::into_inner).map(|last| off_thread(move || drop(last)))
    }

    /// Closes the consumer if this is the last share, waiting at most `grace` for it to leave the
    /// group cleanly; it goes on closing in the background after that.
    async fn close(mut self, grace: Duration) {
        if let Some(closed) = self.give_up() {
            if tokio::time::timeout(grace, closed).await.is_err() {
                tracing::warn!("kafka: the consumer did not leave its group in time (is the broker away?)");
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.give_up();
    }
}

/// Runs `f` on a thread of its own; the answer comes when it is done (or never).
fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> tokio::sync::oneshot::Receiver<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("kafka-blocking".into()).spawn(move || {
        let _ = tx.send(f());
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "kafka: cannot start a thread");
    }
    rx
}

/// Where this consumer has got to, per partition: the next offset to store.
type Positions = Arc<Mutex<HashMap<(String, i32), i64>>>;

/// Every few seconds, the messages waiting on the partitions this replica owns: the high
/// watermark (asked of the broker) minus what has been stored. Shown in the status strip.
/// It also asks the brokers for their metadata first, for readiness: a replica whose brokers do
/// not answer is not ready.
async fn watch_lag(service: Service, consumer: Shared, positions: Positions, stop: CancellationToken) {
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = sleep(Duration::from_secs(5)) => {}
            }
        }
        let (asked, status) = (consumer.clone(), service.clone());
        let answered = tokio::task::spawn_blocking(move || {
            // librdkafka's own report (wrong password, untrusted certificate, …) says more
            // than the probe's timeout.
            asked.fetch_metadata(None, Duration::from_secs(4)).map(|_| ()).map_err(|e| asked.context().problems.last().unwrap_or_else(|| classify(&e.to_string())))
        })
        .await;
        let answered = answered.unwrap_or_else(|e| Err(classify(&e.to_string())));
        if let Err(problem) = &answered {
            tracing::warn!(kind = %problem.kind, problem = %problem.message, "kafka: the brokers do not answer");
        }
        status.consumer().brokers_answered(status.now(), answered);
        let (consumer, positions, status) = (consumer.clone(), positions.clone(), service.clone());
        let measured = tokio::task::spawn_blocking(move || {
            let assigned = consumer.assignment().ok()?;
            status.consumer().set_partitions(assigned.elements().iter().map(|tp| format!("{}/{}", tp.topic(), tp.partition())).collect());
            let mut lags = Vec::new();
            for tp in assigned.elements() {
                let (_, high) = consumer.fetch_watermarks(tp.topic(), tp.partition(), Duration::from_secs(2)).ok()?;
                let at = positions.lock().expect("not poisoned").get(&(tp.topic().to_string(), tp.partition())).copied();
                lags.push((tp.topic().to_string(), tp.partition(), (high - at.unwrap_or(high)).max(0)));
            }
            Some(lags)
        })
        .await;
        let lags = measured.ok().flatten();
        // Per partition for the metrics (none while it cannot be measured), the sum for the strip.
        service.metrics().set_consumer_lag(lags.as_deref().unwrap_or_default());
        service.consumer().set_lag(lags.map(|l| l.iter().map(|(_, _, lag)| lag).sum()));
    }
}

/// A batch taken off the bus, decoded and routed, waiting to be stored.
struct Batch {
    routed: Vec<Routed>,
    dead: Vec<DeadLetter>,
    offsets: TopicPartitionList,
}

/// Consumes until `stop`. Two stages overlap: while one batch is being stored, the next is
/// taken and decoded (one core each). At most one batch waits between them, so memory stays
/// bounded, and batches are stored and their offsets committed strictly in order.
pub async fn run(service: Service, consumer: KafkaConsumer, stop: CancellationToken) {
    let consumer = Shared(Some(Arc::new(consumer)));
    let positions: Positions = Arc::default();
    let lag = tokio::spawn(watch_lag(service.clone(), consumer.clone(), positions.clone(), stop.clone()));
    let (batches, mut to_store) = tokio::sync::mpsc::channel::<Batch>(1);
    let taker = tokio::spawn(take_batches(service.clone(), consumer.clone(), batches, stop.clone()));
    // Ends when the taker stops (on `stop`) and every batch it handed over is stored.
    while let Some(Batch { routed, dead, offsets }) = to_store.recv().await {
        let started = Instant::now();
        let taken = routed.len() + dead.len();
        if !store_until_it_works(&service, routed, dead, &stop).await {
            break; // stopping while the store is away: these offsets stay uncommitted, the batch comes again
        }
        tracing::debug!(messages = taken, store_ms = started.elapsed().as_millis() as u64, "kafka: batch stored");
        {
            let mut at = positions.lock().expect("not poisoned");
            for e in offsets.elements() {
                if let Offset::Offset(o) = e.offset() {
                    at.insert((e.topic().to_string(), e.partition()), o);
                }
            }
        }
        let mode = if stop.is_cancelled() { CommitMode::Sync } else { CommitMode::Async };
        if let Err(e) = commit(&consumer, offsets, mode).await {
            // Not fatal: the next commit covers these offsets, and a redelivery is deduplicated.
            tracing::warn!(error = %e, "kafka: offset commit failed");
        }
    }
    let _ = taker.await;
    let _ = lag.await;
    // Asynchronous commits may still be in flight: commit where we are once more, and wait for it.
    let mut last = TopicPartitionList::new();
    for ((topic, partition), offset) in positions.lock().expect("not poisoned").iter() {
        let _ = last.add_partition_offset(topic, *partition, Offset::Offset(*offset));
    }
    if last.count() > 0 {
        match commit(&consumer, last, CommitMode::Sync).await {
            Ok(()) => tracing::info!("kafka: offsets committed; consumer stopped"),
            Err(e) => tracing::warn!(error = %e, "kafka: the last offset commit failed; the last batch may come again"),
        }
    }
    consumer.close(Duration::from_secs(3)).await;
}

/// Commits offsets; a synchronous commit waits for the broker, on a thread of its own and for
/// at most a few seconds.
async fn commit(consumer: &Shared, offsets: TopicPartitionList, mode: CommitMode) -> Result<(), rdkafka::error::KafkaError> {
    match mode {
        CommitMode::Async => consumer.commit(&offsets, mode),
        CommitMode::Sync => {
            let consumer = consumer.clone();
            let done = off_thread(move || consumer.commit(&offsets, mode));
            match tokio::time::timeout(Duration::from_secs(5), done).await {
                Ok(Ok(result)) => result,
                _ => Err(rdkafka::error::KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::RequestTimedOut)),
            }
        }
    }
}

/// The first stage: fills a batch (up to BATCH messages, or whatever came within LINGER of the
/// first), decodes and routes it, and hands it on; waits while the store is still busy. Stops
/// taking at `stop`, after handing on the batch it was filling.
async fn take_batches(service: Service, consumer: Shared, batches: tokio::sync::mpsc::Sender<Batch>, stop: CancellationToken) {
    loop {
        let received = tokio::select! {
            _ = stop.cancelled() => return,
            m = consumer.recv() => m,
        };
        let first = match received {
            Ok(m) => take(&service, &m),
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
                Ok(Ok(m)) => batch.push(take(&service, &m)),
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
/// more meanwhile, so nothing is lost and nothing is committed early. False if the server stops
/// before the store is back.
async fn store_until_it_works(service: &Service, routed: Vec<Routed>, dead: Vec<DeadLetter>, stop: &CancellationToken) -> bool {
    let mut wait = Duration::from_millis(100);
    loop {
        match service.commit("kafka", &routed, &dead).await {
            Ok(_) => return true,
            Err(e) => {
                tracing::error!(error = %e, cause = ?std::error::Error::source(&e).map(ToString::to_string), retry_in = ?wait, "kafka: storing a batch failed; will retry");
                tokio::select! {
                    _ = stop.cancelled() => return false,
                    _ = sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn take(service: &Service, m: &BorrowedMessage) -> Taken {
    let origin = Origin::Kafka { topic: m.topic().to_string(), partition: m.partition(), offset: m.offset() };
    let headers: Vec<(&str, &[u8])> =
        m.headers().map(|h| h.iter().filter_map(|h| h.value.map(|v| (h.key, v))).collect()).unwrap_or_default();
    let message = BusMessage { key: m.key(), headers: &headers, payload: m.payload() };
    let outcome = service.intake().message(&origin, &message, service.now()).or_dead_letter(&origin);
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
