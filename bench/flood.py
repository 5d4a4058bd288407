#!/usr/bin/env python3
"""Connection flood for bench/flood.sh: holds N TCP connections to a server and re-opens
each one the server closes (as a real attacker would), plus slowloris clients that send a
token request one byte at a time and start again whenever they are cut off.

Connections come from the loopback source addresses given with --sources (Linux routes all
of 127.0.0.0/8 to lo), spread round-robin, so a per-address limit can be exercised or
side-stepped. Single-threaded, epoll through `selectors`; standard library only.

  --mode silent      connect and never send a byte
  --mode keepalive   send one GET /health, read the answer, then stay idle (keep-alive)

Prints "ready <open>" once the first N connections are open (flush), and on SIGTERM or
after --seconds a one-line JSON summary: connects, server closes, refused connects,
slowloris 408s and cut-offs.
"""
import argparse
import errno
import json
import selectors
import signal
import socket
import sys
import time

REQUEST = (
    b"POST /api/oauth/token HTTP/1.1\r\nHost: x\r\n"
    b"Authorization: Basic c3ZjLWE6YmVuY2gtc2VjcmV0\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\n"
    b"grant_type=client_credentials"
)
HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True, help="host:port")
    p.add_argument("--connections", type=int, default=10000)
    p.add_argument("--slowloris", type=int, default=0)
    p.add_argument("--slowloris-interval", type=float, default=0.3)
    p.add_argument("--sources", default="127.0.0.2", help="comma-separated, or FIRST+COUNT")
    p.add_argument("--mode", choices=["silent", "keepalive"], default="silent")
    p.add_argument("--seconds", type=float, default=3600)
    p.add_argument("--no-reopen", action="store_true")
    a = p.parse_args()
    host, port = a.target.rsplit(":", 1)
    target = (host, int(port))
    if "+" in a.sources:
        first, count = a.sources.split("+")
        base = [int(x) for x in first.split(".")]
        sources = ["%d.%d.%d.%d" % (base[0], base[1], base[2], base[3] + i) for i in range(int(count))]
    else:
        sources = a.sources.split(",")

    sel = selectors.DefaultSelector()
    slow = {}  # the slowloris sockets, so the byte loop does not walk the whole flood
    stats = {"connects": 0, "closed_by_server": 0, "connect_failed": 0,
             "slowloris_408": 0, "slowloris_cut": 0, "slowloris_bytes": 0}
    next_source = [0]
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__(0, True))

    def open_conn(kind):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        src = sources[next_source[0] % len(sources)]
        next_source[0] += 1
        try:
            s.bind((src, 0))
            s.setblocking(False)
            err = s.connect_ex(target)
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, "connect")
        except OSError:
            stats["connect_failed"] += 1
            s.close()
            return None
        state = {"kind": kind, "sent": 0, "phase": "connecting", "at": time.monotonic()}
        sel.register(s, selectors.EVENT_WRITE, state)
        if kind == "slow":
            slow[s] = state
        stats["connects"] += 1
        return s

    def reopen(kind, count=1):
        for _ in range(count):
            open_conn(kind)

    for _ in range(a.connections):
        open_conn("flood")
    for _ in range(a.slowloris):
        open_conn("slow")
    announced = False
    deadline = time.monotonic() + a.seconds
    pending_reopen = {"flood": 0, "slow": 0}

    while not stop[0] and time.monotonic() < deadline:
        events = sel.select(timeout=0.05)
        now = time.monotonic()
        for key, mask in events:
            s, st = key.fileobj, key.data
            if st["phase"] == "connecting":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    stats["connect_failed"] += 1
                    sel.unregister(s)
                    slow.pop(s, None)
                    s.close()
                    pending_reopen[st["kind"]] += 1
                    continue
                if st["kind"] == "flood" and a.mode == "keepalive":
                    s.send(HEALTH)
                st["phase"] = "open"
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            # Readable: data (a response) or the server's close.
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data and st["kind"] == "slow":
                if data.startswith(b"HTTP/1.1 408"):
                    stats["slowloris_408"] += 1
                continue
            if data:
                continue  # keep-alive answer to the one GET /health
            sel.unregister(s)
            slow.pop(s, None)
            s.close()
            if st["kind"] == "slow":
                stats["slowloris_cut"] += 1
            else:
                stats["closed_by_server"] += 1
            pending_reopen[st["kind"]] += 1
        if not announced and stats["connects"] >= a.connections + a.slowloris:
            opened = len(sel.get_map())
            print("ready %d" % opened, flush=True)
            announced = True
        if not a.no_reopen:
            for kind in ("flood", "slow"):
                n, pending_reopen[kind] = pending_reopen[kind], 0
                reopen(kind, n)
        # Slowloris: one byte per interval on each slow connection.
        for sock, st in slow.items():
            if st["phase"] != "open":
                continue
            if now - st["at"] >= a.slowloris_interval and st["sent"] < len(REQUEST):
                try:
                    sock.send(REQUEST[st["sent"]:st["sent"] + 1])
                    st["sent"] += 1
                    stats["slowloris_bytes"] += 1
                except OSError:
                    pass
                st["at"] = now
    stats["open_at_end"] = len(sel.get_map())
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    sys.exit(main())
