//! Server functions: how pages read from the store and ask for actions. Bodies run only on the
//! server; the browser gets a typed stub that calls them over HTTP.
//!
//! Every body first asks who is calling (the server's authentication layer put a `Caller` on the
//! request) and applies the core's rule; state changes also carry the page's CSRF token.

use flowlens_core::{
    ActionView, DeadLetterView, InstanceDetail, ListParams, Me, Millis, Overview, Page, StatusInfo, TokenInfo,
};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
mod server {
    use flowlens_core::{Caller, EmbedScope, Need, Principal, Refusal};
    use leptos::prelude::*;

    pub fn caller() -> Caller {
        use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<Caller>().cloned()).unwrap_or_default()
    }

    fn refuse(r: Refusal) -> ServerFnError {
        let (status, message) = match r {
            Refusal::SignIn => (http::StatusCode::UNAUTHORIZED, "sign in first".to_string()),
            Refusal::Forbidden(m) => (http::StatusCode::FORBIDDEN, m),
        };
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(status);
        }
        ServerFnError::new(message)
    }

    /// The caller, if it may read what `need` says.
    pub fn allow(need: Need) -> Result<Principal, ServerFnError> {
        caller().allow(&need).cloned().map_err(refuse)
    }

    /// The caller, if it may make this change; it must bring the page's `csrf`.
    pub fn allow_change(need: Need, csrf: &str) -> Result<Principal, ServerFnError> {
        caller().allow_change(&need, Some(csrf)).cloned().map_err(refuse)
    }

    /// An embed page's token, checked against what the page shows.
    pub async fn allow_embed(token: &str, scope: EmbedScope) -> Result<(), ServerFnError> {
        let ops = expect_context::<super::OperationsHandle>();
        let who = ops.embed_token(token.to_string()).await;
        flowlens_core::authorize(who.as_ref(), &Need::ReadEmbed(scope)).map_err(refuse)
    }

    /// Store failures are logged in full on the server and reach the browser only as a sentence.
    pub fn internal(e: flowlens_store::StoreError) -> ServerFnError {
        leptos::logging::error!("store: {e}");
        ServerFnError::new("the store could not answer; see the server log")
    }
}

/// What the pages may ask the server to do, implemented by the server (which owns Kafka, the
/// audit trail and the tokens) and provided to server functions as context.
#[cfg(feature = "ssr")]
pub trait Operations: Send + Sync {
    fn retry(&self, id: i64, node: String, actor: String) -> Fut<Result<ActionView, String>>;
    /// Retries every active task of an instance that its flow can retry.
    fn retry_active(&self, id: i64, actor: String) -> Fut<Result<Vec<ActionView>, String>>;
    fn cancel(&self, id: i64, actor: String) -> Fut<Result<Vec<ActionView>, String>>;
    fn embed_token(&self, token: String) -> Fut<Option<flowlens_core::Principal>>;
    /// Creates an embed link; returns its path with the token.
    fn create_embed(&self, name: String, scope: flowlens_core::EmbedScope, actor: String) -> Fut<Result<String, String>>;
    fn status(&self) -> Fut<StatusInfo>;
}

#[cfg(feature = "ssr")]
pub type Fut<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

#[cfg(feature = "ssr")]
pub type OperationsHandle = std::sync::Arc<dyn Operations>;

/// Who is using the page; none when nobody is signed in. (A fixed path: scripts read the CSRF
/// token from `POST /api/whoami`.)
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Me>, ServerFnError> {
    Ok(server::caller().me())
}

/// One page of instances, and the server's clock for SLA countdowns.
#[server(input = leptos::server_fn::codec::Json)]
pub async fn list_instances(params: ListParams) -> Result<(Millis, Page), ServerFnError> {
    server::allow(flowlens_core::Need::Read)?;
    let store = expect_context::<flowlens_store::Store>();
    let now = flowlens_store::now();
    let query = flowlens_core::ListQuery::parse(&params, now).map_err(ServerFnError::new)?;
    let page = store.list(&query, now).await.map_err(server::internal)?;
    Ok((now, page))
}

/// The ids of every instance matching the filter, for "select all that match" (at most `cap`).
#[server(input = leptos::server_fn::codec::Json)]
pub async fn matching_ids(params: ListParams, cap: u32) -> Result<Vec<i64>, ServerFnError> {
    server::allow(flowlens_core::Need::Read)?;
    let store = expect_context::<flowlens_store::Store>();
    let now = flowlens_store::now();
    let mut query = flowlens_core::ListQuery::parse(&params, now).map_err(ServerFnError::new)?;
    query.limit = flowlens_core::query::MAX_PAGE;
    let mut ids = Vec::new();
    while (ids.len() as u32) < cap.min(10_000) {
        let page = store.list(&query, now).await.map_err(server::internal)?;
        ids.extend(page.rows.iter().map(|r| r.id));
        match page.next.as_deref().and_then(flowlens_core::Cursor::parse) {
            Some(c) => query.after = Some(c),
            None => break,
        }
    }
    ids.truncate(cap as usize);
    Ok(ids)
}

/// One instance with its diagram and events, and the server's clock for SLA countdowns.
#[server]
pub async fn get_instance(id: i64) -> Result<(Millis, Option<InstanceDetail>), ServerFnError> {
    server::allow(flowlens_core::Need::Read)?;
    let store = expect_context::<flowlens_store::Store>();
    let detail = store.instance(id).await.map_err(server::internal)?;
    Ok((flowlens_store::now(), detail))
}

/// Retries an active task of an instance; the error is a sentence for people.
#[server]
pub async fn retry_task(id: i64, node: String, csrf: String) -> Result<ActionView, ServerFnError> {
    let who = server::allow_change(flowlens_core::Need::Operate, &csrf)?;
    let ops = expect_context::<OperationsHandle>();
    ops.retry(id, node, who.name).await.map_err(ServerFnError::new)
}

/// Cancels an instance: its cancel command and compensations go out.
#[server]
pub async fn cancel_instance(id: i64, csrf: String) -> Result<Vec<ActionView>, ServerFnError> {
    let who = server::allow_change(flowlens_core::Need::Operate, &csrf)?;
    let ops = expect_context::<OperationsHandle>();
    ops.cancel(id, who.name).await.map_err(ServerFnError::new)
}

/// The outcome of a bulk action for one instance: done, or why not, in words.
pub type BulkResult = (i64, Result<String, String>);

/// Retries (every retryable active task) or cancels each instance; one result per instance.
/// Pages send a few ids per call, so they can show progress as the answers come.
#[server(input = leptos::server_fn::codec::Json)]
pub async fn bulk_action(action: String, ids: Vec<i64>, csrf: String) -> Result<Vec<BulkResult>, ServerFnError> {
    let who = server::allow_change(flowlens_core::Need::Operate, &csrf)?;
    if ids.len() > 100 {
        return Err(ServerFnError::new("at most 100 instances per request"));
    }
    let ops = expect_context::<OperationsHandle>();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let result = match action.as_str() {
            "retry" => ops.retry_active(id, who.name.clone()).await.map(|a| {
                let nodes: Vec<String> = a.iter().filter_map(|x| x.node.clone()).collect();
                format!("retry sent for {}", nodes.join(", "))
            }),
            "cancel" => ops.cancel(id, who.name.clone()).await.map(|a| format!("cancel sent ({} commands)", a.len())),
            other => return Err(ServerFnError::new(format!("unknown action `{other}`"))),
        };
        out.push((id, result));
    }
    Ok(out)
}

/// Events that could not be tracked, newest first.
#[server]
pub async fn list_dead_letters() -> Result<Vec<DeadLetterView>, ServerFnError> {
    server::allow(flowlens_core::Need::Read)?;
    let store = expect_context::<flowlens_store::Store>();
    store.dead_letters(200).await.map_err(server::internal)
}

#[cfg(feature = "ssr")]
async fn read_overview(flow: Option<String>, range: String) -> Result<Option<Overview>, ServerFnError> {
    let store = expect_context::<flowlens_store::Store>();
    let now = flowlens_store::now();
    let span = flowlens_core::query::parse_range(&range).ok_or_else(|| ServerFnError::new(format!("`{range}` is not a time range")))?;
    let flow = match flow.filter(|f| !f.is_empty()) {
        Some(f) => f,
        None => match store.flows().newest().next() {
            Some(f) => f.id.clone(),
            None => return Ok(None),
        },
    };
    store.overview(&flow, Millis(now.0 - span), now).await.map_err(server::internal)
}

/// The overview of a flow (the first one when none is named) over the last `range` (`1h`, …).
#[server]
pub async fn get_overview(flow: Option<String>, range: String) -> Result<Option<Overview>, ServerFnError> {
    server::allow(flowlens_core::Need::Read)?;
    read_overview(flow, range).await
}

/// The same, for an embed link of that flow.
#[server]
pub async fn embed_overview(token: String, flow: String, range: String) -> Result<Option<Overview>, ServerFnError> {
    server::allow_embed(&token, flowlens_core::EmbedScope::Flow(flow.clone())).await?;
    read_overview(Some(flow), range).await
}

/// One instance, for an embed link of it.
#[server]
pub async fn embed_instance(token: String, id: i64) -> Result<(Millis, Option<InstanceDetail>), ServerFnError> {
    server::allow_embed(&token, flowlens_core::EmbedScope::Instance(id)).await?;
    let store = expect_context::<flowlens_store::Store>();
    let mut detail = store.instance(id).await.map_err(server::internal)?;
    // Read-only: an embed shows no audit trail of who did what.
    if let Some(d) = detail.as_mut() {
        d.actions.clear();
    }
    Ok((flowlens_store::now(), detail))
}

/// The status strip: store, last event, consumer lag.
#[server]
pub async fn get_status() -> Result<StatusInfo, ServerFnError> {
    server::allow(flowlens_core::Need::Read)?;
    Ok(expect_context::<OperationsHandle>().status().await)
}

/// Tokens and embed links, for admins.
#[server]
pub async fn list_tokens() -> Result<Vec<TokenInfo>, ServerFnError> {
    server::allow(flowlens_core::Need::Administer)?;
    let store = expect_context::<flowlens_store::Store>();
    store.tokens().await.map_err(server::internal)
}

/// Creates a read-only embed link (`flow:ID` or `instance:ID`); returns its path, shown once.
#[server]
pub async fn create_embed(name: String, scope: String, csrf: String) -> Result<String, ServerFnError> {
    let who = server::allow_change(flowlens_core::Need::Administer, &csrf)?;
    let scope = flowlens_core::EmbedScope::parse(scope.trim()).map_err(ServerFnError::new)?;
    let ops = expect_context::<OperationsHandle>();
    ops.create_embed(name, scope, who.name).await.map_err(ServerFnError::new)
}

#[server]
pub async fn revoke_token(id: i64, csrf: String) -> Result<(), ServerFnError> {
    server::allow_change(flowlens_core::Need::Administer, &csrf)?;
    let store = expect_context::<flowlens_store::Store>();
    match store.revoke_token(id, flowlens_store::now()).await.map_err(server::internal)? {
        true => Ok(()),
        false => Err(ServerFnError::new(format!("token {id} does not exist or was revoked already"))),
    }
}
