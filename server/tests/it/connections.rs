//! Connections to the infrastructure companies run: PostgreSQL over TLS (a private server with
//! `ssl = on` that takes TLS connections only, a certificate made for the test), as libpq users
//! write the URL (`sslmode`, `sslrootcert`); SLA alerts to an HTTPS webhook (a real TLS
//! terminator in front of the test's receiver), as a chat message, with a secret header.

use crate::support;

use std::process::Command;

use support::postgres::Postgres;
use support::tls::Certs;

fn migrate(url: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flowlens")).args(["migrate", "--database-url", url]).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn postgres_over_tls_as_libpq_users_write_it() {
    let dir = support::scratch("postgres-tls");
    // The certificate names `localhost` only: 127.0.0.1 is a wrong host name for verify-full.
    let certs = Certs::new(&dir.join("certs"), &["localhost"]);
    let pg = Postgres::start_tls(&certs.cert, &certs.key);
    let at = |host: &str, query: &str| format!("postgres://postgres@{host}:{}/postgres?{query}", pg.port);
    let ca = certs.ca.display().to_string();

    let (ok, said) = migrate(&at("127.0.0.1", "sslmode=disable"));
    assert!(!ok, "the server takes TLS connections only, so this proves the others use TLS: {said}");

    let (ok, said) = migrate(&at("127.0.0.1", "sslmode=require"));
    assert!(ok && said.contains("ran "), "require: encrypted, the certificate not checked: {said}");

    let (ok, said) = migrate(&at("localhost", &format!("sslmode=verify-full&sslrootcert={ca}")));
    assert!(ok && said.contains("up to date"), "verify-full with the right CA and host name: {said}");

    let (ok, said) = migrate(&at("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}")));
    assert!(!ok, "verify-full against a name the certificate does not carry is refused: {said}");
    assert!(said.to_lowercase().contains("certificate"), "and says it is about the certificate: {said}");

    let other = certs.other_ca.display().to_string();
    let (ok, said) = migrate(&at("localhost", &format!("sslmode=verify-full&sslrootcert={other}")));
    assert!(!ok && said.to_lowercase().contains("certificate"), "a CA that did not sign it: {said}");

    // A server started on it works as on any PostgreSQL.
    let flows = support::repo().join("flows").display().to_string();
    let (mut server, addr) = support::serve_binary(&["--flows", &flows, "--database-url", &at("localhost", &format!("sslmode=verify-full&sslrootcert={ca}"))]);
    let (status, _) = support::get(addr, "/readyz").await;
    let _ = server.kill();
    assert_eq!(status, 200);
}

/// A plain HTTP receiver that keeps every request and answers 200.
async fn receiver() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = hook.local_addr().unwrap().port();
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = received.clone();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = hook.accept().await.unwrap();
            let mut buf = vec![0u8; 16384];
            let mut got = Vec::new();
            // Head and body may come in pieces through the terminator: read to the full length.
            loop {
                let n = conn.read(&mut buf).await.unwrap_or(0);
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                let complete = text.split_once("\r\n\r\n").is_some_and(|(head, body)| {
                    let length = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)));
                    body.len() >= length.unwrap_or(0)
                });
                if n == 0 || complete {
                    break;
                }
            }
            seen.lock().unwrap().push(String::from_utf8_lossy(&got).to_string());
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        }
    });
    (port, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_alerts_go_to_an_https_webhook_as_chat_messages_with_their_secret_header() {
    let dir = support::scratch("https-alert");
    let certs = Certs::new(&dir.join("certs"), &["localhost"]);
    let (plain, received) = receiver().await;
    let tls = support::tls::Terminator::start(&certs, &format!("127.0.0.1:{plain}")).await;
    let port = tls.address.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}/hooks/T1");

    let hooked = support::onboarding().replace("instance = \"4h\"", &format!("instance = \"1s\"\nwebhook = \"{url}\"\nwebhook_format = \"chat\""));
    let flows = support::flows_dir(&dir, &[("onboarding.toml", &hooked)]);
    let headers = dir.join("alert-headers");
    std::fs::write(&headers, format!("# secrets\nhttps://localhost:{port}/hooks=Authorization: Bearer hook-secret\nhttps://elsewhere.example.com=X-Other: not-for-this-hook\n")).unwrap();

    let mut s = support::settings(support::Db::Sqlite, &dir).await;
    s.flows = flows;
    s.alerts = flowlens::config::AlertSettings { ca_file: Some(certs.ca.clone()), headers: vec![], headers_file: Some(headers) };
    let app = support::start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    let (_, r) = support::post(addr, &serde_json::json!({"type": "RegistrationRequested", "key": "late-https"})).await;
    let id = r["instances"][0]["id"].as_i64().unwrap();
    let mut webhook = serde_json::Value::Null;
    for _ in 0..200 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (_, actions) = support::get(addr, &format!("/api/v1/instances/{id}/actions")).await;
        if let Some(a) = actions.as_array().unwrap().iter().find(|a| a["kind"] == "webhook" && a["result"] != "sent") {
            webhook = a.clone();
            break;
        }
    }
    assert_eq!(webhook["result"], "took_effect", "{webhook}");
    assert_eq!(webhook["detail"], "attempt 1: HTTP 200");
    let calls = received.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let (head, body) = calls[0].split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("POST /hooks/T1 HTTP/1.1"), "{head}");
    assert!(head.contains("\r\nAuthorization: Bearer hook-secret"), "the secret header for this webhook: {head}");
    assert!(!head.contains("not-for-this-hook"), "another webhook's secret stays home: {head}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    let text = body["text"].as_str().unwrap_or_else(|| panic!("a chat message: {body}"));
    assert!(text.starts_with("SLA breached: Customer onboarding `late-https`"), "{text}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only the text field: {body}");
}
