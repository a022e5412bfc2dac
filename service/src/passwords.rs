//! Password hashing on a small pool of its own. Argon2 takes ~19 MiB and tens of milliseconds per
//! hash by design; on the shared blocking pool a flood of sign-ins ran hundreds at once and the
//! allocator kept their memory. Here a fixed number of worker threads hash, a bounded queue waits,
//! and beyond it a sign-in is refused at once: memory stays bounded whatever arrives.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::Error;

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Hasher {
    jobs: SyncSender<Job>,
}

impl Hasher {
    /// `workers` threads hash; at most `queue` more wait.
    pub(crate) fn new(workers: usize, queue: usize) -> Hasher {
        let (jobs, waiting) = sync_channel::<Job>(queue);
        let waiting = Arc::new(Mutex::new(waiting));
        for n in 0..workers.max(1) {
            let waiting = waiting.clone();
            let spawned = std::thread::Builder::new().name(format!("flowlens-hash-{n}")).spawn(move || work(&waiting));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-hashing thread");
            }
        }
        Hasher { jobs }
    }

    /// Runs `f` on the pool; refused when the queue is full (a flood of sign-ins).
    pub(crate) async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(Error::TooMany { message: "too many sign-ins at once; try again in 5 s".into(), retry_after_secs: 5 })
            }
            Err(TrySendError::Disconnected(_)) => return Err(Error::Unavailable("password checks are not available".into())),
        }
        result.await.map_err(|_| Error::Unavailable("a password check failed".into()))
    }
}

fn work(waiting: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while taking a job, not while running it.
        let job = match waiting.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return, // the service is gone
        }
    }
}
