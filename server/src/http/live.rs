//! `GET /api/v1/stream`: server-sent events, and `resync` when this connection fell behind and the
//! page should read again. What comes depends on what is followed:
//! - no parameter, or `?flow=ID`: `instance`, every change (of that flow) as it comes;
//! - `?instance=ID`: `instance`, that instance's changes (its page);
//! - `?view=list` with a list's filter parameters: `rows`, `{"rows": [...], "gone": [ids]}`, the
//!   rows of the filter's first page that moved and those that left it, one message per burst;
//! - `?view=totals[&flow=ID]`: `moved`, that the (flow's) figures changed, one message per burst.
//!
//! The stream ends when the server stops.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Extension, Router};
use flowlens_core::{Caller, ListParams};
use flowlens_service::{Error, Follow, Pushed, Service};
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
    view: Option<String>,
}

impl Params {
    fn follow(self, list: ListParams) -> Result<Follow, Error> {
        Ok(match (self.view.as_deref(), self.instance) {
            (None, Some(id)) => Follow::Instance(id),
            (None, None) => Follow::Changes { flow: self.flow },
            (Some("list"), _) => Follow::List(list),
            (Some("totals"), _) => Follow::Totals { flow: self.flow },
            (Some(other), _) => return Err(Error::Invalid(format!("unknown view `{other}`; expected list or totals"))),
        })
    }
}

async fn stream(
    State(s): State<Service>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<Params>,
    Query(list): Query<ListParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let changes = s.follow(&caller, p.follow(list)?).await?;
    let events = changes.map(|pushed| {
        Ok(match pushed {
            Pushed::Changed(change) => Event::default().event("instance").data(serde_json::to_string(&*change).expect("changes serialise")),
            Pushed::Rows(frame) => Event::default().event("rows").data(serde_json::to_string(&frame).expect("frames serialise")),
            Pushed::Moved => Event::default().event("moved").data("{}"),
            Pushed::Resync => Event::default().event("resync").data("{}"),
        })
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
