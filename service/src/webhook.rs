//! SLA alerts out: a POST to the flow's webhook (`http://` or `https://`), retried with backoff,
//! every attempt kept in the audit trail. The request is one small body and only the status line
//! of the answer matters, so a plain HTTP/1.1 exchange over TCP, or over TLS (rustls, trusting the
//! system's CA store or a configured bundle), is all the client there is.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;

use crate::metrics::Attempt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Attempts, and the wait before each retry (doubling).
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const PER_ATTEMPT: Duration = Duration::from_secs(5);

/// How alerts go out: whom HTTPS trusts, and the secret headers sent to each destination.
#[derive(Clone)]
pub struct Alerts {
    /// The configured CA bundle, read and checked at start.
    extra_roots: Arc<RootCertStore>,
    /// Made on the first HTTPS alert: the system's CA store is read then, not by every process
    /// that never sends one (a replay, a test server).
    tls: Arc<OnceLock<Result<TlsConnector, String>>>,
    headers: Vec<Header>,
}

/// A header sent only to webhook URLs that start with `prefix` (a secret for one service must
/// not reach another flow's webhook).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub prefix: String,
    pub name: String,
    pub value: String,
}

impl Header {
    /// Reads `PREFIX=Name: value`, e.g. `https://events.pagerduty.com=Authorization: Token token=…`.
    pub fn parse(text: &str) -> Result<Header, String> {
        let shape = "expected URL-PREFIX=Name: value, e.g. https://hooks.example.com=Authorization: Bearer …";
        let (prefix, header) = text.split_once('=').ok_or_else(|| format!("alert header `{}`: {shape}", mask(text)))?;
        let (name, value) = header.split_once(':').ok_or_else(|| format!("alert header `{}`: {shape}", mask(text)))?;
        let (prefix, name, value) = (prefix.trim(), name.trim(), value.trim());
        if !(prefix.starts_with("https://") || prefix.starts_with("http://")) {
            return Err(format!("alert header `{}`: the prefix must be an http:// or https:// URL; {shape}", mask(text)));
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(format!("alert header for `{prefix}`: `{name}` is not a header name"));
        }
        if value.contains(['\r', '\n']) {
            return Err(format!("alert header `{name}` for `{prefix}`: the value holds a line break"));
        }
        Ok(Header { prefix: prefix.to_string(), name: name.to_string(), value: value.to_string() })
    }
}

/// What a log may show of a header: its destination and name, never its value.
fn mask(text: &str) -> String {
    match text.split_once(':') {
        Some((before, _)) => format!("{before}: ***"),
        None => "***".to_string(),
    }
}

impl Default for Alerts {
    /// The system's CA store, no headers.
    fn default() -> Self {
        Alerts::new(None, Vec::new()).expect("no file to read")
    }
}

impl Alerts {
    /// Trusts the system's CA store, and the certificates in `ca_file` if given (read now, so a
    /// bad file stops the start).
    pub fn new(ca_file: Option<&Path>, headers: Vec<Header>) -> Result<Alerts, String> {
        let mut roots = RootCertStore::empty();
        if let Some(file) = ca_file {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
                .and_then(|certs| certs.collect())
                .map_err(|e| format!("alert CA file {}: {e}", file.display()))?;
            if certs.is_empty() {
                return Err(format!("alert CA file {}: no PEM certificate in it", file.display()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| format!("alert CA file {}: {e}", file.display()))?;
            }
        }
        Ok(Alerts { extra_roots: Arc::new(roots), tls: Arc::default(), headers })
    }

    /// The TLS client: the system's CA store and the configured bundle.
    fn tls(&self) -> Result<&TlsConnector, String> {
        let made = self.tls.get_or_init(|| {
            let mut roots = (*self.extra_roots).clone();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            let config = ClientConfig::builder_with_provider(Arc::new(tokio_rustls::rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(TlsConnector::from(Arc::new(config)))
        });
        made.as_ref().map_err(Clone::clone)
    }

    /// POSTs `body` to `url` until it answers 2xx or the attempts run out. Every attempt, in
    /// words, for the audit trail; `Ok` if one succeeded.
    /// `counted` hears how each attempt ended.
    pub(crate) async fn deliver(&self, url: &str, body: &Value, counted: impl Fn(Attempt)) -> Result<String, String> {
        let mut wait = FIRST_BACKOFF;
        let mut attempts = Vec::new();
        for attempt in 1..=ATTEMPTS {
            let outcome = match timeout(PER_ATTEMPT, self.post(url, body)).await {
                Ok(Ok(status)) if (200..300).contains(&status) => {
                    counted(Attempt::Delivered);
                    attempts.push(format!("attempt {attempt}: HTTP {status}"));
                    return Ok(attempts.join("; "));
                }
                Ok(Ok(status)) => {
                    counted(Attempt::Refused);
                    format!("HTTP {status}")
                }
                Ok(Err(e)) => {
                    counted(Attempt::Unanswered);
                    e
                }
                Err(_) => {
                    counted(Attempt::Unanswered);
                    format!("no answer within {}s", PER_ATTEMPT.as_secs())
                }
            };
            tracing::warn!(url, attempt, problem = %outcome, "webhook: delivery failed");
            attempts.push(format!("attempt {attempt}: {outcome}"));
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        Err(format!("gave up after {ATTEMPTS} attempts: {}", attempts.join("; ")))
    }

    async fn post(&self, url: &str, body: &Value) -> Result<u16, String> {
        let target = Target::parse(url)?;
        let stream = TcpStream::connect((target.host.as_str(), target.port)).await.map_err(|e| format!("cannot connect to {}:{}: {e}", target.host, target.port))?;
        let headers: Vec<&Header> = self.headers.iter().filter(|h| url.starts_with(&h.prefix)).collect();
        if target.tls {
            let name = ServerName::try_from(target.host.clone()).map_err(|e| format!("`{}` is not a host name: {e}", target.host))?;
            let stream = self.tls()?.connect(name, stream).await.map_err(|e| format!("TLS with {}: {e}", target.host))?;
            exchange(stream, &target, &headers, body).await
        } else {
            exchange(stream, &target, &headers, body).await
        }
    }
}

/// Where a webhook URL points.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// `host[:port]` as the Host header says it.
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let (tls, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            _ => return Err(format!("`{url}` is not an http:// or https:// URL")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let default = if tls { 443 } else { 80 };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, p.parse().map_err(|_| format!("`{url}`: bad port `{p}`"))?),
            _ => (authority, default),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        if host.is_empty() {
            return Err(format!("`{url}` names no host"));
        }
        Ok(Target { tls, host, port, authority: authority.to_string(), path: path.to_string() })
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, target: &Target, headers: &[&Header], body: &Value) -> Result<u16, String> {
    let body = body.to_string();
    let extra: String = headers.iter().map(|h| format!("{}: {}\r\n", h.name, h.value)).collect();
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nUser-Agent: flowlens\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        target.path,
        target.authority,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("cannot send: {e}"))?;
    stream.flush().await.map_err(|e| format!("cannot send: {e}"))?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.map_err(|e| format!("no answer: {e}"))?;
    let line = String::from_utf8_lossy(&head);
    line.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| format!("not an HTTP answer: {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_say_where_and_how() {
        let t = Target::parse("https://hooks.example.com/services/T1").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port, t.path.as_str(), t.authority.as_str()), (true, "hooks.example.com", 443, "/services/T1", "hooks.example.com"));
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port, t.path.as_str()), (false, "127.0.0.1", 8080, "/"));
        let t = Target::parse("https://[::1]:8443/x").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8443));
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("https://:80/").is_err());
        assert!(Target::parse("http://h:port/").is_err());
    }

    #[test]
    fn secret_headers_are_checked_and_never_echoed() {
        let h = Header::parse("https://events.example.com=Authorization: Token token=abc").unwrap();
        assert_eq!((h.prefix.as_str(), h.name.as_str(), h.value.as_str()), ("https://events.example.com", "Authorization", "Token token=abc"));
        for wrong in ["Authorization: Bearer secret-value", "Authorization: Bearer secret=value"] {
            let e = Header::parse(wrong).unwrap_err();
            assert!(!e.contains("secret"), "{e}");
        }
        assert!(Header::parse("https://x=Bad Name: v").is_err());
        assert!(Header::parse("https://x=X-Key: a\r\nInjected: b").is_err());
    }
}
