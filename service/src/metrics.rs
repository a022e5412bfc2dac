//! What Prometheus scrapes at `/metrics`: counters and histograms the use cases move as they
//! work (events in, dead letters, batches, actions, alerts, requests, live streams), and gauges
//! read from the store when scraped (instances by flow and state, stuck steps), so a scrape
//! tells the truth about every replica's shared database, not this process's memory of it.
//!
//! Names follow Prometheus's conventions: `flowlens_` first, units in the name (`_seconds`),
//! counters end in `_total` (the encoder adds it). Label values are bounded: sources, reason
//! classes, action kinds and outcomes are fixed words; flows and steps are what the flow files
//! define; HTTP routes are the router's templates, never raw paths.

use std::fmt::Write;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use flowlens_store::{Ingested, StoreTotals};

/// The Prometheus text format (0.0.4), what every scraper reads.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// OpenMetrics text, for scrapers that ask for it.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BySource {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByReason {
    source: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByPartition {
    topic: String,
    partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByState {
    flow: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByStep {
    flow: String,
    step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByFlow {
    flow: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByAction {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByOutcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByRoute {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByVersion {
    version: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// How a webhook attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered 2xx.
    Delivered,
    /// It answered, with another status.
    Refused,
    /// No answer: not reachable, TLS failed, or too slow.
    Unanswered,
}

impl Attempt {
    fn word(self) -> &'static str {
        match self {
            Attempt::Delivered => "delivered",
            Attempt::Refused => "refused",
            Attempt::Unanswered => "unanswered",
        }
    }
}

/// What became of a retry, cancel or compensation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Published.
    Sent,
    /// Could not be published.
    Failed,
    /// The instance does not allow it (a retry of what is done, a cancel of what ended).
    Refused,
    /// The retried step's outcome arrived.
    TookEffect,
    /// Its deadline passed first.
    NoEffect,
}

impl Outcome {
    /// Sent or failed, as publishing went.
    pub(crate) fn of<T, E>(published: &Result<T, E>) -> Outcome {
        if published.is_ok() { Outcome::Sent } else { Outcome::Failed }
    }

    fn word(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
            Outcome::TookEffect => "took_effect",
            Outcome::NoEffect => "no_effect",
        }
    }
}

/// Every metric of this process, registered once.
pub struct Metrics {
    registry: Registry,
    ingested: Family<BySource, Counter>,
    duplicates: Family<BySource, Counter>,
    dead_lettered: Family<ByReason, Counter>,
    batch_size: Histograms<BySource>,
    commit_seconds: Histograms<BySource>,
    consumer_lag: Family<ByPartition, Gauge>,
    instances: Family<ByState, Gauge>,
    stuck: Family<ByStep, Gauge>,
    sla_breaches: Family<ByFlow, Counter>,
    actions: Family<ByAction, Counter>,
    webhook_attempts: Family<ByOutcome, Counter>,
    requests: Histograms<ByRoute>,
    live_streams: Gauge,
    /// Scrapes that could not read the store's totals.
    store_errors: Counter,
    /// One scrape at a time refreshes the gauges read from the store.
    scrape: tokio::sync::Mutex<()>,
}

fn batch_buckets() -> Histogram {
    Histogram::new([1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0])
}

/// 1 ms to about 16 s, doubling.
fn seconds_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("flowlens");
        let m = Metrics {
            ingested: Family::default(),
            duplicates: Family::default(),
            dead_lettered: Family::default(),
            batch_size: Family::new_with_constructor(batch_buckets),
            commit_seconds: Family::new_with_constructor(seconds_buckets),
            consumer_lag: Family::default(),
            instances: Family::default(),
            stuck: Family::default(),
            sla_breaches: Family::default(),
            actions: Family::default(),
            webhook_attempts: Family::default(),
            requests: Family::new_with_constructor(seconds_buckets),
            live_streams: Gauge::default(),
            store_errors: Counter::default(),
            scrape: tokio::sync::Mutex::new(()),
            registry: Registry::default(),
        };
        let info: Family<ByVersion, Gauge> = Family::default();
        info.get_or_create(&ByVersion { version: env!("CARGO_PKG_VERSION") }).set(1);
        registry.register("build_info", "This Flowlens build (always 1)", info);
        registry.register("events_ingested", "Events stored, by the source they came from", m.ingested.clone());
        registry.register("events_duplicate", "Events received again and ignored (same source and id), by source", m.duplicates.clone());
        registry.register(
            "events_dead_lettered",
            "Input kept as a dead letter instead of tracked, by source and reason (malformed: not a readable event or no business key; unroutable: no flow handles its type)",
            m.dead_lettered.clone(),
        );
        registry.register("ingest_batch_size", "Events and dead letters per committed batch", m.batch_size.clone());
        registry.register_with_unit("ingest_commit", "Time to commit one batch to the store", Unit::Seconds, m.commit_seconds.clone());
        registry.register("kafka_consumer_lag", "Messages waiting on a partition this replica consumes (high watermark minus stored position)", m.consumer_lag.clone());
        registry.register("instances", "Process instances by flow and state (every replica's, from the store)", m.instances.clone());
        registry.register("steps_stuck", "Steps active past their due time, by flow and step (from the store)", m.stuck.clone());
        registry.register("sla_breaches", "Instances escalated for passing their flow's SLA, by flow", m.sla_breaches.clone());
        registry.register(
            "actions",
            "Retry, cancel and compensation commands by kind and outcome (sent; failed: could not be sent; refused: the instance does not allow it; took_effect: the step's outcome arrived; no_effect: not by its deadline)",
            m.actions.clone(),
        );
        registry.register("webhook_attempts", "SLA alert delivery attempts by outcome (delivered, refused by the receiver, unanswered)", m.webhook_attempts.clone());
        registry.register_with_unit("http_request_duration", "HTTP requests by method, route template and status", Unit::Seconds, m.requests.clone());
        registry.register("live_streams", "Live update streams open (pages and embeds following changes)", m.live_streams.clone());
        registry.register("metrics_store_errors", "Scrapes that could not read the store's totals", m.store_errors.clone());
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// A batch was committed in `seconds`: what it stored, ignored and dead-lettered.
    pub(crate) fn committed(&self, source: &'static str, ingested: &Ingested, dead: &[flowlens_store::DeadLetter], seconds: f64) {
        let by = BySource { source };
        self.ingested.get_or_create(&by).inc_by(ingested.stored as u64);
        if ingested.duplicates > 0 {
            self.duplicates.get_or_create(&by).inc_by(ingested.duplicates as u64);
        }
        for letter in dead {
            self.dead_lettered.get_or_create(&ByReason { source: letter.source.clone(), reason: letter.class.word() }).inc();
        }
        if ingested.retries_took_effect > 0 {
            self.action(flowlens_core::ActionKind::Retry, Outcome::TookEffect, ingested.retries_took_effect);
        }
        self.batch_size.get_or_create(&by).observe((ingested.stored + ingested.duplicates + dead.len()) as f64);
        self.commit_seconds.get_or_create(&by).observe(seconds);
    }

    /// The consumer's lag per partition it owns, replacing what it owned before.
    pub fn set_consumer_lag(&self, lags: &[(String, i32, i64)]) {
        self.consumer_lag.clear();
        for (topic, partition, lag) in lags {
            self.consumer_lag.get_or_create(&ByPartition { topic: topic.clone(), partition: partition.to_string() }).set(*lag);
        }
    }

    pub(crate) fn sla_breached(&self, flow: &str) {
        self.sla_breaches.get_or_create(&ByFlow { flow: flow.to_string() }).inc();
    }

    pub(crate) fn action(&self, kind: flowlens_core::ActionKind, outcome: Outcome, n: u64) {
        self.actions.get_or_create(&ByAction { kind: kind.as_str(), outcome: outcome.word() }).inc_by(n);
    }

    pub(crate) fn webhook_attempt(&self, attempt: Attempt) {
        self.webhook_attempts.get_or_create(&ByOutcome { outcome: attempt.word() }).inc();
    }

    /// An HTTP request was answered: `route` is the router's template (`/api/v1/instances/:id`).
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests.get_or_create(&ByRoute { method: method.to_string(), route: route.to_string(), status }).observe(seconds);
    }

    /// Counts a live stream as open until the guard is dropped.
    pub(crate) fn stream_opened(&self) -> StreamGuard {
        self.live_streams.inc();
        StreamGuard(self.live_streams.clone())
    }

    fn set_totals(&self, totals: &StoreTotals) {
        self.instances.clear();
        for (flow, state, n) in &totals.instances {
            self.instances.get_or_create(&ByState { flow: flow.clone(), state: state.as_str() }).set(*n);
        }
        self.stuck.clear();
        for (flow, step, n) in &totals.stuck {
            self.stuck.get_or_create(&ByStep { flow: flow.clone(), step: step.clone() }).set(*n);
        }
    }

    fn encode(&self, openmetrics: bool) -> String {
        let mut text = String::new();
        let written = if openmetrics {
            prometheus_client::encoding::text::encode(&mut text, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        };
        if written.is_err() {
            // Writing to a String does not fail; say so rather than serve half a page silently.
            let _ = writeln!(text, "# encoding stopped early");
        }
        text
    }
}

/// Holds one live stream's place in the count of open streams.
pub(crate) struct StreamGuard(Gauge);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl crate::Service {
    /// Everything, as text for a scraper: Prometheus's format, or OpenMetrics when asked. The
    /// store's totals are read now; if the store does not answer, they are left out (and the
    /// failure counted) rather than the scrape failing whole.
    #[tracing::instrument(skip(self))]
    pub async fn scrape(&self, openmetrics: bool) -> String {
        let metrics = self.metrics();
        let _one = metrics.scrape.lock().await;
        match self.store().totals(self.now()).await {
            Ok(totals) => metrics.set_totals(&totals),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot read the store's totals");
                metrics.store_errors.inc();
                metrics.set_totals(&StoreTotals::default());
            }
        }
        metrics.encode(openmetrics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_labels_come_out_in_prometheus_text() {
        let m = Metrics::default();
        m.action(flowlens_core::ActionKind::Retry, Outcome::Sent, 2);
        m.webhook_attempt(Attempt::Refused);
        m.request("GET", "/api/v1/instances/:id", 200, 0.004);
        let _open = m.stream_opened();
        m.set_consumer_lag(&[("events".into(), 3, 17)]);
        let text = m.encode(false);
        assert!(text.contains("flowlens_actions_total{kind=\"retry\",outcome=\"sent\"} 2"), "{text}");
        assert!(text.contains("flowlens_webhook_attempts_total{outcome=\"refused\"} 1"), "{text}");
        assert!(text.contains("flowlens_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/instances/:id\",status=\"200\"} 1"), "{text}");
        assert!(text.contains("flowlens_live_streams 1"), "{text}");
        assert!(text.contains("flowlens_kafka_consumer_lag{topic=\"events\",partition=\"3\"} 17"), "{text}");
        assert!(!text.contains("# EOF"), "Prometheus text has no EOF marker");
        assert!(m.encode(true).ends_with("# EOF\n"), "OpenMetrics ends with its marker");
    }

    #[test]
    fn a_closed_stream_leaves_the_count() {
        let m = Metrics::default();
        let a = m.stream_opened();
        let b = m.stream_opened();
        drop(a);
        assert_eq!(m.live_streams.get(), 1);
        drop(b);
        assert_eq!(m.live_streams.get(), 0);
    }

    #[test]
    fn gauges_from_the_store_forget_what_is_gone() {
        let m = Metrics::default();
        let running = StoreTotals { instances: vec![("onboarding".into(), flowlens_core::Status::Running, 3)], stuck: vec![("onboarding".into(), "kyc".into(), 1)] };
        m.set_totals(&running);
        assert!(m.encode(false).contains("flowlens_steps_stuck{flow=\"onboarding\",step=\"kyc\"} 1"));
        m.set_totals(&StoreTotals { instances: vec![("onboarding".into(), flowlens_core::Status::Completed, 3)], stuck: vec![] });
        let text = m.encode(false);
        assert!(!text.contains("step=\"kyc\""), "{text}");
        assert!(!text.contains("state=\"running\""), "{text}");
        assert!(text.contains("flowlens_instances{flow=\"onboarding\",state=\"completed\"} 3"), "{text}");
    }

    /// The Grafana dashboard in docs/ asks only for metrics exported here, under their exported
    /// names: a renamed metric would leave a panel silently empty.
    #[test]
    fn the_grafana_dashboard_asks_only_for_what_is_exported() {
        use flowlens_core::{ActionKind, Status};
        // One series of every metric, so each is in the text.
        let m = Metrics::default();
        let letter = flowlens_store::DeadLetter { source: "kafka".into(), origin: None, reason: "r".into(), class: flowlens_store::DeadClass::Malformed, raw: vec![] };
        m.committed("kafka", &Ingested { stored: 1, duplicates: 1, ..Ingested::default() }, &[letter], 0.01);
        m.set_consumer_lag(&[("t".into(), 0, 1)]);
        m.set_totals(&StoreTotals { instances: vec![("f".into(), Status::Running, 1)], stuck: vec![("f".into(), "s".into(), 1)] });
        m.sla_breached("f");
        m.action(ActionKind::Cancel, Outcome::Sent, 1);
        m.webhook_attempt(Attempt::Delivered);
        m.request("GET", "/", 200, 0.1);
        m.store_errors.inc();
        let _open = m.stream_opened();
        let text = m.encode(false);
        let exported: std::collections::HashSet<&str> = text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();

        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/grafana/flowlens.json");
        let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut asked = Vec::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let mut rest = target["expr"].as_str().unwrap();
                while let Some(at) = rest.find("flowlens_") {
                    let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    rest = &rest[at + name.len()..];
                    asked.push((panel["title"].as_str().unwrap().to_string(), name));
                }
            }
        }
        assert!(asked.len() >= 15, "the dashboard has its panels: {asked:?}");
        let missing: Vec<_> = asked.iter().filter(|(_, name)| !exported.contains(name.as_str())).collect();
        assert!(missing.is_empty(), "panels asking for metrics that do not exist: {missing:?}\nexported: {exported:?}");
        let shown: std::collections::HashSet<&str> = asked.iter().map(|(_, n)| n.as_str()).collect();
        let left_out: Vec<_> = ["flowlens_events_ingested_total", "flowlens_events_dead_lettered_total", "flowlens_kafka_consumer_lag", "flowlens_instances", "flowlens_steps_stuck", "flowlens_sla_breaches_total", "flowlens_actions_total", "flowlens_webhook_attempts_total", "flowlens_live_streams"]
            .into_iter()
            .filter(|n| !shown.contains(n))
            .collect();
        assert!(left_out.is_empty(), "the dashboard shows every kind of metric: {left_out:?}");
    }
}
