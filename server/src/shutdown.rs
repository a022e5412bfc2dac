//! Stopping cleanly: SIGTERM or Ctrl-C cancels one token; every background task watches it, and
//! start-up waits for them all, within a deadline, before the process exits.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant};
use tokio_util::sync::CancellationToken;

/// How long stopping may take in all: the batch in hand, its offsets, open requests.
pub const GRACE: Duration = Duration::from_secs(9);

/// Resolves at the first SIGTERM (what container runtimes and systemd send) or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C: stopping"),
        _ = terminate => tracing::info!("SIGTERM: stopping"),
    }
}

/// The server's long-running tasks, each watching `stop`.
pub struct Background {
    stop: CancellationToken,
    tasks: JoinSet<&'static str>,
}

impl Background {
    pub fn new(stop: CancellationToken) -> Background {
        Background { stop, tasks: JoinSet::new() }
    }

    /// The token every task must watch.
    pub fn stop(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs `task` until it returns; it must return soon after the token is cancelled.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(async move {
            task.await;
            name
        });
    }

    /// Waits for every task until `deadline`; the ones still running then are aborted (and named).
    pub async fn join(mut self, deadline: Instant) {
        loop {
            match timeout_at(deadline, self.tasks.join_next()).await {
                Ok(Some(Ok(name))) => tracing::debug!(task = name, "stopped"),
                Ok(Some(Err(e))) => tracing::error!(error = %e, "a background task failed"),
                Ok(None) => return,
                Err(_) => {
                    tracing::warn!(left = self.tasks.len(), "background tasks did not stop in time; aborting them");
                    self.tasks.abort_all();
                    return;
                }
            }
        }
    }
}
