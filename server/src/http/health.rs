//! Where this server stands: `/api/v1/status` (store, source, latest event, Kafka partitions and
//! lag), `/healthz` (the process answers), `/readyz` (503 while the database does not).

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use flowlens_core::{Caller, StatusInfo};
use flowlens_service::Service;

use super::error::ApiError;

pub fn router() -> Router<Service> {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
}

async fn status(State(s): State<Service>, Extension(caller): Extension<Caller>) -> Result<Json<StatusInfo>, ApiError> {
    Ok(Json(s.status(&caller).await?))
}

async fn ready(State(s): State<Service>) -> Result<&'static str, ApiError> {
    s.ready().await?;
    Ok("ready")
}
