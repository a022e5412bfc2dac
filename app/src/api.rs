//! Server functions: how pages read from the store. Bodies run only on the server; the browser
//! gets a typed stub that calls them over HTTP.

use flowlens_core::{InstanceDetail, InstanceSummary, Millis};
use leptos::prelude::*;

/// Instances, most recently updated first, optionally of one status.
#[server]
pub async fn list_instances(status: Option<String>) -> Result<(Millis, Vec<InstanceSummary>), ServerFnError> {
    use flowlens_core::Status;
    let store = expect_context::<flowlens_store::Store>();
    let status = Status::parse_filter(status.as_deref()).map_err(ServerFnError::new)?;
    let query = flowlens_store::ListQuery { status, key: None, limit: 100 };
    let rows = store.list(&query).await.map_err(internal)?;
    Ok((flowlens_store::now(), rows))
}

/// One instance with its diagram and events, and the server's clock for SLA countdowns.
#[server]
pub async fn get_instance(id: i64) -> Result<(Millis, Option<InstanceDetail>), ServerFnError> {
    let store = expect_context::<flowlens_store::Store>();
    let detail = store.instance(id).await.map_err(internal)?;
    Ok((flowlens_store::now(), detail))
}


/// Store failures are logged in full on the server and reach the browser only as a sentence.
#[cfg(feature = "ssr")]
fn internal(e: flowlens_store::StoreError) -> ServerFnError {
    leptos::logging::error!("store: {e}");
    ServerFnError::new("the store could not answer; see the server log")
}

/// What the pages may ask the server to do, implemented by the server (which owns Kafka and the
/// audit trail) and provided to server functions as context.
#[cfg(feature = "ssr")]
pub trait Operations: Send + Sync {
    fn retry(&self, id: i64, node: String) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<flowlens_core::ActionView, String>> + Send>>;
    fn cancel(&self, id: i64) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<flowlens_core::ActionView>, String>> + Send>>;
}

#[cfg(feature = "ssr")]
pub type OperationsHandle = std::sync::Arc<dyn Operations>;

/// Retries an active task of an instance; the error is a sentence for people.
#[server]
pub async fn retry_task(id: i64, node: String) -> Result<flowlens_core::ActionView, ServerFnError> {
    let ops = expect_context::<OperationsHandle>();
    ops.retry(id, node).await.map_err(ServerFnError::new)
}

/// Cancels an instance: its cancel command and compensations go out.
#[server]
pub async fn cancel_instance(id: i64) -> Result<Vec<flowlens_core::ActionView>, ServerFnError> {
    let ops = expect_context::<OperationsHandle>();
    ops.cancel(id).await.map_err(ServerFnError::new)
}

/// Events that could not be tracked, newest first.
#[server]
pub async fn list_dead_letters() -> Result<Vec<flowlens_core::DeadLetterView>, ServerFnError> {
    let store = expect_context::<flowlens_store::Store>();
    store.dead_letters(200).await.map_err(internal)
}
