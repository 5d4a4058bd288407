#!/usr/bin/env python3
"""Runs a `tessera serve` command the way systemd runs a Type=notify unit, for machines where
systemd is not PID 1 (containers, CI): binds a NOTIFY_SOCKET, starts the command, and checks
the service's life as the unit sees it. tests/packaging/check-deb.sh runs it on the installed
package, as the `tessera` user, with the installed configuration.

Usage: notify_serve.py COMMAND [ARG...]

Checks, each failing with exit status 1: READY=1 arrives within 120 s (systemd's start timeout
is longer; a fresh store opens in about a second); the STATUS= sent with it names the address
it listens on, and /health answers 200 there at once; SIGTERM brings STOPPING=1 and a clean
exit (status 0) within 60 s.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


STDERR = None  # the server's stderr, a temporary file, shown when a check fails


def fail(message):
    if STDERR is not None:
        STDERR.seek(0)
        tail = STDERR.read().decode("utf-8", "replace")[-4000:]
        print(f"notify_serve: the server's stderr:\n{tail}", file=sys.stderr)
    print(f"notify_serve: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def wait_for(sock, line, limit, proc):
    """Notifications until one holds `line`; returns it (as a list of lines)."""
    deadline = time.monotonic() + limit
    seen = []
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            # Still read what it sent before it exited.
            sock.settimeout(0.2)
        else:
            sock.settimeout(max(0.1, min(1.0, deadline - time.monotonic())))
        try:
            message = sock.recv(4096).decode("utf-8", "replace").splitlines()
        except socket.timeout:
            if proc.poll() is not None:
                fail(f"exited ({proc.returncode}) before {line}; notifications: {seen}")
            continue
        if line in message:
            return message
        seen.append(message)
    fail(f"no {line} within {limit} s; notifications: {seen}")


def main():
    global STDERR
    command = sys.argv[1:]
    if not command:
        fail("usage: notify_serve.py COMMAND [ARG...]")
    with tempfile.TemporaryDirectory(prefix="tessera-notify-") as tmp:
        # The service may run as another user: it must reach the socket.
        os.chmod(tmp, 0o755)
        path = os.path.join(tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        os.chmod(path, 0o666)
        env = dict(os.environ, NOTIFY_SOCKET=path)
        STDERR = tempfile.TemporaryFile(dir=tmp)
        proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=STDERR)
        try:
            ready = wait_for(sock, "READY=1", 120, proc)
            status = next((l[len("STATUS="):] for l in ready if l.startswith("STATUS=")), "")
            # "listening on A[, plain B][, admin C]": the public listener is the first.
            addr = status.split("listening on ", 1)[-1].split(",")[0].strip()
            if ":" not in addr:
                fail(f"READY=1 without an address in STATUS: {ready}")
            with urllib.request.urlopen(f"http://{addr}/health", timeout=10) as response:
                if response.status != 200:
                    fail(f"/health on {addr} answered {response.status}")
            print(f"notify_serve: ok: READY=1 ({status}); /health answers 200")
            proc.send_signal(signal.SIGTERM)
            stopping = wait_for(sock, "STOPPING=1", 60, proc)
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                fail("still running 60 s after SIGTERM")
            if code != 0:
                fail(f"exit status {code} after SIGTERM")
            print(f"notify_serve: ok: SIGTERM: {stopping}; exit 0")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
