//! `GET /health`: liveness. Answers whenever the worker can answer at all.

use crate::http::Reply;

pub fn handle(body: &mut Vec<u8>) -> Reply {
    body.extend_from_slice(br#"{"status":"ok"}"#);
    Reply::json(200)
}
