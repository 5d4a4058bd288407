//! The management API's bodies: JSON representations, its errors (`{"error",
//! "error_description"}` with RFC 7591 §3.2.2's codes where they apply), and reading a JSON
//! request body. No I/O.

use crate::http::response::error_body;
use crate::http::{Reply, Request};
use crate::manage::ManageError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `value` as the JSON body of a `status` response; never cached (it may hold a secret).
pub fn json<T: Serialize>(body: &mut Vec<u8>, status: u16, value: &T) -> Reply {
    body.clear();
    match serde_json::to_writer(&mut *body, value) {
        Ok(()) => Reply::sensitive_json(status),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode an admin API response");
            error(
                body,
                500,
                "server_error",
                "the response could not be encoded",
            )
        }
    }
}

/// An error response.
pub fn error(body: &mut Vec<u8>, status: u16, code: &str, description: &str) -> Reply {
    error_body(body, code, description);
    let mut reply = Reply::sensitive_json(status);
    if status == 503 {
        reply.retry_after = Some(1);
    }
    reply
}

/// A [`ManageError`] as its status and body. A store that cannot answer is 503, never a
/// client error.
pub fn manage_error(body: &mut Vec<u8>, e: &ManageError) -> Reply {
    match e {
        ManageError::Invalid { code, message } => error(body, 400, code, message),
        ManageError::NotFound(m) => error(body, 404, "not_found", m),
        ManageError::Conflict(m) => error(body, 409, "conflict", m),
        ManageError::Internal(m) => {
            tracing::error!(error = %m, "admin API: internal error");
            error(body, 500, "server_error", "the change could not be made")
        }
        ManageError::Store(err) => {
            tracing::warn!(error = %err, "admin API: the store cannot answer");
            error(
                body,
                503,
                "temporarily_unavailable",
                "the store cannot answer; retry shortly",
            )
        }
    }
}

/// The request's JSON body as `T`. Errors are ready to send: 415 without
/// `Content-Type: application/json`, 400 for JSON that does not parse or fit.
pub fn read<T: DeserializeOwned>(req: &Request<'_>, body: &mut Vec<u8>) -> Result<T, Reply> {
    let is_json = req.content_type.is_some_and(|ct| {
        let media = ct.split(|b| *b == b';').next().unwrap_or_default();
        media.trim_ascii().eq_ignore_ascii_case(b"application/json")
    });
    if !is_json {
        return Err(error(
            body,
            415,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    serde_json::from_slice(req.body).map_err(|e| {
        let code = if e.is_data() {
            "invalid_client_metadata"
        } else {
            "invalid_request"
        };
        error(body, 400, code, &format!("the JSON body: {e}"))
    })
}

/// A blocking task that did not finish (the runtime is going away).
pub fn cancelled(body: &mut Vec<u8>) -> Reply {
    error(
        body,
        503,
        "temporarily_unavailable",
        "the server is shutting down",
    )
}
