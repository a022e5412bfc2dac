//! The one error of every use case. Each transport maps it once: HTTP to a status code and a JSON
//! body (`server/src/http/error.rs`), the pages to a sentence (`app/src/api.rs`).

use flowlens_core::Refusal;
use flowlens_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong: a bad id, range, role, body.
    #[error("{0}")]
    Invalid(String),
    /// Several problems at once, e.g. one per bad event of a batch; nothing was done.
    #[error("{message}")]
    Problems { message: String, problems: Vec<String> },
    /// Not signed in, or an unknown or revoked token.
    #[error("{0}")]
    SignIn(String),
    /// Signed in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Understood, but the instance (or name) is not in a state that allows it.
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts (sign-ins): refused without looking, until `retry_after_secs` passed.
    #[error("{message}")]
    TooMany { message: String, retry_after_secs: u64 },
    /// A part Flowlens needs (the database) does not answer right now.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed; the details go to the log, never to the caller.
    #[error("the store could not answer; the server log has the details")]
    Store(#[from] StoreError),
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::SignIn => Error::SignIn("sign in, or send a bearer token".into()),
            Refusal::Forbidden(m) => Error::Forbidden(m),
        }
    }
}

impl Error {
    /// Logs what the caller will not see: a store failure's cause. Transports call this once, where
    /// they map the error.
    pub fn log(&self) {
        if let Error::Store(e) = self {
            tracing::error!(error = %e, "a use case failed in the store");
        }
    }
}
