//! `GET /api/v1/dead-letters`: events that could not be tracked, newest first, with the reason
//! and the raw bytes as text.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use flowlens_core::{Caller, DeadLetterView};
use flowlens_service::Service;
use serde::Deserialize;

use super::error::ApiError;

pub fn router() -> Router<Service> {
    Router::new().route("/api/v1/dead-letters", get(dead_letters))
}

#[derive(Deserialize)]
struct Params {
    limit: Option<u32>,
}

async fn dead_letters(State(s): State<Service>, Extension(caller): Extension<Caller>, Query(p): Query<Params>) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    Ok(Json(s.dead_letters(&caller, p.limit).await?))
}
