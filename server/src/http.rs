//! The HTTP API under /api/v1, and health checks.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use flowlens_core::{ActionView, DeadLetterView, InstanceDetail, InstanceSummary, Status};
use flowlens_store::ListQuery;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use crate::actions::Actions;
use crate::error::ApiError;
use crate::ingest::{Ingest, Report};
use crate::push::Push;

#[derive(Clone)]
pub struct ApiState {
    pub ingest: Ingest,
    pub push: Push,
    pub actions: Actions,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/events", post(post_events))
        .route("/api/v1/instances", get(list_instances))
        .route("/api/v1/instances/{id}", get(get_instance))
        .route("/api/v1/instances/{id}/retry", post(retry))
        .route("/api/v1/instances/{id}/cancel", post(cancel))
        .route("/api/v1/instances/{id}/actions", get(actions))
        .route("/api/v1/dead-letters", get(dead_letters))
        .route("/api/v1/stream", get(stream))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(state)
}

/// One event (a JSON object) or a batch (an array of them).
async fn post_events(State(s): State<ApiState>, body: Bytes) -> Result<Json<Report>, ApiError> {
    s.ingest.submit_json("http", &body).await.map(Json)
}

#[derive(Deserialize)]
struct ListParams {
    status: Option<String>,
    key: Option<String>,
    limit: Option<u32>,
}

async fn list_instances(
    State(s): State<ApiState>,
    Query(p): Query<ListParams>,
) -> Result<Json<Vec<InstanceSummary>>, ApiError> {
    let status = Status::parse_filter(p.status.as_deref()).map_err(ApiError::BadRequest)?;
    let query = ListQuery { status, key: p.key, limit: p.limit.unwrap_or(100) };
    Ok(Json(s.ingest.store().list(&query).await?))
}

fn instance_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::BadRequest(format!("`{id}` is not an instance id")))
}

#[derive(Deserialize)]
struct RetryBody {
    node: String,
}

/// Who asked; until sign-in exists every API caller is `api`.
const ACTOR: &str = "api";

async fn retry(State(s): State<ApiState>, Path(id): Path<String>, body: Bytes) -> Result<Json<ActionView>, ApiError> {
    let id = instance_id(&id)?;
    let body: RetryBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("expected {{\"node\": \"<task id>\"}}: {e}")))?;
    Ok(Json(s.actions.retry(id, &body.node, ACTOR).await?))
}

async fn cancel(State(s): State<ApiState>, Path(id): Path<String>) -> Result<Json<Vec<ActionView>>, ApiError> {
    Ok(Json(s.actions.cancel(instance_id(&id)?, ACTOR).await?))
}

async fn actions(State(s): State<ApiState>, Path(id): Path<String>) -> Result<Json<Vec<ActionView>>, ApiError> {
    Ok(Json(s.ingest.store().actions(instance_id(&id)?).await?))
}

async fn get_instance(State(s): State<ApiState>, Path(id): Path<String>) -> Result<Json<InstanceDetail>, ApiError> {
    let id = instance_id(&id)?;
    s.ingest.store().instance(id).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("no instance {id}")))
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<u32>,
}

/// Events that could not be tracked, newest first, with the reason and the raw bytes as text.
async fn dead_letters(State(s): State<ApiState>, Query(p): Query<Limit>) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    Ok(Json(s.ingest.store().dead_letters(p.limit.unwrap_or(100)).await?))
}

#[derive(Deserialize)]
struct StreamParams {
    instance: Option<i64>,
}

/// Server-sent events: `instance` for every change (of one instance, with `?instance=ID`), and
/// `resync` when this connection fell behind and the page should reload its data.
async fn stream(
    State(s): State<ApiState>,
    Query(p): Query<StreamParams>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let changes = BroadcastStream::new(s.push.subscribe()).filter_map(move |msg| async move {
        match msg {
            Ok(change) if p.instance.is_none_or(|id| id == change.summary.id) => {
                let json = serde_json::to_string(&*change).expect("changes serialise");
                Some(Ok(SseEvent::default().event("instance").data(json)))
            }
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(_)) => Some(Ok(SseEvent::default().event("resync").data("{}"))),
        }
    });
    Sse::new(changes).keep_alive(KeepAlive::default())
}

async fn ready(State(s): State<ApiState>) -> Result<&'static str, ApiError> {
    s.ingest.store().ping().await?;
    Ok("ready")
}
