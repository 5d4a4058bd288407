#!/usr/bin/env bash
# Installs the Debian package built by `make deb` on this machine and checks what an operator
# gets: `make package` runs it (and `make test` runs that). Usage: check-deb.sh TESSERA.deb
#
# Checks, each failing the run: the package's metadata and file list; `dpkg -i`; the
# service user and the configuration's owner and mode; the installed `tessera
# check-config` on the installed /etc/tessera/tessera.toml, whose store is under
# /var/lib/tessera; the man pages (`man -w`, and `man` renders them); the bash, zsh and fish
# completions; `systemd-analyze verify` of the installed unit; and `dpkg --purge` removing
# it all again. With systemd as PID 1 it also starts the unit and waits for `active`
# (Type=notify: READY=1); elsewhere (containers, CI here) it runs the unit's ExecStartPre and
# ExecStart by hand as the tessera user in its state directory, with a NOTIFY_SOCKET
# (notify_serve.py): READY=1, /health 200, SIGTERM, STOPPING=1, exit 0 — and the purge must
# then remove the store it wrote.
#
# Needs root (dpkg), or sudo. A tessera package installed before the check is purged with
# the rest; the script says so at the start and the end.
set -euo pipefail

deb="${1:?usage: check-deb.sh TESSERA.deb}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ -f "$deb" ] || { echo "check-deb: no package at $deb" >&2; exit 1; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }
ok() { echo "check-deb: ok: $*"; }

# A tessera package installed before this run (a developer's own) is reinstalled at the end.
previous=""
# Outputs are read whole before grep -q sees them: with pipefail, `producer | grep -q` fails
# whenever grep exits at its match before the producer has written everything (SIGPIPE).
if grep -q "install ok installed" <<<"$(dpkg-query -W -f='${Status}' tessera 2>/dev/null || true)"; then
  previous="$(dpkg-query -W -f='${Version}' tessera)"
  echo "check-deb: tessera $previous is installed; it is purged for the check, reinstall it afterwards"
fi

started_ms=$(( $(date +%s%N) / 1000000 ))

# --- The package itself ------------------------------------------------------------------
info="$(dpkg-deb --info "$deb")"
for field in "Package: tessera" "Section: net" "Depends:"; do
  grep -q "$field" <<<"$info" || fail "control lacks '$field'"
done
grep -q "Depends:.*adduser" <<<"$info" || fail "Depends lacks adduser"
grep -q "Depends:.*libssl" <<<"$info" || fail "Depends lacks the OpenSSL library the binary links"
contents="$(dpkg-deb --contents "$deb" | awk '{print $6}')"
for path in \
  ./usr/bin/tessera \
  ./etc/tessera/tessera.toml \
  ./usr/lib/systemd/system/tessera.service \
  ./usr/share/man/man1/tessera.1.gz \
  ./usr/share/man/man1/tessera-serve.1.gz \
  ./usr/share/bash-completion/completions/tessera \
  ./usr/share/zsh/vendor-completions/_tessera \
  ./usr/share/fish/vendor_completions.d/tessera.fish \
  ./usr/share/tessera/sql/postgres/oauth-server.sql \
  ./usr/share/tessera/sql/mysql/oauth-server.sql \
  ./usr/share/tessera/templates/login.html \
  ./usr/share/doc/tessera/README.md \
  ./usr/share/doc/tessera/copyright; do
  grep -qx "$path" <<<"$contents" || fail "the package lacks $path"
done
control="$(dpkg-deb --ctrl-tarfile "$deb" | tar -tf -)"
grep -qx './conffiles' <<<"$control" || fail "no conffiles"
grep -qx /etc/tessera/tessera.toml <<<"$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)" \
  || fail "/etc/tessera/tessera.toml is not a conffile"
ok "metadata and $(wc -l <<<"$contents") paths"

# --- Install -------------------------------------------------------------------------------
if [ -n "$previous" ]; then $SUDO dpkg --purge tessera >/dev/null; fi
# A failed check purges what it installed, so the next run starts from a clean machine.
installed=1
trap 'if [ "$installed" = 1 ]; then $SUDO dpkg --purge tessera >/dev/null 2>&1 || true; fi' EXIT
$SUDO dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb"
ok "dpkg -i $(basename "$deb")"

getent passwd tessera >/dev/null || fail "no tessera system user"
[ "$(id -u tessera)" -lt 1000 ] || fail "the tessera user is not a system user"
owner="$(stat -c '%U:%G %a' /etc/tessera/tessera.toml)"
[ "$owner" = "root:tessera 640" ] || fail "/etc/tessera/tessera.toml is $owner, want root:tessera 640"
ok "system user tessera; /etc/tessera/tessera.toml $owner"

# The installed binary on the installed configuration, as the service's ExecStartPre does.
out="$(/usr/bin/tessera check-config --config /etc/tessera/tessera.toml)" \
  || fail "tessera check-config on the installed configuration"
grep -q ": ok" <<<"$out" || fail "check-config said: $out"
grep -qx 'path = "/var/lib/tessera/data"' /etc/tessera/tessera.toml \
  || fail "the installed configuration's store is not under /var/lib/tessera"
grep -q '^tessera ' <<<"$(/usr/bin/tessera --version)" || fail "tessera --version"
ok "$out"

manpage="$(man -w tessera)" || fail "man -w tessera"
[ "$manpage" = /usr/share/man/man1/tessera.1.gz ] || fail "man -w tessera found $manpage"
man -w tessera-serve >/dev/null || fail "man -w tessera-serve"
# The page renders (groff) and carries what `tessera man` puts in it.
rendered="$(MANWIDTH=100 man -P cat tessera 2>/dev/null)" || fail "man tessera does not render"
for section in SYNOPSIS SUBCOMMANDS SIGNALS FILES; do
  grep -q "^$section" <<<"$rendered" || fail "man tessera lacks $section"
done
ok "man pages ($manpage)"

# Each completion script parses in its shell where that shell is installed.
bash -n /usr/share/bash-completion/completions/tessera || fail "bash completion does not parse"
if command -v zsh >/dev/null; then zsh -n /usr/share/zsh/vendor-completions/_tessera || fail "zsh completion"; fi
if command -v fish >/dev/null; then fish -n /usr/share/fish/vendor_completions.d/tessera.fish || fail "fish completion"; fi
completions="$(bash -c 'source /usr/share/bash-completion/completions/tessera
  COMP_WORDS=(tessera ch); COMP_CWORD=1; _tessera tessera ch tessera; printf "%s\n" "${COMPREPLY[@]}"')"
grep -qx check-config <<<"$completions" || fail "bash completes 'tessera ch' to: $completions"
ok "completions (bash completes 'tessera ch' to check-config)"

# The installed unit, with the binary and man page it names now present.
verify="$(systemd-analyze verify /usr/lib/systemd/system/tessera.service 2>&1)" \
  || fail "systemd-analyze verify: $verify"
exposure="$(systemd-analyze security --offline=true /usr/lib/systemd/system/tessera.service 2>&1 | tail -1)"
ok "systemd-analyze verify; ${exposure#→ }"

if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  $SUDO systemctl daemon-reload
  $SUDO systemctl start tessera || fail "systemctl start tessera: $(journalctl -u tessera -n 30 --no-pager)"
  [ "$(systemctl is-active tessera)" = active ] || fail "tessera.service is not active"
  ok "systemctl start tessera: active"
  $SUDO systemctl stop tessera
else
  echo "check-deb: skipped: systemctl start (PID 1 is $(cat /proc/1/comm 2>/dev/null), not systemd);" \
    "running the unit's ExecStart as it would instead"
  # What the unit does, by hand: its StateDirectory, then ExecStartPre and ExecStart as the
  # tessera user in /var/lib/tessera, with a NOTIFY_SOCKET to wait for READY=1 on.
  # setpriv execs the server itself (runuser would stay in between and eat the SIGTERM);
  # port 0, so a service already on the configured 8080 does not matter.
  as_tessera=(setpriv --reuid=tessera --regid=tessera --init-groups --)
  $SUDO install -d -o tessera -g tessera -m 0750 /var/lib/tessera
  (cd /var/lib/tessera && $SUDO "${as_tessera[@]}" \
    /usr/bin/tessera check-config --config /etc/tessera/tessera.toml >/dev/null) \
    || fail "ExecStartPre as the tessera user"
  (cd /var/lib/tessera && $SUDO python3 "$here/notify_serve.py" "${as_tessera[@]}" \
    /usr/bin/tessera serve --config /etc/tessera/tessera.toml --listen 127.0.0.1:0) \
    || fail "tessera serve as the unit runs it"
  [ -d /var/lib/tessera/data ] || fail "the store is not under /var/lib/tessera/data"
  ok "serve as the tessera user: READY=1, /health, STOPPING=1, exit 0"
fi

# --- Purge ---------------------------------------------------------------------------------
$SUDO dpkg --purge tessera >/dev/null || fail "dpkg --purge tessera"
installed=0
for path in /usr/bin/tessera /etc/tessera/tessera.toml /usr/lib/systemd/system/tessera.service /var/lib/tessera; do
  [ ! -e "$path" ] || fail "$path is left after dpkg --purge"
done
ok "dpkg --purge removes it"

if [ -n "$previous" ]; then
  echo "check-deb: tessera $previous was installed before this check: reinstall it (apt-get install tessera=$previous or your .deb)"
fi
echo "check-deb: package checks passed in $(( $(date +%s%N) / 1000000 - started_ms )) ms"
