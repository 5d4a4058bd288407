//! The authorize path on two `tessera` nodes sharing one Cassandra keyspace (issue 12): a
//! code issued by one node is redeemed on the other at once, a code raced to both nodes is
//! redeemed exactly once and the second use revokes the first's tokens everywhere (RFC 6749
//! §4.1.2), the session cookie and remembered consent work on any node (single sign-on
//! without sticky routing), logout on one node ends the session on the other, both nodes
//! publish and sign with one key set (also after `tessera keys rotate`), and a store outage
//! never yields a code that cannot be redeemed nor an `invalid_grant` for a good code.
//!
//! Reuses the Cassandra fixtures of `cluster` (locks, keyspaces, node configs, `eventually`)
//! and the user agent and web clients of `authorize`; each test owns a keyspace.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, Nonce};
use serde_json::Value;

use crate::authorize::{
    exchange, first_party, web_client, web_code, with_web_clients, ALICE, NATIVE_REDIRECT,
    WEB_REDIRECT,
};
use crate::cluster::{
    assert_cannot_tell, cli_ok, cli_with_input, cluster_config, eventually, exclusive_cassandra,
    invalid_on, outage_config, path_str, race, refresh_refused_on, shared_cassandra,
    stop_cassandra, two_nodes, valid_on, Keyspace, FLUSH_LIMIT, PROPAGATION_LIMIT,
};
use crate::harness::*;

/// The web clients and their user on the shared Cassandra in `keyspace`.
fn cluster_web_config(keyspace: &str, durability: &str) -> ConfigBuilder {
    with_web_clients(cluster_config(keyspace, durability))
}

/// The authorize path for `client_id` with `prompt=none`, a scope and redirect URI it may
/// ask for.
fn prompt_none(client_id: &str, pkce: &Pkce) -> String {
    let (scope, redirect) = match client_id {
        "first-party" => ("openid", WEB_REDIRECT),
        "native" => ("openid read", NATIVE_REDIRECT),
        _ => ("openid read", WEB_REDIRECT),
    };
    format!(
        "{AUTHORIZE_PATH}?{}",
        code_query(client_id, redirect, scope, pkce, "&prompt=none")
    )
}

/// A code for `client_id` from `node` with no page at all (the agent holds a session and
/// the client needs no consent or has it): `prompt=none` must redirect with a code.
pub(crate) fn sso_code(agent: &mut Agent, node: &Server, client_id: &str, pkce: &Pkce) -> String {
    let r = agent.get(node, &prompt_none(client_id, pkce), &[]);
    assert_eq!(r.status, 302, "prompt=none: {}", r.summary());
    let p = redirect_params(&r);
    p.get("code")
        .cloned()
        .unwrap_or_else(|| panic!("prompt=none gave no code: {p:?}"))
}

/// The `error` of a `prompt=none` redirect from `node`, or "" when it carried a code.
fn prompt_none_error(agent: &mut Agent, node: &Server, client_id: &str) -> String {
    let r = agent.get(node, &prompt_none(client_id, &Pkce::new()), &[]);
    assert_eq!(r.status, 302, "prompt=none: {}", r.summary());
    let p = redirect_params(&r);
    match p.get("error") {
        Some(e) => e.clone(),
        None => {
            assert!(p.contains_key("code"), "neither code nor error: {p:?}");
            String::new()
        }
    }
}

/// The raw code exchange of `web`, for sending on a connection of one's own.
pub(crate) fn exchange_request(code: &str, verifier: &str) -> Vec<u8> {
    let client = web_client();
    let secret = client.secret.as_deref().expect("confidential client");
    raw_form_post(
        TOKEN_PATH,
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", WEB_REDIRECT),
            ("code_verifier", verifier),
        ]),
        &[("Authorization", &basic_auth(&client.id, secret))],
    )
}

fn issuer(node: &Server) -> String {
    format!("http://127.0.0.1:{}", node.port())
}

// ---------------------------------------------------------------------------------------------
// Codes across nodes
// ---------------------------------------------------------------------------------------------

/// A code issued by node 1 in a browser flow is redeemed on node 2 with no wait at all: the
/// code is in Cassandra before the redirect leaves node 1, in either durability mode.
fn code_issued_on_node1_is_redeemed_on_node2_at_once(durability: &str) {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new(&format!("ac_code_{durability}"));
    let (node1, node2) = two_nodes(&cluster_web_config(&ks.name, durability).build());
    for round in 0..3 {
        let pkce = Pkce::new();
        let (code, _) = web_code(&node1, &pkce, "openid read");
        let r = exchange(&node2, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
        assert_eq!(
            r.status,
            200,
            "{durability}, round {round}: node 2 redeems node 1's code at once: {}",
            r.summary()
        );
        let issued = Issued::from_response(r.clone());
        let claims = jwt_claims(&r.json_str("id_token"));
        assert_eq!(claims["sub"], "alice2");
        assert_eq!(
            claims["nonce"], "n-1",
            "the code's nonce binding crossed nodes"
        );
        assert_eq!(claims["iss"], issuer(&node2));
        valid_on(&node2, &issued.access_token)
            .unwrap_or_else(|e| panic!("the redeeming node accepts its token: {e}"));
        eventually(
            Instant::now(),
            FLUSH_LIMIT,
            "node 1 accepts the token node 2 issued",
            || valid_on(&node1, &issued.access_token),
        );
        // Single use holds across nodes too: back on node 1 the code is spent.
        let again = exchange(&node1, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
        assert_token_error(&again, 400, "invalid_grant");
    }
}

#[test]
fn rfc6749_4_1_3_a_code_from_node1_is_redeemed_on_node2_at_once_in_async_mode() {
    code_issued_on_node1_is_redeemed_on_node2_at_once("async");
}

#[test]
fn rfc6749_4_1_3_a_code_from_node1_is_redeemed_on_node2_at_once_in_sync_mode() {
    code_issued_on_node1_is_redeemed_on_node2_at_once("sync");
}

#[test]
fn rfc6749_4_1_2_one_code_sent_to_two_nodes_at_once_is_redeemed_exactly_once_and_revoked() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("ac_race");
    let (node1, node2) = two_nodes(&cluster_web_config(&ks.name, "async").build());
    let nodes = [&node1, &node2];
    let addrs = [node1.addr, node2.addr];
    // Logged in and consented once; every further code comes from prompt=none.
    let (_, mut agent) = web_code(&node1, &Pkce::new(), "openid read");
    let rounds = 20;
    let mut revoked_within = Duration::ZERO;
    let mut winners_tokens: Vec<String> = Vec::new();
    for round in 0..rounds {
        let pkce = Pkce::new();
        // Codes from both nodes, so either node may hold the code it races for.
        let code = sso_code(&mut agent, nodes[round % 2], "web", &pkce);
        let request = exchange_request(&code, &pkce.verifier);
        let answers = race(&addrs, &request);
        let winners: Vec<usize> = (0..2).filter(|&i| answers[i].status == 200).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one redemption may succeed: node 1 {} | node 2 {}",
            answers[0].summary(),
            answers[1].summary()
        );
        let winner = winners[0];
        assert_token_error(&answers[1 - winner], 400, "invalid_grant");
        // The loser was a second use: the winner's tokens are revoked on both nodes.
        let issued = Issued::from_response(answers[winner].clone());
        let since = Instant::now();
        for (i, node) in nodes.iter().enumerate() {
            let took = eventually(
                since,
                PROPAGATION_LIMIT,
                &format!(
                    "round {round}: node {} refuses the access token node {} issued from a \
                     code used twice (the losing node {} answered {})",
                    i + 1,
                    winner + 1,
                    2 - winner,
                    answers[1 - winner].summary()
                ),
                || invalid_on(node, &issued.access_token),
            );
            revoked_within = revoked_within.max(took);
        }
        for node in nodes {
            refresh_refused_on(node, &web_client(), issued.refresh_token())
                .unwrap_or_else(|e| panic!("round {round}: the refresh token survived: {e}"));
        }
        winners_tokens.push(issued.access_token);
    }
    // Gone from the store too, not only from the two nodes' tables: a node that starts now
    // reads nothing of them through.
    drop((node1, node2));
    let fresh = Server::start(&cluster_web_config(&ks.name, "async").build());
    for (round, token) in winners_tokens.iter().enumerate() {
        invalid_on(&fresh, token).unwrap_or_else(|e| {
            panic!("round {round}: the store still holds the winner's access token: {e}")
        });
    }
    eprintln!(
        "code race: {rounds} rounds, winner's tokens revoked on both nodes within {} ms at worst",
        revoked_within.as_millis()
    );
}

#[test]
fn rfc6749_4_1_2_a_used_code_presented_again_on_the_other_node_revokes_its_tokens_everywhere() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("ac_reuse");
    let (node1, node2) = two_nodes(&cluster_web_config(&ks.name, "async").build());
    let pkce = Pkce::new();
    let (code, _) = web_code(&node1, &pkce, "openid read");
    let first = exchange(&node1, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_eq!(first.status, 200, "{}", first.summary());
    let issued = Issued::from_response(first);
    // Later, once node 2 knows the tokens too.
    eventually(
        Instant::now(),
        FLUSH_LIMIT,
        "node 2 accepts the tokens",
        || valid_on(&node2, &issued.access_token),
    );
    let second = exchange(&node2, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_token_error(&second, 400, "invalid_grant");
    let since = Instant::now();
    for (node, which) in [(&node2, "node 2"), (&node1, "node 1")] {
        eventually(
            since,
            PROPAGATION_LIMIT,
            &format!(
                "{which} refuses the access token of a code used twice (node 2 answered the \
                 second use with {})",
                second.summary()
            ),
            || invalid_on(node, &issued.access_token),
        );
        refresh_refused_on(node, &web_client(), issued.refresh_token())
            .unwrap_or_else(|e| panic!("{which}: the refresh token survived: {e}"));
    }
    // And a third try on node 1 is refused the same way.
    let third = exchange(&node1, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_token_error(&third, 400, "invalid_grant");
}

// ---------------------------------------------------------------------------------------------
// Sessions and consent across nodes
// ---------------------------------------------------------------------------------------------

#[test]
fn openid_connect_single_sign_on_and_consent_work_on_either_node_without_sticky_routing() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("ac_sso");
    let (node1, node2) = two_nodes(&cluster_web_config(&ks.name, "async").build());
    // Login and consent for `web` on node 1 ...
    let pkce = Pkce::new();
    let (code, mut agent) = web_code(&node1, &pkce, "openid read");
    assert_eq!(
        exchange(&node1, &web_client(), &code, WEB_REDIRECT, &pkce.verifier).status,
        200
    );
    // ... then straight to node 2, which has seen neither: prompt=none gets a code there with
    // no page, so node 2 accepts the session cookie and knows the consent.
    let pkce = Pkce::new();
    let code = sso_code(&mut agent, &node2, "web", &pkce);
    let r = exchange(&node2, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(jwt_claims(&r.json_str("id_token"))["sub"], "alice2");
    // The session is accepted, but consent stays per client: `native` never had it.
    assert_eq!(
        prompt_none_error(&mut agent, &node2, "native"),
        "consent_required"
    );
    // A client that skips consent gets a code from either node.
    for node in [&node2, &node1] {
        let pkce = Pkce::new();
        let code = sso_code(&mut agent, node, "first-party", &pkce);
        let r = exchange(node, &first_party(), &code, WEB_REDIRECT, &pkce.verifier);
        assert_eq!(r.status, 200, "{}", r.summary());
    }
    // A stranger's cookie-less request is still login_required on both.
    for node in [&node1, &node2] {
        assert_eq!(
            prompt_none_error(&mut Agent::new(), node, "web"),
            "login_required"
        );
    }
}

#[test]
fn openid_logout_on_node2_ends_the_session_on_node1_within_the_propagation_window() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("ac_logout");
    let (node1, node2) = two_nodes(&cluster_web_config(&ks.name, "async").build());
    let mut agent = Agent::new();
    let r = agent.log_in_and_allow(
        &node1,
        &code_query("first-party", WEB_REDIRECT, "openid", &Pkce::new(), ""),
        ALICE,
    );
    assert!(redirect_params(&r).contains_key("code"), "{}", r.summary());
    // Both nodes know the session (node 1 holds it, node 2 has read it through).
    assert_eq!(prompt_none_error(&mut agent, &node1, "first-party"), "");
    assert_eq!(prompt_none_error(&mut agent, &node2, "first-party"), "");
    let kept = agent.cookies.clone();

    let out = agent.get(&node2, "/api/oauth/logout", &[]);
    assert_eq!(out.status, 200, "signed-out page: {}", out.summary());
    let since = Instant::now();
    assert!(!agent.cookies.contains_key("tessera_session"));
    // The old cookie, replayed: node 2 refuses it at once, node 1 within the window.
    let mut replay = Agent { cookies: kept };
    assert_eq!(
        prompt_none_error(&mut replay, &node2, "first-party"),
        "login_required"
    );
    let took = eventually(
        since,
        PROPAGATION_LIMIT,
        "node 1 ends the session node 2 logged out",
        || match prompt_none_error(&mut replay, &node1, "first-party").as_str() {
            "login_required" => Ok(()),
            other => Err(format!("prompt=none on node 1 still answers {other:?}")),
        },
    );
    eprintln!("logout reached node 1 after {} ms", took.as_millis());
}

// ---------------------------------------------------------------------------------------------
// Signing keys across nodes
// ---------------------------------------------------------------------------------------------

/// The JWKS `node` publishes, keys sorted by kid.
fn jwks(node: &Server) -> Vec<Value> {
    let r = node.get("/api/oauth/jwks");
    assert_eq!(r.status, 200, "{}", r.summary());
    let mut keys = r.json()["keys"].as_array().expect("keys").clone();
    keys.sort_by(|a, b| a["kid"].as_str().cmp(&b["kid"].as_str()));
    keys
}

fn kids(keys: &[Value]) -> Vec<String> {
    keys.iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

/// An ID token for `web` signed by `node` (the agent is logged in and has consented).
fn id_token_from(agent: &mut Agent, node: &Server) -> String {
    let pkce = Pkce::new();
    let code = sso_code(agent, node, "web", &pkce);
    let r = exchange(node, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_eq!(r.status, 200, "{}", r.summary());
    r.json_str("id_token")
}

fn kid_of(jwt: &str) -> String {
    let header = jwt_claims(&format!("x.{}", jwt.split('.').next().unwrap_or_default()));
    header["kid"].as_str().expect("kid").to_owned()
}

/// Verifies `id_token` (issued by `issuer_node`) with the `openidconnect` crate against the
/// JWKS `keys_node` publishes: signature, `iss`, `aud`, `exp`.
fn verify_against(id_token: &str, issuer_node: &Server, keys_node: &Server) -> Result<(), String> {
    let body = keys_node.get("/api/oauth/jwks").body;
    let set: CoreJsonWebKeySet = serde_json::from_slice(&body).map_err(|e| format!("JWKS: {e}"))?;
    let client = web_client();
    let verifier = CoreIdTokenVerifier::new_confidential_client(
        ClientId::new(client.id.clone()),
        ClientSecret::new(client.secret.clone().expect("secret")),
        IssuerUrl::new(issuer(issuer_node)).map_err(|e| e.to_string())?,
        set,
    );
    let token: CoreIdToken = id_token.parse().map_err(|e| format!("parse: {e:?}"))?;
    token
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

#[test]
fn openid_connect_both_nodes_publish_and_sign_with_one_key_set_also_after_a_rotation() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("ac_keys");
    let config = cluster_web_config(&ks.name, "async").build();
    // Started at the same moment on a fresh keyspace: both may try to create the keys.
    let barrier = Barrier::new(2);
    let (node1, node2) = thread::scope(|s| {
        let start = || {
            barrier.wait();
            Server::start(&config)
        };
        let a = s.spawn(start);
        let b = s.spawn(start);
        (
            a.join().expect("node 1 start"),
            b.join().expect("node 2 start"),
        )
    });
    let keys1 = jwks(&node1);
    assert!(!keys1.is_empty(), "no keys published");
    assert_eq!(
        keys1,
        jwks(&node2),
        "two nodes started together publish different key sets"
    );

    let (_, mut agent) = web_code(&node1, &Pkce::new(), "openid read");
    let old_token = id_token_from(&mut agent, &node1);
    let old_kid = kid_of(&old_token);
    assert!(kids(&keys1).contains(&old_kid), "{old_kid} in {keys1:?}");
    verify_against(&old_token, &node1, &node2)
        .unwrap_or_else(|e| panic!("node 1's ID token fails against node 2's JWKS: {e}"));
    assert_eq!(kid_of(&id_token_from(&mut agent, &node2)), old_kid);

    let dir = TempDir::new("ac-keys");
    let path = dir.write("tessera.toml", &config);
    let out = cli_ok(&[
        "keys",
        "rotate",
        "--alg",
        "RS256",
        "--config",
        path_str(&path),
    ]);
    let new_kid = out
        .lines()
        .find_map(|l| l.strip_prefix("RS256 key "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no new kid in {out:?}"))
        .to_owned();
    assert_ne!(new_kid, old_kid);
    let since = Instant::now();
    for (node, which) in [(&node1, "node 1"), (&node2, "node 2")] {
        let took = eventually(
            since,
            PROPAGATION_LIMIT,
            &format!("{which} signs with the rotated key"),
            || {
                let kid = kid_of(&id_token_from(&mut agent, node));
                if kid == new_kid {
                    Ok(())
                } else {
                    Err(format!("signed with {kid}, not {new_kid}"))
                }
            },
        );
        eprintln!(
            "{which} signs with the new key {} ms after the rotation",
            took.as_millis()
        );
    }
    // Both publish the new key and still the old one (its tokens have not expired).
    let after = jwks(&node1);
    assert_eq!(after, jwks(&node2), "the nodes publish different key sets");
    let listed = kids(&after);
    assert!(
        listed.contains(&new_kid) && listed.contains(&old_kid),
        "{listed:?}"
    );
    let new_token = id_token_from(&mut agent, &node2);
    verify_against(&new_token, &node2, &node1)
        .unwrap_or_else(|e| panic!("node 2's new ID token fails against node 1's JWKS: {e}"));
    verify_against(&old_token, &node1, &node2)
        .unwrap_or_else(|e| panic!("the old ID token fails after the rotation: {e}"));
}

// ---------------------------------------------------------------------------------------------
// A store outage
// ---------------------------------------------------------------------------------------------

#[test]
fn store_outage_never_sends_a_code_it_could_not_write_and_never_calls_a_good_code_invalid() {
    // Stops the shared Cassandra: the same locking as cluster's outage tests.
    let _exclusive = exclusive_cassandra();
    let ks = Keyspace::new("ac_outage");
    let (node1, node2) = two_nodes(&with_web_clients(outage_config(&ks.name)).build());
    // Before the outage: logged in and consented on node 1 (which holds session and
    // consent itself), and a code in Cassandra that node 2 has never seen.
    let (_, mut agent) = web_code(&node1, &Pkce::new(), "openid read");
    let kept = Pkce::new();
    let kept_code = sso_code(&mut agent, &node1, "web", &kept);

    let mut restart = stop_cassandra();

    // Node 1 needs no store to decide (session and consent are its own), but the code
    // cannot be written: no code may leave.
    let r = agent.get(&node1, &prompt_none("web", &Pkce::new()), &[]);
    eprintln!("authorize during the outage: {}", r.summary());
    if r.status == 302 || r.status == 303 {
        let p = redirect_params(&r);
        assert!(
            !p.contains_key("code"),
            "a code was sent during the outage although it cannot have been written: {}",
            r.summary()
        );
        assert_eq!(
            p.get("error").map(String::as_str),
            Some("temporarily_unavailable"),
            "{}",
            r.summary()
        );
        assert_eq!(p.get("state").map(String::as_str), Some("st-1"));
    } else {
        assert_eq!(
            r.status,
            503,
            "authorize during the outage: {}",
            r.summary()
        );
    }
    // The exchange cannot find the code (node 2) or claim its single use (node 1): 503,
    // never invalid_grant, which would make the client throw a good code away.
    for (node, which) in [(&node2, "node 2"), (&node1, "node 1")] {
        let r = exchange(
            node,
            &web_client(),
            &kept_code,
            WEB_REDIRECT,
            &kept.verifier,
        );
        assert_cannot_tell(&r, &format!("the code exchange on {which}"));
    }

    restart.start_now();
    // Back: the code was not used up by the 503s, and is redeemed once.
    let mut answer = None;
    eventually(
        Instant::now(),
        Duration::from_secs(60),
        "node 2 redeems the code after the outage",
        || {
            let r = exchange(
                &node2,
                &web_client(),
                &kept_code,
                WEB_REDIRECT,
                &kept.verifier,
            );
            match r.status {
                200 => {
                    answer = Some(r);
                    Ok(())
                }
                503 => Err(r.summary()),
                _ => panic!("the code after the outage: {}", r.summary()),
            }
        },
    );
    assert!(answer.is_some());
    eventually(
        Instant::now(),
        Duration::from_secs(60),
        "node 1 gives codes again after the outage",
        || match prompt_none_error(&mut agent, &node1, "web").as_str() {
            "" => Ok(()),
            other => Err(other.to_owned()),
        },
    );
}

/// A user kept in the store (`tessera user add --claim …`) logs in on the authorize path of
/// either node, and userinfo releases the claims given on the command line; a password
/// change keeps them.
#[test]
fn a_user_added_with_claims_by_the_cli_logs_in_and_userinfo_releases_the_claims() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("cli_claims");
    let (node1, node2) = two_nodes(&cluster_web_config(&ks.name, "async").build());
    let config = path_str(&node1.config_path);
    cli_with_input(
        &[
            "user",
            "add",
            "--config",
            config,
            "--username",
            "erin",
            "--password-stdin",
            "--claim",
            "name=Erin Example",
            "--claim",
            "email=erin@example.com",
        ],
        b"erin-pw-1\n",
    );
    let userinfo = |node: &Server, password: &str| -> Result<Value, String> {
        let pkce = Pkce::new();
        let mut agent = Agent::new();
        let q = code_query("first-party", WEB_REDIRECT, "openid profile", &pkce, "");
        let page = agent.authorize(node, &q);
        let r = agent.submit(node, &page, &[("username", "erin"), ("password", password)]);
        let Some(code) = r
            .header("Location")
            .and_then(|l| location_params(l).get("code").cloned())
        else {
            return Err(format!("no code yet: {}", r.summary()));
        };
        let t = exchange(node, &first_party(), &code, WEB_REDIRECT, &pkce.verifier);
        let access = t.json_str("access_token");
        let info = node.get_with(
            "/api/oauth/userinfo",
            &[("Authorization", &format!("Bearer {access}"))],
        );
        (info.status == 200)
            .then(|| info.json())
            .ok_or_else(|| info.summary())
    };
    for node in [&node1, &node2] {
        let mut last = Value::Null;
        eventually(
            Instant::now(),
            PROPAGATION_LIMIT * 3,
            "erin logs in",
            || {
                last = userinfo(node, "erin-pw-1")?;
                Ok(())
            },
        );
        assert_eq!(last["sub"], "erin");
        assert_eq!(last["name"], "Erin Example");
        assert!(
            last.get("email").is_none(),
            "the email scope was not granted"
        );
    }
    let (out, _) = cli_with_input(
        &[
            "user",
            "set-password",
            "--config",
            config,
            "--username",
            "erin",
        ],
        b"erin-pw-2\n",
    );
    assert!(out.contains("password of user erin changed"), "{out}");
    let mut last = Value::Null;
    eventually(
        Instant::now(),
        PROPAGATION_LIMIT * 3,
        "the new password works",
        || {
            last = userinfo(&node2, "erin-pw-2")?;
            Ok(())
        },
    );
    assert_eq!(
        last["name"], "Erin Example",
        "claims kept across set-password"
    );
    let bad = run_cli(
        &[
            "user",
            "add",
            "--config",
            config,
            "--username",
            "x",
            "--password",
            "p",
            "--claim",
            "nameless",
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
}
