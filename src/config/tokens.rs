//! `[tokens]`: lifetimes, lengths, type and refresh policy of issued tokens, and the length
//! and lifetime checks clients' overrides share (`check_length`, `check_ttl`). Touches
//! nothing outside `[tokens]`.

use super::error::ConfigError;
use super::RefreshPolicy;
use serde::Deserialize;

/// The token length limits are minting rules; configuration checks against them.
pub use crate::oauth::token_gen::{MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    pub access_token_ttl_secs: u32,
    pub access_token_length: usize,
    pub token_type: String,
    pub refresh_token_ttl_secs: u32,
    pub refresh_token_length: usize,
    pub refresh_policy: RefreshPolicy,
}

impl Default for TokensConfig {
    fn default() -> Self {
        TokensConfig {
            access_token_ttl_secs: 3600,
            access_token_length: 54,
            token_type: "Bearer".to_owned(),
            refresh_token_ttl_secs: 43_200,
            refresh_token_length: 46,
            refresh_policy: RefreshPolicy::Rotate,
        }
    }
}

impl TokensConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        check_length("tokens.access_token_length", self.access_token_length)?;
        check_length("tokens.refresh_token_length", self.refresh_token_length)?;
        check_ttl("tokens.access_token_ttl_secs", self.access_token_ttl_secs)?;
        check_ttl("tokens.refresh_token_ttl_secs", self.refresh_token_ttl_secs)?;
        if self.token_type.is_empty()
            || !self
                .token_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ConfigError::new(
                "tokens.token_type",
                "must be a non-empty token such as \"Bearer\"",
            ));
        }
        Ok(())
    }
}

pub(super) fn check_length(key: &str, n: usize) -> Result<(), ConfigError> {
    if (MIN_TOKEN_LENGTH..=MAX_TOKEN_LENGTH).contains(&n) {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("must be between {MIN_TOKEN_LENGTH} (128 bits, RFC 6749 §10.10) and {MAX_TOKEN_LENGTH}"),
        ))
    }
}

pub(super) fn check_ttl(key: &str, n: u32) -> Result<(), ConfigError> {
    // Ten years keeps `now + ttl` far inside u32 seconds.
    if (1..=315_360_000).contains(&n) {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            "must be between 1 and 315360000 seconds",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::load::err_at;

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("access_token_length = 16", "tokens.access_token_length"),
            ("token_type = \"Be arer\"", "tokens.token_type"),
            (
                "refresh_token_ttl_secs = 0",
                "tokens.refresh_token_ttl_secs",
            ),
        ] {
            err_at(&format!("[tokens]\n{text}\n"), key);
        }
    }
}
