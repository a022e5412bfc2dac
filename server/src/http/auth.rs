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
}

impl Auth {
    pub fn new(service: Service, demo_auto_sign_in: bool, secure_cookies: bool) -> Auth {
        Auth { service, demo_csrf: demo_auto_sign_in.then(|| random_secret().into()), secure_cookies }
    }

    /// Who sends this request: a bearer token, an embed link token (only to read embeds and the
    /// live stream), a session cookie, or the demo's automatic sign-in, in that order.
    async fn identify(&self, head: Head) -> Result<Caller, Error> {
        let headers = &head.headers;
        if let Some(auth) = headers.get(header::AUTHORIZATION) {
            let token = auth.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
            return self.service.bearer_caller(token).await;
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
            if head.peer.is_some_and(|ip| ip.is_loopback()) {
                let who = Principal { name: "demo".into(), role: Role::Admin, credential: Credential::Demo };
                return Ok(Caller { who: Some(who), csrf: Some(csrf.to_string()), presented: None });
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
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
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
    /// `/embed/...`: only with its link token.
    Embed,
    /// A screen: a signed-in viewer, or off to the sign-in page.
    Page,
    /// The API, server functions, sign-in itself: their handlers check.
    Other,
}

impl PathKind {
    fn of(path: &str) -> PathKind {
        let asset = path.starts_with("/pkg/")
            || matches!(path, "/healthz" | "/readyz" | "/metrics")
            || [".svg", ".css", ".png", ".ico"].iter().any(|ext| path.ends_with(ext));
        if asset {
            PathKind::Asset
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
    let presented = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_string);
    let caller = match auth.identify(head).await {
        Ok(caller) => caller.presenting(presented),
        Err(e) => return ApiError(e).into_response(),
    };
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes && caller.who.as_ref().is_some_and(flowlens_core::access::needs_csrf) && cross_site(req.headers()) {
        return ApiError(Error::Forbidden("cross-site request refused".into())).into_response();
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

/// Only paths of this site; anything else (`//evil`, `https://…`) goes home.
fn local_path(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") { next } else { "/" }
}

async fn sign_in(State(auth): State<Auth>, Form(form): Form<SignIn>) -> Result<Response, ApiError> {
    let next = local_path(&form.next).to_string();
    let Some(session) = auth.service.sign_in(&form.name, &form.password).await? else {
        let query = serde_urlencoded::to_string([("error", "Wrong name or password."), ("next", next.as_str())]).unwrap_or_default();
        return Ok(Redirect::to(&format!("/login?{query}")).into_response());
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
