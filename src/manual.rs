//! Documentation made from the command line's own definitions: the man pages (roff, through
//! clap_mangen) and the shell completion scripts (clap_complete), printed by
//! `tessera man` and `tessera completions SHELL`. The Debian package build runs the binary
//! it ships to make them (`make deb`), so they describe exactly that binary.
//!
//! Given a `clap::Command`, never the CLI module itself; touches only the writer or the
//! directory it is handed.

use clap::Command;
use clap_complete::{Generator, Shell};
use std::io::{self, Write};
use std::path::Path;

/// The binary's name in the pages and scripts.
const BIN: &str = "tessera";

/// The sections of tessera(1) that clap knows nothing of: what an operator needs beside the
/// options. Roff: `\-` is a hyphen that must not break, `\fB..\fR` bold.
const OPERATOR_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
0
Success.
.TP
1
Runtime failure: cannot listen, cannot open or recover the store, a worker failed.
.TP
2
Bad configuration or usage.
.SH SIGNALS
.TP
SIGTERM, SIGINT
\fBtessera serve\fR stops accepting connections, lets the requests in flight finish within \fBserver.shutdown_grace_secs\fR, drains the store queue, and exits 0. A second signal exits at once.
.TP
SIGHUP
Reads the \fB[server.tls]\fR certificate and key again; a pair that cannot be used is refused and the current one stays.
.SH SYSTEMD
Under a unit of \fBType=notify\fR, \fBtessera serve\fR reports its progress as \fBSTATUS=\fR, \fBREADY=1\fR once the store is recovered and every listener accepts connections, and \fBSTOPPING=1\fR when it begins to shut down (\fBsd_notify\fR(3)). Without \fBNOTIFY_SOCKET\fR it sends nothing.
.SH FILES
.TP
/etc/tessera/tessera.toml
The packaged configuration: every key with its default value, the store under /var/lib/tessera. Check it with \fBtessera check\-config \-\-config /etc/tessera/tessera.toml\fR.
.TP
/var/lib/tessera
The service's state directory (\fBStateDirectory=tessera\fR): the embedded RocksDB store.
.TP
/usr/share/tessera/sql
The schemas of the PostgreSQL and MySQL stores, for applying by hand (\fBtessera migrate\fR applies them too).
.TP
tessera.service
The systemd unit of the package, run as the \fBtessera\fR system user.
.TP
/usr/share/doc/tessera
README, ARCHITECTURE and CHANGELOG.
.SH "SEE ALSO"
\fBtessera\-serve\fR(1), \fBtessera\-check\-config\fR(1), \fBsystemctl\fR(1), \fBsd_notify\fR(3)
"#;

/// Writes tessera(1): synopsis, options, the list of subcommands, then exit status,
/// signals, systemd, files.
pub fn write_page(cmd: Command, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = prepared(cmd);
    cmd.build();
    let man = clap_mangen::Man::new(cmd);
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    out.write_all(OPERATOR_SECTIONS.as_bytes())?;
    man.render_version_section(out)?;
    out.flush()
}

/// Writes tessera.1 and one page per visible subcommand, at every depth
/// (tessera-serve.1, tessera-client-add.1, ...) into `dir`, which must exist.
pub fn write_pages(cmd: Command, dir: &Path) -> io::Result<()> {
    clap_mangen::generate_to(prepared(cmd.clone()), dir)?;
    // The generic tessera.1 is replaced by the one with the operator sections.
    let mut file = std::fs::File::create(dir.join(format!("{BIN}.1")))?;
    write_page(cmd, &mut file)
}

/// Writes `shell`'s completion script for every visible subcommand and option.
pub fn write_completions(cmd: Command, shell: Shell, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = prepared(cmd);
    cmd.build();
    shell.try_generate(&cmd, out)?;
    out.flush()
}

/// The command as the docs show it: named `tessera` whatever the executable is called, and
/// without the `help` pseudo-subcommand (every page documents `--help` already).
fn prepared(cmd: Command) -> Command {
    cmd.name(BIN).bin_name(BIN).disable_help_subcommand(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn cli() -> Command {
        crate::cli::Cli::command()
    }

    fn page() -> String {
        let mut out = Vec::new();
        write_page(cli(), &mut out).expect("render tessera(1)");
        String::from_utf8(out).expect("roff is UTF-8")
    }

    fn visible_subcommands() -> Vec<String> {
        cli()
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name().to_owned())
            .collect()
    }

    #[test]
    fn man_page_is_section_1_and_lists_every_visible_subcommand() {
        let page = page();
        assert!(
            page.lines().any(|l| l.starts_with(".TH tessera 1")),
            "no section-1 title line:\n{}",
            page.lines().take(5).collect::<Vec<_>>().join("\n")
        );
        let subcommands = visible_subcommands();
        for known in ["serve", "check-config", "client", "hash-secret"] {
            assert!(subcommands.iter().any(|s| s == known), "{subcommands:?}");
        }
        for name in &subcommands {
            assert!(
                // Roff escapes every hyphen of the page name.
                page.contains(&format!("tessera\\-{}(1)", name.replace('-', "\\-"))),
                "tessera(1) does not list `{name}`"
            );
        }
    }

    #[test]
    fn man_page_leaves_out_the_package_build_commands_and_has_the_operator_sections() {
        let page = page();
        for hidden in [
            "tessera\\-man(1)",
            "tessera\\-completions(1)",
            "tessera\\-help(1)",
        ] {
            assert!(!page.contains(hidden), "{hidden} is listed");
        }
        for section in [
            ".SH SUBCOMMANDS",
            ".SH \"EXIT STATUS\"",
            ".SH SIGNALS",
            ".SH SYSTEMD",
            ".SH FILES",
            ".SH VERSION",
        ] {
            assert!(page.contains(section), "tessera(1) lacks {section}");
        }
    }

    #[test]
    fn man_pages_into_a_directory_cover_nested_subcommands() {
        let dir = std::env::temp_dir().join(format!("tessera-man-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let written = write_pages(cli(), &dir);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let root = std::fs::read_to_string(dir.join("tessera.1")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        written.expect("write the pages");
        assert!(
            root.contains(".SH SIGNALS"),
            "tessera.1 is the generic page"
        );
        for page in ["tessera.1", "tessera-serve.1", "tessera-check-config.1"] {
            assert!(names.iter().any(|n| n == page), "{page} missing: {names:?}");
        }
        // `client` has its own subcommands; each gets a page.
        assert!(
            names.iter().any(|n| n.starts_with("tessera-client-")),
            "no page for a `client` subcommand: {names:?}"
        );
        assert!(
            !names.iter().any(|n| n.starts_with("tessera-man")),
            "{names:?}"
        );
    }

    #[test]
    fn completions_name_every_visible_subcommand_in_each_packaged_shell() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            write_completions(cli(), shell, &mut out).expect("generate");
            let script = String::from_utf8(out).expect("UTF-8");
            for name in visible_subcommands() {
                assert!(script.contains(&name), "{shell} completion lacks `{name}`");
            }
            // fish names long options as `-l config`.
            let config_option = match shell {
                Shell::Fish => "-l config",
                _ => "--config",
            };
            assert!(
                script.contains(config_option),
                "{shell} completion lacks --config"
            );
            assert!(
                !script.contains("completions"),
                "{shell} completion offers the package build's `completions`"
            );
        }
    }
}
