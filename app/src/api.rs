//! Server functions: how pages read and act. Each body runs only on the server, where it finds the
//! caller (the server's authentication layer put it on the request) and the service, calls one
//! use case, and turns a refusal or failure into a sentence; the browser gets a typed stub that
//! calls it over HTTP. State changes carry the page's CSRF token as `csrf`.

use flowlens_core::{ActionView, DeadLetterView, InstanceDetail, ListParams, Me, Millis, Overview, Page, StatusInfo, TokenInfo};
use leptos::prelude::*;
use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};

/// How every server function's answer travels: JSON, as the default encoding writes it, read in the
/// browser from text. The default reads JSON from bytes, a second copy of every answer type's JSON
/// reader beside the one reading the page's hydration data from text: about 150 KB of the wasm.
pub struct TextJson;

impl ContentType for TextJson {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for TextJson {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: serde::Serialize> Encodes<T> for TextJson {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: serde::de::DeserializeOwned> Decodes<T> for TextJson {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        match std::str::from_utf8(&bytes) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => Err(serde::de::Error::custom("the answer is not UTF-8")),
        }
    }
}

/// The answer encoding of every server function below.
pub type Answer = Post<TextJson>;

#[cfg(feature = "ssr")]
mod server {
    use flowlens_core::Caller;
    use flowlens_service::{Error, Service};
    use leptos::prelude::*;

    /// Who calls, as the authentication layer found out.
    pub fn caller() -> Caller {
        use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<Caller>().cloned()).unwrap_or_default()
    }

    /// The caller of a state change, presenting the page's CSRF token.
    pub fn changing(csrf: String) -> Caller {
        caller().presenting(Some(csrf))
    }

    /// The service, when this render belongs to a request the server set up; outside of one
    /// (route discovery at start, a page rendered without it) a refusal, never a panic.
    pub fn service() -> Result<Service, ServerFnError> {
        use_context::<Service>().ok_or_else(|| ServerFnError::new("this page was rendered outside of a request; reload it"))
    }

    /// The one place a use case's error becomes what a page shows: a sentence, and the HTTP
    /// status the server function answers with.
    pub fn sentence(e: Error) -> ServerFnError {
        e.log();
        let status = match &e {
            Error::Invalid(_) => http::StatusCode::BAD_REQUEST,
            Error::Problems { .. } => http::StatusCode::UNPROCESSABLE_ENTITY,
            Error::SignIn(_) => http::StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => http::StatusCode::FORBIDDEN,
            Error::NotFound(_) => http::StatusCode::NOT_FOUND,
            Error::Conflict(_) => http::StatusCode::CONFLICT,
            Error::Unavailable(_) => http::StatusCode::SERVICE_UNAVAILABLE,
            Error::TooMany { .. } => http::StatusCode::TOO_MANY_REQUESTS,
            Error::Store(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        };
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(status);
        }
        ServerFnError::new(e.to_string())
    }
}

/// Who is using the page; none when nobody is signed in. (A fixed path: scripts read the CSRF
/// token from `POST /api/whoami`.)
#[server(endpoint = "whoami", output = Answer)]
pub async fn whoami() -> Result<Option<Me>, ServerFnError> {
    Ok(server::caller().me())
}

/// One page of instances, and the server's clock for SLA countdowns.
#[server(input = leptos::server_fn::codec::Json, output = Answer)]
pub async fn list_instances(params: ListParams) -> Result<(Millis, Page), ServerFnError> {
    server::service()?.list(&server::caller(), &params).await.map_err(server::sentence)
}

/// The ids of every instance matching the filter, for "select all that match" (at most `cap`).
#[server(input = leptos::server_fn::codec::Json, output = Answer)]
pub async fn matching_ids(params: ListParams, cap: u32) -> Result<Vec<i64>, ServerFnError> {
    server::service()?.matching_ids(&server::caller(), &params, cap).await.map_err(server::sentence)
}

/// One instance with its diagram and events, and the server's clock for SLA countdowns.
#[server(output = Answer)]
pub async fn get_instance(id: i64) -> Result<(Millis, Option<InstanceDetail>), ServerFnError> {
    server::service()?.instance(&server::caller(), id).await.map_err(server::sentence)
}

/// Retries an active task of an instance.
#[server(output = Answer)]
pub async fn retry_task(id: i64, node: String, csrf: String) -> Result<ActionView, ServerFnError> {
    server::service()?.retry(&server::changing(csrf), id, &node).await.map_err(server::sentence)
}

/// Cancels an instance: its cancel command and compensations go out.
#[server(output = Answer)]
pub async fn cancel_instance(id: i64, csrf: String) -> Result<Vec<ActionView>, ServerFnError> {
    server::service()?.cancel(&server::changing(csrf), id).await.map_err(server::sentence)
}

/// The outcome of a bulk action for one instance: done, or why not, in words.
pub type BulkResult = (i64, Result<String, String>);

/// Retries (every retryable active task) or cancels each instance; one result per instance.
/// Pages send a few ids per call, so they can show progress as the answers come.
#[server(input = leptos::server_fn::codec::Json, output = Answer)]
pub async fn bulk_action(action: String, ids: Vec<i64>, csrf: String) -> Result<Vec<BulkResult>, ServerFnError> {
    let action = flowlens_service::BulkAction::parse(&action).map_err(server::sentence)?;
    let results = server::service()?.bulk(&server::changing(csrf), action, &ids).await.map_err(server::sentence)?;
    Ok(results.into_iter().map(|(id, r)| (id, r.map_err(|e| server::sentence(e).to_string()))).collect())
}

/// Events that could not be tracked, newest first.
#[server(output = Answer)]
pub async fn list_dead_letters() -> Result<Vec<DeadLetterView>, ServerFnError> {
    server::service()?.dead_letters(&server::caller(), None).await.map_err(server::sentence)
}

/// The discovery page's figures and map (see `Service::discovery_view`).
#[server(output = Answer)]
pub async fn get_discovery(flow: Option<String>, hide_below: u32, range: Option<String>) -> Result<Option<flowlens_core::discovery::DiscoveryView>, ServerFnError> {
    server::service()?.discovery_view(&server::caller(), flow.as_deref(), hide_below, range.as_deref()).await.map_err(server::sentence)
}

/// The overview of a flow (the newest one when none is named) over the last `range` (`1h`, …).
#[server(output = Answer)]
pub async fn get_overview(flow: Option<String>, range: String) -> Result<Option<Overview>, ServerFnError> {
    server::service()?.overview(&server::caller(), flow.as_deref(), Some(&range)).await.map_err(server::sentence)
}

/// The same, for an embed link of that flow.
#[server(output = Answer)]
pub async fn embed_overview(token: String, flow: String, range: String) -> Result<Option<Overview>, ServerFnError> {
    server::service()?.embed_overview(&token, &flow, Some(&range)).await.map_err(server::sentence)
}

/// One instance, for an embed link of it.
#[server(output = Answer)]
pub async fn embed_instance(token: String, id: i64) -> Result<(Millis, Option<InstanceDetail>), ServerFnError> {
    server::service()?.embed_instance(&token, id).await.map_err(server::sentence)
}

/// The status strip: store, last event, consumer lag.
#[server(output = Answer)]
pub async fn get_status() -> Result<StatusInfo, ServerFnError> {
    server::service()?.status(&server::caller()).await.map_err(server::sentence)
}

/// Tokens and embed links, for admins.
#[server(output = Answer)]
pub async fn list_tokens() -> Result<Vec<TokenInfo>, ServerFnError> {
    server::service()?.tokens(&server::caller()).await.map_err(server::sentence)
}

/// Creates a read-only embed link (`flow:ID` or `instance:ID`); returns its path, shown once.
#[server(output = Answer)]
pub async fn create_embed(name: String, scope: String, csrf: String) -> Result<String, ServerFnError> {
    use flowlens_service::{Error, TokenKind};
    let scope = flowlens_core::EmbedScope::parse(scope.trim()).map_err(|e| server::sentence(Error::Invalid(e)))?;
    let made = server::service()?.create_token(&server::changing(csrf), &name, TokenKind::Embed(scope)).await.map_err(server::sentence)?;
    Ok(made.embed_path.unwrap_or_default())
}

#[server(output = Answer)]
pub async fn revoke_token(id: i64, csrf: String) -> Result<(), ServerFnError> {
    server::service()?.revoke_token(&server::changing(csrf), id).await.map_err(server::sentence)
}

/// Turns discovery on for events nobody modelled (admin): a discovered flow of `channel`, its key
/// where `key` says; returns the new flow's id.
#[server(output = Answer)]
pub async fn discover_channel(id: String, name: String, channel: String, key: String, csrf: String) -> Result<String, ServerFnError> {
    let new = flowlens_service::NewDiscovered { id, name, channel, types: Vec::new(), key };
    let flow = server::service()?.discover(&server::changing(csrf), &new).map_err(server::sentence)?;
    Ok(flow.id)
}
