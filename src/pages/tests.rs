//! Rendering tests: the fields each page must carry, escaping of hostile values in every
//! page, the headers, and operators' templates.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

const HOSTILE: &str = "\"><script>alert('x')</script>&amp;<img src=x onerror=alert(1)> é✓";

fn csrf() -> CsrfToken {
    csrf::consent_token("test-session")
}

fn login_view<'a>(csrf: &'a CsrfToken, params: &'a [(&'a str, &'a str)]) -> LoginView<'a> {
    LoginView {
        client_id: "web-app",
        client_name: Some("Web App"),
        redirect_uri: "https://app.example:8443/callback",
        params,
        csrf,
        username: Some("alice"),
        error: None,
    }
}

fn consent_view<'a>(csrf: &'a CsrfToken, params: &'a [(&'a str, &'a str)]) -> ConsentView<'a> {
    ConsentView {
        client_id: "web-app",
        client_name: None,
        redirect_uri: "https://app.example/callback",
        user: "alice",
        scope: "openid profile email offline_access orders:read",
        params,
        csrf,
    }
}

/// The `nonce-…` value of a page's CSP.
fn csp_nonce(page: &Page) -> String {
    let csp = page.header("Content-Security-Policy").expect("csp");
    let start = csp.find("'nonce-").expect("nonce") + 7;
    let end = start + csp[start..].find('\'').expect("quote");
    csp[start..end].to_owned()
}

/// Every hostile character came out escaped: no raw tag or quote break-out survives, and
/// the text is still there in escaped form.
fn assert_escaped(body: &str, scripts_allowed: usize) {
    assert_eq!(
        body.matches("<script").count(),
        scripts_allowed,
        "an injected <script> survived:\n{body}"
    );
    assert!(!body.contains("<img"), "an injected <img> survived");
    assert!(!body.contains("\"><"), "an attribute was broken out of");
    assert!(!body.contains("alert('x')"), "a quote was left raw");
    assert!(body.contains("&quot;&gt;&lt;script&gt;alert(&#x27;x&#x27;)"));
    // `&amp;` in the input is text, so its ampersand is escaped again.
    assert!(body.contains("&amp;amp;"));
    // Non-ASCII text is kept as is (the page is UTF-8).
    assert!(body.contains("é✓"));
}

fn temp_template(contents: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "tessera-pages-{}-{}.html",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, contents).expect("write temp template");
    path
}

mod default_templates {
    use super::*;

    #[test]
    fn login_template_has_the_required_fields() {
        let t = DEFAULT_LOGIN_TEMPLATE;
        for needle in [
            r#"method="post""#,
            r#"action="{{ action }}""#,
            r#"name="username""#,
            r#"name="password""#,
            r#"type="password""#,
            r#"name="csrf" value="{{ csrf }}""#,
            r#"name="{{ p.name }}" value="{{ p.value }}""#,
            r#"<style nonce="{{ nonce }}">"#,
        ] {
            assert!(t.contains(needle), "login.html lacks {needle}");
        }
    }

    #[test]
    fn consent_template_has_the_required_fields() {
        let t = DEFAULT_CONSENT_TEMPLATE;
        for needle in [
            r#"method="post""#,
            r#"action="{{ action }}""#,
            r#"name="consent" value="allow""#,
            r#"name="consent" value="deny""#,
            r#"name="csrf" value="{{ csrf }}""#,
            r#"name="{{ p.name }}" value="{{ p.value }}""#,
            r#"<style nonce="{{ nonce }}">"#,
        ] {
            assert!(t.contains(needle), "consent.html lacks {needle}");
        }
    }

    #[test]
    fn no_page_loads_anything_from_elsewhere() {
        for t in [
            DEFAULT_LOGIN_TEMPLATE,
            DEFAULT_CONSENT_TEMPLATE,
            ERROR_TEMPLATE,
            SIGNED_OUT_TEMPLATE,
            FORM_POST_TEMPLATE,
        ] {
            for external in [
                "<link", "<img", "src=", "url(", "@import", "<iframe", "http",
            ] {
                assert!(!t.contains(external), "a page has {external}");
            }
            // Inline style and script only with the nonce, never an inline handler.
            assert_eq!(
                t.matches("<style").count(),
                t.matches("<style nonce=").count()
            );
            assert_eq!(
                t.matches("<script").count(),
                t.matches("<script nonce=").count()
            );
            assert!(!t.contains("onload") && !t.contains("onclick"));
        }
    }

    #[test]
    fn pages_can_be_shared_by_the_workers() {
        fn shared<T: Send + Sync + 'static>() {}
        shared::<Pages>();
    }

    #[test]
    fn builtin_pages_load() {
        let pages = Pages::builtin();
        assert!(pages.login_path.is_none());
        assert!(Pages::load(None, None).is_ok());
    }
}

mod login_page {
    use super::*;

    #[test]
    fn posts_username_password_csrf_and_every_authorize_parameter() {
        let token = csrf();
        let params = [
            ("response_type", "code"),
            ("client_id", "web-app"),
            ("state", "xyz"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
        ];
        let page = Pages::builtin()
            .login(&login_view(&token, &params))
            .expect("render");
        let b = &page.body;
        assert_eq!(page.status, 200);
        assert!(b.starts_with("<!doctype html>"));
        assert!(b.contains(r#"<form method="post" action="&#x2f;api&#x2f;oauth&#x2f;authorize">"#));
        assert!(b.contains(r#"name="username" type="text" value="alice""#));
        assert!(b.contains(r#"name="password" type="password""#));
        assert!(b.contains(&format!(
            r#"<input type="hidden" name="csrf" value="{}">"#,
            token.as_str()
        )));
        for (name, value) in params {
            assert!(
                b.contains(&format!(
                    r#"<input type="hidden" name="{name}" value="{value}">"#
                )),
                "{name}"
            );
        }
        assert!(b.contains("Web App"));
        assert!(!b.contains("role=\"alert\""));
    }

    /// The value of the hidden input `name` in a rendered page.
    fn hidden(body: &str, name: &str) -> String {
        let start = body
            .find(&format!(r#"name="{name}" value=""#))
            .expect("field")
            + name.len()
            + 15;
        let end = start + body[start..].find('"').expect("quote");
        body[start..end].to_owned()
    }

    #[test]
    fn double_submit_round_trip_from_a_browser_without_cookie() {
        // First visit: no cookie, so one is set and the page carries its field.
        let csrf = csrf::login_csrf(None);
        let cookie = csrf
            .set_cookie
            .as_ref()
            .expect("new cookie")
            .as_str()
            .to_owned();
        let set_cookie = cookie::csrf_cookie(&cookie, true).expect("valid");
        let page = Pages::builtin()
            .login(&login_view(&csrf.field, &[]))
            .expect("render");
        let field = hidden(&page.body, "csrf");
        // The browser sends the cookie back with the form.
        let header = format!("other=1; {}", set_cookie.split(';').next().expect("pair"));
        let sent = cookie::find(header.as_bytes(), cookie::CSRF_COOKIE);
        assert_eq!(csrf::verify_login(sent, Some(&field)), Ok(()));
        // A forged form from another site has no cookie, or a field of its own.
        assert_eq!(
            csrf::verify_login(None, Some(&field)),
            Err(CsrfError::MissingCookie)
        );
        let forged = csrf::login_csrf(None).field;
        assert_eq!(
            csrf::verify_login(sent, Some(forged.as_str())),
            Err(CsrfError::Mismatch)
        );
    }

    #[test]
    fn shows_the_error_message() {
        let token = csrf();
        let mut view = login_view(&token, &[]);
        view.error = Some(views::WRONG_CREDENTIALS);
        let page = Pages::builtin().login(&view).expect("render");
        assert!(page.body.contains("Wrong username or password."));
    }

    #[test]
    fn without_login_hint_the_username_is_empty_and_focused() {
        let token = csrf();
        let mut view = login_view(&token, &[]);
        view.username = None;
        view.client_name = None;
        let page = Pages::builtin().login(&view).expect("render");
        assert!(page
            .body
            .contains(r#"name="username" type="text" value="" autocomplete"#));
        // The client id stands in for a missing name.
        assert!(page.body.contains("web-app"));
    }

    #[test]
    fn request_parameters_named_like_form_fields_are_not_repeated() {
        let token = csrf();
        let params = [
            ("password", "planted"),
            ("csrf", "planted"),
            ("username", "planted"),
            ("consent", "allow"),
            ("state", "s"),
        ];
        let page = Pages::builtin()
            .login(&login_view(&token, &params))
            .expect("render");
        assert!(!page.body.contains("planted"));
        assert!(!page.body.contains(r#"name="consent""#));
        assert!(page.body.contains(r#"name="state" value="s""#));
        assert_eq!(page.body.matches(r#"name="csrf""#).count(), 1);
    }

    #[test]
    fn escapes_hostile_client_parameters_error_and_hint() {
        let token = csrf();
        let params = [(HOSTILE, HOSTILE), ("state", HOSTILE)];
        let view = LoginView {
            client_id: HOSTILE,
            client_name: Some(HOSTILE),
            redirect_uri: "https://app.example/cb",
            params: &params,
            csrf: &token,
            username: Some(HOSTILE),
            error: Some(HOSTILE),
        };
        let page = Pages::builtin().login(&view).expect("render");
        assert_escaped(&page.body, 0);
    }

    #[test]
    fn csp_allows_the_style_by_nonce_and_forms_to_self_and_the_client() {
        let token = csrf();
        let page = Pages::builtin()
            .login(&login_view(&token, &[]))
            .expect("render");
        let nonce = csp_nonce(&page);
        assert!(page.body.contains(&format!(r#"<style nonce="{nonce}">"#)));
        let csp = page.header("Content-Security-Policy").expect("csp");
        assert!(csp.starts_with("default-src 'none';"));
        assert!(csp.contains("form-action 'self' https://app.example:8443;"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("base-uri 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(!csp.contains("script-src"));
    }

    #[test]
    fn each_rendering_has_a_fresh_nonce() {
        let token = csrf();
        let pages = Pages::builtin();
        let a = pages.login(&login_view(&token, &[])).expect("render");
        let b = pages.login(&login_view(&token, &[])).expect("render");
        assert_ne!(csp_nonce(&a), csp_nonce(&b));
    }
}

mod consent_page {
    use super::*;

    #[test]
    fn lists_scopes_and_has_allow_and_deny_buttons() {
        let token = csrf();
        let params = [("response_type", "code"), ("state", "xyz")];
        let page = Pages::builtin()
            .consent(&consent_view(&token, &params))
            .expect("render");
        let b = &page.body;
        assert_eq!(page.status, 200);
        assert!(b.contains(r#"<button type="submit" name="consent" value="allow""#));
        assert!(b.contains(r#"<button type="submit" name="consent" value="deny""#));
        assert!(b.contains(&format!(
            r#"<input type="hidden" name="csrf" value="{}">"#,
            token.as_str()
        )));
        assert!(b.contains(r#"<input type="hidden" name="state" value="xyz">"#));
        assert!(b.contains("alice"));
        assert!(b.contains("web-app"));
        for scope in [
            "openid",
            "profile",
            "email",
            "offline_access",
            "orders:read",
        ] {
            assert!(b.contains(&format!("<code>{scope}</code>")), "{scope}");
            assert!(b.contains(views::scope_description(scope)), "{scope}");
        }
        let csp = page.header("Content-Security-Policy").expect("csp");
        assert!(csp.contains("form-action 'self' https://app.example;"));
    }

    #[test]
    fn with_no_scope_the_list_is_left_out() {
        let token = csrf();
        let mut view = consent_view(&token, &[]);
        view.scope = "";
        let page = Pages::builtin().consent(&view).expect("render");
        assert!(!page.body.contains("<ul>"));
        assert!(page.body.contains(r#"value="allow""#));
    }

    #[test]
    fn escapes_hostile_client_user_scope_and_parameters() {
        let token = csrf();
        let params = [(HOSTILE, HOSTILE)];
        let view = ConsentView {
            client_id: HOSTILE,
            client_name: Some(HOSTILE),
            redirect_uri: "https://app.example/cb",
            user: HOSTILE,
            scope: HOSTILE,
            params: &params,
            csrf: &token,
        };
        let page = Pages::builtin().consent(&view).expect("render");
        assert_escaped(&page.body, 0);
    }
}

mod error_page {
    use super::*;

    #[test]
    fn is_a_400_showing_code_and_description_without_any_form() {
        let page = Pages::builtin()
            .error(&ErrorView {
                error: "invalid_request",
                description: Some("redirect_uri does not match"),
            })
            .expect("render");
        assert_eq!(page.status, 400);
        assert!(page.body.contains("<code>invalid_request</code>"));
        assert!(page.body.contains("redirect_uri does not match"));
        assert!(!page.body.contains("<form"));
        let csp = page.header("Content-Security-Policy").expect("csp");
        assert!(csp.contains("form-action 'none'"));
    }

    #[test]
    fn escapes_a_hostile_error_and_description() {
        let page = Pages::builtin()
            .error(&ErrorView {
                error: HOSTILE,
                description: Some(HOSTILE),
            })
            .expect("render");
        assert_escaped(&page.body, 0);
    }
}

mod signed_out_page {
    use super::*;

    #[test]
    fn says_so_with_the_fixed_headers() {
        let page = Pages::builtin().signed_out().expect("render");
        assert_eq!(page.status, 200);
        assert!(page.body.contains("signed out"));
        assert_eq!(page.header("X-Frame-Options"), Some("DENY"));
        assert_eq!(page.header("Cache-Control"), Some("no-store"));
        assert_eq!(page.header("Referrer-Policy"), Some("no-referrer"));
        assert_eq!(page.header("X-Content-Type-Options"), Some("nosniff"));
    }
}

mod form_post_page {
    use super::*;

    #[test]
    fn form_post_response_mode_posts_every_field_to_the_redirect_uri() {
        let fields = [("code", "SplxlOBeZQQYbYS6WxSbIA"), ("state", "af0ifjsldkj")];
        let page = Pages::builtin()
            .form_post(&FormPostView {
                redirect_uri: "https://client.example.org/cb",
                fields: &fields,
            })
            .expect("render");
        let b = &page.body;
        assert!(b.contains(
            r#"<form method="post" action="https:&#x2f;&#x2f;client.example.org&#x2f;cb">"#
        ));
        for (name, value) in fields {
            assert!(b.contains(&format!(
                r#"<input type="hidden" name="{name}" value="{value}">"#
            )));
        }
        // The script submits it; the button does where scripts do not run.
        let nonce = csp_nonce(&page);
        assert!(b.contains(&format!(
            r#"<script nonce="{nonce}">document.forms[0].submit();</script>"#
        )));
        assert!(b.contains(r#"<button type="submit">"#));
        let csp = page.header("Content-Security-Policy").expect("csp");
        assert!(csp.contains(&format!("script-src 'nonce-{nonce}'")));
        assert!(csp.contains("form-action https://client.example.org;"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(!format!("{page:?}").contains("SplxlOBeZQQYbYS6WxSbIA"));
    }

    #[test]
    fn escapes_hostile_state_and_redirect_uri() {
        let fields = [("state", HOSTILE), (HOSTILE, "v")];
        let redirect_uri = format!("https://client.example/cb?{HOSTILE}");
        let page = Pages::builtin()
            .form_post(&FormPostView {
                redirect_uri: &redirect_uri,
                fields: &fields,
            })
            .expect("render");
        assert_escaped(&page.body, 1);
    }

    #[test]
    fn refuses_script_and_local_schemes() {
        for uri in [
            "javascript:alert(1)",
            "JavaScript:x",
            "data:text/html,x",
            " vbscript:x",
        ] {
            let r = Pages::builtin().form_post(&FormPostView {
                redirect_uri: uri,
                fields: &[],
            });
            assert!(matches!(r, Err(PagesError::UnsafeRedirectUri)), "{uri}");
        }
    }
}

mod headers_of_a_page {
    use super::*;

    #[test]
    fn are_written_as_crlf_lines() {
        let page = Pages::builtin().signed_out().expect("render");
        let mut out = Vec::new();
        page.write_headers(&mut out).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.starts_with("\r\nContent-Security-Policy: default-src 'none';"));
        assert!(text.contains("\r\nX-Frame-Options: DENY"));
        assert!(text.contains("\r\nCache-Control: no-store"));
        assert!(text.contains("\r\nReferrer-Policy: no-referrer"));
        assert!(text.ends_with("\r\nX-Content-Type-Options: nosniff"));
        assert_eq!(text.matches("\r\n").count(), 5);
    }

    #[test]
    fn a_hostile_redirect_uri_cannot_split_the_csp_header() {
        let token = csrf();
        let mut view = login_view(&token, &[]);
        view.redirect_uri = "https://a.example\r\nSet-Cookie: x=y/cb";
        let page = Pages::builtin().login(&view).expect("render");
        let mut out = Vec::new();
        page.write_headers(&mut out).expect("write");
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 5);
    }
}

mod operator_templates {
    use super::*;

    const MINIMAL_LOGIN: &str = r#"<form method=post action="{{ action }}">
<input type=hidden name=csrf value="{{ csrf }}">
{% for p in params %}<input type=hidden name="{{ p.name }}" value="{{ p.value }}">{% endfor %}
<h1>ACME sign-in for {{ client_name }}</h1>{% if error %}<b>{{ error }}</b>{% endif %}
<input name=username value="{{ username }}">
<input name=password type=password></form>"#;

    const MINIMAL_CONSENT: &str = r#"<form method=post action="{{ action }}">
<input type=hidden name="csrf" value="{{ csrf }}">
{% for p in params %}<input type=hidden name="{{ p.name }}" value="{{ p.value }}">{% endfor %}
<p>ACME: {{ user }}, allow {{ client_name }}?</p>
<ul>{% for s in scopes %}<li>{{ s.description }}</li>{% endfor %}</ul>
<button name=consent value=allow>Yes</button><button name=consent value=deny>No</button></form>"#;

    #[test]
    fn replace_the_login_and_consent_pages() {
        let login = temp_template(MINIMAL_LOGIN);
        let consent = temp_template(MINIMAL_CONSENT);
        let pages = Pages::load(Some(&login), Some(&consent)).expect("load");
        let token = csrf();
        let page = pages
            .login(&login_view(&token, &[("state", "s1")]))
            .expect("render");
        assert!(page.body.contains("ACME sign-in for Web App"));
        assert!(page.body.contains(r#"name="state" value="s1""#));
        let page = pages.consent(&consent_view(&token, &[])).expect("render");
        assert!(page.body.contains("ACME: alice, allow web-app?"));
        // The built-in pages are still there.
        assert!(pages.signed_out().is_ok());
        let _ = std::fs::remove_file(login);
        let _ = std::fs::remove_file(consent);
    }

    #[test]
    fn operator_templates_are_escaped_too() {
        let login = temp_template(MINIMAL_LOGIN);
        let pages = Pages::load(Some(&login), None).expect("load");
        let token = csrf();
        let params = [(HOSTILE, HOSTILE)];
        let mut view = login_view(&token, &params);
        view.client_name = Some(HOSTILE);
        view.error = Some(HOSTILE);
        view.username = Some(HOSTILE);
        let page = pages.login(&view).expect("render");
        assert_escaped(&page.body, 0);
        let _ = std::fs::remove_file(login);
    }

    fn load_error(login: Option<&Path>, consent: Option<&Path>) -> (String, String) {
        match Pages::load(login, consent) {
            Err(e @ PagesError::Template { key, .. }) => (key.to_owned(), e.to_string()),
            other => panic!("expected a template error, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_file_is_a_config_error_naming_the_key() {
        let missing = Path::new("/nonexistent/tessera/login.html");
        let (key, message) = load_error(Some(missing), None);
        assert_eq!(key, "authorize.login_template");
        assert!(message.starts_with("authorize.login_template: /nonexistent/tessera/login.html:"));
        let (key, _) = load_error(None, Some(missing));
        assert_eq!(key, "authorize.consent_template");
    }

    #[test]
    fn a_template_that_does_not_compile_is_a_config_error_with_its_line() {
        let bad = temp_template("<p>ok</p>\n{% for p in params %}<p>{{ p.name }</p>");
        let (key, message) = load_error(None, Some(&bad));
        assert_eq!(key, "authorize.consent_template");
        assert!(message.contains("line"), "{message}");
        let _ = std::fs::remove_file(bad);
    }

    #[test]
    fn a_template_naming_an_unknown_variable_is_a_config_error() {
        let bad = temp_template(&MINIMAL_LOGIN.replace("{{ client_name }}", "{{ clientname }}"));
        let (key, message) = load_error(Some(&bad), None);
        assert_eq!(key, "authorize.login_template");
        assert!(message.contains("undefined"), "{message}");
        let _ = std::fs::remove_file(bad);
    }

    #[test]
    fn a_login_template_without_csrf_params_or_password_is_refused() {
        for (what, broken) in [
            ("csrf", MINIMAL_LOGIN.replace("{{ csrf }}", "")),
            (
                "params",
                MINIMAL_LOGIN.replace(r#"value="{{ p.value }}""#, ""),
            ),
            (
                "password",
                MINIMAL_LOGIN.replace("name=password", "name=pass"),
            ),
        ] {
            let bad = temp_template(&broken);
            let (key, _) = load_error(Some(&bad), None);
            assert_eq!(key, "authorize.login_template", "{what}");
            let _ = std::fs::remove_file(bad);
        }
    }

    #[test]
    fn a_consent_template_without_a_deny_button_is_refused() {
        let bad = temp_template(&MINIMAL_CONSENT.replace("value=deny", "value=no"));
        let (key, message) = load_error(None, Some(&bad));
        assert_eq!(key, "authorize.consent_template");
        assert!(message.contains("deny"), "{message}");
        let _ = std::fs::remove_file(bad);
    }
}
