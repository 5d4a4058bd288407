//! The external identity providers whose assertions the JWT bearer (RFC 7523) and SAML 2.0
//! bearer (RFC 7522) grants accept (`[[assertion_issuers]]`), as the decisions see them:
//! an issuer string, its verification keys or certificates, and the clients allowed to
//! present its assertions. Built by `crate::registry` at start-up; plain data, no I/O.

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

    /// The SAML issuer whose entity id is `entity_id`.
    pub fn saml(&self, entity_id: &str) -> Option<&Issuer> {
        self.saml.get(entity_id)
    }

    pub fn is_empty(&self) -> bool {
        self.jwt.is_empty() && self.saml.is_empty()
    }
}
