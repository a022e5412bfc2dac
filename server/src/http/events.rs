//! `POST /api/v1/events`: one event (a JSON object) or a batch (an array of them).

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Json, Router};
use flowlens_core::Caller;
use flowlens_service::{Report, Service};

use super::error::ApiError;

pub fn router() -> Router<Service> {
    Router::new().route("/api/v1/events", post(post_events))
}

async fn post_events(State(s): State<Service>, Extension(caller): Extension<Caller>, body: Bytes) -> Result<Json<Report>, ApiError> {
    Ok(Json(s.post_events(&caller, &body).await?))
}
