//! Server functions: how pages read from the store. Bodies run only on the server; the browser
//! gets a typed stub that calls them over HTTP.

use flowlens_core::{InstanceDetail, InstanceSummary, Millis};
use leptos::prelude::*;

/// Instances, most recently updated first, optionally of one status.
#[server]
pub async fn list_instances(status: Option<String>) -> Result<(Millis, Vec<InstanceSummary>), ServerFnError> {
    use flowlens_core::Status;
    let store = expect_context::<flowlens_store::Store>();
    let status = match status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| ServerFnError::new(format!("unknown status `{s}`")))?),
    };
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
