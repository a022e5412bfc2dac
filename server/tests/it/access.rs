//! Sign-in, roles, tokens, CSRF and framing, through HTTP against a real store.

use crate::support;

use std::net::SocketAddr;

use flowlens_service::digest;
use flowlens_core::{EmbedScope, Role};
use flowlens_store::now;
use serde_json::{json, Value};
use support::*;

/// An app with one bearer token per role and an embed link for the onboarding overview.
async fn app_with_tokens(db: Db, name: &str, origins: Vec<String>) -> SocketAddr {
    let mut s = settings(db, &scratch(name)).await;
    s.access.embed_origins = origins;
    let app = start(s).await;
    let store = app.store();
    for role in Role::ALL {
        store.create_token(role.as_str(), role, None, &digest(&format!("tok-{}", role.as_str())), "tests", now()).await.unwrap();
    }
    let scope = EmbedScope::Flow("onboarding".into());
    store.create_token("wiki", Role::Viewer, Some(&scope), &digest("tok-embed"), "tests", now()).await.unwrap();
    let addr = app.local_addr();
    tokio::spawn(app.run());
    addr
}

/// These tests render pages in-process, an app per test. Leptos apps rendering at the same time on
/// several tokio runtimes of one process were seen to leave a page unfinished now and then (never
/// with one runtime, as in production), so they take turns.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Each caller's credential as a header; the embed link's token too, as if it leaked and were
/// tried against the API (in its own URLs it travels in the query instead).
fn bearer(who: &str) -> Vec<(&'static str, String)> {
    match who {
        "anonymous" => vec![],
        other => vec![("Authorization", format!("Bearer tok-{other}"))],
    }
}

async fn status_as(addr: SocketAddr, who: &str, method: &str, path: &str, body: Option<&str>) -> u16 {
    let headers = bearer(who);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The embed token travels in the URL, as in an iframe.
    let path = if who == "embed" && (path.starts_with("/embed/") || path.starts_with("/api/v1/stream")) {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{path}{sep}token=tok-embed")
    } else {
        path.to_string()
    };
    let headers: Vec<(&str, &str)> = if path.contains("token=") { vec![] } else { headers };
    if path.starts_with("/api/v1/stream") {
        return head_status(addr, &path, &headers).await;
    }
    exchange(addr, method, &path, body.map(str::as_bytes), &headers).await.0
}

/// The status of a response that never ends (the live stream): read until the head is in.
async fn head_status(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n").as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 12];
    stream.read_exact(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[9..12]).parse().unwrap()
}

/// Every route times every kind of caller: anonymous, viewer, operator, admin, embed link.
async fn the_authorization_matrix(db: Db) {
    let _one_at_a_time = serial();
    let addr = app_with_tokens(db, "matrix", vec![]).await;
    let (_, r) = post(addr, &json!({"id": "m-0", "type": "RegistrationRequested", "key": "m-1"})).await;
    let id = r["instances"][0]["id"].as_i64().unwrap();
    let event = r#"{"id": "m-x", "type": "RegistrationRequested", "key": "m-2"}"#;
    let retry = format!("/api/v1/instances/{id}/retry");
    let cancel_missing = "/api/v1/instances/999999/cancel".to_string();
    let instance = format!("/api/v1/instances/{id}");
    let actions = format!("/api/v1/instances/{id}/actions");
    let embed_instance = format!("/embed/instances/{id}");
    let rows: Vec<(&str, &str, Option<&str>, [u16; 5])> = vec![
        //                                                      anonymous viewer operator admin embed
        ("GET", "/healthz", None, [200, 200, 200, 200, 200]),
        ("GET", "/readyz", None, [200, 200, 200, 200, 200]),
        ("GET", "/api/v1/status", None, [401, 200, 200, 200, 403]),
        ("GET", "/api/v1/instances", None, [401, 200, 200, 200, 403]),
        ("GET", &instance, None, [401, 200, 200, 200, 403]),
        ("GET", &actions, None, [401, 200, 200, 200, 403]),
        ("GET", "/api/v1/dead-letters", None, [401, 200, 200, 200, 403]),
        ("GET", "/api/v1/flows/customer-onboarding/overview?range=1h", None, [401, 200, 200, 200, 403]),
        ("GET", "/api/v1/flows/nothing/overview", None, [401, 404, 404, 404, 403]),
        ("GET", "/api/v1/flows/customer-onboarding/overview?range=soon", None, [401, 400, 400, 400, 403]),
        ("GET", "/api/v1/flows/customer-onboarding/bpmn", None, [401, 200, 200, 200, 403]),
        ("GET", "/api/v1/flows/nothing/bpmn", None, [401, 404, 404, 404, 403]),
        ("POST", "/api/v1/events", Some(event), [401, 403, 200, 200, 403]),
        // The operator may retry; this task has no retry command, which is a conflict, not a refusal.
        ("POST", &retry, Some(r#"{"node": "register"}"#), [401, 403, 409, 409, 403]),
        ("POST", &cancel_missing, None, [401, 403, 404, 404, 403]),
        ("GET", "/api/v1/tokens", None, [401, 403, 403, 200, 403]),
        ("POST", "/api/v1/tokens", Some(r#"{"name": "ci", "role": "viewer"}"#), [401, 403, 403, 201, 403]),
        ("DELETE", "/api/v1/tokens/999999", None, [401, 403, 403, 404, 403]),
        ("POST", "/api/v1/users", Some(r#"{"name": "zoe", "role": "viewer"}"#), [401, 403, 403, 201, 403]),
        ("GET", "/api/v1/stream?flow=onboarding", None, [401, 200, 200, 200, 200]),
        ("GET", "/api/v1/stream?flow=orders", None, [401, 200, 200, 200, 403]),
        // Pages: anonymous people are sent to sign in.
        ("GET", "/", None, [303, 200, 200, 200, 403]),
        ("GET", "/instances", None, [303, 200, 200, 200, 403]),
        ("GET", "/admin", None, [303, 403, 403, 200, 403]),
        ("GET", "/login", None, [200, 200, 200, 200, 200]),
        // Embeds open with their link token only, and a link opens only its own view.
        ("GET", "/embed/flows/onboarding", None, [401, 401, 401, 401, 200]),
        ("GET", "/embed/flows/orders", None, [401, 401, 401, 401, 403]),
        ("GET", &embed_instance, None, [401, 401, 401, 401, 403]),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &rows {
        for (who, want) in ["anonymous", "viewer", "operator", "admin", "embed"].iter().zip(expected) {
            // The admin's POST /users must not collide with an earlier run of the same row.
            let Ok(got) = tokio::time::timeout(std::time::Duration::from_secs(20), status_as(addr, who, method, path, *body)).await else {
                wrong.push(format!("{who} {method} {path}: no answer within 20 s"));
                continue;
            };
            if got != *want && !(path.ends_with("/users") && got == 409) {
                wrong.push(format!("{who} {method} {path}: {got}, expected {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A first start without a password writes a generated one to a private file; it signs in,
/// and the session cookie is HttpOnly and SameSite.
async fn first_start_creates_the_admin_and_sessions_are_safe_cookies(db: Db) {
    let _one_at_a_time = serial();
    let dir = scratch("first-start");
    let mut s = settings(db, &dir).await;
    s.access.admin_password = None;
    let file = s.access.admin_credential_file.clone();
    let app = start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    let text = std::fs::read_to_string(&file).expect("the credential file is written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "only the owner may read it");
    }
    let password = text.lines().find_map(|l| l.strip_prefix("password: ")).expect("a password line").to_string();
    let form = |p: &str| format!("name=admin&password={}&next=%2Finstances", p);
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];

    let (status, head, _) = exchange(addr, "POST", "/auth/login", Some(form("wrong-password").as_bytes()), &headers).await;
    assert_eq!(status, 303);
    assert!(head.contains("location: /login?error="), "{head}");
    assert!(!head.to_lowercase().contains("set-cookie"), "no session for a wrong password");

    let (status, head, _) = exchange(addr, "POST", "/auth/login", Some(form(&password).as_bytes()), &headers).await;
    assert_eq!(status, 303);
    assert!(head.contains("location: /instances"), "{head}");
    let cookie_line = head.lines().find(|l| l.to_lowercase().starts_with("set-cookie:")).expect("a session cookie");
    assert!(cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"), "{cookie_line}");
    let cookie = cookie_line.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_string();

    // Signed in: pages render; the API reads.
    let as_person = [("Cookie", cookie.as_str())];
    assert_eq!(exchange(addr, "GET", "/instances", None, &as_person).await.0, 200);
    assert_eq!(exchange(addr, "GET", "/api/v1/instances", None, &as_person).await.0, 200);

    // A state change with the cookie alone is refused: it needs the page's CSRF token, and a
    // cross-site origin is refused outright.
    let new_token = br#"{"name": "x", "role": "viewer"}"#;
    let (status, _, body) = exchange(addr, "POST", "/api/v1/tokens", Some(new_token), &as_person).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("CSRF"), "{body}");
    let (_, _, me) = exchange(addr, "POST", "/api/whoami", Some(b""), &[("Cookie", cookie.as_str()), ("Content-Type", "application/x-www-form-urlencoded")]).await;
    let me: Value = serde_json::from_str(&me).unwrap_or_else(|_| panic!("whoami answers JSON: {me}"));
    assert_eq!(me["role"], "admin");
    let csrf = me["csrf"].as_str().unwrap().to_string();
    let with_csrf = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
    assert_eq!(exchange(addr, "POST", "/api/v1/tokens", Some(new_token), &with_csrf).await.0, 201);
    let evil = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str()), ("Origin", "http://evil.example")];
    let (status, _, body) = exchange(addr, "POST", "/api/v1/tokens", Some(new_token), &evil).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("cross-site"), "{body}");

    // Signing out ends the session.
    let out = format!("csrf={csrf}");
    let sign_out = [("Cookie", cookie.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(exchange(addr, "POST", "/auth/logout", Some(out.as_bytes()), &sign_out).await.0, 303);
    assert_eq!(exchange(addr, "GET", "/api/v1/instances", None, &as_person).await.0, 401);
}

/// Only embeds may be framed, and only by the configured origins; a revoked link stops working.
async fn framing_follows_the_config_and_revoked_links_stop(db: Db) {
    let _one_at_a_time = serial();
    let addr = app_with_tokens(db, "framing", vec!["https://wiki.example.com".into()]).await;
    let (_, head, _) = exchange(addr, "GET", "/embed/flows/onboarding?token=tok-embed", None, &[]).await;
    let csp = head.lines().find(|l| l.to_lowercase().starts_with("content-security-policy:")).expect("a CSP").to_string();
    assert!(csp.contains("frame-ancestors https://wiki.example.com"), "{csp}");
    assert!(!head.to_lowercase().contains("x-frame-options"), "{head}");
    let (_, head, _) = exchange(addr, "GET", "/instances", None, &[("Authorization", "Bearer tok-viewer")]).await;
    assert!(head.contains("frame-ancestors 'none'"), "{head}");
    assert!(head.to_lowercase().contains("x-frame-options: deny"), "{head}");

    // The admin lists tokens (without their values) and revokes the embed link.
    let (_, list) = get(addr, "/api/v1/tokens").await;
    let wiki = list.as_array().unwrap().iter().find(|t| t["name"] == "wiki").expect("the embed token is listed").clone();
    assert_eq!(wiki["scope"], "flow:onboarding");
    assert!(!list.to_string().contains("tok-embed"), "token values are never listed");
    let (status, _) = call(addr, "DELETE", &format!("/api/v1/tokens/{}", wiki["id"]), None).await;
    assert_eq!(status, 204);
    assert_eq!(exchange(addr, "GET", "/embed/flows/onboarding?token=tok-embed", None, &[]).await.0, 401);
}

/// Bad input to the access endpoints gets a 4xx that says why.
async fn bad_access_requests_say_why(db: Db) {
    let _one_at_a_time = serial();
    let addr = app_with_tokens(db, "bad-access", vec![]).await;
    let cases: [(&str, &[u8], &str); 4] = [
        ("/api/v1/tokens", br#"{"name": "x"}"#, "either `role`"),
        ("/api/v1/tokens", br#"{"name": "x", "embed": "page:1"}"#, "not an embed scope"),
        ("/api/v1/users", br#"{"name": "y", "role": "root"}"#, "unknown role"),
        ("/api/v1/users", br#"{"name": "y", "role": "viewer", "password": "short"}"#, "at least 12"),
    ];
    for (path, body, says) in cases {
        let (status, text) = call(addr, "POST", path, Some(body)).await;
        assert_eq!(status, 400, "{path} {text}");
        assert!(text.contains(says), "{path}: {text}");
    }
    let (status, _, text) = exchange(addr, "GET", "/api/v1/instances", None, &[("Authorization", "Bearer nope")]).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("unknown or revoked"), "{text}");
}

on_both_stores!(
    the_authorization_matrix,
    first_start_creates_the_admin_and_sessions_are_safe_cookies,
    framing_follows_the_config_and_revoked_links_stop,
    bad_access_requests_say_why,
);
