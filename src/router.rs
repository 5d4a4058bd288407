//! The route table: which endpoint answers which path and method. One screen, on purpose.

use crate::http::Method;

/// An endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Authorize,
    Token,
    Revoke,
    TokenInfo,
    Introspect,
    UserInfo,
    Logout,
    Jwks,
    OpenIdConfiguration,
    AuthorizationServer,
    Health,
    Metrics,
}

/// `(path, route, methods, Allow header)`.
const ROUTES: &[(&str, Route, &[Method], &str)] = &[
    (
        "/api/oauth/authorize",
        Route::Authorize,
        &[Method::Get, Method::Post],
        "GET, HEAD, POST",
    ),
    ("/api/oauth/token", Route::Token, &[Method::Post], "POST"),
    ("/api/oauth/revoke", Route::Revoke, &[Method::Post], "POST"),
    (
        "/api/oauth/tokeninfo",
        Route::TokenInfo,
        &[Method::Get, Method::Post],
        "GET, HEAD, POST",
    ),
    (
        "/api/oauth/introspect",
        Route::Introspect,
        &[Method::Post],
        "POST",
    ),
    (
        "/api/oauth/userinfo",
        Route::UserInfo,
        &[Method::Get, Method::Post],
        "GET, HEAD, POST",
    ),
    (
        "/api/oauth/logout",
        Route::Logout,
        &[Method::Get, Method::Post],
        "GET, HEAD, POST",
    ),
    ("/api/oauth/jwks", Route::Jwks, &[Method::Get], "GET, HEAD"),
    (
        "/.well-known/openid-configuration",
        Route::OpenIdConfiguration,
        &[Method::Get],
        "GET, HEAD",
    ),
    (
        "/.well-known/oauth-authorization-server",
        Route::AuthorizationServer,
        &[Method::Get],
        "GET, HEAD",
    ),
    ("/health", Route::Health, &[Method::Get], "GET, HEAD"),
    ("/metrics", Route::Metrics, &[Method::Get], "GET, HEAD"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    Found(Route),
    NotFound,
    MethodNotAllowed { allow: &'static str },
}

pub fn route(method: Method, path: &str) -> Routing {
    match ROUTES.iter().find(|(p, ..)| *p == path) {
        None => Routing::NotFound,
        Some((_, route, methods, allow)) => {
            // RFC 9110 §9.3.2: HEAD is GET without the body (the connection drops it).
            let method = if method == Method::Head {
                Method::Get
            } else {
                method
            };
            if methods.contains(&method) {
                Routing::Found(*route)
            } else {
                Routing::MethodNotAllowed { allow }
            }
        }
    }
}

/// The `path` label of request metrics: the routes, plus everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteLabel {
    Route(Route),
    Other,
}

impl RouteLabel {
    pub const ALL: [RouteLabel; 13] = [
        RouteLabel::Route(Route::Authorize),
        RouteLabel::Route(Route::Token),
        RouteLabel::Route(Route::Revoke),
        RouteLabel::Route(Route::TokenInfo),
        RouteLabel::Route(Route::Introspect),
        RouteLabel::Route(Route::UserInfo),
        RouteLabel::Route(Route::Logout),
        RouteLabel::Route(Route::Jwks),
        RouteLabel::Route(Route::OpenIdConfiguration),
        RouteLabel::Route(Route::AuthorizationServer),
        RouteLabel::Route(Route::Health),
        RouteLabel::Route(Route::Metrics),
        RouteLabel::Other,
    ];

    pub fn path(self) -> &'static str {
        let RouteLabel::Route(route) = self else {
            return "other";
        };
        // The route table is the one place paths are spelled.
        ROUTES
            .iter()
            .find(|(_, r, ..)| *r == route)
            .map_or("other", |(p, ..)| p)
    }

    /// Position in [`RouteLabel::ALL`] (the metrics' array index): [`Route`]'s declaration
    /// order, then `Other`.
    pub fn index(self) -> usize {
        match self {
            RouteLabel::Route(r) => r as usize,
            RouteLabel::Other => RouteLabel::ALL.len() - 1,
        }
    }
}

impl From<Route> for RouteLabel {
    fn from(r: Route) -> RouteLabel {
        RouteLabel::Route(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_index_is_the_position_in_all() {
        for (i, label) in RouteLabel::ALL.iter().enumerate() {
            assert_eq!(label.index(), i, "{label:?}");
        }
    }

    #[test]
    fn routes_by_path_and_method() {
        assert_eq!(
            route(Method::Post, "/api/oauth/token"),
            Routing::Found(Route::Token)
        );
        assert_eq!(
            route(Method::Get, "/api/oauth/tokeninfo"),
            Routing::Found(Route::TokenInfo)
        );
        assert_eq!(
            route(Method::Post, "/api/oauth/tokeninfo"),
            Routing::Found(Route::TokenInfo)
        );
        assert_eq!(
            route(Method::Get, "/api/oauth/token"),
            Routing::MethodNotAllowed { allow: "POST" }
        );
        assert_eq!(route(Method::Get, "/api/oauth/token/"), Routing::NotFound);
        assert_eq!(route(Method::Get, "/nope"), Routing::NotFound);
    }

    #[test]
    fn rfc9110_9_3_2_head_is_served_wherever_get_is_and_allow_lists_it() {
        assert_eq!(
            route(Method::Head, "/health"),
            Routing::Found(Route::Health)
        );
        assert_eq!(
            route(Method::Head, "/api/oauth/tokeninfo"),
            Routing::Found(Route::TokenInfo)
        );
        assert_eq!(
            route(Method::Head, "/api/oauth/token"),
            Routing::MethodNotAllowed { allow: "POST" }
        );
        for (path, _, methods, allow) in ROUTES {
            let lists = |m: &str| allow.split(", ").any(|a| a == m);
            assert_eq!(lists("HEAD"), methods.contains(&Method::Get), "{path}");
            assert_eq!(lists("GET"), methods.contains(&Method::Get), "{path}");
            assert_eq!(lists("POST"), methods.contains(&Method::Post), "{path}");
        }
    }
}
