//! Flows: `POST /api/v1/flows` (turn discovery on for events nobody modelled),
//! `GET /api/v1/flows/{flow}/overview?range=24h` (what the overview page shows) and
//! `GET /api/v1/flows/{flow}/bpmn` (the flow as BPMN 2.0 XML, to open in a modeler) and
//! `GET /api/v1/flows/{flow}/discovery?variants=20` (the process mined from its cases) and
//! `GET /api/v1/flows/{flow}/mined.toml?hide=0` / `mined.bpmn` (that process saved as a flow).

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use flowlens_core::discovery::Discovery;
use flowlens_core::{Caller, Overview};
use flowlens_service::{Error, LogForm, MinedForm, NewDiscovered, Service};
use serde::Deserialize;

use super::error::ApiError;

pub fn router() -> Router<Service> {
    Router::new()
        .route("/api/v1/flows", axum::routing::post(add_flow))
        .route("/api/v1/flows/{flow}/overview", get(overview))
        .route("/api/v1/flows/{flow}/bpmn", get(bpmn))
        .route("/api/v1/flows/{flow}/discovery", get(discovery))
        .route("/api/v1/flows/{flow}/mined.toml", get(|s, c, f, p| mined(s, c, f, p, MinedForm::Toml)))
        .route("/api/v1/flows/{flow}/mined.bpmn", get(|s, c, f, p| mined(s, c, f, p, MinedForm::Bpmn)))
        .route("/api/v1/flows/{flow}/events.xes", get(|s, c, f| events(s, c, f, LogForm::Xes)))
        .route("/api/v1/flows/{flow}/events.csv", get(|s, c, f| events(s, c, f, LogForm::Csv)))
}

#[derive(Deserialize)]
struct MinedParams {
    /// Leave out activities and edges rarer than this percent of the most frequent (0–100).
    #[serde(default)]
    hide: u32,
    /// Only the cases started in this window, as on the discovery page.
    range: Option<String>,
}

async fn mined(
    State(s): State<Service>,
    Extension(caller): Extension<Caller>,
    Path(flow): Path<String>,
    Query(p): Query<MinedParams>,
    form: MinedForm,
) -> Result<impl IntoResponse, ApiError> {
    if p.hide > 100 {
        return Err(ApiError(Error::Invalid(format!("`hide` is a percentage, 0 to 100, not {}", p.hide))));
    }
    let text = s.mined_flow(&caller, &flow, p.hide, p.range.as_deref(), form).await?.ok_or_else(|| ApiError(Error::NotFound(format!("no flow `{flow}`"))))?;
    Ok(match form {
        MinedForm::Toml => (attachment(&flow, "toml", "application/toml"), text),
        MinedForm::Bpmn => (attachment(&flow, "bpmn", BPMN), text),
    })
}

/// Every event of the flow's cases as an event log (XES or CSV), streamed, for process-mining tools.
async fn events(State(s): State<Service>, Extension(caller): Extension<Caller>, Path(flow): Path<String>, form: LogForm) -> Result<impl IntoResponse, ApiError> {
    let chunks = s.export_events(&caller, &flow, form)?.ok_or_else(|| ApiError(Error::NotFound(format!("no flow `{flow}`"))))?;
    let body = axum::body::Body::from_stream(futures_util::StreamExt::map(chunks, |chunk| chunk.map_err(|e| std::io::Error::other(e.to_string()))));
    let name = format!("{flow}-events");
    Ok(match form {
        LogForm::Xes => (attachment(&name, "xes", "application/xml"), body),
        LogForm::Csv => (attachment(&name, "csv", "text/csv"), body),
    })
}

const BPMN: &str = "application/bpmn+xml";

/// The headers of a download: its type (UTF-8 text) and a file name made of the flow id with
/// nothing a header or a file system would misread.
fn attachment(name: &str, ext: &str, kind: &str) -> [(header::HeaderName, String); 2] {
    let file: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    [(header::CONTENT_TYPE, format!("{kind}; charset=utf-8")), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}.{ext}\""))]
}

/// Turns discovery on for events nobody modelled (admin): `{"id", "name", "channel", "key",
/// "types"?}`; 201 with the new flow, saved in the flows directory.
async fn add_flow(State(s): State<Service>, Extension(caller): Extension<Caller>, body: axum::body::Bytes) -> Result<impl IntoResponse, ApiError> {
    let new: NewDiscovered = serde_json::from_slice(&body).map_err(|e| {
        ApiError(Error::Invalid(format!("expected {{\"id\", \"name\", \"channel\", \"key\", \"types\"}} (a discovered flow): {e}")))
    })?;
    let flow = s.discover(&caller, &new)?;
    Ok((axum::http::StatusCode::CREATED, Json(serde_json::json!({ "id": flow.id, "name": flow.name, "version": flow.version, "discover": flow.discover }))))
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
    /// Only the cases started in this window (whole UTC days): `7d`, `2019-06-01..2019-06-30`.
    range: Option<String>,
}

async fn discovery(
    State(s): State<Service>,
    Extension(caller): Extension<Caller>,
    Path(flow): Path<String>,
    Query(p): Query<DiscoveryParams>,
) -> Result<Json<Discovery>, ApiError> {
    let found = s.discovery(&caller, &flow, p.variants, p.range.as_deref()).await?;
    found.map(Json).ok_or_else(|| ApiError(Error::NotFound(format!("no flow `{flow}`"))))
}

async fn bpmn(State(s): State<Service>, Extension(caller): Extension<Caller>, Path(flow): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let xml = s.export_bpmn(&caller, &flow)?.ok_or_else(|| ApiError(Error::NotFound(format!("no flow `{flow}`"))))?;
    Ok((attachment(&flow, "bpmn", BPMN), xml))
}
