//! Logs and audit events (issue 16): `[log] format = "text" | "json"`, the audit events on
//! the target `tessera::audit` (tokens issued and revoked, refresh token and code reuse,
//! failed client authentication and user login, lockouts, admin changes and refused admin
//! calls) with the peer address, and no secret, password, token or code in any log line of
//! a full flow, even at `trace`.
//!
//! The server's stderr is read after each response: Tessera writes an event before it
//! answers, so every line a request causes is in the file once its response is read.
//! These tests set the log filter in the config; a `RUST_LOG` in the environment would
//! override it, so run them without one.

use crate::admin::{admin_section, Admin, ADMIN_TOKEN};
use crate::authorize::{
    exchange, web_client, web_code, web_config, ALICE as WEB_ALICE, WEB_REDIRECT,
};
use crate::harness::*;
use serde_json::Value;

const AUDIT: &str = "tessera::audit";

/// `base` with a `[log]` section of `lines` (`key = value` lines).
fn start_with_log(base: ConfigBuilder, lines: &str) -> Server {
    Server::start(&format!("{}\n[log]\n{lines}\n", base.build()))
}

fn json_server(base: ConfigBuilder) -> Server {
    start_with_log(base, "level = \"info\"\nformat = \"json\"")
}

/// Every line of the server's stderr as a JSON object; fails on a line that is not one.
fn json_lines(server: &Server) -> Vec<Value> {
    let log = server.stderr();
    log.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) if v.is_object() => v,
            _ => panic!("a log line that is not a JSON object: {l:?}\nwhole log:\n{log}"),
        })
        .collect()
}

/// The audit events named `event`, in the order they were written.
fn audit(lines: &[Value], event: &str) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l["target"] == AUDIT && l["event"] == event)
        .cloned()
        .collect()
}

/// The one audit event named `event`; fails unless there is exactly one.
fn only(lines: &[Value], event: &str) -> Value {
    let found = audit(lines, event);
    assert_eq!(
        found.len(),
        1,
        "expected one {event:?} audit event, got {found:#?}"
    );
    found.into_iter().next().unwrap_or_default()
}

fn str_field<'a>(event: &'a Value, key: &str) -> &'a str {
    event[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {event}"))
}

#[test]
fn json_format_writes_every_line_as_a_json_object_with_time_level_target_and_message() {
    let server = json_server(ConfigBuilder::standard());
    server.issue_cc(&confidential_client(), None);
    let lines = json_lines(&server);
    // Start-up lines and the audit event: more than the one line a broken format might give.
    assert!(lines.len() >= 2, "{lines:#?}");
    for l in &lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(l[key].is_string(), "no {key:?} in {l}");
        }
        // Fields at the top level, not nested under "fields".
        assert!(l.get("fields").is_none(), "{l}");
    }
    assert!(
        lines.iter().any(|l| l["message"] == "tessera listening"),
        "{lines:#?}"
    );
    let issued = only(&lines, "token_issued");
    assert_eq!(issued["level"], "INFO");
    assert_eq!(issued["grant"], "client_credentials");
    assert_eq!(issued["client"], "svc-a");
    assert_eq!(issued["peer"], "127.0.0.1");
    assert_eq!(issued["scope"], "read");
    assert_eq!(issued["refresh"], false);
    // No user and no grant behind a client_credentials token: the keys are left out.
    assert!(issued.get("user").is_none(), "{issued}");
    assert!(issued.get("grant_id").is_none(), "{issued}");
}

#[test]
fn text_format_is_the_default_one_plain_line_per_event_without_terminal_colours() {
    let server = Server::start(&ConfigBuilder::standard().build());
    server.issue_cc(&confidential_client(), None);
    let log = server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains(AUDIT))
        .unwrap_or_else(|| panic!("no audit line:\n{log}"));
    assert!(serde_json::from_str::<Value>(line).is_err(), "{line}");
    for part in [
        "INFO",
        "token issued",
        "event=\"token_issued\"",
        "peer=127.0.0.1",
        "client=\"svc-a\"",
        "grant=\"client_credentials\"",
    ] {
        assert!(line.contains(part), "{part:?} not in {line:?}");
    }
    // stderr is a file here, as under systemd: escape sequences would litter the journal.
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a log file:\n{log}"
    );
}

#[test]
fn issued_refreshed_and_revoked_tokens_are_audit_events_naming_grant_client_user_and_grant_id() {
    let server = json_server(ConfigBuilder::standard());
    let first = server.issue_password(&confidential_client(), ALICE, Some("read write"));
    let lines = json_lines(&server);
    let issued = only(&lines, "token_issued");
    assert_eq!(issued["grant"], "password");
    assert_eq!(issued["client"], "svc-a");
    assert_eq!(issued["user"], "alice");
    assert_eq!(issued["peer"], "127.0.0.1");
    assert_eq!(issued["refresh"], true);
    assert_eq!(issued["scope"], "read write");
    let grant_id = str_field(&issued, "grant_id").to_owned();
    assert!(grant_id.parse::<u64>().is_ok(), "{issued}");

    let second = server.issue_refresh(&confidential_client(), first.refresh_token(), None);
    let lines = json_lines(&server);
    let refreshed = &audit(&lines, "token_issued")[1];
    assert_eq!(refreshed["grant"], "refresh_token");
    assert_eq!(refreshed["user"], "alice");
    assert_eq!(refreshed["grant_id"], grant_id.as_str(), "same grant");

    let r = server.revoke(&confidential_client(), second.refresh_token(), None);
    assert_eq!(r.status, 200, "{}", r.summary());
    let lines = json_lines(&server);
    let revoked = only(&lines, "token_revoked");
    assert_eq!(revoked["client"], "svc-a");
    assert_eq!(revoked["kind"], "refresh");
    assert_eq!(revoked["grant_id"], grant_id.as_str());
    assert_eq!(revoked["peer"], "127.0.0.1");
    // RFC 7009 §2.1: the grant's access tokens went with the refresh token — both, since a
    // rotation leaves the first one valid until it expires.
    assert_eq!(revoked["cascaded"], 2, "{revoked}");
    for access in [&first.access_token, &second.access_token] {
        assert_eq!(server.tokeninfo(access).status, 400);
    }

    // A token that does not exist is answered 200 (RFC 7009 §2.2) but revoked nothing.
    let r = server.revoke(&confidential_client(), "no-such-token", None);
    assert_eq!(r.status, 200);
    assert_eq!(audit(&json_lines(&server), "token_revoked").len(), 1);
}

#[test]
fn failed_client_authentication_and_user_login_are_audit_events_with_the_presented_names() {
    let server = json_server(ConfigBuilder::standard());
    let r = server.client_credentials(&confidential_client().with_secret("wrong-secret-1"), None);
    assert_invalid_client_basic(&r, "tessera");
    let r = server.client_credentials(
        &Client::new("no-such-client", Some("x"), AuthMethod::Post),
        None,
    );
    assert_oauth_error(&r, 401, "invalid_client");
    let r = server.password(&confidential_client(), ("alice", "wrong-password-1"), None);
    assert_token_error(&r, 400, "invalid_grant");

    let lines = json_lines(&server);
    let clients = audit(&lines, "client_auth_failed");
    let names: Vec<&str> = clients.iter().map(|e| str_field(e, "client")).collect();
    assert_eq!(names, ["svc-a", "no-such-client"], "{clients:#?}");
    assert!(clients.iter().all(|e| e["peer"] == "127.0.0.1"));
    let user = only(&lines, "user_login_failed");
    assert_eq!(user["user"], "alice");
    assert_eq!(user["peer"], "127.0.0.1");
    // Nothing was issued, and the good login is not a failure.
    assert!(audit(&lines, "token_issued").is_empty());
    server.issue_password(&confidential_client(), ALICE, None);
    assert_eq!(audit(&json_lines(&server), "user_login_failed").len(), 1);
}

#[test]
fn a_lockout_is_a_warn_audit_event_naming_the_identity_and_the_peer() {
    let config = ConfigBuilder::standard()
        .security("failed_auth_limit", "2")
        .security("failed_auth_window_secs", "60")
        .security("lockout_secs", "30")
        .security("failed_auth_limit_per_address", "100");
    let server = json_server(config);
    let wrong = confidential_client().with_secret("wrong-secret-2");
    for _ in 0..2 {
        assert_invalid_client_basic(&server.client_credentials(&wrong, None), "tessera");
    }
    let r = server.client_credentials(&confidential_client(), None);
    assert_eq!(r.status, 429, "{}", r.summary());
    let lines = json_lines(&server);
    let lockout = only(&lines, "lockout");
    assert_eq!(lockout["level"], "WARN");
    assert_eq!(lockout["kind"], "client");
    assert_eq!(lockout["identity"], "svc-a");
    assert_eq!(lockout["peer"], "127.0.0.1");
    assert_eq!(lockout["lockout_secs"], 30);
    assert_eq!(audit(&lines, "client_auth_failed").len(), 2);
}

#[test]
fn rfc9700_4_14_2_refresh_token_reuse_is_a_warn_audit_event_naming_its_grant() {
    let server = json_server(ConfigBuilder::standard());
    let first = server.issue_password(&confidential_client(), ALICE, None);
    server.issue_refresh(&confidential_client(), first.refresh_token(), None);
    let again = server.refresh(&confidential_client(), first.refresh_token(), None);
    assert_token_error(&again, 400, "invalid_grant");
    let lines = json_lines(&server);
    let grant_id = str_field(&audit(&lines, "token_issued")[0], "grant_id").to_owned();
    let reuse = only(&lines, "refresh_token_reuse");
    assert_eq!(reuse["level"], "WARN");
    assert_eq!(reuse["client"], "svc-a");
    assert_eq!(reuse["grant_id"], grant_id.as_str());
    assert_eq!(reuse["peer"], "127.0.0.1");
}

#[test]
fn rfc6749_4_1_2_code_reuse_and_the_code_and_implicit_grants_are_audit_events() {
    let server = json_server(web_config());
    let pkce = Pkce::new();
    let (code, mut agent) = web_code(&server, &pkce, "openid read");
    let first = exchange(&server, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_eq!(first.status, 200, "{}", first.summary());
    let second = exchange(&server, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_token_error(&second, 400, "invalid_grant");
    let lines = json_lines(&server);
    let issued = only(&lines, "token_issued");
    assert_eq!(issued["grant"], "authorization_code");
    assert_eq!(issued["client"], "web");
    assert_eq!(issued["user"], WEB_ALICE.0);
    let reuse = only(&lines, "code_reuse");
    assert_eq!(reuse["level"], "WARN");
    assert_eq!(reuse["client"], "web");
    assert_eq!(reuse["grant_id"], issued["grant_id"]);

    let q = format!(
        "response_type=token&client_id=spa-implicit&redirect_uri={}&scope=read&state=s",
        urlencode(WEB_REDIRECT)
    );
    let r = agent.authorize(&server, &q);
    assert!(
        location_params(r.header("Location").unwrap_or_default()).contains_key("access_token"),
        "{}",
        r.summary()
    );
    let implicit = audit(&json_lines(&server), "token_issued");
    let implicit = implicit.last().unwrap_or(&Value::Null);
    assert_eq!(implicit["grant"], "implicit");
    assert_eq!(implicit["client"], "spa-implicit");
    assert_eq!(implicit["user"], WEB_ALICE.0);
    assert!(implicit.get("grant_id").is_none(), "{implicit}");
}

#[test]
fn the_login_form_counts_a_wrong_password_as_a_user_login_failure() {
    let server = json_server(web_config());
    let pkce = Pkce::new();
    let mut agent = Agent::new();
    let login = agent.authorize(
        &server,
        &code_query("web", WEB_REDIRECT, "openid", &pkce, ""),
    );
    let again = agent.submit(
        &server,
        &login,
        &[("username", WEB_ALICE.0), ("password", "wrong-password-3")],
    );
    assert_eq!(again.status, 200, "{}", again.summary());
    let failed = only(&json_lines(&server), "user_login_failed");
    assert_eq!(failed["user"], WEB_ALICE.0);
    assert_eq!(failed["peer"], "127.0.0.1");
}

#[test]
fn the_level_filter_turns_the_audit_target_off_and_keeps_the_rest() {
    let server = start_with_log(
        ConfigBuilder::standard(),
        "level = \"info,tessera::audit=off\"\nformat = \"json\"",
    );
    server.issue_cc(&confidential_client(), None);
    let r = server.client_credentials(&confidential_client().with_secret("wrong"), None);
    assert_eq!(r.status, 401);
    let lines = json_lines(&server);
    assert!(lines.iter().all(|l| l["target"] != AUDIT), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l["message"] == "tessera listening"),
        "{lines:#?}"
    );

    // And the other way round: only the audit events.
    let server = start_with_log(
        ConfigBuilder::standard(),
        "level = \"off,tessera::audit=info\"\nformat = \"json\"",
    );
    server.issue_cc(&confidential_client(), None);
    let lines = json_lines(&server);
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["target"] == AUDIT), "{lines:#?}");
}

#[test]
fn check_config_refuses_an_unknown_log_format_and_a_filter_that_does_not_parse() {
    let dir = TempDir::new("logs-config");
    for (section, key) in [
        ("format = \"xml\"", "log.format"),
        ("level = \"tessera=loud\"", "log.level"),
    ] {
        let path = dir.write(
            "tessera.toml",
            &format!("{}\n[log]\n{section}\n", default_config()),
        );
        let out = run_cli(&["check-config", "--config", &path.to_string_lossy()], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{section}: {stderr}");
        assert!(stderr.contains(key), "{section}: {stderr}");
    }
    let path = dir.write(
        "tessera.toml",
        &format!("{}\n[log]\nformat = \"json\"\n", default_config()),
    );
    let out = run_cli(&["check-config", "--config", &path.to_string_lossy()], None);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn admin_changes_and_refused_admin_calls_are_audit_events_without_the_admin_token_or_secrets() {
    let server = Server::start(&format!(
        "{}{}\n[log]\nlevel = \"info\"\nformat = \"json\"\n",
        default_config(),
        admin_section("")
    ));
    let admin = Admin::of(&server);
    let secret = admin.create_cc_client("svc-made", "read");
    let lines = json_lines(&server);
    let made = only(&lines, "admin_change");
    assert_eq!(made["action"], "create");
    assert_eq!(made["object"], "client");
    assert_eq!(made["id"], "svc-made");
    assert_eq!(made["peer"], "127.0.0.1");
    let made_client = Client::new("svc-made", Some(&secret), AuthMethod::Basic);
    server.issue_cc(&made_client, None);

    // The grant id of the audit log is the one `POST /admin/revoke` takes.
    let issued = server.issue_password(&confidential_client(), ALICE, None);
    let lines = json_lines(&server);
    let grant_id = str_field(&audit(&lines, "token_issued")[1], "grant_id").to_owned();
    let r = admin.post(
        "/admin/revoke",
        &serde_json::json!({ "grant_id": grant_id }),
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.json()["revoked"].as_u64() >= Some(1), "{}", r.summary());
    assert_eq!(server.tokeninfo(&issued.access_token).status, 400);
    let refreshed = server.refresh(&confidential_client(), issued.refresh_token(), None);
    assert_token_error(&refreshed, 400, "invalid_grant");
    let lines = json_lines(&server);
    let revoked = &audit(&lines, "admin_change")[1];
    assert_eq!(revoked["action"], "revoke");
    assert_eq!(revoked["object"], "grant");
    assert_eq!(revoked["id"], grant_id.as_str());

    let wrong = Admin {
        addr: admin.addr,
        token: "wrong-admin-token-5".to_owned(),
    };
    assert_eq!(wrong.get("/admin/clients").status, 401);
    let mut conn = Conn::connect(admin.addr);
    let r = conn.roundtrip(&raw_request("GET", "/admin/clients", &[], b""));
    assert_eq!(r.status, 401);
    let lines = json_lines(&server);
    let refused = audit(&lines, "admin_auth_failed");
    let sent: Vec<&Value> = refused.iter().map(|e| &e["token_sent"]).collect();
    assert_eq!(sent, [true, false], "{refused:#?}");
    assert!(refused
        .iter()
        .all(|e| e["level"] == "WARN" && e["peer"] == "127.0.0.1"));

    let log = server.stderr();
    for (what, value) in [
        ("admin token", ADMIN_TOKEN),
        ("wrong admin token", "wrong-admin-token-5"),
        ("client secret made by the API", secret.as_str()),
        ("access token", issued.access_token.as_str()),
        ("refresh token", issued.refresh_token()),
    ] {
        if let Some(line) = log.lines().find(|l| l.contains(value)) {
            panic!("the {what} is in a log line: {line}");
        }
    }
}

/// Everything secret that the flow below sends or receives.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        assert!(
            value.len() >= 6,
            "{what} too short to search for: {value:?}"
        );
        self.0.push((what.to_owned(), value.to_owned()));
    }

    fn add_issued(&mut self, what: &str, issued: &Issued) {
        self.add(&format!("{what} access token"), &issued.access_token);
        if let Some(r) = &issued.refresh_token {
            self.add(&format!("{what} refresh token"), r);
        }
    }

    fn assert_none_in(&self, log: &str) {
        for (what, value) in &self.0 {
            if let Some(line) = log.lines().find(|l| l.contains(value.as_str())) {
                panic!("the {what} is in a log line: {line}");
            }
        }
    }
}

/// Every grant, a revocation, reuse, failures and a lockout, logged at `trace` in `format`:
/// the secrets presented and handed out, and the Basic credentials that carry them, appear
/// in no line — while the events about them do.
fn full_flow_logs_no_secret(format: &str) {
    let config = web_config()
        .security("failed_auth_limit", "2")
        .security("lockout_secs", "30");
    let server = start_with_log(config, &format!("level = \"trace\"\nformat = \"{format}\""));
    let mut s = Secrets::default();
    let svc = confidential_client();
    s.add("client secret", "secret-a");
    s.add("Basic credentials", &base64(b"svc-a:secret-a"));
    s.add("user password", ALICE.1);
    s.add("web client secret", "web-secret-0123456789abcdef");
    s.add("web user password", WEB_ALICE.1);

    let cc = server.issue_cc(&svc, Some("read write"));
    s.add_issued("client_credentials", &cc);
    let pw = server.issue_password(&svc, ALICE, None);
    s.add_issued("password", &pw);
    let rotated = server.issue_refresh(&svc, pw.refresh_token(), None);
    s.add_issued("refresh", &rotated);
    assert_eq!(server.tokeninfo(&rotated.access_token).status, 200);
    assert_eq!(server.introspect(&svc, &cc.access_token).status, 200);
    let reuse = server.refresh(&svc, pw.refresh_token(), None);
    assert_token_error(&reuse, 400, "invalid_grant");
    let r = server.revoke(&svc, &cc.access_token, Some("access_token"));
    assert_eq!(r.status, 200);

    let pkce = Pkce::new();
    s.add("PKCE verifier", &pkce.verifier);
    let (code, mut agent) = web_code(&server, &pkce, "openid read");
    s.add("authorization code", &code);
    for (name, value) in &agent.cookies {
        s.add(&format!("cookie {name}"), value);
    }
    let web = Issued::from_response(exchange(
        &server,
        &web_client(),
        &code,
        WEB_REDIRECT,
        &pkce.verifier,
    ));
    s.add_issued("authorization_code", &web);
    s.add("ID token", &web.response.json_str("id_token"));
    let again = exchange(&server, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_token_error(&again, 400, "invalid_grant");
    let q = format!(
        "response_type=token&client_id=spa-implicit&redirect_uri={}&scope=read&state=s",
        urlencode(WEB_REDIRECT)
    );
    let implicit = location_params(
        agent
            .authorize(&server, &q)
            .header("Location")
            .unwrap_or_default(),
    );
    s.add("implicit access token", &implicit["access_token"]);

    // Wrong credentials are secrets too: a mistyped password is often nearly the real one.
    s.add("wrong client secret", "wrong-secret-4");
    s.add("wrong user password", "wrong-password-4");
    let wrong = svc.with_secret("wrong-secret-4");
    let r = server.password(&other_client(), ("bob", "wrong-password-4"), None);
    assert_token_error(&r, 400, "invalid_grant");
    for _ in 0..2 {
        assert_invalid_client_basic(&server.client_credentials(&wrong, None), "tessera");
    }
    assert_eq!(server.client_credentials(&svc, None).status, 429);

    let log = server.stderr();
    // The flow was logged: a run that logged nothing would prove nothing.
    for event in [
        "token_issued",
        "token_revoked",
        "refresh_token_reuse",
        "code_reuse",
        "client_auth_failed",
        "user_login_failed",
        "lockout",
    ] {
        assert!(log.contains(event), "no {event} in the log:\n{log}");
    }
    s.assert_none_in(&log);
}

#[test]
fn no_secret_password_token_or_code_in_any_log_line_of_a_full_flow_in_json() {
    full_flow_logs_no_secret("json");
}

#[test]
fn no_secret_password_token_or_code_in_any_log_line_of_a_full_flow_in_text() {
    full_flow_logs_no_secret("text");
}
