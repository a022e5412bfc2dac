//! Admin: people (`POST /api/v1/users`) and tokens (`/api/v1/tokens`): bearer tokens for machines
//! and read-only embed links.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use flowlens_core::{Caller, EmbedScope, Role, TokenInfo};
use flowlens_service::{Error, NewToken, Service, TokenKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{id, ApiError};

pub fn router() -> Router<Service> {
    Router::new()
        .route("/api/v1/users", post(create_user))
        .route("/api/v1/tokens", get(tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    role: String,
    password: Option<String>,
}

/// Adds a person; without a password one is generated and returned, once.
async fn create_user(State(s): State<Service>, Extension(caller): Extension<Caller>, Json(body): Json<NewUser>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (name, role, password) = s.create_user(&caller, &body.name, &body.role, body.password).await?;
    Ok((StatusCode::CREATED, Json(json!({ "name": name, "role": role, "password": password }))))
}

async fn tokens(State(s): State<Service>, Extension(caller): Extension<Caller>) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    Ok(Json(s.tokens(&caller).await?))
}

#[derive(Deserialize)]
struct TokenBody {
    name: String,
    /// viewer, operator or admin, for a machine's bearer token.
    role: Option<String>,
    /// `flow:ID` or `instance:ID`, for a read-only embed link.
    embed: Option<String>,
}

async fn create_token(State(s): State<Service>, Extension(caller): Extension<Caller>, Json(body): Json<TokenBody>) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    let kind = match (&body.role, &body.embed) {
        (Some(role), None) => TokenKind::Bearer(Role::parse(role).map_err(Error::Invalid)?),
        (None, Some(scope)) => TokenKind::Embed(EmbedScope::parse(scope).map_err(Error::Invalid)?),
        _ => return Err(ApiError(Error::Invalid("give either `role` (a bearer token) or `embed` (flow:ID or instance:ID)".into()))),
    };
    Ok((StatusCode::CREATED, Json(s.create_token(&caller, &body.name, kind).await?)))
}

async fn revoke_token(State(s): State<Service>, Extension(caller): Extension<Caller>, Path(text): Path<String>) -> Result<StatusCode, ApiError> {
    s.revoke_token(&caller, id(&text, "a token id")?).await?;
    Ok(StatusCode::NO_CONTENT)
}
