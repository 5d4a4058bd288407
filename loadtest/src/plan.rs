//! The run plan: what a load run does, checked before anything starts. `cli` builds it from
//! the command line; `provision`, `run`, `scenario`, `stats`, `report` and `chart` read it.
//! Besides the plan itself this holds the kinds it is made of: the scenarios, the
//! operations they send, the mixed-scenario weights and the grant types of the scenarios
//! fed from a file. Pure data: no I/O.

use base64::Engine;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Everything a run needs, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    pub url: String,
    pub addr: SocketAddr,
    /// `Host` header value.
    pub host: String,
    pub scenario: Scenario,
    pub connections: usize,
    pub threads: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub rate: Option<f64>,
    pub requests: Option<u64>,
    pub mix: Mix,
    pub client_id: String,
    pub client_secret: String,
    pub client_auth_in_body: bool,
    /// No client authentication at all (`--no-client-auth`): self-issued JWT bearer
    /// assertions authenticate their client themselves.
    pub no_client_auth: bool,
    /// The file of the scenarios fed from a file (`--lines`): one assertion, or one whole
    /// form body, per line, each sent once.
    pub lines: Option<PathBuf>,
    pub username: String,
    pub password: String,
    pub scope: String,
    /// The authorization-code scenario's `redirect_uri` (registered for the client; never
    /// followed).
    pub redirect_uri: String,
    pub pool: usize,
    /// Client_credentials tokens issued before the warm-up (`--prefill`).
    pub prefill: usize,
    /// The server process whose CPU time the report gives (`--server-pid`).
    pub server_pid: Option<u32>,
    pub paths: Paths,
    pub json: Option<PathBuf>,
    pub chart: Option<PathBuf>,
    pub label: String,
    pub quiet: bool,
}

/// The request paths of the endpoints under load.
#[derive(Debug, Clone)]
pub struct Paths {
    pub authorize: String,
    pub token: String,
    pub tokeninfo: String,
    pub introspect: String,
    pub revoke: String,
    pub health: String,
}

impl Plan {
    /// `Authorization: Basic …` value for the client (RFC 6749 §2.3.1: form-encoded parts).
    pub fn basic_auth(&self) -> String {
        let id: String = form_urlencoded::byte_serialize(self.client_id.as_bytes()).collect();
        let secret: String =
            form_urlencoded::byte_serialize(self.client_secret.as_bytes()).collect();
        let raw = format!("{id}:{secret}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// `Authorization: Basic …` value for the resource owner's login at the authorize
    /// endpoint (RFC 7617 §2: `user-id ":" password` as they are, not form-encoded).
    pub fn user_basic_auth(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// The code-flow token response must carry an ID token too (OpenID Connect Core §3.1.3.3).
    pub fn expects_id_token(&self) -> bool {
        self.scope.split(' ').any(|s| s == "openid")
    }
}

/// What a run exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// `GET /health`: the HTTP runtime's floor, the baseline every other scenario is
    /// compared with.
    Baseline,
    ClientCredentials,
    Password,
    Tokeninfo,
    Introspect,
    Refresh,
    Revoke,
    /// The authorization code flow with PKCE, two requests per iteration: the authorize GET
    /// with the resource owner's Basic login (answered by a redirect with a code), then the
    /// code exchange at the token endpoint. Counted, timed and rated per iteration.
    AuthorizationCode,
    /// RFC 7523 §2.1 JWT bearer grant: one assertion per `--lines` line, each sent once.
    JwtBearer,
    /// RFC 7522 §2.1 SAML 2.0 bearer grant: one base64url assertion per `--lines` line,
    /// each sent once.
    Saml2Bearer,
    /// A whole token request body per `--lines` line, each sent once, for grants the
    /// load generator has no scenario of its own for.
    TokenBody,
    Mixed,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        self.op().map_or("mixed", Op::name)
    }

    /// The single operation of a plain scenario; `None` for `mixed`.
    pub fn op(self) -> Option<Op> {
        Some(match self {
            Scenario::Baseline => Op::Health,
            Scenario::ClientCredentials => Op::ClientCredentials,
            Scenario::Password => Op::Password,
            Scenario::Tokeninfo => Op::Tokeninfo,
            Scenario::Introspect => Op::Introspect,
            Scenario::Refresh => Op::Refresh,
            Scenario::Revoke => Op::Revoke,
            Scenario::AuthorizationCode => Op::AuthorizationCode,
            Scenario::JwtBearer => Op::JwtBearer,
            Scenario::Saml2Bearer => Op::Saml2Bearer,
            Scenario::TokenBody => Op::TokenBody,
            Scenario::Mixed => return None,
        })
    }
}

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Health,
    ClientCredentials,
    Password,
    Tokeninfo,
    Introspect,
    Refresh,
    Revoke,
    /// One code-flow iteration (two exchanges; see `flow`).
    AuthorizationCode,
    JwtBearer,
    Saml2Bearer,
    TokenBody,
}

impl Op {
    pub const COUNT: usize = 11;

    pub const ALL: [Op; Op::COUNT] = [
        Op::Health,
        Op::ClientCredentials,
        Op::Password,
        Op::Tokeninfo,
        Op::Introspect,
        Op::Refresh,
        Op::Revoke,
        Op::AuthorizationCode,
        Op::JwtBearer,
        Op::Saml2Bearer,
        Op::TokenBody,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Health => "baseline",
            Op::ClientCredentials => "client-credentials",
            Op::Password => "password",
            Op::Tokeninfo => "tokeninfo",
            Op::Introspect => "introspect",
            Op::Refresh => "refresh",
            Op::Revoke => "revoke",
            Op::AuthorizationCode => "authorization-code",
            Op::JwtBearer => "jwt-bearer",
            Op::Saml2Bearer => "saml2-bearer",
            Op::TokenBody => "token-body",
        }
    }

    /// Each request takes the next line of the `--lines` file (which is used up, once).
    pub fn reads_lines(self) -> bool {
        matches!(self, Op::JwtBearer | Op::Saml2Bearer | Op::TokenBody)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// What a correct answer must contain besides a 2xx status.
    pub fn expects(self) -> Option<&'static [u8]> {
        match self {
            Op::ClientCredentials
            | Op::Password
            | Op::Refresh
            | Op::AuthorizationCode
            | Op::JwtBearer
            | Op::Saml2Bearer
            | Op::TokenBody => Some(b"\"access_token\""),
            Op::Introspect => Some(b"\"active\":true"),
            Op::Health | Op::Tokeninfo | Op::Revoke => None,
        }
    }
}

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const SAML2_BEARER: &str = "urn:ietf:params:oauth:grant-type:saml2-bearer";

/// Weights of the mixed scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    pub weights: [u32; Op::COUNT],
}

impl Mix {
    pub fn total(&self) -> u32 {
        self.weights.iter().sum()
    }

    pub fn weight(&self, op: Op) -> u32 {
        self.weights[op.index()]
    }

    /// Picks an operation from a uniform number in `0..total()`.
    pub fn pick(&self, mut n: u32) -> Op {
        for op in Op::ALL {
            let w = self.weight(op);
            if n < w {
                return op;
            }
            n -= w;
        }
        Op::Tokeninfo
    }
}

impl FromStr for Mix {
    type Err = String;
    fn from_str(s: &str) -> Result<Mix, String> {
        let mut weights = [0u32; Op::COUNT];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, w) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected name=weight"))?;
            let op = Op::ALL
                .into_iter()
                .find(|op| op.name() == name.trim())
                .ok_or_else(|| format!("{name:?} is not an operation"))?;
            if op.reads_lines() {
                // One file feeds one scenario; a mix would have to say which line is whose.
                return Err(format!(
                    "{name:?} runs alone (--scenario {name}), not in a mix"
                ));
            }
            weights[op.index()] = w
                .trim()
                .parse()
                .map_err(|_| format!("{w:?} is not a whole-number weight"))?;
        }
        Ok(Mix { weights })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for op in Op::ALL {
            let w = self.weight(op);
            if w > 0 {
                if !first {
                    f.write_str(",")?;
                }
                first = false;
                write!(f, "{}={w}", op.name())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_weights_and_picks_by_them() {
        let mix: Mix = "tokeninfo=80,client-credentials=15,refresh=3,revoke=2"
            .parse()
            .expect("mix");
        assert_eq!(mix.total(), 100);
        assert_eq!(mix.pick(0), Op::ClientCredentials);
        assert_eq!(mix.pick(15), Op::Tokeninfo);
        assert_eq!(mix.pick(95), Op::Refresh);
        assert_eq!(mix.pick(99), Op::Revoke);
        assert_eq!(
            mix.to_string(),
            "client-credentials=15,tokeninfo=80,refresh=3,revoke=2"
        );
        assert!("tokeninfo".parse::<Mix>().is_err());
        assert!("nosuch=1".parse::<Mix>().is_err());
        assert!("jwt-bearer=1,tokeninfo=1".parse::<Mix>().is_err());
    }
}
