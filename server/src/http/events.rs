//! `POST /api/v1/events[?channel=NAME][&check=true]`: one event (a JSON object) or a batch (an
//! array of them); `channel` names where they came from for discovered flows (a replayed file's
//! name), `check` only checks them and stores nothing.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::routing::post;
use axum::{Extension, Json, Router};
use flowlens_core::Caller;
use flowlens_service::{Posted, Report, Service};

use super::error::ApiError;

pub fn router() -> Router<Service> {
    Router::new().route("/api/v1/events", post(post_events))
}

async fn post_events(State(s): State<Service>, Extension(caller): Extension<Caller>, Query(posted): Query<Posted>, body: Bytes) -> Result<Json<Report>, ApiError> {
    Ok(Json(s.post_events(&caller, &body, posted).await?))
}
