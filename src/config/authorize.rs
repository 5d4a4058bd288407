//! `[authorize]`: the authorize path — authorization codes, the login session, remembered
//! consent, and the optional scripted login and page templates. Touches nothing outside
//! `[authorize]`.

use super::error::ConfigError;
use super::tokens::check_length;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizeConfig {
    /// Characters of an authorization code (the gateway's default: 30).
    pub code_length: usize,
    /// Life of an authorization code (RFC 6749 §4.1.2: short; the gateway's 600 s).
    pub code_ttl_secs: u32,
    /// Life of the login session cookie `tessera_session`.
    pub session_ttl_secs: u32,
    /// How long consent given by a user to a client is remembered.
    pub consent_ttl_secs: u32,
    /// Accept the resource owner's credentials in `Authorization: Basic` on an authorize
    /// request, instead of the login form: for scripted clients and load tests only.
    pub allow_basic_login: bool,
    /// An HTML template replacing the built-in login page.
    pub login_template: Option<PathBuf>,
    /// An HTML template replacing the built-in consent page.
    pub consent_template: Option<PathBuf>,
}

impl Default for AuthorizeConfig {
    fn default() -> Self {
        AuthorizeConfig {
            code_length: 30,
            code_ttl_secs: 600,
            session_ttl_secs: 8 * 3600,
            consent_ttl_secs: 30 * 86_400,
            allow_basic_login: false,
            login_template: None,
            consent_template: None,
        }
    }
}

impl AuthorizeConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        check_length("authorize.code_length", self.code_length)?;
        // RFC 6749 §4.1.2: "a maximum authorization code lifetime of 10 minutes is
        // RECOMMENDED"; an hour is the most anyone should need.
        if !(1..=3600).contains(&self.code_ttl_secs) {
            return Err(ConfigError::new(
                "authorize.code_ttl_secs",
                "must be between 1 and 3600 seconds",
            ));
        }
        if !(60..=30 * 86_400).contains(&self.session_ttl_secs) {
            return Err(ConfigError::new(
                "authorize.session_ttl_secs",
                "must be between 60 seconds and 30 days",
            ));
        }
        if !(1..=400 * 86_400).contains(&self.consent_ttl_secs) {
            return Err(ConfigError::new(
                "authorize.consent_ttl_secs",
                "must be between 1 second and 400 days",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::load::err_at;

    #[test]
    fn bounds_name_the_key() {
        err_at(
            "[authorize]\ncode_ttl_secs = 0\n",
            "authorize.code_ttl_secs",
        );
        err_at("[authorize]\ncode_length = 3\n", "authorize.code_length");
        err_at(
            "[authorize]\nsession_ttl_secs = 5\n",
            "authorize.session_ttl_secs",
        );
        err_at(
            "[authorize]\nconsent_ttl_secs = 0\n",
            "authorize.consent_ttl_secs",
        );
    }
}
