//! Security headers on every response: a strict Content-Security-Policy, and who may frame us.
//!
//! Only embeds (`/embed/...`) may be framed, and only by the origins the config names; every
//! other page refuses all framing, so a signed-in operator's screen cannot be clickjacked.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The policy minus framing. Scripts and the wasm module come only from this server; the inline
/// hydration bootstrap needs `'unsafe-inline'` until it carries a nonce; styles likewise for the
/// diagram's inline attributes. Nothing may be loaded from, or sent to, anywhere else.
const BASE_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'";

#[derive(Clone)]
pub struct Framing {
    embed_policy: Arc<HeaderValue>,
    page_policy: Arc<HeaderValue>,
}

impl Framing {
    /// `ancestors`: the checked `frame-ancestors` source list for embeds (`'none'` by default).
    pub fn new(ancestors: &str) -> Framing {
        let embed = format!("{BASE_POLICY}; frame-ancestors {ancestors}");
        let page = format!("{BASE_POLICY}; frame-ancestors 'none'");
        Framing {
            embed_policy: Arc::new(HeaderValue::from_str(&embed).expect("origins were checked at start")),
            page_policy: Arc::new(HeaderValue::from_str(&page).expect("a constant policy")),
        }
    }
}

pub async fn layer(State(framing): State<Framing>, req: Request, next: Next) -> Response {
    let embed = req.uri().path().starts_with("/embed/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if embed {
        h.insert(header::CONTENT_SECURITY_POLICY, (*framing.embed_policy).clone());
    } else {
        h.insert(header::CONTENT_SECURITY_POLICY, (*framing.page_policy).clone());
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Embed URLs carry their token: never leak it to other sites through Referer.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}
