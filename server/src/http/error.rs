//! The one mapping from the service's errors to HTTP: a status and a JSON sentence, never a
//! stack trace or a driver message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use flowlens_service::Error;
use serde_json::json;

/// A service error on its way to an HTTP client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.log();
        let message = self.0.to_string();
        let (status, body) = match self.0 {
            Error::Invalid(_) => (StatusCode::BAD_REQUEST, json!({ "error": message })),
            Error::Problems { problems, .. } => (StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": message, "problems": problems })),
            Error::SignIn(_) => (StatusCode::UNAUTHORIZED, json!({ "error": message })),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, json!({ "error": message })),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, json!({ "error": message })),
            Error::Conflict(_) => (StatusCode::CONFLICT, json!({ "error": message })),
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, json!({ "error": message })),
            Error::TooMany { retry_after_secs, .. } => {
                let body = Json(json!({ "error": message }));
                return (StatusCode::TOO_MANY_REQUESTS, [(axum::http::header::RETRY_AFTER, retry_after_secs.to_string())], body).into_response();
            }
            Error::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, json!({ "error": "internal error; the server log has the details" })),
        };
        (status, Json(body)).into_response()
    }
}

/// A path segment that should be a number (an instance or token id).
pub fn id(text: &str, what: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| ApiError(Error::Invalid(format!("`{text}` is not {what}"))))
}
