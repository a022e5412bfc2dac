//! Who may do what, as use cases: identifying a credential, signing in and out, the first admin,
//! users, bearer tokens and embed links. The rule itself (`authorize`) is the core's; the
//! transport reads the credential (cookie, header, link) and hands it here.
//!
//! People sign in with a name and password (argon2) and get a session; machines send bearer
//! tokens; wiki pages open embeds with a read-only link token. The store keeps only SHA-256
//! digests of session and token values.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use base64::Engine;
use flowlens_core::{Caller, Credential, EmbedScope, Millis, Need, Role, TokenInfo};
use sha2::{Digest, Sha256};

use crate::{Error, Service};

const SESSION_DAYS: i64 = 7;

/// A fresh unguessable value: 32 random bytes, URL-safe text.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS has a random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a cookie or token: its SHA-256. These are long random values, so a
/// fast hash is enough (unlike passwords).
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters hashes").to_string()
}

/// Checks `password` against a stored argon2 hash. The ~19 MiB of working memory is this thread's
/// own and kept between checks: allocating it anew for every check grew the allocator's arenas by
/// that much each time (seen: +19.5 MiB RSS per sign-in, never returned).
pub fn verify_password(password: &str, hash: &str) -> bool {
    thread_local! {
        static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Ok(params), Ok(algorithm)) = (argon2::Params::try_from(&parsed), argon2::Algorithm::try_from(parsed.algorithm)) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut out = vec![0u8; expected.len()];
    let hashed = MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        memory.resize(params.block_count(), argon2::Block::default());
        Argon2::new(algorithm, version, params).hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
    });
    // Output's equality is constant-time.
    hashed.is_ok() && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| hash_password("flowlens-dummy-password"));

/// A session just started: the cookie value (shown to the browser once) and how long it lasts.
pub struct NewSession {
    pub cookie: String,
    pub max_age_secs: i64,
    pub user: String,
}

/// What a new token is for.
#[derive(Clone, Debug)]
pub enum TokenKind {
    /// A machine's bearer token with this role.
    Bearer(Role),
    /// A read-only embed link of one flow or instance.
    Embed(EmbedScope),
}

/// A token just made; its value is here and nowhere else.
#[derive(Debug, serde::Serialize)]
pub struct NewToken {
    pub id: i64,
    pub token: String,
    pub role: Role,
    /// Where an embed link points, relative to the server.
    pub embed_path: Option<String>,
}

fn embed_path(scope: &EmbedScope, token: &str) -> String {
    match scope {
        EmbedScope::Flow(id) => format!("/embed/flows/{id}?token={token}"),
        EmbedScope::Instance(id) => format!("/embed/instances/{id}?token={token}"),
    }
}

impl Service {
    /// The caller behind `Authorization: Bearer <token>`. A wrong token is an error, not
    /// anonymity: the machine should learn its token is bad.
    pub async fn bearer_caller(&self, token: &str) -> Result<Caller, Error> {
        let token = token.trim();
        match self.store().token(&digest(token)).await? {
            Some(who) if !token.is_empty() => Ok(Caller { who: Some(who), proof: Some(digest(token)), ..Caller::default() }),
            _ => Err(Error::SignIn("unknown or revoked bearer token".into())),
        }
    }

    /// The caller behind an embed link's token: only an embed token, and only while it is not revoked.
    pub async fn embed_caller(&self, token: &str) -> Result<Caller, Error> {
        let proof = digest(token);
        let who = self.store().token(&proof).await?.filter(|p| matches!(p.credential, Credential::Embed(_)));
        match who {
            Some(who) => Ok(Caller { who: Some(who), proof: Some(proof), ..Caller::default() }),
            None => Err(Error::SignIn("this embed link was revoked or never existed".into())),
        }
    }

    /// The person behind a session cookie, with the session's CSRF token; none when the session
    /// is unknown or expired.
    pub async fn session_caller(&self, cookie: &str) -> Result<Option<Caller>, Error> {
        let proof = digest(cookie);
        let found = self.store().session(&proof, self.now()).await?;
        Ok(found.map(|(who, csrf)| Caller { who: Some(who), csrf: Some(csrf), presented: None, proof: Some(proof) }))
    }

    /// Whether the credential behind `caller` still stands: the session not ended or expired, the
    /// token not revoked. Live streams ask every few seconds.
    pub async fn still_valid(&self, caller: &Caller) -> Result<bool, Error> {
        let Some(who) = &caller.who else { return Ok(false) };
        Ok(match (&who.credential, &caller.proof) {
            (Credential::Demo, _) => true,
            (Credential::Session, Some(proof)) => self.store().session(proof, self.now()).await?.is_some(),
            (Credential::Bearer | Credential::Embed(_), Some(proof)) => self.store().token(proof).await?.is_some(),
            (_, None) => false,
        })
    }

    /// Checks a name and password; a session when they match, none when they do not. Unknown
    /// names are checked against a dummy hash, so timing does not tell names apart. Attempts are
    /// throttled per name and per address, and hashed on a bounded pool.
    #[tracing::instrument(skip(self, password))]
    pub async fn sign_in(&self, name: &str, password: &str, from: Option<IpAddr>) -> Result<Option<NewSession>, Error> {
        let name = name.trim();
        if let Err(wait) = self.throttle().attempt(name, from, self.now()) {
            tracing::warn!(user = %name, address = ?from, wait, "sign-in throttled");
            return Err(Error::TooMany { message: format!("Too many sign-in attempts; try again in {wait} s."), retry_after_secs: wait });
        }
        let user = self.store().user(name).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let password = password.to_string();
        // The dummy hash is made on the pool too, the first time it is needed.
        let ok = self.hasher().run(move || verify_password(&password, hash.as_deref().unwrap_or(&DUMMY_HASH))).await?;
        let Some(user) = user.filter(|_| ok) else { return Ok(None) };
        self.throttle().succeeded(name);
        let cookie = random_secret();
        let now = self.now();
        let expires = Millis(now.0 + SESSION_DAYS * 86_400_000);
        self.store().create_session(&digest(&cookie), user.id, &random_secret(), now, expires).await?;
        tracing::info!(user = %user.name, "signed in");
        Ok(Some(NewSession { cookie, max_age_secs: SESSION_DAYS * 86_400, user: user.name }))
    }

    /// Ends the session of `cookie`. Only our own page may sign someone out: it knows the
    /// session's CSRF token.
    pub async fn sign_out(&self, cookie: &str, csrf: &str) -> Result<(), Error> {
        let hash = digest(cookie);
        if let Some((_, expected)) = self.store().session(&hash, self.now()).await? {
            if expected != csrf {
                return Err(Error::Forbidden("the request lacks this page's CSRF token".into()));
            }
        }
        self.store().end_session(&hash).await?;
        Ok(())
    }

    /// On first start there is nobody to sign in as: creates `admin` with the given password, or a
    /// random one written to `credential_file` (readable by the owner only). Returns what to tell.
    pub async fn bootstrap(&self, password: Option<&str>, credential_file: &Path) -> Result<Option<String>, BootstrapError> {
        if self.store().user_count().await.map_err(Error::from)? > 0 {
            return Ok(None);
        }
        let (password, told) = match password {
            Some(p) => (p.to_string(), "its password is the one in FLOWLENS_ADMIN_PASSWORD".to_string()),
            None => {
                let p = random_secret();
                write_private(credential_file, &format!("name: admin\npassword: {p}\n"))
                    .map_err(|e| BootstrapError::File(credential_file.to_path_buf(), e))?;
                (p, format!("its password is in {}", credential_file.display()))
            }
        };
        let hash = self.hasher().run(move || hash_password(&password)).await?;
        self.store().create_user("admin", Role::Admin, &hash, self.now()).await.map_err(Error::from)?;
        Ok(Some(format!("First start: created the user `admin` (role admin); {told}. Sign in at /login.")))
    }

    /// Adds a person; without a password one is generated. Returns the password (shown once).
    #[tracing::instrument(skip(self, caller, password))]
    pub async fn create_user(&self, caller: &Caller, name: &str, role: &str, password: Option<String>) -> Result<(String, Role, String), Error> {
        caller.allow_presented_change(&Need::Administer)?;
        let role = Role::parse(role).map_err(Error::Invalid)?;
        let name = name.trim().to_string();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(Error::Invalid("a user name is 1 to 64 printable characters".into()));
        }
        let password = password.unwrap_or_else(random_secret);
        if password.chars().count() < 12 {
            return Err(Error::Invalid("a password has at least 12 characters".into()));
        }
        let hash = { let password = password.clone(); self.hasher().run(move || hash_password(&password)).await? };
        if !self.store().create_user(&name, role, &hash, self.now()).await? {
            return Err(Error::Conflict(format!("a user named `{name}` exists already")));
        }
        Ok((name, role, password))
    }

    /// Bearer tokens and embed links, for admins.
    pub async fn tokens(&self, caller: &Caller) -> Result<Vec<TokenInfo>, Error> {
        caller.allow(&Need::Administer)?;
        Ok(self.store().tokens().await?)
    }

    /// Creates a bearer token or an embed link token; its value is in the answer and nowhere else.
    #[tracing::instrument(skip(self, caller))]
    pub async fn create_token(&self, caller: &Caller, name: &str, kind: TokenKind) -> Result<NewToken, Error> {
        let who = caller.allow_presented_change(&Need::Administer)?;
        let (role, scope) = match kind {
            TokenKind::Bearer(role) => (role, None),
            TokenKind::Embed(scope) => {
                // A link to nothing would only confuse the wiki page that shows it.
                let exists = match &scope {
                    EmbedScope::Flow(id) => self.store().flows().newest().any(|f| &f.id == id),
                    EmbedScope::Instance(id) => self.store().load(*id).await?.is_some(),
                };
                if !exists {
                    return Err(Error::NotFound(format!("no {}; an embed link must show something that exists", scope.to_text().replace(':', " "))));
                }
                (Role::Viewer, Some(scope))
            }
        };
        // The prefix tells a leaked token's kind at a glance (and to secret scanners).
        let token = format!("{}_{}", if scope.is_some() { "fle" } else { "flt" }, random_secret());
        let name = match name.trim() {
            "" => "unnamed",
            n => n,
        };
        let id = self.store().create_token(name, role, scope.as_ref(), &digest(&token), &who.name, self.now()).await?;
        let embed_path = scope.as_ref().map(|s| embed_path(s, &token));
        Ok(NewToken { id, token, role, embed_path })
    }

    /// Revokes a token; it stops working at once.
    #[tracing::instrument(skip(self, caller))]
    pub async fn revoke_token(&self, caller: &Caller, id: i64) -> Result<(), Error> {
        caller.allow_presented_change(&Need::Administer)?;
        if self.store().revoke_token(id, self.now()).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("no active token {id}")))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{0}")]
    Store(#[from] Error),
    #[error("cannot write the admin credential to {0}: {1}")]
    File(PathBuf, std::io::Error),
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let hash = hash_password("correct horse battery");
        assert!(verify_password("correct horse battery", &hash));
        assert!(verify_password("correct horse battery", &hash), "again, on the kept memory");
        assert!(!verify_password("correct horse battery!", &hash));
        assert!(!verify_password("", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
        let other = hash_password("something else entirely");
        assert!(verify_password("something else entirely", &other));
        assert!(!verify_password("correct horse battery", &other));
    }
}
