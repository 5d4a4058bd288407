//! The command line: `serve`, `check-config`, `hash-secret`, `--version`; the store
//! administration commands (`migrate`, `client`, `user`, `keys`) are in `admin`. `man` and
//! `completions`, which the package build runs, print docs made from these definitions
//! (`manual`) and are not part of them.
//!
//! Exit codes: 0 success, 1 runtime failure (cannot listen, a worker failed), 2 bad
//! configuration or usage.

use crate::config::Config;
use crate::oauth::secret::{argon2id_hash, SecretHash};
use crate::server;
use crate::shutdown::Shutdown;
use crate::state::App;
use clap::{CommandFactory, Parser, Subcommand};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tracing::{error, info, warn};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "OAuth 2.0 authorization server for high-volume API platforms"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per command line: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the server.
    Serve {
        /// The TOML configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Listen here instead of `server.listen` (port 0 picks a free port).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Validate a configuration file; every error names its key.
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
    },
    /// Create the schema of the configured shared (Cassandra or SQL) store: Cassandra's
    /// keyspace and tables, or a SQL database's tables, upgraded from an older Tessera's
    /// (idempotent).
    Migrate {
        #[arg(long)]
        config: PathBuf,
    },
    /// Manage the clients kept in a shared (Cassandra or SQL) store (served by every node
    /// without a restart).
    Client {
        #[command(subcommand)]
        action: crate::admin::ClientCommand,
    },
    /// Manage the resource owners kept in a shared (Cassandra or SQL) store.
    User {
        #[command(subcommand)]
        action: crate::admin::UserCommand,
    },
    /// Manage the OpenID Connect signing keys kept in the store.
    Keys {
        #[command(subcommand)]
        action: crate::admin::KeysCommand,
    },
    /// Read a secret from stdin and print its hash for `secret_hash` (or, with --argon2,
    /// an argon2id hash for a user's `password_hash`).
    HashSecret {
        /// Hash with argon2id (for resource-owner passwords) instead of HMAC-SHA256.
        #[arg(long)]
        argon2: bool,
    },
}

/// The package build's commands (`make deb`): docs made from [`Cli`]'s definitions. Kept out
/// of `Cli` so that the man pages and completion scripts do not offer them to operators.
#[derive(Debug, Parser)]
#[command(name = "tessera")]
struct DocsCli {
    #[command(subcommand)]
    command: DocsCommand,
}

#[derive(Debug, Subcommand)]
enum DocsCommand {
    /// Print the man page tessera(1) as roff; with --dir, write it and one page per
    /// subcommand (tessera-serve.1, tessera-client-add.1, ...) into that directory.
    Man {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print the completion script of a shell.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

pub fn main() -> ExitCode {
    if matches!(
        std::env::args_os().nth(1).as_ref().and_then(|a| a.to_str()),
        Some("man" | "completions")
    ) {
        return docs(DocsCli::parse().command);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, listen } => serve(&config, listen),
        Command::CheckConfig { config } => {
            match Config::load_with_warnings(&config).and_then(|(c, deprecated)| {
                // The certificate and key are read, parsed and matched as at start-up.
                if let Some(files) = &c.server.tls {
                    crate::tls::load(files)
                        .map_err(|e| crate::config::ConfigError::new(e.key(), e.to_string()))?;
                }
                if let Some(files) = &c.admin.tls {
                    crate::tls::load_admin(files)
                        .map_err(|e| crate::config::ConfigError::new(e.key(), e.to_string()))?;
                }
                Ok((c, deprecated))
            }) {
                Ok((c, deprecated)) => {
                    for d in &deprecated {
                        eprintln!("{}: warning: {d}", config.display());
                    }
                    for w in c.weak_secrets() {
                        eprintln!("{}: warning: {w}", config.display());
                    }
                    println!(
                        "{}: ok ({} clients, {} users)",
                        config.display(),
                        c.clients.len(),
                        c.users.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}: {e}", config.display());
                    ExitCode::from(2)
                }
            }
        }
        Command::HashSecret { argon2 } => hash_secret(argon2),
        Command::Migrate { config } => crate::admin::migrate(&config),
        Command::Client { action } => crate::admin::client(action),
        Command::User { action } => crate::admin::user(action),
        Command::Keys { action } => crate::admin::keys(action),
    }
}

/// `tessera man [--dir DIR]`, `tessera completions SHELL`: 1 when the output cannot be
/// written.
fn docs(command: DocsCommand) -> ExitCode {
    let (written, dir) = match command {
        DocsCommand::Man { dir: None } => (
            crate::manual::write_page(Cli::command(), &mut std::io::stdout().lock()),
            None,
        ),
        DocsCommand::Man { dir: Some(dir) } => {
            (crate::manual::write_pages(Cli::command(), &dir), Some(dir))
        }
        DocsCommand::Completions { shell } => (
            crate::manual::write_completions(Cli::command(), shell, &mut std::io::stdout().lock()),
            None,
        ),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match dir {
                Some(dir) => eprintln!(
                    "tessera: cannot write man pages into {}: {e}",
                    dir.display()
                ),
                None => eprintln!("tessera: cannot write to stdout: {e}"),
            }
            ExitCode::from(1)
        }
    }
}

fn serve(path: &std::path::Path, listen: Option<SocketAddr>) -> ExitCode {
    let (mut config, deprecated) = match Config::load_with_warnings(path) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("tessera: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    if let Some(addr) = listen {
        config.server.listen = addr;
    }
    init_logging(&config.log);
    for d in &deprecated {
        warn!("{}: {d}", path.display());
    }
    for w in config.weak_secrets() {
        warn!("{}: {w}", path.display());
    }
    let workers = config.worker_count();
    // Bound, not listening: a client is refused until every worker is ready to serve. Bound
    // before the state is built so that port 0 resolves to the port the issuer names.
    let sockets = match server::bind(config.server.listen, workers) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tessera: cannot listen on {}: {e}", config.server.listen);
            return ExitCode::from(1);
        }
    };
    let plain = match config.server.listen_plain {
        None => Vec::new(),
        Some(addr) => match server::bind(addr, workers) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("tessera: cannot listen on {addr} (server.listen_plain): {e}");
                return ExitCode::from(1);
            }
        },
    };
    let admin = match config.admin.listen {
        None => None,
        Some(addr) => match server::bind(addr, 1) {
            Ok(mut l) => l.pop(),
            Err(e) => {
                eprintln!("tessera: cannot listen on {addr} (admin.listen): {e}");
                return ExitCode::from(1);
            }
        },
    };
    if let Some(bound) = sockets
        .first()
        .and_then(|s| s.local_addr().ok())
        .and_then(|a| a.as_socket())
    {
        config.server.listen = bound;
    }
    // The table is rebuilt from the store before the listener opens.
    crate::notify::status(&format!(
        "opening the store and rebuilding the token table; will listen on {}",
        config.server.listen
    ));
    let app = match App::new(config, workers) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            // `systemctl status` shows why, beside the failed state.
            crate::notify::status(&format!("cannot start: {e}"));
            eprintln!("tessera: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let shutdown = Shutdown::new();
    if let Err(e) = watch_signals(shutdown.clone(), Arc::clone(&app)) {
        eprintln!("tessera: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    let running = match server::start(sockets, plain, admin, app, shutdown) {
        Ok(r) => r,
        Err(e) => {
            crate::notify::status(&format!("cannot start workers: {e}"));
            eprintln!("tessera: cannot start workers: {e}");
            return ExitCode::from(1);
        }
    };
    server::log_started(&running, workers);
    // The first line on stdout: scripts and tests read the bound address from it.
    println!("listening on {}", running.local_addr());
    if let Some(plain) = running.plain_addr() {
        println!("plain listener on {plain}");
    }
    if let Some(admin) = running.admin_addr() {
        println!("admin listener on {admin}");
    }
    let _ = std::io::stdout().flush();
    // The one point where start-up is over: the store is recovered and `server::start` has
    // returned, i.e. every listener it starts accepts. systemd's `Type=notify` waits for
    // this, so units ordered after Tessera start against a server that answers.
    crate::notify::ready(&listening_status(&running));
    match running.wait() {
        Ok(()) => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            // A failed worker stopped the server (no signal said STOPPING).
            crate::notify::stopping(&format!("stopped: {e}"));
            eprintln!("tessera: {e}");
            ExitCode::from(1)
        }
    }
}

/// `systemctl status`'s line once ready: every listener's address, the public one first.
fn listening_status(running: &server::Running) -> String {
    use std::fmt::Write as _;
    let mut status = format!("listening on {}", running.local_addr());
    if let Some(plain) = running.plain_addr() {
        let _ = write!(status, ", plain {plain}");
    }
    if let Some(admin) = running.admin_addr() {
        let _ = write!(status, ", admin {admin}");
    }
    status
}

/// First SIGTERM/SIGINT: graceful shutdown. A second one: exit at once. SIGHUP: read the
/// TLS certificate and key again.
fn watch_signals(shutdown: Shutdown, app: Arc<App>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::Builder::new()
        .name("tessera-signals".to_owned())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGHUP {
                    reload_tls(&app);
                    continue;
                }
                if shutdown.is_triggered() {
                    warn!(signal, "second signal, exiting now");
                    std::process::exit(1);
                }
                info!(
                    signal,
                    "shutting down: no new connections, finishing requests in flight"
                );
                crate::notify::stopping(
                    "shutting down: finishing requests in flight, then draining the store queue",
                );
                shutdown.trigger();
            }
        })?;
    Ok(())
}

/// SIGHUP: new connections get the certificates and keys now in `[server.tls]`'s and
/// `[admin.tls]`'s files; a pair that cannot be used is refused and the current one stays.
fn reload_tls(app: &App) {
    for (section, tls) in [("server.tls", &app.tls), ("admin.tls", &app.admin_tls)] {
        let Some(tls) = tls else {
            continue;
        };
        let cert_file = tls.files().cert_file.display().to_string();
        match tls.reload() {
            Ok(()) => info!(section, cert_file, "TLS certificate and key reloaded"),
            Err(e) => error!(
                section,
                error = %e,
                "TLS reload refused; new connections keep the current certificate"
            ),
        }
    }
    if app.tls.is_none() && app.admin_tls.is_none() {
        info!("SIGHUP: no [server.tls] or [admin.tls] to reload");
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` or else `[log] level`, in `[log] format`.
///
/// The filter is the subscriber's per-callsite `enabled` answer, which tracing caches: an
/// event whose target or level is filtered out (the audit target under
/// `tessera::audit=off`) costs one cached check and evaluates none of its fields.
fn init_logging(log: &crate::config::LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: under systemd or in a file they are escape sequences.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        crate::config::LogFormat::Text => builder.try_init(),
        // Fields at the top level (`{"event":"token_issued","client":...}`) so a log
        // shipper can index them without knowing tracing's nesting; Tessera opens no spans,
        // so there is no span list to write.
        crate::config::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

fn hash_secret(argon2: bool) -> ExitCode {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("tessera: cannot read stdin: {e}");
        return ExitCode::from(1);
    }
    // `echo secret | tessera hash-secret` should hash "secret", not "secret\n".
    while matches!(input.last(), Some(b'\n' | b'\r')) {
        input.pop();
    }
    if input.is_empty() {
        eprintln!("tessera: empty secret on stdin");
        return ExitCode::from(2);
    }
    let hash = if argon2 {
        match argon2id_hash(&input) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("tessera: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        SecretHash::new(&input).to_string()
    };
    input.fill(0);
    println!("{hash}");
    ExitCode::SUCCESS
}
