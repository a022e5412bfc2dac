//! Live updates: every committed batch of instance changes goes to every open page, and each page
//! is sent only what it shows: an instance page its instance's changes, a list page the rows of its
//! filter that moved (a page at most per burst, however many instances changed), an overview only
//! that its flow's figures moved. A page that falls behind is told to read again.
//!
//! A follower takes whatever batches have piled up since it last wrote and turns them into one
//! message, so a busy server sends fewer, fuller messages instead of falling behind.

use std::sync::Arc;

use flowlens_core::live_list::{ListFrame, LiveList};
use flowlens_core::{Caller, Credential, EmbedScope, InstanceChanged, ListParams, Need};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use crate::{Error, Service};

/// Batches not yet read by a slow page before it is told to resync.
const BACKLOG: usize = 256;
/// How often a live stream checks that its session or token still stands.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(3);

/// One commit's changes, shared by every follower.
type Batch = Arc<[Arc<InstanceChanged>]>;

#[derive(Clone)]
pub(crate) struct Push {
    tx: broadcast::Sender<Batch>,
}

impl Default for Push {
    fn default() -> Self {
        Push { tx: broadcast::channel(BACKLOG).0 }
    }
}

impl Push {
    pub(crate) fn publish(&self, changes: impl IntoIterator<Item = InstanceChanged>) {
        let batch: Batch = changes.into_iter().map(Arc::new).collect();
        if !batch.is_empty() {
            // No subscriber is not an error: nobody is looking right now.
            let _ = self.tx.send(batch);
        }
    }
}

/// What a page follows.
#[derive(Clone, Debug)]
pub enum Follow {
    /// Every change, or every change of one flow, as it comes (the API's stream).
    Changes { flow: Option<String> },
    /// One instance's changes (its page).
    Instance(i64),
    /// A list page: the rows of its filter that moved.
    List(ListParams),
    /// An overview: that the figures of a flow (or of any) moved.
    Totals { flow: Option<String> },
}

/// What a follower is told.
#[derive(Clone, Debug)]
pub enum Pushed {
    Changed(Arc<InstanceChanged>),
    /// What a list page must change.
    Rows(ListFrame),
    /// The followed flow's figures moved.
    Moved,
    /// This follower fell behind and missed changes: it should read again.
    Resync,
}

/// One open page's follower: what it follows, and where it is in the stream of batches.
struct Follower {
    rx: broadcast::Receiver<Batch>,
    follows: Follows,
    service: Service,
    caller: Caller,
}

enum Follows {
    Changes { flow: Option<String>, flow_embed: bool },
    Instance(i64),
    List { params: ListParams, live: Option<LiveList> },
    Totals { flow: Option<String> },
}

impl Follower {
    /// Waits for the next batch, takes every other one already waiting, and says what the page
    /// is to be told (possibly nothing); none once the server is going away.
    async fn next(&mut self) -> Option<Vec<Pushed>> {
        let mut batches = Vec::new();
        let mut lagged = false;
        match self.rx.recv().await {
            Ok(batch) => batches.push(batch),
            Err(RecvError::Lagged(_)) => lagged = true,
            Err(RecvError::Closed) => return None,
        }
        loop {
            match self.rx.try_recv() {
                Ok(batch) => batches.push(batch),
                Err(TryRecvError::Lagged(_)) => lagged = true,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        if lagged {
            if let Follows::List { params, live: Some(live) } = &mut self.follows {
                // The page reads again; so does its picture here.
                live.reset(shown(&self.service, &self.caller, params).await);
            }
            return Some(vec![Pushed::Resync]);
        }
        let changes = batches.iter().flat_map(|b| b.iter());
        Some(match &mut self.follows {
            Follows::Changes { flow, flow_embed } => changes
                .filter(|c| flow.as_ref().is_none_or(|f| *f == c.summary.flow_id))
                .map(|c| Pushed::Changed(if *flow_embed { Arc::new(c.for_flow_embed()) } else { c.clone() }))
                .collect(),
            Follows::Instance(id) => changes.filter(|c| c.summary.id == *id).map(|c| Pushed::Changed(c.clone())).collect(),
            Follows::List { live: None, .. } => Vec::new(),
            Follows::List { live: Some(live), .. } => {
                let frame = live.apply(changes.map(|c| &c.summary), self.service.now());
                if frame.is_empty() { Vec::new() } else { vec![Pushed::Rows(frame)] }
            }
            Follows::Totals { flow } => {
                let mut changes = changes;
                if changes.any(|c| flow.as_ref().is_none_or(|f| *f == c.summary.flow_id)) { vec![Pushed::Moved] } else { Vec::new() }
            }
        })
    }
}

/// The ids the first page of a list shows now; none when it cannot be read right now (the page
/// then catches up as instances change).
async fn shown(service: &Service, caller: &Caller, params: &ListParams) -> Vec<i64> {
    match service.list(caller, params).await {
        Ok((_, page)) => page.rows.iter().map(|r| r.id).collect(),
        Err(_) => Vec::new(),
    }
}

impl Service {
    /// Pushes a change that happened elsewhere (another replica) to this server's followers.
    pub fn publish_change(&self, change: InstanceChanged) {
        self.push().publish([change]);
    }

    /// What `follow` asks for, as it is committed, until the server stops or the caller's session
    /// ends or token is revoked (checked every few seconds). An embed link may follow only what its
    /// embed shows, and learns only what it shows: a flow's embed shows totals, so its changes come
    /// without business key, event or payload.
    #[tracing::instrument(skip(self, caller))]
    pub async fn follow(&self, caller: &Caller, follow: Follow) -> Result<impl Stream<Item = Pushed> + Send + 'static, Error> {
        let embedded = caller.who.as_ref().is_some_and(|w| matches!(w.credential, Credential::Embed(_)));
        let need = match &follow {
            Follow::Instance(id) if embedded => Need::ReadEmbed(EmbedScope::Instance(*id)),
            Follow::Changes { flow: Some(flow) } | Follow::Totals { flow: Some(flow) } if embedded => Need::ReadEmbed(EmbedScope::Flow(flow.clone())),
            _ => Need::Read,
        };
        caller.allow(&need)?;
        // Subscribed before the list page is read: nothing committed after that read is missed.
        let rx = self.push().tx.subscribe();
        let follows = match follow {
            Follow::Changes { flow } => Follows::Changes { flow_embed: embedded && flow.is_some(), flow },
            Follow::Instance(id) => Follows::Instance(id),
            Follow::Totals { flow } => Follows::Totals { flow },
            Follow::List(params) => {
                // A filter that does not parse is refused now, not silently never matched.
                let checked = LiveList::new(&params, self.now(), Vec::new()).map_err(Error::Invalid)?;
                let live = match checked {
                    Some(mut live) => {
                        live.reset(shown(self, caller, &params).await);
                        Some(live)
                    }
                    None => None,
                };
                Follows::List { params, live }
            }
        };
        let follower = Follower { rx, follows, service: self.clone(), caller: caller.clone() };
        let changes = futures_util::stream::unfold(follower, |mut f| async move {
            let pushed = f.next().await?;
            Some((futures_util::stream::iter(pushed), f))
        })
        .flatten();
        // `None` ends the stream: the permission it was opened with is gone.
        let (service, caller) = (self.clone(), caller.clone());
        let revoked = futures_util::stream::unfold((service, caller), |(service, caller)| async move {
            tokio::time::sleep(RECHECK).await;
            // A store that does not answer right now revokes nothing.
            let valid = service.still_valid(&caller).await.unwrap_or(true);
            Some((valid, (service, caller)))
        })
        .filter_map(|valid| futures_util::future::ready((!valid).then_some(None)));
        let stream = futures_util::stream::select(changes.map(Some), revoked)
            .take_while(|p| futures_util::future::ready(p.is_some()))
            .filter_map(futures_util::future::ready);
        // Counted as open until the page goes away (the stream is dropped).
        let open = self.metrics().stream_opened();
        Ok(stream.take_until(self.shutdown_token().clone().cancelled_owned()).map(move |pushed| {
            let _counted = &open;
            pushed
        }))
    }
}
