//! The one error type of the HTTP API: every failure becomes a status and a sentence, never a
//! stack trace or a driver message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// Several problems at once, e.g. one per bad event of a batch.
    #[error("{message}")]
    Invalid { message: String, problems: Vec<String> },
    /// Not signed in, or an unknown token.
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request is understood but the instance is not in a state that allows it.
    #[error("{0}")]
    Conflict(String),
    /// A part Flowlens needs (the database) does not answer right now.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<flowlens_store::StoreError> for ApiError {
    fn from(e: flowlens_store::StoreError) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, json!({ "error": m })),
            ApiError::Invalid { message, problems } => {
                (StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": message, "problems": problems }))
            }
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, json!({ "error": m })),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, json!({ "error": m })),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, json!({ "error": m })),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, json!({ "error": m })),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, json!({ "error": m })),
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, json!({ "error": "internal error; the server log has the details" }))
            }
        };
        (status, Json(body)).into_response()
    }
}
