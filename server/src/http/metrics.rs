//! `/metrics` for Prometheus, and the layer that times every request by its route (and gives it
//! a span for the logs). Who may read the metrics is decided in front of every route (see
//! `auth::MetricsAccess`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use flowlens_service::{Service, OPENMETRICS_TEXT, PROMETHEUS_TEXT};
use tracing::Instrument;

pub fn router() -> Router<Service> {
    Router::new().route("/metrics", get(scrape))
}

/// Prometheus's text format, or OpenMetrics when the scraper asks for it first.
async fn scrape(State(s): State<Service>, headers: HeaderMap) -> Response {
    let openmetrics = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/openmetrics-text"));
    let body = s.scrape(openmetrics).await;
    let kind = if openmetrics { OPENMETRICS_TEXT } else { PROMETHEUS_TEXT };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

/// Times each request until its response's head, labelled by the route's template, so
/// `/api/v1/instances/7` and `/api/v1/instances/8` are one series (`/api/v1/instances/:id`). Methods and paths that no
/// route knows fold into fixed words: a stranger cannot grow the metrics by inventing them.
pub async fn timed(State(s): State<Service>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = match *req.method() {
        Method::GET | Method::HEAD | Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::OPTIONS => req.method().as_str().to_string(),
        _ => "other".to_string(),
    };
    let route = match req.extensions().get::<MatchedPath>() {
        Some(p) => colon_params(p.as_str()),
        // The site's files are served by the fallback.
        None if req.uri().path().starts_with("/pkg/") => "/pkg/:file".to_string(),
        None => "unmatched".to_string(),
    };
    // A span per request, so what a handler logs says which request it served (in JSON logs,
    // the span and its fields ride along with every line).
    let span = tracing::info_span!("request", method = %method, route = %route);
    let response = next.run(req).instrument(span).await;
    s.metrics().request(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// A route template with its parameters written `:id` rather than `{id}`: braces are a
/// quantifier in PromQL's regular expressions (`route=~"/api/v1/instances/{id}.*"` would not
/// mean what it says), and some text-format readers stop at a brace inside a label.
fn colon_params(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    for part in template.split_inclusive('/') {
        match part.strip_prefix('{').map(|p| p.trim_end_matches('/')).and_then(|p| p.strip_suffix('}')) {
            Some(name) => {
                out.push(':');
                out.push_str(name.trim_start_matches('*'));
                if part.ends_with('/') {
                    out.push('/');
                }
            }
            None => out.push_str(part),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn route_parameters_are_written_with_a_colon() {
        assert_eq!(super::colon_params("/api/v1/instances/{id}/retry"), "/api/v1/instances/:id/retry");
        assert_eq!(super::colon_params("/api/v1/flows/{id}"), "/api/v1/flows/:id");
        assert_eq!(super::colon_params("/pkg/{*path}"), "/pkg/:path");
        assert_eq!(super::colon_params("/metrics"), "/metrics");
        assert_eq!(super::colon_params("/"), "/");
    }
}
