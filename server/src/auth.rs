//! Sign-in, sessions, tokens, and the layer that tells every handler who is calling.
//!
//! People sign in with a name and password (argon2) and get a session cookie (HttpOnly,
//! SameSite=Strict); machines send `Authorization: Bearer`; wiki pages open embeds with a
//! read-only link token in the URL. The store keeps only SHA-256 digests of cookies and tokens.
//! Which request needs which role is decided by the core's `authorize`; here it is only applied.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use base64::Engine;
use flowlens_core::{Caller, Credential, EmbedScope, Millis, Need, Principal, Refusal, Role};
use flowlens_store::{now, Store, StoreError};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "flowlens_session";
const SESSION_DAYS: i64 = 7;

/// A fresh unguessable value: 32 random bytes, URL-safe text.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS has a random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a cookie or token: its SHA-256. These are long random values, so a
/// fast hash is enough (unlike passwords).
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Hashes off the async threads: argon2 takes tens of milliseconds by design.
pub async fn hash_password_blocking(password: String) -> String {
    tokio::task::spawn_blocking(move || hash_password(&password)).await.expect("hashing does not panic")
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters hashes").to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Everything the authentication layer needs, shared by all requests.
#[derive(Clone)]
pub struct Auth {
    store: Store,
    /// Set when the local demo signs people in automatically: the CSRF token of that sign-in.
    demo_csrf: Option<Arc<str>>,
    /// Send cookies with `Secure` (behind HTTPS).
    secure_cookies: bool,
}

impl Auth {
    pub fn new(store: Store, demo_auto_sign_in: bool, secure_cookies: bool) -> Auth {
        Auth { store, demo_csrf: demo_auto_sign_in.then(|| random_secret().into()), secure_cookies }
    }

    /// An embed link token, checked; `None` if it is unknown, revoked, or not an embed token.
    pub async fn embed_token(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        Ok(self.store.token(&digest(token)).await?.filter(|p| matches!(p.credential, Credential::Embed(_))))
    }

    /// Who sends this request: a bearer token, an embed link token (only to read embeds and the
    /// live stream), a session cookie, or the demo's automatic sign-in, in that order.
    async fn identify(&self, head: Head) -> Result<Caller, ApiError> {
        let headers = &head.headers;
        if let Some(auth) = headers.get(header::AUTHORIZATION) {
            let token = auth.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default();
            // A wrong token is an error, not anonymity: the machine should learn its token is bad.
            return match self.store.token(&digest(token)).await? {
                Some(who) if !token.is_empty() => Ok(Caller { who: Some(who), csrf: None }),
                _ => Err(ApiError::Unauthorized("unknown or revoked bearer token".into())),
            };
        }
        let path = head.uri.path();
        if head.method == Method::GET && (path.starts_with("/embed/") || path == "/api/v1/stream") {
            if let Some(token) = query_token(head.uri.query()) {
                return match self.embed_token(&token).await? {
                    Some(who) => Ok(Caller { who: Some(who), csrf: None }),
                    None => Err(ApiError::Unauthorized("this embed link was revoked or never existed".into())),
                };
            }
        }
        if let Some(cookie) = cookie(headers, SESSION_COOKIE) {
            if let Some((who, csrf)) = self.store.session(&digest(cookie), now()).await? {
                return Ok(Caller { who: Some(who), csrf: Some(csrf) });
            }
        }
        if let Some(csrf) = &self.demo_csrf {
            if head.peer.is_some_and(|ip| ip.is_loopback()) {
                let who = Principal { name: "demo".into(), role: Role::Admin, credential: Credential::Demo };
                return Ok(Caller { who: Some(who), csrf: Some(csrf.to_string()) });
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
    let caller = match auth.identify(head).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes && caller.who.as_ref().is_some_and(flowlens_core::access::needs_csrf) && cross_site(req.headers()) {
        return ApiError::Forbidden("cross-site request refused".into()).into_response();
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
            Some(Refusal::SignIn) => return ApiError::Unauthorized("this embed link has no token".into()).into_response(),
            Some(Refusal::Forbidden(m)) => return ApiError::Forbidden(m).into_response(),
        }
    } else if req.method() == Method::GET && kind == PathKind::Page {
        match flowlens_core::authorize(caller.who.as_ref(), &Need::Read) {
            Ok(()) => {}
            Err(Refusal::SignIn) => {
                let back = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let next = serde_urlencoded::to_string([("next", back)]).unwrap_or_default();
                return Redirect::to(&format!("/login?{next}")).into_response();
            }
            Err(Refusal::Forbidden(m)) => return ApiError::Forbidden(m).into_response(),
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

fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::SignIn => ApiError::Unauthorized("sign in, or send a bearer token".into()),
        Refusal::Forbidden(m) => ApiError::Forbidden(m),
    }
}

/// Applies the rule to a read, as an API error.
pub fn allow<'a>(caller: &'a Caller, need: &Need) -> Result<&'a Principal, ApiError> {
    caller.allow(need).map_err(refusal)
}

/// Applies the rule to a state change: a browser's must carry `X-CSRF-Token`.
pub fn allow_change<'a>(caller: &'a Caller, need: &Need, headers: &HeaderMap) -> Result<&'a Principal, ApiError> {
    let csrf = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    caller.allow_change(need, csrf).map_err(refusal)
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
    let user = auth.store.user(form.name.trim()).await?;
    // Verify against a dummy hash when the user is unknown, so timing does not tell names apart.
    let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| DUMMY_HASH.clone());
    let password = form.password.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await.unwrap_or(false);
    let next = local_path(&form.next).to_string();
    let Some(user) = user.filter(|_| ok) else {
        let query = serde_urlencoded::to_string([("error", "Wrong name or password."), ("next", next.as_str())]).unwrap_or_default();
        return Ok(Redirect::to(&format!("/login?{query}")).into_response());
    };
    let session = random_secret();
    let t = now();
    let expires = Millis(t.0 + SESSION_DAYS * 86_400_000);
    auth.store.create_session(&digest(&session), user.id, &random_secret(), t, expires).await?;
    tracing::info!(user = %user.name, "signed in");
    let cookie = auth.session_cookie(&session, SESSION_DAYS * 86_400);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

#[derive(Deserialize)]
struct SignOut {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(State(auth): State<Auth>, headers: HeaderMap, Form(form): Form<SignOut>) -> Result<Response, ApiError> {
    if let Some(value) = cookie(&headers, SESSION_COOKIE) {
        let hash = digest(value);
        // Only our own page may sign someone out: it knows the session's CSRF token.
        if let Some((_, csrf)) = auth.store.session(&hash, now()).await? {
            if csrf != form.csrf {
                return Err(ApiError::Forbidden("the request lacks this page's CSRF token".into()));
            }
        }
        auth.store.end_session(&hash).await?;
    }
    Ok(([(header::SET_COOKIE, auth.session_cookie("", 0))], Redirect::to("/login")).into_response())
}

static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| hash_password("flowlens-dummy-password"));

/// On first start there is nobody to sign in as: creates `admin` with the given password, or a
/// random one written to `credential_file` (readable by the owner only). Returns what to tell.
pub async fn bootstrap(store: &Store, password: Option<&str>, credential_file: &Path) -> Result<Option<String>, BootstrapError> {
    if store.user_count().await? > 0 {
        return Ok(None);
    }
    let (password, told) = match password {
        Some(p) => (p.to_string(), "its password is the one in FLOWLENS_ADMIN_PASSWORD".to_string()),
        None => {
            let p = random_secret();
            write_private(credential_file, &format!("name: admin\npassword: {p}\n"))
                .map_err(|e| BootstrapError::File(credential_file.to_path_buf(), e))?;
            (p, format!("its password is in {}", credential_file.display()))
        }
    };
    let hash = hash_password_blocking(password).await;
    store.create_user("admin", Role::Admin, &hash, now()).await?;
    Ok(Some(format!("First start: created the user `admin` (role admin); {told}. Sign in at /login.")))
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot write the admin credential to {0}: {1}")]
    File(PathBuf, std::io::Error),
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(text.as_bytes())
}
