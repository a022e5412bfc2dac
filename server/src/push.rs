//! Fan-out of instance changes to every open page (server-sent events).

use std::sync::Arc;

use flowlens_core::InstanceChanged;
use tokio::sync::broadcast;

/// Changes not yet read by a slow page before it is told to resync.
const BACKLOG: usize = 1024;

#[derive(Clone)]
pub struct Push {
    tx: broadcast::Sender<Arc<InstanceChanged>>,
}

impl Default for Push {
    fn default() -> Self {
        Push { tx: broadcast::channel(BACKLOG).0 }
    }
}

impl Push {
    pub fn publish(&self, change: InstanceChanged) {
        // No subscriber is not an error: nobody is looking right now.
        let _ = self.tx.send(Arc::new(change));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<InstanceChanged>> {
        self.tx.subscribe()
    }
}
