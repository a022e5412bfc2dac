//! `GET /api/v1/flows/{flow}/overview?range=24h`: what the overview page shows.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use flowlens_core::{Caller, Overview};
use flowlens_service::{Error, Service};
use serde::Deserialize;

use super::error::ApiError;

pub fn router() -> Router<Service> {
    Router::new().route("/api/v1/flows/{flow}/overview", get(overview))
}

#[derive(Deserialize)]
struct Params {
    range: Option<String>,
}

async fn overview(State(s): State<Service>, Extension(caller): Extension<Caller>, Path(flow): Path<String>, Query(p): Query<Params>) -> Result<Json<Overview>, ApiError> {
    let found = s.overview(&caller, Some(&flow), p.range.as_deref()).await?;
    found.map(Json).ok_or_else(|| ApiError(Error::NotFound(format!("no flow `{flow}`"))))
}
