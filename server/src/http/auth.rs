//! Who is calling: the layer in front of every route reads the credential a request carries
//! (bearer token, embed link token, session cookie, or the local demo's automatic sign-in), asks
//! the service who that is, and puts the `Caller` on the request; plus the sign-in routes.
//! Which request needs which role is decided by the core's rule, applied by the service.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use flowlens_core::{Caller, Credential, EmbedScope, Need, Principal, Refusal, Role};
use flowlens_service::{random_secret, Error, Service};
use serde::Deserialize;

use super::error::ApiError;

pub const SESSION_COOKIE: &str = "flowlens_session";

/// Everything the authentication layer needs, shared by all requests.
#[derive(Clone)]
pub struct Auth {
    service: Service,
    /// Set when the local demo signs people in automatically: the CSRF token of that sign-in.
    demo_csrf: Option<Arc<str>>,
    /// Send cookies with `Secure` (behind HTTPS).
    secure_cookies: bool,
    /// The port this server listens on: the demo's automatic sign-in answers only requests whose
    /// Host names this machine on it (a page on another name resolving to 127.0.0.1, DNS
    /// rebinding, gets nothing).
    port: u16,
    metrics: MetricsAccess,
}

/// Who may read `/metrics` without signing in: a scraper sending the metrics token, and, if
/// allowed, one on this machine. Anyone else needs what reading the dashboard needs (a session
/// or an API token).
#[derive(Clone, Debug, Default)]
pub struct MetricsAccess {
    /// The token's digest, when one is configured.
    token: Option<String>,
    loopback: bool,
}

impl MetricsAccess {
    pub fn new(token: Option<&str>, loopback: bool) -> MetricsAccess {
        MetricsAccess { token: token.filter(|t| !t.is_empty()).map(flowlens_service::digest), loopback }
    }

    /// Whether this request may scrape without signing in. A request relayed by a proxy (it says
    /// whom it forwards) is not a local one, even though it arrives over loopback.
    fn admits(&self, headers: &HeaderMap, peer: Option<std::net::IpAddr>) -> bool {
        let presented = bearer(headers).map(flowlens_service::digest);
        if self.token.is_some() && presented == self.token {
            return true;
        }
        let relayed = headers.contains_key("forwarded") || headers.contains_key("x-forwarded-for");
        self.loopback && !relayed && peer.is_some_and(|ip| ip.is_loopback())
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

impl Auth {
    pub fn new(service: Service, demo_auto_sign_in: bool, secure_cookies: bool, port: u16, metrics: MetricsAccess) -> Auth {
        Auth { service, demo_csrf: demo_auto_sign_in.then(|| random_secret().into()), secure_cookies, port, metrics }
    }

    /// Whether the request's Host is this machine's loopback name on our port.
    fn local_host(&self, headers: &HeaderMap) -> bool {
        let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return false };
        let port = self.port.to_string();
        ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| host.strip_prefix(name).and_then(|p| p.strip_prefix(':')) == Some(port.as_str()))
    }

    /// Who sends this request: a bearer token, an embed link token (only to read embeds and the
    /// live stream), a session cookie, or the demo's automatic sign-in, in that order.
    async fn identify(&self, head: Head) -> Result<Caller, Error> {
        let headers = &head.headers;
        if headers.contains_key(header::AUTHORIZATION) {
            return self.service.bearer_caller(bearer(headers).unwrap_or_default()).await;
        }
        let path = head.uri.path();
        if head.method == Method::GET && (path.starts_with("/embed/") || path == "/api/v1/stream") {
            if let Some(token) = query_token(head.uri.query()) {
                return self.service.embed_caller(&token).await;
            }
        }
        if let Some(cookie) = cookie(headers, SESSION_COOKIE) {
            if let Some(caller) = self.service.session_caller(cookie).await? {
                return Ok(caller);
            }
        }
        if let Some(csrf) = &self.demo_csrf {
            if head.peer.is_some_and(|ip| ip.is_loopback()) && self.local_host(headers) {
                let who = Principal { name: "demo".into(), role: Role::Admin, credential: Credential::Demo };
                return Ok(Caller { who: Some(who), csrf: Some(csrf.to_string()), ..Caller::default() });
            }
        }
        Ok(Caller::default())
    }

    fn session_cookie(&self, value: &str, max_age: i64) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
    }
}

/// What identifying a request reads of it (a request body cannot be held across an await).
struct Head {
    headers: HeaderMap,
    method: Method,
    uri: axum::http::Uri,
    peer: Option<std::net::IpAddr>,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn query_token(query: Option<&str>) -> Option<String> {
    #[derive(Deserialize)]
    struct T {
        token: Option<String>,
    }
    query.and_then(|q| serde_urlencoded::from_str::<T>(q).ok()).and_then(|t| t.token)
}

/// A state change from a browser must come from our own origin: browsers always say where a
/// cross-site request comes from, so this stops CSRF even before the token is checked.
fn cross_site(headers: &HeaderMap) -> bool {
    // `Origin: null` (a page whose policy hides its origin) tells nothing: go by Sec-Fetch-Site.
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| *o != "null");
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, rest)| rest) != Some(host),
        (Some(_), None) => true,
        (None, _) => headers.get("sec-fetch-site").is_some_and(|v| v != "same-origin" && v != "none"),
    }
}

/// What a path is, as far as signing in goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PathKind {
    /// Static files and health checks: open, and no caller to find.
    Asset,
    /// `/metrics`: the metrics token, loopback if allowed, or a reader.
    Metrics,
    /// `/embed/...`: only with its link token.
    Embed,
    /// A screen: a signed-in viewer, or off to the sign-in page.
    Page,
    /// The API, server functions, sign-in itself: their handlers check.
    Other,
}

impl PathKind {
    fn of(path: &str) -> PathKind {
        // By exact place, never by suffix: `/api/v1/instances/1.css` is the API, not a file.
        let asset = (path.starts_with("/pkg/") && !path.contains(".."))
            || matches!(path, "/healthz" | "/readyz" | "/favicon.svg");
        if asset {
            PathKind::Asset
        } else if path == "/metrics" {
            PathKind::Metrics
        } else if path.starts_with("/embed/") {
            PathKind::Embed
        } else if path.starts_with("/api/") || path.starts_with("/auth/") || path == "/login" {
            PathKind::Other
        } else {
            PathKind::Page
        }
    }
}

/// The layer in front of everything: finds the caller, refuses cross-site state changes, sends
/// anonymous people to the sign-in page, and checks embed links.
pub async fn layer(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let kind = PathKind::of(&path);
    if kind == PathKind::Asset {
        return next.run(req).await;
    }
    let head = Head {
        headers: req.headers().clone(),
        method: req.method().clone(),
        uri: req.uri().clone(),
        peer: req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
    };
    if kind == PathKind::Metrics && auth.metrics.admits(&head.headers, head.peer) {
        return next.run(req).await;
    }
    let presented = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_string);
    let caller = match auth.identify(head).await {
        Ok(caller) => caller.presenting(presented),
        Err(e) => return ApiError(e).into_response(),
    };
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // Signing in and out are refused cross-site whoever calls: another site must not sign a
    // visitor's browser into its own account (login CSRF).
    let guarded = caller.who.as_ref().is_some_and(flowlens_core::access::needs_csrf) || path.starts_with("/auth/");
    if changes && guarded && cross_site(req.headers()) {
        return ApiError(Error::Forbidden("cross-site request refused".into())).into_response();
    }
    if caller.who.is_none() && path.starts_with("/api/v1/") {
        // The whole API is for known callers: refuse here, before any handler reads the request.
        return ApiError(Error::SignIn("sign in, or send a bearer token".into())).into_response();
    }
    if kind == PathKind::Metrics {
        match flowlens_core::authorize(caller.who.as_ref(), &Need::Read) {
            Ok(()) => {}
            Err(Refusal::SignIn) => {
                return ApiError(Error::SignIn("send the metrics token (Authorization: Bearer …), or sign in".into())).into_response()
            }
            Err(Refusal::Forbidden(m)) => return ApiError(Error::Forbidden(m)).into_response(),
        }
    }
    if req.method() == Method::GET && kind == PathKind::Embed {
        // An embed opens with its link token only, whoever is signed in: it is what the wiki has.
        let linked = caller.who.as_ref().is_some_and(|w| matches!(w.credential, Credential::Embed(_)));
        let refused = match embed_target(&path) {
            _ if !linked => Some(Refusal::SignIn),
            Some(scope) => flowlens_core::authorize(caller.who.as_ref(), &Need::ReadEmbed(scope)).err(),
            None => Some(Refusal::Forbidden("no such embed".into())),
        };
        match refused {
            None => {}
            Some(Refusal::SignIn) => return ApiError(Error::SignIn("this embed link has no token".into())).into_response(),
            Some(Refusal::Forbidden(m)) => return ApiError(Error::Forbidden(m)).into_response(),
        }
    } else if req.method() == Method::GET && kind == PathKind::Page {
        match flowlens_core::authorize(caller.who.as_ref(), &Need::Read) {
            Ok(()) => {}
            Err(Refusal::SignIn) => {
                let back = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let next = serde_urlencoded::to_string([("next", back)]).unwrap_or_default();
                return Redirect::to(&format!("/login?{next}")).into_response();
            }
            Err(Refusal::Forbidden(m)) => return ApiError(Error::Forbidden(m)).into_response(),
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// What an embed path shows: `/embed/flows/ID` or `/embed/instances/ID`.
pub fn embed_target(path: &str) -> Option<EmbedScope> {
    let rest = path.strip_prefix("/embed/")?;
    match rest.split_once('/')? {
        ("flows", id) if !id.is_empty() && !id.contains('/') => Some(EmbedScope::Flow(id.to_string())),
        ("instances", id) => id.parse().ok().map(EmbedScope::Instance),
        _ => None,
    }
}

pub fn router(auth: Auth) -> Router {
    Router::new().route("/auth/login", post(sign_in)).route("/auth/logout", post(sign_out)).with_state(auth)
}

#[derive(Deserialize)]
struct SignIn {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// Only a path of this site, of safe characters; anything else (`//evil`, `https://…`, a tab or
/// newline that a browser would drop, a backslash it would read as a slash) goes home.
fn local_path(next: &str) -> &str {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/-._~?=&%+:".contains(c);
    let local = next.starts_with('/') && !next.starts_with("//") && next.len() <= 2048 && next.chars().all(safe);
    if local { next } else { "/" }
}

async fn sign_in(State(auth): State<Auth>, ConnectInfo(peer): ConnectInfo<SocketAddr>, Form(form): Form<SignIn>) -> Result<Response, ApiError> {
    let next = local_path(&form.next).to_string();
    let back = |error: &str| {
        let query = serde_urlencoded::to_string([("error", error), ("next", next.as_str())]).unwrap_or_default();
        Redirect::to(&format!("/login?{query}"))
    };
    let session = match auth.service.sign_in(&form.name, &form.password, Some(peer.ip())).await {
        Ok(Some(session)) => session,
        Ok(None) => return Ok(back("Wrong name or password.").into_response()),
        // Throttled: back to the form, which says how long to wait (and so does Retry-After).
        Err(Error::TooMany { message, retry_after_secs }) => {
            return Ok(([(header::RETRY_AFTER, retry_after_secs.to_string())], back(&message)).into_response())
        }
        Err(e) => return Err(e.into()),
    };
    let cookie = auth.session_cookie(&session.cookie, session.max_age_secs);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

#[derive(Deserialize)]
struct SignOut {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(State(auth): State<Auth>, headers: HeaderMap, Form(form): Form<SignOut>) -> Result<Response, ApiError> {
    if let Some(value) = cookie(&headers, SESSION_COOKIE) {
        auth.service.sign_out(value, &form.csrf).await?;
    }
    Ok(([(header::SET_COOKIE, auth.session_cookie("", 0))], Redirect::to("/login")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_local_path_of_safe_characters() {
        for ok in ["/", "/instances?status=running&sort=due", "/instances/42", "/embed/flows/customer-onboarding"] {
            assert_eq!(local_path(ok), ok);
        }
        for bad in ["//evil.example", "/\\evil.example", "/\t/evil.example", "/\n/x", "https://evil.example", "evil", "/a b", "/\u{202e}x", ""] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn assets_are_known_places_not_suffixes() {
        assert!(PathKind::of("/pkg/flowlens.wasm") == PathKind::Asset);
        assert!(PathKind::of("/favicon.svg") == PathKind::Asset);
        for path in ["/api/v1/instances/1.css", "/instances.png", "/x.ico", "/pkg/../api/v1/status"] {
            assert!(PathKind::of(path) != PathKind::Asset, "{path}");
        }
    }
}
