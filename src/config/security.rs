//! `[security]`: the brute-force guard on client-authenticating endpoints and the password
//! grant (RFC 6749 §4.3.2, §10.10) — how many failed authentications an identity may have
//! from one address in the window, how long a lockout lasts, and the per-address limit
//! across identities — and the per-address rate limit (`rate_limit_per_address`), whose
//! table shape [`RateLimitConfig`] a client's `rate_limit` shares. Touches nothing outside
//! `[security]`.

use super::error::ConfigError;
use serde::{Deserialize, Serialize};

/// The longest a lockout may last, however many came in a row.
pub const MAX_LOCKOUT_SECS: u64 = 3600;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Failed authentications of one identity (client id or username) from one address
    /// within the window that lock that identity out from that address.
    pub failed_auth_limit: u32,
    /// The sliding window failures are counted in.
    pub failed_auth_window_secs: u64,
    /// The first lockout; each lockout in a row doubles it, up to [`MAX_LOCKOUT_SECS`].
    pub lockout_secs: u64,
    /// Failed authentications from one address, whatever the identity, within the window
    /// that lock the whole address out (password spraying, client-id guessing).
    pub failed_auth_limit_per_address: u32,
    /// Requests from one source address (an IPv4 address, an IPv6 /64) to the OAuth
    /// endpoints, as a token bucket; none by default.
    pub rate_limit_per_address: Option<RateLimitConfig>,
}

/// A token bucket: `per_second` requests a second on average, at most `burst` at once.
/// Written `{ per_second = 100, burst = 200 }` (issue 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub per_second: u32,
    pub burst: u32,
}

impl RateLimitConfig {
    /// Checks the limit found at `key` (`security.rate_limit_per_address`,
    /// `clients[2].rate_limit`).
    pub(super) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        use crate::ratelimit::{MAX_BURST, MAX_PER_SECOND};
        if !(1..=MAX_PER_SECOND).contains(&self.per_second) {
            return Err(ConfigError::new(
                format!("{key}.per_second"),
                format!("must be between 1 and {MAX_PER_SECOND}"),
            ));
        }
        if !(1..=MAX_BURST).contains(&self.burst) {
            return Err(ConfigError::new(
                format!("{key}.burst"),
                format!("must be between 1 and {MAX_BURST}"),
            ));
        }
        Ok(())
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            failed_auth_limit: 10,
            failed_auth_window_secs: 60,
            lockout_secs: 60,
            failed_auth_limit_per_address: 100,
            rate_limit_per_address: None,
        }
    }
}

impl SecurityConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        // Counters are 16 bits wide in the guard's fixed-size slots.
        const MAX_LIMIT: u32 = 10_000;
        if !(1..=MAX_LIMIT).contains(&self.failed_auth_limit) {
            return Err(ConfigError::new(
                "security.failed_auth_limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        if !(1..=86_400).contains(&self.failed_auth_window_secs) {
            return Err(ConfigError::new(
                "security.failed_auth_window_secs",
                "must be between 1 and 86400 seconds",
            ));
        }
        if !(1..=MAX_LOCKOUT_SECS).contains(&self.lockout_secs) {
            return Err(ConfigError::new(
                "security.lockout_secs",
                format!("must be between 1 and {MAX_LOCKOUT_SECS} seconds"),
            ));
        }
        if !(self.failed_auth_limit..=MAX_LIMIT).contains(&self.failed_auth_limit_per_address) {
            return Err(ConfigError::new(
                "security.failed_auth_limit_per_address",
                format!(
                    "must be between security.failed_auth_limit ({}) and {MAX_LIMIT}",
                    self.failed_auth_limit
                ),
            ));
        }
        if let Some(limit) = &self.rate_limit_per_address {
            limit.validate("security.rate_limit_per_address")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::load::err_at;
    use super::super::Config;

    #[test]
    fn defaults_are_the_documented_limits() {
        let c = Config::parse("[security]\n").expect("parses");
        assert_eq!(c.security.failed_auth_limit, 10);
        assert_eq!(c.security.failed_auth_window_secs, 60);
        assert_eq!(c.security.lockout_secs, 60);
        assert_eq!(c.security.failed_auth_limit_per_address, 100);
        assert_eq!(c.security.rate_limit_per_address, None);
    }

    #[test]
    fn issue_15_rate_limit_per_address_is_a_per_second_and_burst_table() {
        let c = Config::parse(
            "[security]\nrate_limit_per_address = { per_second = 50, burst = 100 }\n",
        )
        .expect("parses");
        assert_eq!(
            c.security.rate_limit_per_address,
            Some(super::RateLimitConfig {
                per_second: 50,
                burst: 100
            })
        );
    }

    #[test]
    fn issue_15_bad_rate_limits_per_address_name_their_key() {
        for (table, key) in [
            (
                "{ per_second = 0, burst = 1 }",
                "security.rate_limit_per_address.per_second",
            ),
            (
                "{ per_second = 1, burst = 0 }",
                "security.rate_limit_per_address.burst",
            ),
            (
                "{ per_second = 1000001, burst = 1 }",
                "security.rate_limit_per_address.per_second",
            ),
            (
                "{ per_second = 1, burst = 1000001 }",
                "security.rate_limit_per_address.burst",
            ),
            ("{ per_second = 1 }", "security.rate_limit_per_address"),
            (
                "{ per_second = 1, burst = 1, per_minute = 3 }",
                "security.rate_limit_per_address.per_minute",
            ),
        ] {
            err_at(
                &format!("[security]\nrate_limit_per_address = {table}\n"),
                key,
            );
        }
    }

    #[test]
    fn bad_values_and_unknown_keys_name_their_key() {
        for (text, key) in [
            ("failed_auth_limit = 0", "security.failed_auth_limit"),
            (
                "failed_auth_window_secs = 0",
                "security.failed_auth_window_secs",
            ),
            ("lockout_secs = 3601", "security.lockout_secs"),
            (
                "failed_auth_limit = 20\nfailed_auth_limit_per_address = 10",
                "security.failed_auth_limit_per_address",
            ),
            ("lockout = 5", "security.lockout"),
        ] {
            err_at(&format!("[security]\n{text}\n"), key);
        }
    }
}
