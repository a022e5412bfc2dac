//! `GET /pkg/{file}`: the browser app (wasm, its JavaScript glue, the style sheet), gzipped on the
//! wire when the browser takes it. The build writes a `.gz` beside each file (`scripts/build`), so
//! nothing is compressed per request: the wasm is about a third of its size on the wire, which is
//! most of a first load.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The built app's files, served from `dir` (the site root's `pkg/`).
pub fn router(dir: PathBuf) -> Router {
    Router::new().route("/pkg/{file}", get(pkg)).with_state(dir)
}

async fn pkg(State(dir): State<PathBuf>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    // A plain file name only: nothing can climb out of the directory.
    let plain = !file.is_empty() && !file.starts_with('.') && file.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    let Some(kind) = plain.then(|| content_type(&file)).flatten() else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let path = dir.join(&file);
    let gzipped = dir.join(format!("{file}.gz"));
    let zipped = if takes_gzip(&headers) && fresh(&gzipped, &path).await { tokio::fs::read(&gzipped).await.ok() } else { None };
    let (bytes, gzip) = match zipped {
        Some(bytes) => (bytes, true),
        None => match tokio::fs::read(&path).await {
            Ok(bytes) => (bytes, false),
            Err(_) => return (StatusCode::NOT_FOUND, "no such file").into_response(),
        },
    };
    let mut res = Response::new(Body::from(bytes));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // Caches must keep the two encodings apart.
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    res
}

fn content_type(file: &str) -> Option<&'static str> {
    match file.rsplit_once('.')?.1 {
        "wasm" => Some("application/wasm"),
        "js" => Some("text/javascript; charset=utf-8"),
        "css" => Some("text/css; charset=utf-8"),
        _ => None,
    }
}

/// Whether `Accept-Encoding` takes gzip (and does not refuse it with `q=0`).
fn takes_gzip(headers: &HeaderMap) -> bool {
    let Some(accepted) = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else { return false };
    accepted.split(',').any(|part| {
        let mut fields = part.split(';').map(str::trim);
        let coding = fields.next().unwrap_or_default();
        let refused = fields.any(|f| f.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()) == Some(0.0));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// A `.gz` is served only if it is at least as new as the file it compresses: a rebuilt file
/// with a stale `.gz` beside it goes out as it is.
async fn fresh(gzipped: &std::path::Path, plain: &std::path::Path) -> bool {
    match (modified(gzipped).await, modified(plain).await) {
        (Some(gz), Some(file)) => gz >= file,
        _ => false,
    }
}

async fn modified(path: &std::path::Path) -> Option<std::time::SystemTime> {
    tokio::fs::metadata(path).await.and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn gzip_is_taken_when_listed_and_not_refused() {
        assert!(takes_gzip(&accepting("gzip, deflate, br")));
        assert!(takes_gzip(&accepting("br;q=1.0, gzip;q=0.8")));
        assert!(takes_gzip(&accepting("*")));
        assert!(!takes_gzip(&accepting("br, deflate")));
        assert!(!takes_gzip(&accepting("gzip;q=0")));
        assert!(!takes_gzip(&accepting("gzip; q=0.000")));
        assert!(!takes_gzip(&HeaderMap::new()));
    }

    #[test]
    fn only_the_app_s_kinds_of_file_are_served() {
        assert_eq!(content_type("flowlens.wasm"), Some("application/wasm"));
        assert_eq!(content_type("flowlens.css"), Some("text/css; charset=utf-8"));
        assert_eq!(content_type("flowlens.wasm.gz"), None);
        assert_eq!(content_type(".built-from"), None);
    }
}
