//! Request parsing and response encoding: the per-request work outside OAuth itself.
//!
//! - `parse/baseline_httparse`: httparse alone on the same request — the floor.
//! - `parse/token_request_head`: httparse + Tessera's head checks on a typical
//!   client_credentials request (curl-like headers, Basic auth).
//! - `parse/form_body`: decoding its form body into the endpoint's parameters.
//! - `encode/token_response`: writing the JSON token response and the HTTP response
//!   around it into reused buffers.
//!
//! Run: `cargo bench -p tessera-bench --no-default-features --bench http_parse`.
//! Last figures (2026-11-23, 2-vCPU EPYC): token_request_head 563 ns vs httparse alone 387 ns
//! (1.45×), form_body 363 ns, token_response encode 231 ns. Table: `bench/RESULTS.md`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tessera::http::json::JsonObject;
use tessera::http::request::{parse_head, HeadScan};
use tessera::http::response::{encode, Delivery};
use tessera::http::{Limits, Reply};
use tessera::oauth::params::Params;

const REQUEST: &[u8] = b"POST /api/oauth/token HTTP/1.1\r\n\
Host: 127.0.0.1:8080\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: */*\r\n\
Authorization: Basic c3ZjLWE6cGxhaW4tc2VjcmV0LWZvci1kZXY=\r\n\
Content-Length: 40\r\n\
Content-Type: application/x-www-form-urlencoded\r\n\
\r\n\
grant_type=client_credentials&scope=read";

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("parse");
    g.bench_function("baseline_httparse", |b| {
        b.iter(|| {
            let mut headers = [httparse::EMPTY_HEADER; 100];
            let mut req = httparse::Request::new(&mut headers);
            black_box(req.parse(black_box(REQUEST)).is_ok())
        })
    });
    g.bench_function("token_request_head", |b| {
        b.iter(|| {
            black_box(parse_head(
                black_box(REQUEST),
                &limits,
                &mut HeadScan::default(),
            ))
        })
    });
    let body = &REQUEST[REQUEST.len() - 40..];
    g.bench_function("form_body", |b| {
        b.iter(|| black_box(Params::parse(black_box(body))))
    });
    g.finish();

    let mut out = Vec::with_capacity(1024);
    let mut json = Vec::with_capacity(512);
    let date = *b"Mon, 23 Nov 2026 04:00:42 GMT";
    c.bench_function("encode/token_response", |b| {
        b.iter(|| {
            json.clear();
            out.clear();
            JsonObject::new(&mut json)
                .str(
                    "access_token",
                    "5b0KHIM0Z0qgPDmKF-51Oj1LhyZL63t9-eCmXJwR7MuTYjf9G9dGTN",
                )
                .str("token_type", "Bearer")
                .num("expires_in", 3600)
                .str("scope", "read")
                .finish();
            encode(
                &mut out,
                &Reply::sensitive_json(200),
                (&[], &json),
                Delivery::default(),
                &date,
                "tessera",
            );
            black_box(out.len())
        })
    });
}

criterion_group!(benches, parse);
criterion_main!(benches);
