//! Security headers on every response: a strict Content-Security-Policy, who may frame us, and
//! no caching of what only a signed-in caller may see.
//!
//! Scripts run only from this server or inline with this response's nonce (the hydration
//! bootstrap and the resources streamed with the page carry it); an injected inline script has
//! none and does not run. Only embeds (`/embed/...`) may be framed, and only by the origins the
//! config names; every other page refuses all framing, so an operator's screen cannot be
//! clickjacked.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// How the page tells this layer its nonce: set by the app's shell while rendering, taken off
/// the response here, never sent.
pub const NONCE_HEADER: &str = "x-flowlens-script-nonce";

/// The policy minus scripts and framing. Styles may be inline: the diagram sets colours in
/// attributes. Nothing may be loaded from, or sent to, anywhere else.
const BASE_POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'";

#[derive(Clone)]
pub struct Framing {
    /// `frame-ancestors` for embeds: the configured origins, or `'none'`.
    embed_ancestors: Arc<str>,
}

impl Framing {
    /// `ancestors`: the checked `frame-ancestors` source list for embeds (`'none'` by default).
    pub fn new(ancestors: &str) -> Framing {
        Framing { embed_ancestors: ancestors.into() }
    }

    fn policy(&self, embed: bool, nonce: Option<&str>) -> String {
        let scripts = match nonce {
            Some(n) => format!("script-src 'self' 'nonce-{n}' 'wasm-unsafe-eval'"),
            None => "script-src 'self' 'wasm-unsafe-eval'".to_string(),
        };
        let ancestors = if embed { &*self.embed_ancestors } else { "'none'" };
        format!("{BASE_POLICY}; {scripts}; frame-ancestors {ancestors}")
    }
}

/// A nonce as the renderer makes them (URL-safe base64); anything else is not put in a header.
fn nonce_of(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    (!text.is_empty() && text.len() <= 64 && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')).then(|| text.to_string())
}

pub async fn layer(State(framing): State<Framing>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let embed = path.starts_with("/embed/");
    let static_file = path.starts_with("/pkg/") || path == "/favicon.svg";
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let nonce = h.remove(NONCE_HEADER).as_ref().and_then(nonce_of);
    let policy = HeaderValue::from_str(&framing.policy(embed, nonce.as_deref())).expect("origins were checked at start");
    h.insert(header::CONTENT_SECURITY_POLICY, policy);
    if !embed {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Embed URLs carry their token: never leak it to other sites through Referer. (Same-origin
    // requests keep theirs, so browsers send a real Origin with our own form posts.)
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // Pages and API answers are per caller and change by the second: no cache keeps them.
    if !static_file {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
