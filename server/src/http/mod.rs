//! HTTP in: the API under /api/v1 grouped by feature (each module exposes its `router()`), the
//! sign-in routes, health checks, the pages, and the layers in front of them all. Handlers only
//! parse, call the service, and map its answer.

pub mod assets;
pub mod auth;
mod dead_letters;
pub mod error;
mod events;
mod flows;
mod health;
pub mod headers;
mod instances;
mod live;
pub mod metrics;
mod tokens;

use axum::Router;
use flowlens_service::Service;

/// Every API route, health check and sign-in route (the pages are added by start-up).
pub fn router(service: Service, auth: auth::Auth) -> Router {
    Router::new()
        .merge(events::router())
        .merge(instances::router())
        .merge(flows::router())
        .merge(dead_letters::router())
        .merge(live::router())
        .merge(tokens::router())
        .merge(health::router())
        .merge(metrics::router())
        .with_state(service)
        .merge(auth::router(auth))
}
