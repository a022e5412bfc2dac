//! Instances: the list (keyset pages), one instance, its audit trail, retry and cancel.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use flowlens_core::{ActionView, Caller, InstanceDetail, ListParams};
use flowlens_service::{Error, Service};
use serde::Deserialize;

use super::error::{id, ApiError};

pub fn router() -> Router<Service> {
    Router::new()
        .route("/api/v1/instances", get(list))
        .route("/api/v1/instances.csv", get(export))
        .route("/api/v1/instances/{id}", get(instance))
        .route("/api/v1/instances/{id}/retry", post(retry))
        .route("/api/v1/instances/{id}/cancel", post(cancel))
        .route("/api/v1/instances/{id}/actions", get(actions))
}

/// A page of instances as a JSON array; `X-Next-Cursor` says how to ask for the next page.
async fn list(State(s): State<Service>, Extension(caller): Extension<Caller>, Query(p): Query<ListParams>) -> Result<impl IntoResponse, ApiError> {
    let (_, page) = s.list(&caller, &p).await?;
    Ok(([("x-next-cursor", page.next.unwrap_or_default())], Json(page.rows)))
}

/// Every instance matching the filter as CSV, streamed (the list's "Download CSV").
async fn export(State(s): State<Service>, Extension(caller): Extension<Caller>, Query(p): Query<ListParams>) -> Result<impl IntoResponse, ApiError> {
    let rows = s.export_instances(&caller, &p)?;
    let body = axum::body::Body::from_stream(futures_util::StreamExt::map(rows, |chunk| chunk.map_err(|e| std::io::Error::other(e.to_string()))));
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"instances.csv\""),
        ],
        body,
    ))
}

async fn instance(State(s): State<Service>, Extension(caller): Extension<Caller>, Path(text): Path<String>) -> Result<Json<InstanceDetail>, ApiError> {
    let id = id(&text, "an instance id")?;
    let (_, found) = s.instance(&caller, id).await?;
    found.map(Json).ok_or_else(|| ApiError(Error::NotFound(format!("no instance {id}"))))
}

#[derive(Deserialize)]
struct RetryBody {
    node: String,
}

async fn retry(State(s): State<Service>, Extension(caller): Extension<Caller>, Path(text): Path<String>, body: Bytes) -> Result<Json<ActionView>, ApiError> {
    let id = id(&text, "an instance id")?;
    let body: RetryBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError(Error::Invalid(format!("expected {{\"node\": \"<task id>\"}}: {e}"))))?;
    Ok(Json(s.retry(&caller, id, &body.node).await?))
}

async fn cancel(State(s): State<Service>, Extension(caller): Extension<Caller>, Path(text): Path<String>) -> Result<Json<Vec<ActionView>>, ApiError> {
    Ok(Json(s.cancel(&caller, id(&text, "an instance id")?).await?))
}

async fn actions(State(s): State<Service>, Extension(caller): Extension<Caller>, Path(text): Path<String>) -> Result<Json<Vec<ActionView>>, ApiError> {
    Ok(Json(s.actions_of(&caller, id(&text, "an instance id")?).await?))
}
