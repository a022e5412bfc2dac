//! The HTTP API under /api/v1, and health checks.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use flowlens_core::{ActionView, Caller, Credential, DeadLetterView, EmbedScope, InstanceDetail, Need, Role, TokenInfo};
use flowlens_core::{ListQuery, Millis};
use flowlens_store::now;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use crate::actions::Actions;
use crate::auth::{self, allow, allow_change};
use crate::error::ApiError;
use crate::ingest::{Ingest, Report};
use crate::push::Push;

#[derive(Clone)]
pub struct ApiState {
    pub ingest: Ingest,
    pub push: Push,
    pub actions: Actions,
    /// What the status strip shows, for `/api/v1/status`.
    pub operations: crate::operations::PageOperations,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/events", post(post_events))
        .route("/api/v1/instances", get(list_instances))
        .route("/api/v1/instances/{id}", get(get_instance))
        .route("/api/v1/instances/{id}/retry", post(retry))
        .route("/api/v1/instances/{id}/cancel", post(cancel))
        .route("/api/v1/instances/{id}/actions", get(actions))
        .route("/api/v1/flows/{flow}/overview", get(overview))
        .route("/api/v1/dead-letters", get(dead_letters))
        .route("/api/v1/stream", get(stream))
        .route("/api/v1/users", post(create_user))
        .route("/api/v1/tokens", get(tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/v1/status", get(status))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(state)
}

/// One event (a JSON object) or a batch (an array of them).
async fn post_events(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Report>, ApiError> {
    allow_change(&caller, &Need::Operate, &headers)?;
    s.ingest.submit_json("http", &body).await.map(Json)
}

/// A page of instances as a JSON array; `X-Next-Cursor` says how to ask for the next page.
async fn list_instances(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<flowlens_core::ListParams>,
) -> Result<impl IntoResponse, ApiError> {
    allow(&caller, &Need::Read)?;
    let at = now();
    let query = ListQuery::parse(&p, at).map_err(ApiError::BadRequest)?;
    let page = s.ingest.store().list(&query, at).await?;
    let cursor = [("x-next-cursor", page.next.unwrap_or_default())];
    Ok((cursor, Json(page.rows)))
}

#[derive(Deserialize)]
struct OverviewParams {
    range: Option<String>,
}

/// A flow's overview over the last `range` (default 24h): what the overview page shows.
async fn overview(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(flow): Path<String>,
    Query(p): Query<OverviewParams>,
) -> Result<Json<flowlens_core::Overview>, ApiError> {
    allow(&caller, &Need::Read)?;
    let range = p.range.unwrap_or_else(|| "24h".into());
    let span = flowlens_core::query::parse_range(&range)
        .ok_or_else(|| ApiError::BadRequest(format!("`{range}` is not a time range; write e.g. 15m, 1h, 24h or 7d")))?;
    let at = now();
    let found = s.ingest.store().overview(&flow, Millis(at.0 - span), at).await?;
    found.map(Json).ok_or_else(|| ApiError::NotFound(format!("no flow `{flow}`")))
}

fn instance_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::BadRequest(format!("`{id}` is not an instance id")))
}

#[derive(Deserialize)]
struct RetryBody {
    node: String,
}

async fn retry(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ActionView>, ApiError> {
    let who = allow_change(&caller, &Need::Operate, &headers)?;
    let id = instance_id(&id)?;
    let body: RetryBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("expected {{\"node\": \"<task id>\"}}: {e}")))?;
    Ok(Json(s.actions.retry(id, &body.node, &who.name).await?))
}

async fn cancel(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Vec<ActionView>>, ApiError> {
    let who = allow_change(&caller, &Need::Operate, &headers)?;
    Ok(Json(s.actions.cancel(instance_id(&id)?, &who.name).await?))
}

async fn actions(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Vec<ActionView>>, ApiError> {
    allow(&caller, &Need::Read)?;
    Ok(Json(s.ingest.store().actions(instance_id(&id)?).await?))
}

async fn get_instance(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<InstanceDetail>, ApiError> {
    allow(&caller, &Need::Read)?;
    let id = instance_id(&id)?;
    s.ingest.store().instance(id).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("no instance {id}")))
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<u32>,
}

/// Events that could not be tracked, newest first, with the reason and the raw bytes as text.
async fn dead_letters(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<Limit>,
) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    allow(&caller, &Need::Read)?;
    Ok(Json(s.ingest.store().dead_letters(p.limit.unwrap_or(100)).await?))
}

#[derive(Deserialize)]
struct StreamParams {
    instance: Option<i64>,
    flow: Option<String>,
}

/// Server-sent events: `instance` for every change (of one instance with `?instance=ID`, of one
/// flow with `?flow=ID`), and `resync` when this connection fell behind and the page should
/// reload its data. An embed token may follow only what its embed shows.
async fn stream(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    // An embed link may follow only what it shows; anyone else needs the right to read.
    let embedded = caller.who.as_ref().is_some_and(|w| matches!(w.credential, Credential::Embed(_)));
    let need = match (p.instance, &p.flow) {
        (Some(id), _) if embedded => Need::ReadEmbed(EmbedScope::Instance(id)),
        (None, Some(flow)) if embedded => Need::ReadEmbed(EmbedScope::Flow(flow.clone())),
        _ => Need::Read,
    };
    allow(&caller, &need)?;
    let StreamParams { instance, flow } = p;
    let changes = BroadcastStream::new(s.push.subscribe()).filter_map(move |msg| {
        let event = match msg {
            Ok(change)
                if instance.is_none_or(|id| id == change.summary.id)
                    && flow.as_ref().is_none_or(|f| *f == change.summary.flow_id) =>
            {
                let json = serde_json::to_string(&*change).expect("changes serialise");
                Some(Ok(SseEvent::default().event("instance").data(json)))
            }
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(_)) => Some(Ok(SseEvent::default().event("resync").data("{}"))),
        };
        futures_util::future::ready(event)
    });
    Ok(Sse::new(changes).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    role: String,
    password: Option<String>,
}

/// Adds a person; without a password one is generated and returned, once.
async fn create_user(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Json(body): Json<NewUser>,
) -> Result<(axum::http::StatusCode, Json<serde_json::Value>), ApiError> {
    allow_change(&caller, &Need::Administer, &headers)?;
    let role = Role::parse(&body.role).map_err(ApiError::BadRequest)?;
    let name = body.name.trim().to_string();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest("a user name is 1 to 64 printable characters".into()));
    }
    let password = body.password.unwrap_or_else(auth::random_secret);
    if password.chars().count() < 12 {
        return Err(ApiError::BadRequest("a password has at least 12 characters".into()));
    }
    let hash = auth::hash_password_blocking(password.clone()).await;
    if !s.ingest.store().create_user(&name, role, &hash, now()).await? {
        return Err(ApiError::Conflict(format!("a user named `{name}` exists already")));
    }
    Ok((axum::http::StatusCode::CREATED, Json(serde_json::json!({ "name": name, "role": role, "password": password }))))
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
    /// viewer, operator or admin, for a machine's bearer token.
    role: Option<String>,
    /// `flow:ID` or `instance:ID`, for a read-only embed link.
    embed: Option<String>,
}

async fn tokens(State(s): State<ApiState>, Extension(caller): Extension<Caller>) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    allow(&caller, &Need::Administer)?;
    Ok(Json(s.ingest.store().tokens().await?))
}

/// Creates a bearer token or an embed link token; its value is in this answer and nowhere else.
async fn create_token(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Json(body): Json<NewToken>,
) -> Result<(axum::http::StatusCode, Json<serde_json::Value>), ApiError> {
    let who = allow_change(&caller, &Need::Administer, &headers)?.name.clone();
    let (role, scope) = match (&body.role, &body.embed) {
        (Some(role), None) => (Role::parse(role).map_err(ApiError::BadRequest)?, None),
        (None, Some(scope)) => (Role::Viewer, Some(EmbedScope::parse(scope).map_err(ApiError::BadRequest)?)),
        _ => return Err(ApiError::BadRequest("give either `role` (a bearer token) or `embed` (flow:ID or instance:ID)".into())),
    };
    let (id, token) = crate::tokens::create(s.ingest.store(), body.name.trim(), role, scope.as_ref(), &who).await?;
    let path = scope.as_ref().map(|sc| crate::tokens::embed_path(sc, &token));
    Ok((axum::http::StatusCode::CREATED, Json(serde_json::json!({ "id": id, "token": token, "role": role, "embed_path": path }))))
}

async fn revoke_token(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    allow_change(&caller, &Need::Administer, &headers)?;
    let id: i64 = id.parse().map_err(|_| ApiError::BadRequest(format!("`{id}` is not a token id")))?;
    if s.ingest.store().revoke_token(id, now()).await? {
        Ok(axum::http::StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no active token {id}")))
    }
}

/// The store, where events come from, the latest event, and this replica's Kafka partitions and lag.
async fn status(State(s): State<ApiState>, Extension(caller): Extension<Caller>) -> Result<Json<flowlens_core::StatusInfo>, ApiError> {
    use flowlens_app::api::Operations;
    allow(&caller, &Need::Read)?;
    Ok(Json(s.operations.status().await))
}

async fn ready(State(s): State<ApiState>) -> Result<&'static str, ApiError> {
    // Not ready while the database does not answer: a load balancer should send people elsewhere.
    s.ingest.store().ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: the store does not answer");
        ApiError::Unavailable("the store does not answer".into())
    })?;
    Ok("ready")
}
