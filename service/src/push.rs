//! Live updates: every committed change of an instance goes to every open page that follows it
//! (server-sent events), and a page that falls behind is told to reload.

use std::sync::Arc;

use flowlens_core::{Caller, Credential, EmbedScope, InstanceChanged, Need};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use crate::{Error, Service};

/// Changes not yet read by a slow page before it is told to resync.
const BACKLOG: usize = 1024;
/// How often a live stream checks that its session or token still stands.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(Clone)]
pub(crate) struct Push {
    tx: broadcast::Sender<Arc<InstanceChanged>>,
}

impl Default for Push {
    fn default() -> Self {
        Push { tx: broadcast::channel(BACKLOG).0 }
    }
}

impl Push {
    pub(crate) fn publish(&self, change: InstanceChanged) {
        // No subscriber is not an error: nobody is looking right now.
        let _ = self.tx.send(Arc::new(change));
    }
}

/// What a page follows: everything, one instance, or one flow.
#[derive(Clone, Debug, Default)]
pub struct Follow {
    pub instance: Option<i64>,
    pub flow: Option<String>,
}

/// What a follower is told.
#[derive(Clone, Debug)]
pub enum Pushed {
    Changed(Arc<InstanceChanged>),
    /// This follower fell behind and missed changes: it should read again.
    Resync,
}

impl Service {
    /// Pushes a change that happened elsewhere (another replica) to this server's followers.
    pub fn publish_change(&self, change: InstanceChanged) {
        self.push().publish(change);
    }

    /// The changes `follow` asks for, as they are committed, until the server stops or the
    /// caller's session ends or token is revoked (checked every few seconds). An embed link may
    /// follow only what its embed shows, and learns only what it shows: a flow's embed shows totals,
    /// so its changes come without business key, event or payload.
    #[tracing::instrument(skip(self, caller), fields(instance = ?follow.instance, flow = ?follow.flow))]
    pub fn follow(&self, caller: &Caller, follow: Follow) -> Result<impl Stream<Item = Pushed> + Send + 'static, Error> {
        let embedded = caller.who.as_ref().is_some_and(|w| matches!(w.credential, Credential::Embed(_)));
        let need = match (follow.instance, &follow.flow) {
            (Some(id), _) if embedded => Need::ReadEmbed(EmbedScope::Instance(id)),
            (None, Some(flow)) if embedded => Need::ReadEmbed(EmbedScope::Flow(flow.clone())),
            _ => Need::Read,
        };
        caller.allow(&need)?;
        let flow_embed = embedded && follow.instance.is_none();
        let Follow { instance, flow } = follow;
        let changes = BroadcastStream::new(self.push().tx.subscribe()).filter_map(move |msg| {
            let pushed = match msg {
                Ok(change)
                    if instance.is_none_or(|id| id == change.summary.id)
                        && flow.as_ref().is_none_or(|f| *f == change.summary.flow_id) =>
                {
                    Some(Pushed::Changed(if flow_embed { Arc::new(change.for_flow_embed()) } else { change }))
                }
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(_)) => Some(Pushed::Resync),
            };
            futures_util::future::ready(pushed)
        });
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
