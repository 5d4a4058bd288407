//! The external identity providers whose assertions the JWT bearer (RFC 7523) and SAML 2.0
//! bearer (RFC 7522) grants accept (`[[assertion_issuers]]`), as the decisions see them:
//! an issuer string, its verification keys or certificates, and the clients allowed to
//! present its assertions. Built by `crate::registry` at start-up; plain data, no I/O.

use super::error::OAuthError;
use super::jose::Keys;
use super::saml::Trust;
use std::collections::HashMap;
use std::sync::Arc;

/// What an issuer's assertions are verified with.
#[derive(Debug)]
pub enum IssuerTrust {
    Jwt(Arc<Keys>),
    Saml(Arc<Trust>),
}

#[derive(Debug)]
pub struct Issuer {
    /// The operator's name for it (`assertion_issuers[].id`), for logs.
    pub id: Box<str>,
    /// The JWT `iss` or SAML `<Issuer>`, compared exactly.
    pub issuer: Box<str>,
    pub trust: IssuerTrust,
    clients: Vec<Box<str>>,
}

impl Issuer {
    pub fn new(id: &str, issuer: &str, trust: IssuerTrust, clients: &[String]) -> Issuer {
        Issuer {
            id: id.into(),
            issuer: issuer.into(),
            trust,
            clients: clients.iter().map(|c| c.as_str().into()).collect(),
        }
    }

    /// Whether `client_id` may present this issuer's assertions.
    pub fn allows(&self, client_id: &str) -> bool {
        self.clients.iter().any(|c| &**c == client_id)
    }
}

/// Every configured issuer, by kind and issuer string.
#[derive(Debug, Default)]
pub struct Issuers {
    jwt: HashMap<Box<str>, Issuer>,
    saml: HashMap<Box<str>, Issuer>,
}

impl Issuers {
    pub fn new(list: Vec<Issuer>) -> Issuers {
        let mut issuers = Issuers::default();
        for is in list {
            let map = match is.trust {
                IssuerTrust::Jwt(_) => &mut issuers.jwt,
                IssuerTrust::Saml(_) => &mut issuers.saml,
            };
            map.entry(is.issuer.clone()).or_insert(is);
        }
        issuers
    }

    /// The JWT issuer whose `iss` is `iss`.
    pub fn jwt(&self, iss: &str) -> Option<&Issuer> {
        self.jwt.get(iss)
    }

    /// The keys of the JWT issuer `iss`, if `client_id` may present its assertions.
    pub fn jwt_keys(&self, iss: &str, client_id: &str) -> Result<&Arc<Keys>, Untrusted> {
        match &trusted(self.jwt.get(iss), client_id)?.trust {
            IssuerTrust::Jwt(keys) => Ok(keys),
            IssuerTrust::Saml(_) => Err(Untrusted::Unknown),
        }
    }

    /// The certificates of the SAML issuer `entity_id`, if `client_id` may present its
    /// assertions.
    pub fn saml_trust(&self, entity_id: &str, client_id: &str) -> Result<&Arc<Trust>, Untrusted> {
        match &trusted(self.saml.get(entity_id), client_id)?.trust {
            IssuerTrust::Saml(trust) => Ok(trust),
            IssuerTrust::Jwt(_) => Err(Untrusted::Unknown),
        }
    }
}

fn trusted<'a>(found: Option<&'a Issuer>, client_id: &str) -> Result<&'a Issuer, Untrusted> {
    match found {
        Some(is) if is.allows(client_id) => Ok(is),
        Some(_) => Err(Untrusted::NotForClient),
        None => Err(Untrusted::Unknown),
    }
}

/// Why an assertion's issuer is not trusted for the presenting client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untrusted {
    /// No issuer of that kind and name is configured.
    Unknown,
    /// The issuer is configured, but does not list the client.
    NotForClient,
}

impl Untrusted {
    /// The grant's error: an unknown issuer makes the assertion invalid (`invalid_grant`,
    /// described by `unknown`); an issuer that does not list the client leaves the client
    /// unauthorized for this grant (RFC 6749 §5.2 `unauthorized_client`).
    pub fn into_error(self, unknown: &'static str) -> OAuthError {
        match self {
            Untrusted::Unknown => OAuthError::invalid_grant(unknown),
            Untrusted::NotForClient => OAuthError::unauthorized_client(
                "the assertion's issuer is not trusted for this client",
            ),
        }
    }
}
