//! Events in: a batch from any source is committed in one transaction with its dead letters, then
//! its changes are pushed to open pages.

use flowlens_core::{Caller, Millis, Need, Status};
use flowlens_store::{DeadLetter, Ingested, Loaded, Routed};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::intake::{Origin, Taken};
use crate::{Error, Service};

/// Most events one request may carry.
pub const MAX_BATCH: usize = 1000;

/// What happened to a submitted batch.
#[derive(Debug, Serialize)]
pub struct Report {
    pub stored: usize,
    pub duplicates: usize,
    pub dead_lettered: Vec<Rejected>,
    pub instances: Vec<Touched>,
}

/// How events were posted: on which channel, and whether only to check them.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Posted {
    pub channel: Option<String>,
    #[serde(default)]
    pub check: bool,
}

#[derive(Debug, Serialize)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Touched {
    pub id: i64,
    pub flow: String,
    pub key: String,
    pub status: Status,
}

impl Service {
    /// Commits routed events and dead letters in one transaction, then tells open pages what
    /// changed. Every source ends here, so data flows one way: intake, core (in the store's
    /// transaction), store, push. A Kafka consumer commits its offsets only after this returns.
    /// `source` names the transport for the metrics (`kafka`, `http`, `file`, `demo`).
    #[tracing::instrument(skip_all, fields(source = source, events = routed.len(), dead = dead.len()))]
    pub async fn commit(&self, source: &'static str, routed: &[Routed], dead: &[DeadLetter]) -> Result<Ingested, Error> {
        let started = std::time::Instant::now();
        let result = {
            let _turn = self.write_turn().await;
            past_other_writers("ingest", || self.store().ingest(routed, dead, self.now())).await?
        };
        self.metrics().committed(source, &result, dead, started.elapsed().as_secs_f64());
        self.push().publish(result.changes.iter().cloned());
        Ok(result)
    }

    /// `POST /api/v1/events`: a JSON body holding one event or an array of them, from an operator.
    /// `posted.channel` names the channel they came on (a replayed file's name) for discovered
    /// flows; `posted.check` only checks them: the report says what storing them would
    /// dead-letter, the error what is malformed, and nothing is stored.
    #[tracing::instrument(skip_all, fields(bytes = body.len()))]
    pub async fn post_events(&self, caller: &Caller, body: &[u8], posted: Posted) -> Result<Report, Error> {
        caller.allow_presented_change(&Need::Operate)?;
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            if std::str::from_utf8(body).is_err() {
                Error::Invalid("the body is not UTF-8 text".into())
            } else {
                Error::Invalid(format!("the body is not JSON: {e}"))
            }
        })?;
        let values = match value {
            Value::Array(items) if items.is_empty() => return Err(Error::Invalid("the batch is empty".into())),
            Value::Array(items) if items.len() > MAX_BATCH => {
                return Err(Error::Invalid(format!("a batch holds at most {MAX_BATCH} events, this one {}", items.len())))
            }
            Value::Array(items) => items,
            single => vec![single],
        };
        if posted.channel.as_deref().is_some_and(|c| c.is_empty() || c.len() > 200) {
            return Err(Error::Invalid("`channel` names a topic or file: 1 to 200 characters".into()));
        }
        let origin = Origin::Http { channel: posted.channel };
        if posted.check {
            let (_, _, dead_lettered) = self.take_all(values.into_iter().map(|v| (origin.clone(), v)))?;
            return Ok(Report { stored: 0, duplicates: 0, dead_lettered, instances: Vec::new() });
        }
        self.submit(&origin, values).await
    }

    /// Takes JSON events from a trusted source (HTTP after its checks, the demo). A batch is all or
    /// nothing: if any event is malformed, none is stored and every problem is reported. Events
    /// that are well formed but belong to no flow are dead-lettered with the reason, and the rest go on.
    pub async fn submit(&self, origin: &Origin, values: Vec<Value>) -> Result<Report, Error> {
        self.submit_from(values.into_iter().map(|v| (origin.clone(), v))).await
    }

    /// [`Service::submit`] for events that each came from their own place (the rows of a file).
    pub async fn submit_from(&self, events: impl IntoIterator<Item = (Origin, Value)>) -> Result<Report, Error> {
        let mut source = "http";
        let (routed, dead, dead_lettered) = self.take_all(events.into_iter().inspect(|(origin, _)| source = origin.source()))?;
        let result = self.commit(source, &routed, &dead).await?;
        let instances = result
            .changes
            .iter()
            .map(|c| Touched { id: c.summary.id, flow: c.summary.flow_id.clone(), key: c.summary.key.clone(), status: c.summary.status })
            .collect();
        Ok(Report { stored: result.stored, duplicates: result.duplicates, dead_lettered, instances })
    }

    /// Takes a batch apart: the routed events, the dead letters to keep and what they say, or
    /// every malformed event's problem (then nothing of the batch is to be stored).
    fn take_all(&self, events: impl IntoIterator<Item = (Origin, Value)>) -> Result<(Vec<Routed>, Vec<DeadLetter>, Vec<Rejected>), Error> {
        let now = self.now();
        let mut problems = Vec::new();
        let mut routed = Vec::new();
        let mut dead = Vec::new();
        let mut dead_lettered = Vec::new();
        for (index, (origin, value)) in events.into_iter().enumerate() {
            match self.intake().json(&origin, value, now) {
                Taken::Event(r) => routed.push(r),
                Taken::Malformed { reason, .. } => problems.push(match origin.place() {
                    Some(place) => format!("{place}: {reason}"),
                    None => format!("event {index}: {reason}"),
                }),
                unroutable @ Taken::Unroutable { .. } => {
                    let letter = unroutable.or_dead_letter(&origin).expect_err("not routed");
                    dead_lettered.push(Rejected { index, reason: letter.reason.clone() });
                    dead.push(letter);
                }
            }
        }
        if !problems.is_empty() {
            let message = match problems.len() {
                1 => problems[0].clone(),
                n => format!("{n} events are malformed; nothing was stored"),
            };
            return Err(Error::Problems { message, problems });
        }
        Ok((routed, dead, dead_lettered))
    }

    /// Whether an event could be taken, without taking it: `Err` with the reason when it is
    /// malformed, `Ok(false)` when no flow handles it (it would be dead-lettered). A file is
    /// checked whole this way before any of it is stored.
    pub fn check(&self, origin: &Origin, value: Value) -> Result<bool, String> {
        match self.intake().json(origin, value, self.now()) {
            Taken::Event(_) => Ok(true),
            Taken::Malformed { reason, .. } => Err(reason),
            Taken::Unroutable { .. } => Ok(false),
        }
    }

    /// Marks an instance cancelled (its cancel went out).
    pub(crate) async fn mark_cancelled(&self, id: i64) -> Result<(), Error> {
        self.amend(id, |loaded, now| loaded.instance.mark_cancelled(now)).await
    }

    /// A retry of `node` went out as action `action`: the instance opens a new visit of the step.
    pub(crate) async fn mark_retried(&self, id: i64, node: &str, action: i64) -> Result<(), Error> {
        self.amend(id, |loaded, now| loaded.instance.mark_retried(&loaded.flow, node, now, &format!("retry-{action}"))).await
    }

    /// Changes a stored instance in turn with the ingest of events, so no update is lost, and
    /// pushes the change.
    async fn amend(&self, id: i64, change: impl Fn(&mut Loaded, Millis)) -> Result<(), Error> {
        let changed = {
            let _turn = self.write_turn().await;
            // Another replica may write the instance between reading and saving it: then it is
            // read again and the change made afresh.
            let (service, change) = (self, &change);
            past_other_writers("an action", || async move {
                let Some(mut loaded) = service.store().load(id).await? else { return Ok(None) };
                let now = service.now();
                change(&mut loaded, now);
                service.store().save(loaded, now).await.map(Some)
            })
            .await?
        };
        let Some(changed) = changed else { return Ok(()) };
        self.push().publish([changed]);
        Ok(())
    }
}

/// Runs `attempt` (one transaction) again while it meets another writer (the SLA sweep, a
/// replica) and so rolled back: a moment later each time, five times at most.
async fn past_other_writers<T, Fut>(what: &str, mut attempt: impl FnMut() -> Fut) -> Result<T, flowlens_store::StoreError>
where
    Fut: std::future::Future<Output = Result<T, flowlens_store::StoreError>>,
{
    let mut wait = std::time::Duration::from_millis(20);
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_transient() && tries < 5 => {
                tracing::debug!(error = %e, tries, "{what} met another writer; trying again");
                tokio::time::sleep(wait).await;
                wait *= 2;
                tries += 1;
            }
            other => return other,
        }
    }
}
