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

    /// The changes `follow` asks for, as they are committed, until the server stops. An embed
    /// link may follow only what its embed shows; anyone else needs the right to read.
    #[tracing::instrument(skip(self, caller), fields(instance = ?follow.instance, flow = ?follow.flow))]
    pub fn follow(&self, caller: &Caller, follow: Follow) -> Result<impl Stream<Item = Pushed> + Send + 'static, Error> {
        let embedded = caller.who.as_ref().is_some_and(|w| matches!(w.credential, Credential::Embed(_)));
        let need = match (follow.instance, &follow.flow) {
            (Some(id), _) if embedded => Need::ReadEmbed(EmbedScope::Instance(id)),
            (None, Some(flow)) if embedded => Need::ReadEmbed(EmbedScope::Flow(flow.clone())),
            _ => Need::Read,
        };
        caller.allow(&need)?;
        let Follow { instance, flow } = follow;
        let changes = BroadcastStream::new(self.push().tx.subscribe()).filter_map(move |msg| {
            let pushed = match msg {
                Ok(change)
                    if instance.is_none_or(|id| id == change.summary.id)
                        && flow.as_ref().is_none_or(|f| *f == change.summary.flow_id) =>
                {
                    Some(Pushed::Changed(change))
                }
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(_)) => Some(Pushed::Resync),
            };
            futures_util::future::ready(pushed)
        });
        Ok(changes.take_until(self.shutdown_token().clone().cancelled_owned()))
    }
}
