//! SLA alerts out: a JSON POST to the flow's webhook, retried with backoff, its outcome kept in
//! the audit trail. A plain HTTP/1.1 client on a TCP stream: the request is one small JSON body
//! and only the status line matters, so no client library is needed.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Attempts, and the wait before each retry (doubling).
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const PER_ATTEMPT: Duration = Duration::from_secs(5);

/// POSTs `body` to `url` until it answers 2xx or the attempts run out; says what happened.
pub(crate) async fn deliver(url: &str, body: &Value) -> Result<String, String> {
    let mut wait = FIRST_BACKOFF;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match timeout(PER_ATTEMPT, post(url, body)).await {
            Ok(Ok(status)) if (200..300).contains(&status) => return Ok(format!("HTTP {status} after {attempt} attempt(s)")),
            Ok(Ok(status)) => last = format!("HTTP {status}"),
            Ok(Err(e)) => last = e,
            Err(_) => last = format!("no answer within {}s", PER_ATTEMPT.as_secs()),
        }
        tracing::warn!(url, attempt, problem = %last, "webhook: delivery failed");
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    Err(format!("gave up after {ATTEMPTS} attempts; last: {last}"))
}

async fn post(url: &str, body: &Value) -> Result<u16, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("`{url}` is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let address = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let mut stream = TcpStream::connect(&address).await.map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nUser-Agent: flowlens\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("cannot send: {e}"))?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.map_err(|e| format!("no answer: {e}"))?;
    let line = String::from_utf8_lossy(&head);
    line.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| format!("not an HTTP answer: {line:?}"))
}
