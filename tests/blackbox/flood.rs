//! Connection floods (issue 15): connections that never send a byte, slowloris clients and
//! many connections from one address must not starve the clients that send requests.
//!
//! - a new connection that has not begun its first request within
//!   `server.first_request_timeout_secs` is closed silently (not held for the keep-alive
//!   timeout), and empty lines do not extend that;
//! - a request whose bytes trickle in still gets 408 at `request_timeout_secs`;
//! - `server.max_connections_per_address` closes the connection past the limit at once,
//!   without touching other addresses;
//! - at `max_connections_per_worker` the connection idle longest is closed to make room.
//!
//! The servers here run with small caps, so a few thousand connections are enough. Timing
//! bounds are generous: they tell a short timeout from a long one, nothing finer.

use crate::harness::*;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

const OTHER_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The test process holds thousands of sockets: lift its soft descriptor limit first.
fn raise_fd_limit() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
}

fn addr(server: &Server) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port()))
}

/// `n` connections that never send anything.
fn silent_connections(server: &Server, n: usize) -> Vec<TcpStream> {
    raise_fd_limit();
    (0..n)
        .map(|i| {
            TcpStream::connect_timeout(&addr(server), Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("connection {i}: {e}"))
        })
        .collect()
}

fn closed(server: &Server, reason: &str) -> f64 {
    server
        .metrics()
        .value("tessera_connections_closed_total", &[("reason", reason)])
}

fn cc_request() -> Vec<u8> {
    raw_form_post(
        TOKEN_PATH,
        "grant_type=client_credentials",
        &[("Authorization", &basic_auth("svc-a", "secret-a"))],
    )
}

#[test]
fn client_credentials_succeed_while_2000_silent_connections_are_held() {
    let config = ConfigBuilder::standard()
        .server("workers", "2")
        .server("max_connections_per_worker", "500")
        .server("max_connections_per_address", "0")
        .server("first_request_timeout_secs", "30")
        .build();
    let server = Server::start(&config);
    let flood = silent_connections(&server, 2000);
    for i in 0..20 {
        let r = server.client_credentials(&confidential_client(), None);
        assert_eq!(
            r.status,
            200,
            "request {i} during the flood: {}",
            r.summary()
        );
    }
    assert!(
        closed(&server, "evicted_idle") >= 1000.0,
        "the cap was reached and silent connections made room"
    );
    drop(flood);
}

#[test]
fn a_connection_that_sends_nothing_is_closed_silently_at_first_request_timeout() {
    let config = ConfigBuilder::standard()
        .server("first_request_timeout_secs", "1")
        .server("keepalive_timeout_secs", "60")
        .build();
    let server = Server::start(&config);
    let mut silent = server.conn();
    let started = Instant::now();
    // `wait_closed` fails on any byte: no 408, a plain close.
    assert_eq!(
        silent.wait_closed(Duration::from_secs(20)),
        CloseOutcome::Closed
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "held like a keep-alive connection"
    );
    assert!(closed(&server, "first_request_timeout") >= 1.0);

    // A connection that has been served is kept for the keep-alive timeout instead.
    let mut served = server.conn();
    assert_eq!(served.roundtrip(&cc_request()).status, 200);
    served.assert_open_for(Duration::from_millis(2500));
    assert_eq!(served.roundtrip(&cc_request()).status, 200);
}

#[test]
fn empty_lines_do_not_extend_the_first_request_timeout() {
    let config = ConfigBuilder::standard()
        .server("first_request_timeout_secs", "1")
        .build();
    let server = Server::start(&config);
    let mut conn = server.conn();
    let started = Instant::now();
    // RFC 9112 §2.2 lets a server ignore empty lines before a request; they are not a
    // request beginning, so they buy no time.
    let outcome = loop {
        if conn.try_send(b"\r\n").is_err() {
            break CloseOutcome::Closed;
        }
        let outcome = conn.wait_closed(Duration::from_millis(300));
        if outcome == CloseOutcome::Closed || started.elapsed() > Duration::from_secs(20) {
            break outcome;
        }
    };
    assert_eq!(outcome, CloseOutcome::Closed, "empty lines kept it open");
}

#[test]
fn slowloris_still_gets_408_at_request_timeout() {
    let config = ConfigBuilder::standard()
        .server("first_request_timeout_secs", "1")
        .server("request_timeout_secs", "2")
        .build();
    let server = Server::start(&config);
    let mut conn = server.conn();
    let request = cc_request();
    let started = Instant::now();
    for b in &request {
        if conn.try_send(&[*b]).is_err() || conn.data_within(Duration::from_millis(300)) {
            break;
        }
    }
    let r = conn.read_response();
    assert_eq!(r.status, 408, "{}", r.summary());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the trickle was cut off by request_timeout_secs"
    );
    conn.assert_closed();
}

#[test]
fn past_max_connections_per_address_a_connection_is_closed_and_other_addresses_are_served() {
    let config = ConfigBuilder::standard()
        .server("workers", "1")
        .server("max_connections_per_address", "3")
        .server("first_request_timeout_secs", "30")
        .build();
    let server = Server::start(&config);
    let addr = addr(&server);
    let mut held: Vec<Conn> = (0..3)
        .map(|_| Conn::connect_from(OTHER_PEER, addr))
        .collect();
    let mut fourth = Conn::connect_from(OTHER_PEER, addr);
    assert_eq!(
        fourth.wait_closed(Duration::from_secs(5)),
        CloseOutcome::Closed
    );
    assert!(closed(&server, "address_limit") >= 1.0);

    // 127.0.0.1 is another address: served as usual.
    assert_eq!(
        server
            .client_credentials(&confidential_client(), None)
            .status,
        200
    );
    // The held ones are served too.
    assert_eq!(held[0].roundtrip(&cc_request()).status, 200);

    // Once one closes, the address has room again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = Conn::connect_from(OTHER_PEER, addr);
        let _ = again.try_send(&cc_request());
        match again.try_read_response() {
            Ok(r) if r.status == 200 => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "no room after a close: {other:?}"
                );
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[test]
fn at_max_connections_per_worker_the_longest_idle_keep_alive_connection_makes_room() {
    let config = ConfigBuilder::standard()
        .server("workers", "1")
        .server("max_connections_per_worker", "4")
        .build();
    let server = Server::start(&config);
    let mut idle: Vec<Conn> = Vec::new();
    for _ in 0..4 {
        let mut c = server.conn();
        assert_eq!(c.roundtrip(&cc_request()).status, 200);
        idle.push(c);
        // Their idle periods begin in this order.
        thread::sleep(Duration::from_millis(50));
    }
    let mut newcomer = server.conn();
    assert_eq!(newcomer.roundtrip(&cc_request()).status, 200);
    assert_eq!(
        idle[0].wait_closed(Duration::from_secs(5)),
        CloseOutcome::Closed,
        "the connection idle longest was closed"
    );
    for c in &mut idle[1..] {
        assert_eq!(c.roundtrip(&cc_request()).status, 200, "the others stay");
    }
    assert!(closed(&server, "evicted_idle") >= 1.0);
}
