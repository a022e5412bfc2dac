//! Where retry, cancel and compensation commands go: a trait, so the use cases do not know whether
//! it is Kafka (`server/src/kafka/publisher.rs`) or the built-in demo services.

use std::future::Future;
use std::pin::Pin;

use flowlens_core::{Command, Millis};
use tokio::sync::broadcast;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Publisher: Send + Sync + 'static {
    /// Sends `command`, recorded as audit action `action`, at `now`; the error is a sentence.
    fn publish<'a>(&'a self, command: &'a Command, action: i64, now: Millis) -> BoxFuture<'a, Result<(), String>>;
}

/// Without Kafka: commands go to the built-in demo services over an in-process channel. With the
/// demo off nobody receives, and a retry says so instead of vanishing.
pub struct LocalServices(broadcast::Sender<Command>);

impl LocalServices {
    /// The publisher, and the receiving end for the demo services.
    pub fn new() -> (LocalServices, broadcast::Receiver<Command>) {
        let (tx, rx) = broadcast::channel(256);
        (LocalServices(tx), rx)
    }
}

impl Publisher for LocalServices {
    fn publish<'a>(&'a self, command: &'a Command, _action: i64, _now: Millis) -> BoxFuture<'a, Result<(), String>> {
        let sent = self
            .0
            .send(command.clone())
            .map(|_| ())
            .map_err(|_| "nothing listens for commands: Kafka is not configured and the demo services are off".to_string());
        Box::pin(std::future::ready(sent))
    }
}
