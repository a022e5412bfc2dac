//! `GET /api/v1/stream[?instance=ID|?flow=ID]`: server-sent events, `instance` for every change
//! and `resync` when this connection fell behind and the page should read again. The stream ends
//! when the server stops.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Extension, Router};
use flowlens_core::Caller;
use flowlens_service::{Follow, Pushed, Service};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;

use super::error::ApiError;

pub fn router() -> Router<Service> {
    Router::new().route("/api/v1/stream", get(stream))
}

#[derive(Deserialize)]
struct Params {
    instance: Option<i64>,
    flow: Option<String>,
}

async fn stream(
    State(s): State<Service>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<Params>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let changes = s.follow(&caller, Follow { instance: p.instance, flow: p.flow })?;
    let events = changes.map(|pushed| {
        Ok(match pushed {
            Pushed::Changed(change) => Event::default().event("instance").data(serde_json::to_string(&*change).expect("changes serialise")),
            Pushed::Resync => Event::default().event("resync").data("{}"),
        })
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
