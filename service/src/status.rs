//! Where this server stands: the status strip and `/api/v1/status`, and readiness.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use flowlens_core::{BrokerProblem, Caller, Millis, Need, StatusInfo};

use crate::{Error, Service};

/// How this replica's Kafka consumer is doing, kept up to date by the consumer: its lag in
/// messages and the partitions assigned to it.
pub struct Consumer {
    /// Negative while unknown.
    lag: AtomicI64,
    partitions: Mutex<Vec<String>>,
    /// Whether the brokers answer, as the consumer last found: none without Kafka (or before it
    /// first asked), else when they last answered and what went wrong since.
    brokers: Mutex<Option<Brokers>>,
}

/// What the consumer last learned of the brokers.
#[derive(Clone, Debug)]
struct Brokers {
    answered: Option<Millis>,
    problem: Option<BrokerProblem>,
}

/// Brokers that have not answered for this long make the replica not ready.
const BROKERS_SILENT_MS: i64 = 20_000;

impl Default for Consumer {
    fn default() -> Self {
        Consumer { lag: AtomicI64::new(-1), partitions: Mutex::default(), brokers: Mutex::default() }
    }
}

impl Consumer {
    /// Kafka is on: until the brokers answer, this replica is not ready.
    pub fn expect_brokers(&self) {
        self.brokers.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(Brokers { answered: None, problem: None });
    }

    /// The consumer asked the brokers for their metadata at `at`: they answered, or not and why.
    pub fn brokers_answered(&self, at: Millis, outcome: Result<(), BrokerProblem>) {
        let mut brokers = self.brokers.lock().unwrap_or_else(|p| p.into_inner());
        let known = brokers.get_or_insert(Brokers { answered: None, problem: None });
        match outcome {
            Ok(()) => *known = Brokers { answered: Some(at), problem: None },
            Err(problem) => known.problem = Some(problem),
        }
    }

    /// Why Kafka keeps this replica from being ready at `now`, if it does.
    fn unready(&self, now: Millis) -> Option<String> {
        let brokers = self.brokers.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        let silent = brokers.answered.is_none_or(|at| now.0 - at.0 > BROKERS_SILENT_MS);
        silent.then(|| match brokers.problem {
            Some(problem) => format!("Kafka does not answer: {}", problem.message),
            None => "Kafka has not answered yet".to_string(),
        })
    }

    /// What went wrong with the brokers since they last answered, if anything.
    pub fn problem(&self) -> Option<BrokerProblem> {
        self.brokers.lock().unwrap_or_else(|p| p.into_inner()).as_ref().and_then(|b| b.problem.clone())
    }

    /// Messages waiting on this replica's partitions; `None` when it cannot be measured.
    pub fn set_lag(&self, messages: Option<i64>) {
        self.lag.store(messages.unwrap_or(-1), Ordering::Relaxed);
    }

    pub fn lag(&self) -> Option<i64> {
        Some(self.lag.load(Ordering::Relaxed)).filter(|&l| l >= 0)
    }

    pub fn set_partitions(&self, partitions: Vec<String>) {
        *self.partitions.lock().unwrap_or_else(|p| p.into_inner()) = partitions;
    }

    pub fn partitions(&self) -> Vec<String> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Service {
    /// The store, where events come from, the latest event, this replica's partitions and lag.
    #[tracing::instrument(skip_all)]
    pub async fn status(&self, caller: &Caller) -> Result<StatusInfo, Error> {
        caller.allow(&Need::Read)?;
        Ok(StatusInfo {
            store: self.store().backend().name().to_string(),
            // The strip still shows the rest when the database is away.
            last_event: self.store().last_event().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "status: cannot read the latest event");
                None
            }),
            consumer_lag: self.consumer().lag(),
            partitions: self.consumer().partitions(),
            source: self.source().to_string(),
            now: self.now(),
            kafka_problem: self.consumer().problem(),
        })
    }

    /// Ready to serve: the database answers, and with Kafka the brokers answered lately. A load
    /// balancer should send people elsewhere otherwise.
    pub async fn ready(&self) -> Result<(), Error> {
        self.store().ping().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness: the store does not answer");
            Error::Unavailable("the store does not answer".into())
        })?;
        match self.consumer().unready(self.now()) {
            Some(why) => Err(Error::Unavailable(why)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_core::BrokerTrouble;

    #[test]
    fn brokers_that_stop_answering_make_the_replica_unready_and_say_why() {
        let c = Consumer::default();
        assert_eq!(c.unready(Millis(0)), None, "without Kafka, nothing to wait for");
        c.expect_brokers();
        assert_eq!(c.unready(Millis(0)).as_deref(), Some("Kafka has not answered yet"));
        let problem = |m: &str| BrokerProblem { kind: BrokerTrouble::Unreachable, message: m.into() };
        c.brokers_answered(Millis(1_000), Err(problem("Connection refused")));
        assert_eq!(c.unready(Millis(2_000)).as_deref(), Some("Kafka does not answer: Connection refused"));
        assert_eq!(c.problem().map(|p| p.kind), Some(BrokerTrouble::Unreachable));
        c.brokers_answered(Millis(3_000), Ok(()));
        assert_eq!(c.unready(Millis(4_000)), None);
        assert_eq!(c.problem(), None, "answering clears the problem");
        c.brokers_answered(Millis(10_000), Err(problem("timed out")));
        assert_eq!(c.unready(Millis(12_000)), None, "one failed probe within the grace is not enough");
        assert_eq!(c.unready(Millis(3_000 + BROKERS_SILENT_MS + 1)).as_deref(), Some("Kafka does not answer: timed out"));
    }
}
