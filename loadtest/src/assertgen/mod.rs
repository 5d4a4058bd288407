//! The assertion generator for the jwt-bearer and saml2-bearer scenarios: the
//! `gen-keys` and `gen-assertions` subcommands of `tessera-loadtest`. Assertions are
//! single-use on the server (their `jti` / `ID` is remembered store-wide), so a load run
//! needs one per request: they are signed here before the run, in parallel threads, into a
//! file of one assertion per line (`--lines`). Reads key files, writes the output file;
//! nothing here touches the network. The signing itself is in `jwt` and `saml`, the keys
//! in `keys`.

mod jwt;
mod keys;
mod saml;

use clap::Parser;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Writes the signing keys of the assertion benchmarks into a directory: rs256.pem,
/// es256.pem (PKCS#8), their .pub.pem, jwks.json (kids bench-rs256 and bench-es256), and a
/// SAML identity provider's saml.key and self-signed saml.crt.
#[derive(Debug, Parser)]
#[command(name = "tessera-loadtest gen-keys")]
pub struct KeysArgs {
    #[arg(long)]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// RFC 7523 JWT bearer assertions, one compact JWS per line.
    Jwt,
    /// RFC 7522 SAML 2.0 bearer assertions, the XML base64url-encoded, one per line.
    Saml,
}

/// Signs COUNT single-use assertions into a file, one per line, for
/// `tessera-loadtest --scenario jwt-bearer|saml2-bearer --lines FILE`. Each has its own
/// `jti` (JWT) or `ID` (SAML): PREFIX-N.
#[derive(Debug, Parser)]
#[command(name = "tessera-loadtest gen-assertions")]
pub struct GenArgs {
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// JWT signature algorithm (SAML is always RSA-SHA256).
    #[arg(long, value_enum, default_value = "RS256")]
    pub alg: jwt::Alg,
    /// PEM private key (RSA for RS256 and SAML, P-256 for ES256).
    #[arg(long)]
    pub key: PathBuf,
    /// JWS header `kid` (e.g. bench-rs256 / bench-es256 of gen-keys' jwks.json).
    #[arg(long)]
    pub kid: Option<String>,
    /// SAML: the PEM certificate to put in KeyInfo (identity providers send it; the server
    /// must use its own configured copy).
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// JWT `iss` (a client id for self-issued assertions) / SAML `Issuer` entity id.
    #[arg(long)]
    pub issuer: String,
    /// JWT `sub` / SAML `NameID`; default: the issuer (a client token, no user).
    #[arg(long)]
    pub subject: Option<String>,
    /// JWT `aud` / SAML `Audience` and `Recipient`: the server's `[assertions] audience`.
    #[arg(long)]
    pub audience: String,
    /// Seconds from now to `exp` / `NotOnOrAfter`.
    #[arg(long, default_value_t = 240)]
    pub lifetime: u64,
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Signing threads; default: every core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// `jti` / `ID` prefix; default: random, so a second file never repeats the first.
    #[arg(long)]
    pub prefix: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs a subcommand when `argv[1]` names one; `None` for a load run.
pub fn dispatch() -> Option<ExitCode> {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let result = match argv.first().and_then(|a| a.to_str()) {
        Some("gen-keys") => {
            let args = KeysArgs::parse_from(&argv);
            keys::generate(&args.dir).map(|()| {
                eprintln!("keys written to {}", args.dir.display());
            })
        }
        Some("gen-assertions") => generate(&GenArgs::parse_from(&argv)),
        _ => return None,
    };
    Some(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera-loadtest: {e}");
            ExitCode::from(1)
        }
    })
}

/// One thread's share of the assertions: indices `from..to`, one per line.
enum Signer {
    Jwt(jwt::JwtSigner),
    Saml(saml::SamlSigner),
}

impl Signer {
    fn line_into(
        &self,
        out: &mut Vec<u8>,
        id: &str,
        now: u64,
        lifetime: u64,
    ) -> Result<(), String> {
        match self {
            Signer::Jwt(s) => s.sign_into(out, id, now, lifetime),
            Signer::Saml(s) => {
                use base64::Engine;
                let xml = s.assertion(id, now, lifetime)?;
                let mut line = String::with_capacity(xml.len() * 4 / 3 + 4);
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(xml, &mut line);
                out.extend_from_slice(line.as_bytes());
                Ok(())
            }
        }
    }
}

fn generate(a: &GenArgs) -> Result<(), String> {
    let key = keys::load_private(&a.key)?;
    let subject = a.subject.clone().unwrap_or_else(|| a.issuer.clone());
    let cert_b64 = a.cert.as_deref().map(keys::load_cert_b64).transpose()?;
    let make = || -> Result<Signer, String> {
        Ok(match a.kind {
            Kind::Jwt => Signer::Jwt(jwt::JwtSigner::new(
                &jwt::Template {
                    alg: a.alg,
                    kid: a.kid.clone(),
                    issuer: a.issuer.clone(),
                    subject: subject.clone(),
                    audience: a.audience.clone(),
                },
                key.clone(),
            )?),
            Kind::Saml => Signer::Saml(saml::SamlSigner::new(
                saml::Template {
                    issuer: a.issuer.clone(),
                    audience: a.audience.clone(),
                    name_id: subject.clone(),
                    cert_b64: cert_b64.clone(),
                },
                key.clone(),
            )?),
        })
    };
    // Checked once here so a wrong key fails before any thread starts.
    make()?;
    let prefix = match &a.prefix {
        Some(p) => p.clone(),
        None => {
            let mut r = [0u8; 8];
            openssl::rand::rand_bytes(&mut r).map_err(|e| format!("random prefix: {e}"))?;
            r.iter().map(|b| format!("{b:02x}")).collect()
        }
    };
    // A SAML ID is an xs:ID (an NCName): it may not start with a digit.
    let prefix = match a.kind {
        Kind::Saml => format!("_{prefix}"),
        Kind::Jwt => prefix,
    };
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, a.count.max(1));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("the clock is before 1970: {e}"))?
        .as_secs();
    let started = Instant::now();
    let chunks: Vec<Result<Vec<u8>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (from, to) = (a.count * t / threads, a.count * (t + 1) / threads);
                let (make, prefix) = (&make, &prefix);
                scope.spawn(move || -> Result<Vec<u8>, String> {
                    let signer = make()?;
                    let mut out = Vec::new();
                    let mut id = String::new();
                    for n in from..to {
                        id.clear();
                        use std::fmt::Write as _;
                        let _ = write!(id, "{prefix}-{n}");
                        signer.line_into(&mut out, &id, now, a.lifetime)?;
                        out.push(b'\n');
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a signing thread panicked".into()))
            })
            .collect()
    });
    let file = std::fs::File::create(&a.out)
        .map_err(|e| format!("cannot write {}: {e}", a.out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    for chunk in chunks {
        w.write_all(&chunk?)
            .map_err(|e| format!("cannot write {}: {e}", a.out.display()))?;
    }
    w.flush()
        .map_err(|e| format!("cannot write {}: {e}", a.out.display()))?;
    let secs = started.elapsed().as_secs_f64();
    let what = match a.kind {
        Kind::Jwt => format!("JWT {}", a.alg.name()),
        Kind::Saml => "SAML RSA-SHA256".to_string(),
    };
    eprintln!(
        "{} {what} assertions in {secs:.1} s on {threads} thread(s) ({:.0}/s), valid until {} \
         → {}",
        a.count,
        a.count as f64 / secs.max(1e-9),
        saml::utc(now + a.lifetime),
        a.out.display()
    );
    Ok(())
}
