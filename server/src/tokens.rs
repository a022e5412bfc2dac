//! Bearer tokens and embed links: made here, shown once, kept only as digests.

use flowlens_core::{EmbedScope, Role};
use flowlens_store::{now, Store, StoreError};

use crate::auth::{digest, random_secret};

/// Creates a token and returns its id and value; the value is not kept anywhere.
pub async fn create(store: &Store, name: &str, role: Role, scope: Option<&EmbedScope>, created_by: &str) -> Result<(i64, String), StoreError> {
    // The prefix tells a leaked token's kind at a glance (and to secret scanners).
    let token = format!("{}_{}", if scope.is_some() { "fle" } else { "flt" }, random_secret());
    let name = if name.is_empty() { "unnamed" } else { name };
    let id = store.create_token(name, role, scope, &digest(&token), created_by, now()).await?;
    Ok((id, token))
}

/// Where an embed link points, relative to the server.
pub fn embed_path(scope: &EmbedScope, token: &str) -> String {
    match scope {
        EmbedScope::Flow(id) => format!("/embed/flows/{id}?token={token}"),
        EmbedScope::Instance(id) => format!("/embed/instances/{id}?token={token}"),
    }
}
