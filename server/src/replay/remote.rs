//! Replaying through a running server's API: the same batches a local replay stores, posted to
//! `POST /api/v1/events` with the file's name as their channel, first with `check=true` (the
//! whole log is checked by the server before any of it is stored), then for real.
//!
//! A plain HTTP/1.1 client on one kept-alive connection: requests are JSON batches and answers
//! small JSON reports, so no client library is needed. `http://` only for now; a server behind
//! TLS is reached through a local relay until the server speaks HTTPS to its clients.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long one batch may take, checked or stored, before the replay gives up on the server.
const PER_BATCH: Duration = Duration::from_secs(120);

pub struct Remote {
    /// `host:port`.
    authority: String,
    token: String,
    connection: Option<BufReader<TcpStream>>,
}

/// What the server said about a batch.
pub enum Reply {
    Taken(Taken),
    /// Malformed events, each `event INDEX: problem`: nothing of the batch was stored.
    Refused(Vec<String>),
}

#[derive(Deserialize)]
pub struct Taken {
    pub stored: u64,
    pub duplicates: u64,
    pub dead_lettered: Vec<Value>,
}

impl Remote {
    /// `url` is the server's address (`http://host:port`), `token` a bearer token of an operator.
    pub fn new(url: &str, token: &str) -> Result<Remote, String> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => return Err(format!("{url}: https is not spoken here yet; reach the server over http:// (or through a local TLS relay)")),
            _ => return Err(format!("{url}: the server's address, as http://host:port")),
        };
        let authority = rest.trim_end_matches('/').to_string();
        if authority.is_empty() || authority.contains('/') {
            return Err(format!("{url}: the server's address, as http://host:port (no path)"));
        }
        if token.trim().is_empty() {
            return Err("replaying through a server needs a token of an operator (--token or FLOWLENS_TOKEN)".into());
        }
        Ok(Remote { authority, token: token.trim().to_string(), connection: None })
    }

    /// Posts one batch; `check` only checks it.
    pub async fn send(&mut self, channel: &str, batch: &[Value], check: bool) -> Result<Reply, String> {
        let path = format!("/api/v1/events?channel={}{}", encode(channel), if check { "&check=true" } else { "" });
        let body = serde_json::to_vec(batch).expect("JSON values serialise");
        let (status, answer) = match tokio::time::timeout(PER_BATCH, self.post(&path, &body)).await {
            Ok(result) => result?,
            Err(_) => return Err(format!("http://{} did not answer within {} s", self.authority, PER_BATCH.as_secs())),
        };
        let json: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        match status {
            200 => serde_json::from_value(json).map(Reply::Taken).map_err(|e| format!("http://{}: an answer Flowlens does not read: {e}", self.authority)),
            422 => Ok(Reply::Refused(json["problems"].as_array().map(|p| p.iter().filter_map(|p| p.as_str().map(String::from)).collect()).unwrap_or_default())),
            401 => Err(format!("http://{}: the token was not accepted (401)", self.authority)),
            403 => Err(format!("http://{}: the token may not post events (403); it needs the operator role", self.authority)),
            _ => Err(format!("http://{}: {status} {}", self.authority, json["error"].as_str().unwrap_or(&String::from_utf8_lossy(&answer)))),
        }
    }

    /// One request on the kept-alive connection; a connection the server closed meanwhile is
    /// opened again once (posting a batch twice stores it once: ids are the identity).
    async fn post(&mut self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        for attempt in 0..2 {
            if self.connection.is_none() {
                let stream = TcpStream::connect(&self.authority).await.map_err(|e| format!("cannot reach http://{}: {e}", self.authority))?;
                let _ = stream.set_nodelay(true);
                self.connection = Some(BufReader::new(stream));
            }
            match self.exchange(path, body).await {
                Ok(answer) => return Ok(answer),
                Err(_) if attempt == 0 => self.connection = None,
                Err(e) => return Err(format!("http://{}: {e}", self.authority)),
            }
        }
        unreachable!("the second attempt returns")
    }

    async fn exchange(&mut self, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        let conn = self.connection.as_mut().expect("connected");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.authority,
            self.token,
            body.len()
        );
        conn.get_mut().write_all(head.as_bytes()).await?;
        conn.get_mut().write_all(body).await?;
        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the server closed the connection"));
        }
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other(format!("not HTTP: {line:?}")))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            line.clear();
            conn.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse::<usize>().ok(),
                    "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                    "connection" => close = value.to_ascii_lowercase().contains("close"),
                    _ => {}
                }
            }
        }
        let mut answer = Vec::new();
        if chunked {
            loop {
                line.clear();
                conn.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16).map_err(|_| std::io::Error::other("a broken chunk"))?;
                let mut chunk = vec![0; size + 2];
                conn.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                answer.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(n) = length {
            answer.resize(n, 0);
            conn.read_exact(&mut answer).await?;
        } else {
            conn.read_to_end(&mut answer).await?;
            close = true;
        }
        if close {
            self.connection = None;
        }
        Ok((status, answer))
    }
}

/// A query value, percent-encoded.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_tokens_are_checked_before_anything_is_read() {
        assert!(Remote::new("http://127.0.0.1:3000/", "flt_x").is_ok());
        assert!(Remote::new("https://flowlens.example", "flt_x").err().unwrap().contains("https is not spoken here yet"));
        assert!(Remote::new("127.0.0.1:3000", "flt_x").err().unwrap().contains("as http://host:port"));
        assert!(Remote::new("http://h:1/api", "flt_x").err().unwrap().contains("no path"));
        assert!(Remote::new("http://h:1", " ").err().unwrap().contains("needs a token"));
        assert_eq!(encode("claims 2019.csv"), "claims%202019.csv");
    }
}
