//! HTTP/1.1 behaviour of the listener (RFC 9112, RFC 9110): persistent connections,
//! pipelining, chunked bodies, limits, malformed and split requests, timeouts, the
//! per-worker connection limit and HTTP/1.0.

use std::thread;
use std::time::{Duration, Instant};

use crate::harness::*;

fn health() -> Vec<u8> {
    raw_request("GET", "/health", &[], b"")
}

fn cc_request(id: &str, secret: &str, extra: &str) -> Vec<u8> {
    let auth = basic_auth(id, secret);
    raw_form_post(
        TOKEN_PATH,
        &format!("grant_type=client_credentials{extra}"),
        &[("Authorization", &auth)],
    )
}

// ---- persistent connections ------------------------------------------------------------

#[test]
fn rfc9112_9_3_http11_connections_persist_across_requests() {
    let server = Server::start_default();
    let mut conn = server.conn();
    for i in 0..3 {
        let r = conn.roundtrip(&health());
        assert_eq!(r.status, 200, "request {i}: {}", r.summary());
        assert!(
            !r.closes(),
            "request {i} closed the connection: {}",
            r.summary()
        );
    }
    let r = conn.roundtrip(&cc_request("svc-a", "secret-a", ""));
    assert_eq!(r.status, 200, "{}", r.summary());
    let token = r.json_str("access_token");
    let r = conn.roundtrip(&raw_request(
        "GET",
        &format!("{TOKENINFO_PATH}?access_token={token}"),
        &[],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json_str("audience"), "svc-a");
}

#[test]
fn rfc9112_9_6_connection_close_request_gets_connection_close_and_the_server_closes() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let r = conn.roundtrip(&raw_request(
        "GET",
        "/health",
        &[("Connection", "close")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(
        r.closes(),
        "response should say Connection: close: {}",
        r.summary()
    );
    conn.assert_closed();
}

#[test]
fn rfc9112_9_3_http10_request_without_keep_alive_gets_response_then_close() {
    let server = Server::start_default();
    let mut conn = server.conn();
    conn.send(b"GET /health HTTP/1.0\r\n\r\n");
    let r = conn.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json()["status"], "ok");
    conn.assert_closed();
}

#[test]
fn rfc9112_9_3_http10_token_request_works_and_closes() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let body = "grant_type=client_credentials";
    let req = format!(
        "POST {TOKEN_PATH} HTTP/1.0\r\nAuthorization: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        basic_auth("svc-a", "secret-a"),
        body.len()
    );
    let r = conn.roundtrip(req.as_bytes());
    Issued::from_response(r);
    conn.assert_closed();
}

#[test]
fn idle_keep_alive_connection_stays_open_within_the_keepalive_timeout() {
    let server = Server::start_default();
    let mut conn = server.conn();
    assert_eq!(conn.roundtrip(&health()).status, 200);
    conn.assert_open_for(Duration::from_millis(1500));
    assert_eq!(conn.roundtrip(&health()).status, 200);
}

// ---- pipelining ------------------------------------------------------------------------

#[test]
fn rfc9112_9_3_2_pipelined_requests_in_one_write_are_answered_in_order() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let mut batch = health();
    batch.extend(raw_request("GET", "/no/such/path", &[], b""));
    batch.extend(raw_request("GET", TOKEN_PATH, &[], b""));
    conn.send(&batch);
    let rs = conn.read_responses(3);
    let statuses: Vec<u16> = rs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 404, 405]);
    // The connection is still usable afterwards.
    assert_eq!(conn.roundtrip(&health()).status, 200);
}

#[test]
fn rfc9112_9_3_2_pipelined_token_requests_with_bodies_are_answered_in_order() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let mut batch = cc_request("svc-a", "secret-a", "&scope=write");
    batch.extend(cc_request("svc-b", "secret-b", ""));
    batch.extend(cc_request("svc-a", "wrong", ""));
    batch.extend(cc_request("svc-a", "secret-a", "&scope=read+write"));
    conn.send(&batch);
    let rs = conn.read_responses(4);
    assert_eq!(rs[0].status, 200, "{}", rs[0].summary());
    assert_eq!(rs[0].json_str("scope"), "write");
    assert_eq!(rs[1].status, 200, "{}", rs[1].summary());
    assert_eq!(rs[1].json_str("scope"), "read");
    assert_invalid_client_basic(&rs[2], "tessera");
    assert_eq!(rs[3].status, 200, "{}", rs[3].summary());
    assert_eq!(scope_set(&rs[3].json_str("scope")), scope_set("read write"));
    // The tokens belong to the right clients.
    let info = server.tokeninfo(&rs[1].json_str("access_token"));
    assert_eq!(info.json_str("audience"), "svc-b");
}

#[test]
fn rfc9112_9_3_2_fifty_pipelined_requests_get_fifty_responses() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let mut batch = Vec::new();
    for i in 0..50 {
        if i % 2 == 0 {
            batch.extend(health());
        } else {
            batch.extend(raw_request("GET", "/missing", &[], b""));
        }
    }
    conn.send(&batch);
    let rs = conn.read_responses(50);
    for (i, r) in rs.iter().enumerate() {
        let expected = if i % 2 == 0 { 200 } else { 404 };
        assert_eq!(r.status, expected, "response {i}: {}", r.summary());
    }
}

#[test]
fn rfc9112_9_6_pipelined_requests_ending_with_connection_close_are_all_answered_then_closed() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let mut batch = health();
    batch.extend(health());
    batch.extend(raw_request(
        "GET",
        "/health",
        &[("Connection", "close")],
        b"",
    ));
    conn.send(&batch);
    let rs = conn.read_responses(3);
    assert!(rs.iter().all(|r| r.status == 200));
    assert!(rs[2].closes(), "{}", rs[2].summary());
    conn.assert_closed();
}

#[test]
fn error_response_to_a_request_with_a_body_keeps_the_connection_in_sync() {
    let server = Server::start_default();
    let mut conn = server.conn();
    // 404 with a body that the server must skip.
    let r = conn.roundtrip(&raw_form_post("/nowhere", "a=1&b=2&c=3", &[]));
    assert_eq!(r.status, 404, "{}", r.summary());
    // 400 (wrong content type) with a body that the server must skip.
    let auth = basic_auth("svc-a", "secret-a");
    let r = conn.roundtrip(&raw_request(
        "POST",
        TOKEN_PATH,
        &[("Content-Type", "text/plain"), ("Authorization", &auth)],
        b"grant_type=client_credentials",
    ));
    assert_eq!(r.status, 400, "{}", r.summary());
    let r = conn.roundtrip(&cc_request("svc-a", "secret-a", ""));
    assert_eq!(r.status, 200, "{}", r.summary());
}

// ---- split and chunked requests --------------------------------------------------------

#[test]
fn request_split_across_many_writes_with_pauses_is_served() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let req = cc_request("svc-a", "secret-a", "&scope=read+write");
    let split = req
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end")
        + 4;
    let (head, body) = req.split_at(split);
    // The head byte by byte, then the body in two parts.
    conn.send_slowly(head, 1, Duration::from_millis(1));
    thread::sleep(Duration::from_millis(50));
    let (b1, b2) = body.split_at(body.len() / 2);
    conn.send(b1);
    thread::sleep(Duration::from_millis(100));
    conn.send(b2);
    let r = conn.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(scope_set(&r.json_str("scope")), scope_set("read write"));
}

#[test]
fn request_split_inside_the_crlf_crlf_is_served() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let req = health();
    let n = req.len();
    conn.send(&req[..n - 3]);
    thread::sleep(Duration::from_millis(50));
    conn.send(&req[n - 3..n - 1]);
    thread::sleep(Duration::from_millis(50));
    conn.send(&req[n - 1..]);
    assert_eq!(conn.read_response().status, 200);
}

#[test]
fn pipelined_requests_arriving_in_odd_pieces_are_served_in_order() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let mut batch = cc_request("svc-a", "secret-a", "");
    batch.extend(health());
    batch.extend(cc_request("svc-b", "secret-b", "&scope=write"));
    conn.send_slowly(&batch, 37, Duration::from_millis(5));
    let rs = conn.read_responses(3);
    assert_eq!(rs[0].status, 200, "{}", rs[0].summary());
    assert_eq!(rs[1].status, 200, "{}", rs[1].summary());
    assert_eq!(rs[1].json()["status"], "ok");
    assert_eq!(rs[2].json_str("scope"), "write");
}

#[test]
fn rfc9112_7_1_chunked_request_body_is_decoded() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let auth = basic_auth("svc-a", "secret-a");
    let req = format!(
        "POST {TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
         11\r\ngrant_type=client\r\nC\r\n_credentials\r\nb\r\n&scope=writ\r\n1\r\ne\r\n0\r\n\r\n"
    );
    let r = conn.roundtrip(req.as_bytes());
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json_str("scope"), "write");
    // The connection stays in sync after the chunked body.
    assert_eq!(conn.roundtrip(&health()).status, 200);
}

#[test]
fn rfc9112_7_1_chunked_body_split_across_writes_is_decoded() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let auth = basic_auth("svc-a", "secret-a");
    let head = format!(
        "POST {TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    conn.send(head.as_bytes());
    for piece in [
        "1D\r\ngrant_type=",
        "client_credentials\r\n",
        "0",
        "\r\n",
        "\r",
        "\n",
    ] {
        thread::sleep(Duration::from_millis(30));
        conn.send(piece.as_bytes());
    }
    let r = conn.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn rfc9112_7_1_1_unknown_chunk_extensions_are_ignored() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let auth = basic_auth("svc-a", "secret-a");
    let req = format!(
        "POST {TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
         1d;name=value\r\ngrant_type=client_credentials\r\n0\r\n\r\n"
    );
    let r = conn.roundtrip(req.as_bytes());
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn rfc9112_6_1_content_length_together_with_transfer_encoding_is_400() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let auth = basic_auth("svc-a", "secret-a");
    let req = format!(
        "POST {TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 34\r\n\
         Transfer-Encoding: chunked\r\n\r\n\
         1d\r\ngrant_type=client_credentials\r\n0\r\n\r\n"
    );
    let r = conn.roundtrip(req.as_bytes());
    assert_eq!(r.status, 400, "{}", r.summary());
    conn.assert_closed();
}

#[test]
fn rfc9110_5_1_header_names_are_case_insensitive() {
    let server = Server::start_default();
    let body = "grant_type=client_credentials";
    let req = format!(
        "POST {TOKEN_PATH} HTTP/1.1\r\nhost: x\r\nAUTHORIZATION: {}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-LENGTH: {}\r\n\r\n{body}",
        basic_auth("svc-a", "secret-a"),
        body.len()
    );
    let r = server.send_raw(req.as_bytes());
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn rfc9110_6_6_1_responses_carry_a_date_header() {
    let server = Server::start_default();
    let r = server.get("/health");
    let date = r
        .header("Date")
        .unwrap_or_else(|| panic!("no Date: {}", r.summary()));
    assert!(
        date.ends_with(" GMT"),
        "Date {date:?} should be an IMF-fixdate"
    );
}

// ---- limits ----------------------------------------------------------------------------

#[test]
fn rfc9112_3_request_line_over_8_kib_is_414() {
    let server = Server::start_default();
    let target = format!("/health?pad={}", "a".repeat(9000));
    let r = server.send_raw(&raw_request("GET", &target, &[], b""));
    assert_eq!(r.status, 414, "{}", r.summary());
}

#[test]
fn request_line_of_a_few_kib_is_accepted() {
    let server = Server::start_default();
    let target = format!("/health?pad={}", "a".repeat(4000));
    let r = server.send_raw(&raw_request("GET", &target, &[], b""));
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn rfc6585_5_headers_over_16_kib_total_are_431() {
    let server = Server::start_default();
    let pad = "p".repeat(4000);
    let headers: Vec<(String, String)> = (0..5)
        .map(|i| (format!("X-Pad-{i}"), pad.clone()))
        .collect();
    let hdrs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = server.send_raw(&raw_request("GET", "/health", &hdrs, b""));
    assert_eq!(r.status, 431, "{}", r.summary());
}

#[test]
fn rfc6585_5_more_than_100_headers_are_431() {
    let server = Server::start_default();
    let headers: Vec<(String, String)> = (0..120)
        .map(|i| (format!("X-H-{i}"), "v".to_string()))
        .collect();
    let hdrs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = server.send_raw(&raw_request("GET", "/health", &hdrs, b""));
    assert_eq!(r.status, 431, "{}", r.summary());
}

#[test]
fn fifty_headers_totalling_10_kib_are_accepted() {
    let server = Server::start_default();
    let pad = "q".repeat(200);
    let headers: Vec<(String, String)> = (0..50)
        .map(|i| (format!("X-Pad-{i}"), pad.clone()))
        .collect();
    let hdrs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = server.send_raw(&raw_request("GET", "/health", &hdrs, b""));
    assert_eq!(r.status, 200, "{}", r.summary());
}

fn small_body_config() -> String {
    ConfigBuilder::standard()
        .server("max_body_bytes", "1024")
        .build()
}

#[test]
fn rfc9110_15_5_14_body_over_max_body_bytes_is_413() {
    let server = Server::start(&small_body_config());
    let auth = basic_auth("svc-a", "secret-a");
    let body = format!("grant_type=client_credentials&pad={}", "x".repeat(2000));
    let r = server.send_raw(&raw_form_post(
        TOKEN_PATH,
        &body,
        &[("Authorization", &auth)],
    ));
    assert_eq!(r.status, 413, "{}", r.summary());
}

#[test]
fn rfc9110_15_5_14_chunked_body_over_max_body_bytes_is_413() {
    let server = Server::start(&small_body_config());
    let auth = basic_auth("svc-a", "secret-a");
    let chunk = "x".repeat(500);
    let mut req = format!(
        "POST {TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
         1d\r\ngrant_type=client_credentials\r\n"
    );
    for _ in 0..4 {
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    let r = server.send_raw(req.as_bytes());
    assert_eq!(r.status, 413, "{}", r.summary());
}

#[test]
fn body_just_under_max_body_bytes_is_accepted() {
    let server = Server::start(&small_body_config());
    let auth = basic_auth("svc-a", "secret-a");
    let prefix = "grant_type=client_credentials&pad=";
    let body = format!("{prefix}{}", "x".repeat(1000 - prefix.len()));
    assert_eq!(body.len(), 1000);
    let r = server.send_raw(&raw_form_post(
        TOKEN_PATH,
        &body,
        &[("Authorization", &auth)],
    ));
    assert_eq!(r.status, 200, "{}", r.summary());
}

// ---- malformed requests, routing -------------------------------------------------------

#[test]
fn garbage_bytes_get_400_and_close() {
    Server::start_default().assert_rejected_and_closed(
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        400,
    );
}

#[test]
fn malformed_request_line_gets_400_and_close() {
    Server::start_default().assert_rejected_and_closed(b"THIS IS NOT HTTP AT ALL\r\n\r\n", 400);
}

#[test]
fn invalid_content_length_gets_400_and_close() {
    Server::start_default().assert_rejected_and_closed(
        b"POST /api/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        400,
    );
}

#[test]
fn unknown_path_is_404() {
    let server = Server::start_default();
    let r = server.get("/api/oauth/nope");
    assert_eq!(r.status, 404, "{}", r.summary());
    let r = server.get("/");
    assert_eq!(r.status, 404, "{}", r.summary());
}

fn allow_set(r: &Response) -> Vec<String> {
    let mut v: Vec<String> = r
        .header("Allow")
        .unwrap_or_else(|| panic!("405 without Allow: {}", r.summary()))
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .collect();
    v.sort();
    v
}

#[test]
fn rfc9110_15_5_6_get_on_the_token_endpoint_is_405_with_allow_post() {
    let server = Server::start_default();
    let r = server.get(TOKEN_PATH);
    assert_eq!(r.status, 405, "{}", r.summary());
    assert_eq!(allow_set(&r), vec!["POST"]);
}

#[test]
fn rfc9110_15_5_6_get_on_revoke_and_introspect_is_405_with_allow_post() {
    let server = Server::start_default();
    for path in [REVOKE_PATH, INTROSPECT_PATH] {
        let r = server.get(path);
        assert_eq!(r.status, 405, "{path}: {}", r.summary());
        assert_eq!(allow_set(&r), vec!["POST"], "{path}");
    }
}

#[test]
fn rfc9110_15_5_6_delete_on_tokeninfo_is_405_with_allow_get_head_post() {
    let server = Server::start_default();
    let r = server.send_raw(&raw_request("DELETE", TOKENINFO_PATH, &[], b""));
    assert_eq!(r.status, 405, "{}", r.summary());
    // HEAD is served wherever GET is (RFC 9110 §9.3.2), so Allow lists it.
    assert_eq!(allow_set(&r), vec!["GET", "HEAD", "POST"]);
}

#[test]
fn query_string_does_not_change_the_route() {
    let server = Server::start_default();
    let r = server.get("/health?verbose=1");
    assert_eq!(r.status, 200, "{}", r.summary());
}

// ---- timeouts and the connection limit -------------------------------------------------

#[test]
fn half_sent_request_head_gets_408_and_close_after_request_timeout() {
    let config = ConfigBuilder::standard()
        .server("request_timeout_secs", "1")
        .build();
    let server = Server::start(&config);
    let mut conn = server.conn();
    conn.send(b"POST /api/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Le");
    let started = Instant::now();
    let r = conn.read_response();
    assert_eq!(r.status, 408, "{}", r.summary());
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "408 came before the request timeout"
    );
    conn.assert_closed();
}

#[test]
fn half_sent_request_body_gets_408_and_close_after_request_timeout() {
    let config = ConfigBuilder::standard()
        .server("request_timeout_secs", "1")
        .build();
    let server = Server::start(&config);
    let mut conn = server.conn();
    let req = cc_request("svc-a", "secret-a", "");
    conn.send(&req[..req.len() - 10]);
    let r = conn.read_response();
    assert_eq!(r.status, 408, "{}", r.summary());
    conn.assert_closed();
}

#[test]
fn request_timeout_does_not_cut_a_slow_request_that_completes_in_time() {
    let config = ConfigBuilder::standard()
        .server("request_timeout_secs", "3")
        .build();
    let server = Server::start(&config);
    let mut conn = server.conn();
    let req = cc_request("svc-a", "secret-a", "");
    conn.send_slowly(&req, 40, Duration::from_millis(100));
    let r = conn.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn idle_keep_alive_connection_is_closed_after_keepalive_timeout() {
    let config = ConfigBuilder::standard()
        .server("keepalive_timeout_secs", "1")
        .build();
    let server = Server::start(&config);
    let mut conn = server.conn();
    assert_eq!(conn.roundtrip(&health()).status, 200);
    assert_eq!(
        conn.wait_closed(Duration::from_secs(6)),
        CloseOutcome::Closed,
        "idle connection should be closed after keepalive_timeout_secs = 1"
    );
}

#[test]
fn over_max_connections_per_worker_with_none_idle_a_new_connection_gets_503_and_close() {
    let config = ConfigBuilder::standard()
        .server("workers", "1")
        .server("max_connections_per_worker", "2")
        .build();
    let server = Server::start(&config);
    // Both admitted connections are in the middle of a request, so neither is idle and
    // neither can be evicted to make room (see tests/blackbox/flood.rs for idle ones).
    let request = health();
    let (head, rest) = request.split_at(10);
    let mut c1 = server.conn();
    c1.send(head);
    let mut c2 = server.conn();
    c2.send(head);
    thread::sleep(Duration::from_millis(200));

    let mut c3 = server.conn();
    // The server may answer at once or only after reading a request; allow both.
    if !c3.data_within(Duration::from_millis(500)) {
        let _ = c3.try_send(&health());
    }
    let r = c3.read_response();
    assert_eq!(r.status, 503, "{}", r.summary());
    assert!(
        r.closes(),
        "503 should carry Connection: close: {}",
        r.summary()
    );
    c3.assert_closed();

    // The two admitted connections still work.
    assert_eq!(c1.roundtrip(rest).status, 200);
    assert_eq!(c2.roundtrip(rest).status, 200);
    c2.send(head);

    // Once c1 is closed, a new connection is admitted again.
    drop(c1);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut c4 = server.conn();
        let _ = c4.try_send(&health());
        match c4.try_read_response() {
            Ok(r) if r.status == 200 => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "no connection admitted after one closed: {other:?}"
                );
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

// ---- more framing and robustness -------------------------------------------------------

#[test]
fn rfc9110_10_1_1_expect_100_continue_gets_an_interim_response_before_the_body() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let body = "grant_type=client_credentials";
    let head = format!(
        "POST {TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\n\r\n",
        basic_auth("svc-a", "secret-a"),
        body.len()
    );
    conn.send(head.as_bytes());
    let interim = conn.read_response();
    assert_eq!(interim.status, 100, "{}", interim.summary());
    conn.send(body.as_bytes());
    let r = conn.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn rfc9112_5_1_whitespace_between_header_name_and_colon_is_400() {
    Server::start_default().assert_rejected_and_closed(
        b"POST /api/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello",
        400,
    );
}

#[test]
fn rfc9112_6_3_conflicting_content_lengths_are_400() {
    Server::start_default().assert_rejected_and_closed(b"POST /api/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello12", 400);
}

#[test]
fn rfc9112_6_1_transfer_coding_other_than_chunked_is_rejected() {
    let server = Server::start_default();
    let mut conn = server.conn();
    conn.send(
        b"POST /api/oauth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b",
    );
    let r = conn.read_response();
    assert!(
        r.status == 400 || r.status == 501,
        "expected 400 or 501: {}",
        r.summary()
    );
    conn.assert_closed();
}

#[test]
fn huge_content_length_is_rejected_without_waiting_for_the_body() {
    let server = Server::start_default();
    let mut conn = server.conn();
    conn.send(
        b"POST /api/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    );
    let r = conn.read_response();
    assert!(
        r.status == 400 || r.status == 413,
        "expected 400 or 413: {}",
        r.summary()
    );
}

#[test]
fn rfc9112_9_3_2_a_thousand_pipelined_requests_are_answered_while_the_client_reads_late() {
    // About 40 KB of requests written before reading anything, so the responses (~200 KB)
    // pile up on the server side; the server must not lose or reorder any.
    let server = Server::start_default();
    let mut conn = server.conn();
    let mut batch = Vec::new();
    for i in 0..1000 {
        batch.extend(raw_request("GET", &format!("/health?n={i}"), &[], b""));
    }
    conn.send(&batch);
    let rs = conn.read_responses(1000);
    assert!(rs.iter().all(|r| r.status == 200));
}

#[test]
fn two_hundred_pipelined_token_requests_in_one_write_are_all_answered() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let mut batch = Vec::new();
    for _ in 0..200 {
        batch.extend(cc_request("svc-a", "secret-a", ""));
    }
    conn.send(&batch);
    let rs = conn.read_responses(200);
    let mut tokens = std::collections::HashSet::new();
    for r in &rs {
        assert_eq!(r.status, 200, "{}", r.summary());
        assert!(tokens.insert(r.json_str("access_token")));
    }
}

#[test]
fn many_concurrent_connections_are_served() {
    let server = Server::start_default();
    let mut conns: Vec<Conn> = (0..100).map(|_| server.conn()).collect();
    for c in &mut conns {
        c.send(&health());
    }
    for c in &mut conns {
        assert_eq!(c.read_response().status, 200);
    }
}

#[test]
fn concurrent_clients_on_both_workers_get_unique_valid_tokens() {
    let server = Server::start_default();
    let addr = server.addr;
    let handles: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                let mut conn = Conn::connect(addr);
                let mut out = Vec::new();
                for _ in 0..25 {
                    let r = conn.roundtrip(&cc_request("svc-a", "secret-a", ""));
                    out.push(Issued::from_response(r).access_token);
                }
                out
            })
        })
        .collect();
    let mut all = std::collections::HashSet::new();
    for h in handles {
        for t in h.join().expect("client thread") {
            assert!(all.insert(t), "duplicate token across connections");
        }
    }
    assert_eq!(all.len(), 100);
    let mut conn = server.conn();
    for t in &all {
        let r = conn.roundtrip(&raw_request(
            "GET",
            &format!("{TOKENINFO_PATH}?access_token={t}"),
            &[],
            b"",
        ));
        assert_eq!(r.status, 200, "{}", r.summary());
    }
}

#[test]
fn request_timeout_starts_at_the_first_byte_not_at_the_previous_response() {
    // An idle keep-alive connection is governed by keepalive_timeout (60 s here), so the next
    // request after a pause longer than request_timeout_secs is still served.
    let config = ConfigBuilder::standard()
        .server("request_timeout_secs", "1")
        .build();
    let server = Server::start(&config);
    let mut conn = server.conn();
    assert_eq!(conn.roundtrip(&health()).status, 200);
    conn.assert_open_for(Duration::from_millis(1600));
    assert_eq!(conn.roundtrip(&health()).status, 200);
}

#[test]
fn keepalive_timeout_does_not_cut_a_request_that_has_started_arriving() {
    // Once the first byte of a request is in, request_timeout_secs (10 s) governs, not the
    // 1 s idle timeout.
    let config = ConfigBuilder::standard()
        .server("keepalive_timeout_secs", "1")
        .build();
    let server = Server::start(&config);
    let mut conn = server.conn();
    let req = cc_request("svc-a", "secret-a", "");
    conn.send(&req[..20]);
    thread::sleep(Duration::from_millis(1600));
    conn.send(&req[20..]);
    let r = conn.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn rfc9112_9_6_requests_pipelined_after_connection_close_are_not_answered() {
    let server = Server::start_default();
    let mut conn = server.conn();
    let mut batch = health();
    batch.extend(raw_request(
        "GET",
        "/health",
        &[("Connection", "close")],
        b"",
    ));
    batch.extend(cc_request("svc-a", "secret-a", ""));
    conn.send(&batch);
    let rs = conn.read_responses(2);
    assert!(rs.iter().all(|r| r.status == 200));
    assert!(rs[1].closes(), "{}", rs[1].summary());
    conn.assert_closed();
    // The third request was not processed: no token was issued.
    let m = server.metrics();
    assert!(
        m.find("tessera_tokens_issued_total", &[])
            .iter()
            .all(|s| s.value == 0.0),
        "a request after Connection: close was processed:\n{}",
        m.text
    );
}

#[test]
fn rfc9112_3_2_2_absolute_form_request_target_is_accepted() {
    let server = Server::start_default();
    let addr = server.addr;
    let r = server.send_raw(&raw_request(
        "GET",
        &format!("http://{addr}/health"),
        &[],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn header_values_with_obs_text_bytes_do_not_break_the_server() {
    let server = Server::start_default();
    let mut conn = server.conn();
    conn.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Latin1: caf\xe9 \xff\xfe\r\n\r\n");
    let r = conn.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    // Non-UTF-8 credentials are a failed authentication, not a crash.
    let mut conn = server.conn();
    conn.send(
        b"POST /api/oauth/token HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \xff\xfe\xfd\r\n\
Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\n\
grant_type=client_credentials",
    );
    let r = conn.read_response();
    assert!(r.status == 400 || r.status == 401, "{}", r.summary());
    for _ in 0..4 {
        assert_eq!(server.get("/health").status, 200);
    }
}

#[test]
fn non_utf8_percent_escapes_in_form_and_query_are_client_errors() {
    let server = Server::start_default();
    let r = server.token(
        &confidential_client(),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(r.status, 200);
    let auth = basic_auth("svc-a", "secret-a");
    let r = server.send_raw(&raw_form_post(
        TOKEN_PATH,
        "grant_type=client_credentials&scope=%FF%FE",
        &[("Authorization", &auth)],
    ));
    assert!(r.status == 400, "{}", r.summary());
    let r = server.get(&format!("{TOKENINFO_PATH}?access_token=%FF%C0%AF"));
    assert_eq!(r.status, 400, "{}", r.summary());
    let r = server.send_raw(&raw_form_post(
        TOKEN_PATH,
        "grant_type=client_credentials&scope=%G0",
        &[("Authorization", &auth)],
    ));
    assert!(r.status == 400, "{}", r.summary());
    for _ in 0..4 {
        assert_eq!(server.get("/health").status, 200);
    }
}

#[test]
fn exactly_100_headers_are_accepted_and_101_are_431() {
    let server = Server::start_default();
    // raw_request adds Host, so 99 more make 100 header fields.
    for (extra, expected) in [(99, 200), (100, 431)] {
        let headers: Vec<(String, String)> = (0..extra)
            .map(|i| (format!("X-H-{i}"), "v".to_string()))
            .collect();
        let hdrs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = server.send_raw(&raw_request("GET", "/health", &hdrs, b""));
        assert_eq!(
            r.status,
            expected,
            "{} header fields: {}",
            extra + 1,
            r.summary()
        );
    }
}

#[test]
fn body_of_exactly_max_body_bytes_is_accepted_and_one_more_byte_is_413() {
    let server = Server::start(&small_body_config());
    let auth = basic_auth("svc-a", "secret-a");
    let prefix = "grant_type=client_credentials&pad=";
    for (len, expected) in [(1024, 200), (1025, 413)] {
        let body = format!("{prefix}{}", "x".repeat(len - prefix.len()));
        assert_eq!(body.len(), len);
        let r = server.send_raw(&raw_form_post(
            TOKEN_PATH,
            &body,
            &[("Authorization", &auth)],
        ));
        assert_eq!(r.status, expected, "body of {len} bytes: {}", r.summary());
    }
}

// ---- HEAD, HTTP/1.0 and error descriptions (issue: token lifecycle security, HTTP) -------

/// Everything the server sends until it closes, read with a plain socket: the harness's
/// response reader trusts `Content-Length`, which is exactly what a HEAD response must not
/// be read by.
fn raw_exchange(server: &Server, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(server.addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.write_all(bytes).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn rfc9110_9_3_2_head_gets_get_headers_without_a_body_so_pipelining_stays_in_step() {
    let server = Server::start_default();
    let mut batch = raw_request("HEAD", "/health", &[], b"");
    batch.extend(raw_request(
        "GET",
        "/health",
        &[("Connection", "close")],
        b"",
    ));
    let text = raw_exchange(&server, &batch);
    let parts: Vec<&str> = text.split("HTTP/1.1 ").filter(|p| !p.is_empty()).collect();
    assert_eq!(parts.len(), 2, "two responses, nothing else: {text:?}");
    assert!(parts[0].starts_with("200 OK\r\n"), "{text:?}");
    assert!(parts[0].contains("Content-Length: 15\r\n"), "{text:?}");
    assert!(
        parts[0].ends_with("\r\n\r\n"),
        "HEAD response has no body: {text:?}"
    );
    assert!(parts[1].ends_with(r#"{"status":"ok"}"#), "{text:?}");
}

#[test]
fn rfc9110_15_5_6_405_allow_lists_head_wherever_get_is_allowed() {
    let server = Server::start_default();
    let r = server.send_raw(&raw_request("DELETE", "/health", &[], b""));
    assert_eq!(r.status, 405, "{}", r.summary());
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    let r = server.send_raw(&raw_request("PUT", TOKENINFO_PATH, &[], b""));
    assert_eq!(r.header("Allow"), Some("GET, HEAD, POST"));
    let r = server.send_raw(&raw_request("GET", TOKEN_PATH, &[], b""));
    assert_eq!(r.header("Allow"), Some("POST"));
}

#[test]
fn rfc9110_10_1_1_http10_client_gets_no_100_continue_and_keep_alive_is_confirmed() {
    let server = Server::start_default();
    let body = "grant_type=client_credentials";
    let auth = basic_auth("svc-a", "secret-a");
    let head = format!(
        "POST {TOKEN_PATH} HTTP/1.0\r\nAuthorization: {auth}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: keep-alive\r\n\r\n",
        body.len()
    );
    let mut conn = server.conn();
    conn.send(head.as_bytes());
    // An HTTP/1.0 client never waits for 100; nothing may arrive before the body is sent.
    assert!(
        !conn.data_within(Duration::from_millis(300)),
        "the server answered an HTTP/1.0 Expect with an interim response"
    );
    conn.send(body.as_bytes());
    let r = conn.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(
        r.header_has_token("Connection", "keep-alive"),
        "{}",
        r.summary()
    );
    conn.send(b"GET /health HTTP/1.0\r\n\r\n");
    let r = conn.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    conn.assert_closed();
}

#[test]
fn rfc6749_5_2_error_description_never_echoes_quotes_backslashes_or_non_ascii() {
    let server = Server::start_default();
    let auth = basic_auth("svc-a", "secret-a");
    for body in [
        "grant_type=client_credentials&scope=%22read%5C%22%C2%A7%C3%A9",
        "grant_type=%22x%5Cy%E2%82%AC",
        "grant_type=client_credentials&scope=a%01b",
    ] {
        let r = server.send_raw(&raw_form_post(
            TOKEN_PATH,
            body,
            &[("Authorization", &auth)],
        ));
        assert_eq!(r.status, 400, "{}", r.summary());
        let d = r.json_str("error_description");
        assert!(
            d.bytes()
                .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e)),
            "{body}: {d:?}"
        );
    }
}
