//! Flows: `GET /api/v1/flows/{flow}/overview?range=24h` (what the overview page shows) and
//! `GET /api/v1/flows/{flow}/bpmn` (the flow as BPMN 2.0 XML, to open in a modeler) and
//! `GET /api/v1/flows/{flow}/discovery?variants=20` (the process mined from its cases).

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use flowlens_core::discovery::Discovery;
use flowlens_core::{Caller, Overview};
use flowlens_service::{Error, Service};
use serde::Deserialize;

use super::error::ApiError;

pub fn router() -> Router<Service> {
    Router::new().route("/api/v1/flows/{flow}/overview", get(overview)).route("/api/v1/flows/{flow}/bpmn", get(bpmn))
        .route("/api/v1/flows/{flow}/discovery", get(discovery))
}

#[derive(Deserialize)]
struct Params {
    range: Option<String>,
}

async fn overview(State(s): State<Service>, Extension(caller): Extension<Caller>, Path(flow): Path<String>, Query(p): Query<Params>) -> Result<Json<Overview>, ApiError> {
    let found = s.overview(&caller, Some(&flow), p.range.as_deref()).await?;
    found.map(Json).ok_or_else(|| ApiError(Error::NotFound(format!("no flow `{flow}`"))))
}

#[derive(Deserialize)]
struct DiscoveryParams {
    variants: Option<u32>,
}

async fn discovery(
    State(s): State<Service>,
    Extension(caller): Extension<Caller>,
    Path(flow): Path<String>,
    Query(p): Query<DiscoveryParams>,
) -> Result<Json<Discovery>, ApiError> {
    let found = s.discovery(&caller, &flow, p.variants).await?;
    found.map(Json).ok_or_else(|| ApiError(Error::NotFound(format!("no flow `{flow}`"))))
}

async fn bpmn(State(s): State<Service>, Extension(caller): Extension<Caller>, Path(flow): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let xml = s.export_bpmn(&caller, &flow)?.ok_or_else(|| ApiError(Error::NotFound(format!("no flow `{flow}`"))))?;
    let file: String = flow.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    let disposition = format!("attachment; filename=\"{file}.bpmn\"");
    Ok(([(header::CONTENT_TYPE, "application/bpmn+xml; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)], xml))
}
