//! What the pages may ask of the server, as the app's `Operations`: the same retry, cancel and
//! token code as the API, with errors as sentences.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use flowlens_app::api::{Fut, Operations};
use flowlens_core::{ActionView, EmbedScope, Principal, Role, StatusInfo};

use crate::actions::Actions;
use crate::auth::Auth;

/// How this replica's Kafka consumer is doing, set by the consumer: its lag in messages (negative
/// while unknown) and the partitions assigned to it.
#[derive(Clone)]
pub struct Lag(Arc<AtomicI64>, Arc<Mutex<Vec<String>>>);

impl Default for Lag {
    fn default() -> Self {
        Lag(Arc::new(AtomicI64::new(-1)), Arc::default())
    }
}

impl Lag {
    pub fn set(&self, messages: i64) {
        self.0.store(messages, Ordering::Relaxed);
    }

    pub fn get(&self) -> Option<i64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&l| l >= 0)
    }

    pub fn set_partitions(&self, partitions: Vec<String>) {
        *self.1.lock().expect("not poisoned") = partitions;
    }

    pub fn partitions(&self) -> Vec<String> {
        self.1.lock().expect("not poisoned").clone()
    }
}

#[derive(Clone)]
pub struct PageOperations {
    pub actions: Actions,
    pub auth: Auth,
    pub lag: Lag,
    /// Where events come from, for the status strip.
    pub source: String,
}

impl Operations for PageOperations {
    fn retry(&self, id: i64, node: String, actor: String) -> Fut<Result<ActionView, String>> {
        let this = self.clone();
        Box::pin(async move { this.actions.retry(id, &node, &actor).await.map_err(|e| e.to_string()) })
    }

    fn retry_active(&self, id: i64, actor: String) -> Fut<Result<Vec<ActionView>, String>> {
        let this = self.clone();
        Box::pin(async move { this.actions.retry_active(id, &actor).await.map_err(|e| e.to_string()) })
    }

    fn cancel(&self, id: i64, actor: String) -> Fut<Result<Vec<ActionView>, String>> {
        let this = self.clone();
        Box::pin(async move { this.actions.cancel(id, &actor).await.map_err(|e| e.to_string()) })
    }

    fn embed_token(&self, token: String) -> Fut<Option<Principal>> {
        let this = self.clone();
        Box::pin(async move {
            this.auth.embed_token(&token).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not check an embed token");
                None
            })
        })
    }

    fn create_embed(&self, name: String, scope: EmbedScope, actor: String) -> Fut<Result<String, String>> {
        let this = self.clone();
        Box::pin(async move {
            let store = this.actions.store();
            let (_, token) = crate::tokens::create(store, name.trim(), Role::Viewer, Some(&scope), &actor).await.map_err(|e| {
                tracing::error!(error = %e, "could not create an embed token");
                "the store could not keep the token; see the server log".to_string()
            })?;
            Ok(crate::tokens::embed_path(&scope, &token))
        })
    }

    fn status(&self) -> Fut<StatusInfo> {
        let this = self.clone();
        Box::pin(async move {
            let store = this.actions.store();
            StatusInfo {
                store: store.backend().name().to_string(),
                last_event: store.last_event().await.unwrap_or(None),
                consumer_lag: this.lag.get(),
                partitions: this.lag.partitions(),
                source: this.source.clone(),
                now: flowlens_store::now(),
            }
        })
    }
}
