//! Who may do what: roles, the principal behind a request, and the one rule that decides.
//!
//! Kept here, free of IO, so the server (which enforces it) and the pages (which hide what a
//! person may not do) read the same rule, and so it can be tested as a table.

use serde::{Deserialize, Serialize};

/// What a person or machine is allowed: each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads every screen and the API.
    Viewer,
    /// Also retries and cancels instances, and posts events.
    Operator,
    /// Also manages users and tokens.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`; expected viewer, operator or admin"))
    }
}

/// What an embed link token opens: one flow's overview or one instance, read-only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum EmbedScope {
    Flow(String),
    Instance(i64),
}

impl EmbedScope {
    /// `flow:ID` or `instance:ID`, as stored and as given on the command line.
    pub fn parse(s: &str) -> Result<EmbedScope, String> {
        match s.split_once(':') {
            Some(("flow", id)) if !id.is_empty() => Ok(EmbedScope::Flow(id.to_string())),
            Some(("instance", id)) => {
                id.parse().map(EmbedScope::Instance).map_err(|_| format!("`{id}` is not an instance id"))
            }
            _ => Err(format!("`{s}` is not an embed scope; expected flow:ID or instance:ID")),
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            EmbedScope::Flow(id) => format!("flow:{id}"),
            EmbedScope::Instance(id) => format!("instance:{id}"),
        }
    }
}

/// How the caller proved who it is; decides whether a state change needs a CSRF token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// A browser session cookie: state changes must carry the session's CSRF token.
    Session,
    /// `Authorization: Bearer`: a machine; browsers never send it on their own, so no CSRF risk.
    Bearer,
    /// The local demo's automatic sign-in (loopback only); a per-process CSRF token guards it.
    Demo,
    /// An embed link token: read-only, and only what its scope names.
    Embed(EmbedScope),
}

/// The caller of a request, once authenticated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    pub credential: Credential,
}

/// What the authentication layer found out about a request, handed to every handler.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    pub who: Option<Principal>,
    /// The token a state change must carry (`X-CSRF-Token`, or the server function's `csrf`).
    pub csrf: Option<String>,
    /// The token this request presented: the `X-CSRF-Token` header, or a server function's `csrf`.
    pub presented: Option<String>,
    /// The digest of the session cookie or token that identified the caller, so a long-lived
    /// request (a live stream) can check now and then that it still stands.
    pub proof: Option<String>,
}

impl Caller {
    /// The signed-in person as the pages see them; none for anonymous callers and embed links.
    pub fn me(&self) -> Option<Me> {
        let who = self.who.as_ref().filter(|w| !matches!(w.credential, Credential::Embed(_)))?;
        Some(Me { name: who.name.clone(), role: who.role, demo: who.credential == Credential::Demo, csrf: self.csrf.clone().unwrap_or_default() })
    }

    /// Checks `need` for a read.
    pub fn allow(&self, need: &Need) -> Result<&Principal, Refusal> {
        authorize(self.who.as_ref(), need)?;
        Ok(self.who.as_ref().expect("authorized callers are known"))
    }

    /// The same caller, presenting `token` as this request's CSRF token.
    pub fn presenting(mut self, token: Option<String>) -> Caller {
        self.presented = token;
        self
    }

    /// Checks `need` for a state change with the CSRF token this request presented.
    pub fn allow_presented_change(&self, need: &Need) -> Result<&Principal, Refusal> {
        self.allow_change(need, self.presented.as_deref())
    }

    /// Checks `need` for a state change: from a browser it must also carry the CSRF token.
    pub fn allow_change(&self, need: &Need, csrf: Option<&str>) -> Result<&Principal, Refusal> {
        let who = self.allow(need)?;
        if needs_csrf(who) && (csrf.is_none() || csrf != self.csrf.as_deref()) {
            return Err(Refusal::Forbidden("the request lacks this page's CSRF token; reload the page and try again".into()));
        }
        Ok(who)
    }
}

/// Who the signed-in person is, as the pages need it (the header, which buttons to show).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub name: String,
    pub role: Role,
    /// Signed in automatically because this is the local demo on loopback.
    pub demo: bool,
    /// To send back with every state change.
    pub csrf: String,
}

/// What a request wants to do, as far as access is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    /// Read anything (screens, API reads, the live stream).
    Read,
    /// Read what one embed shows: its flow, or its instance.
    ReadEmbed(EmbedScope),
    /// Retry, cancel, post events.
    Operate,
    /// Users and tokens.
    Administer,
}

/// Why a request is refused: 401 (say who you are) or 403 (you may not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    SignIn,
    Forbidden(String),
}

/// The rule. Anonymous callers may do nothing; embed tokens may read only their own scope (an
/// instance embed also reads that instance's flow overview, never another instance).
pub fn authorize(who: Option<&Principal>, need: &Need) -> Result<(), Refusal> {
    let Some(who) = who else { return Err(Refusal::SignIn) };
    if let Credential::Embed(scope) = &who.credential {
        return match need {
            Need::ReadEmbed(wanted) if wanted == scope => Ok(()),
            _ => Err(Refusal::Forbidden("an embed link opens only its own read-only view".into())),
        };
    }
    let required = match need {
        Need::Read | Need::ReadEmbed(_) => Role::Viewer,
        Need::Operate => Role::Operator,
        Need::Administer => Role::Admin,
    };
    if who.role >= required {
        Ok(())
    } else {
        Err(Refusal::Forbidden(format!("{} may not do this; it needs the {} role", who.name, required.as_str())))
    }
}

/// Whether a state change by `who` must prove it came from our own pages.
pub fn needs_csrf(who: &Principal) -> bool {
    matches!(who.credential, Credential::Session | Credential::Demo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(role: Role) -> Principal {
        Principal { name: "p".into(), role, credential: Credential::Session }
    }

    #[test]
    fn the_matrix() {
        let embed = Principal {
            name: "wiki".into(),
            role: Role::Viewer,
            credential: Credential::Embed(EmbedScope::Flow("onboarding".into())),
        };
        let own = Need::ReadEmbed(EmbedScope::Flow("onboarding".into()));
        let other = Need::ReadEmbed(EmbedScope::Flow("orders".into()));
        let cases: Vec<(Option<&Principal>, Need, bool)> = vec![
            (None, Need::Read, false),
            (None, own.clone(), false),
            (Some(&embed), own.clone(), true),
            (Some(&embed), other.clone(), false),
            (Some(&embed), Need::Read, false),
            (Some(&embed), Need::Operate, false),
        ];
        for (who, need, ok) in cases {
            assert_eq!(authorize(who, &need).is_ok(), ok, "{who:?} {need:?}");
        }
        let needs = [Need::Read, own, Need::Operate, Need::Administer];
        let expect = [(Role::Viewer, 2), (Role::Operator, 3), (Role::Admin, 4)];
        for (role, allowed) in expect {
            let who = person(role);
            for (i, need) in needs.iter().enumerate() {
                assert_eq!(authorize(Some(&who), need).is_ok(), i < allowed, "{role:?} {need:?}");
            }
        }
    }

    #[test]
    fn anonymous_is_asked_to_sign_in_and_the_wrong_role_is_forbidden() {
        assert_eq!(authorize(None, &Need::Read), Err(Refusal::SignIn));
        assert!(matches!(authorize(Some(&person(Role::Viewer)), &Need::Operate), Err(Refusal::Forbidden(m)) if m.contains("operator")));
    }

    #[test]
    fn csrf_guards_cookies_and_the_demo_but_not_bearer_tokens() {
        let mut p = person(Role::Operator);
        assert!(needs_csrf(&p));
        p.credential = Credential::Demo;
        assert!(needs_csrf(&p));
        p.credential = Credential::Bearer;
        assert!(!needs_csrf(&p));
    }

    #[test]
    fn a_state_change_from_a_browser_needs_the_matching_csrf_token() {
        let caller = Caller { who: Some(person(Role::Operator)), csrf: Some("t0k".into()), presented: None, proof: None };
        assert!(caller.allow(&Need::Read).is_ok());
        assert!(caller.allow_change(&Need::Operate, None).is_err());
        assert!(caller.allow_change(&Need::Operate, Some("other")).is_err());
        assert!(caller.allow_change(&Need::Operate, Some("t0k")).is_ok());
        let machine = Caller { who: Some(Principal { credential: Credential::Bearer, ..person(Role::Operator) }), csrf: None, presented: None, proof: None };
        assert!(machine.allow_change(&Need::Operate, None).is_ok());
        let no_session_token = Caller { who: Some(person(Role::Admin)), csrf: None, presented: None, proof: None };
        assert!(no_session_token.allow_change(&Need::Administer, None).is_err());
        assert!(no_session_token.allow(&Need::Administer).is_ok(), "reading needs the role, not the token");
    }

    #[test]
    fn scopes_and_roles_parse_or_say_why_not() {
        assert_eq!(EmbedScope::parse("flow:onboarding"), Ok(EmbedScope::Flow("onboarding".into())));
        assert_eq!(EmbedScope::parse("instance:42"), Ok(EmbedScope::Instance(42)));
        assert_eq!(EmbedScope::parse("instance:42").unwrap().to_text(), "instance:42");
        assert!(EmbedScope::parse("instance:x").unwrap_err().contains("not an instance id"));
        assert!(EmbedScope::parse("flow:").is_err());
        assert_eq!(Role::parse("operator"), Ok(Role::Operator));
        assert!(Role::parse("root").unwrap_err().contains("unknown role"));
    }
}
