//! The route table: which endpoint answers which path and method. One screen, on purpose.

use crate::http::Method;

/// An endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Token,
    Revoke,
    TokenInfo,
    Introspect,
    Health,
    Metrics,
}

/// `(path, route, methods, Allow header)`.
const ROUTES: &[(&str, Route, &[Method], &str)] = &[
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
    Token,
    Revoke,
    TokenInfo,
    Introspect,
    Health,
    Metrics,
    Other,
}

impl RouteLabel {
    pub const ALL: [RouteLabel; 7] = [
        RouteLabel::Token,
        RouteLabel::Revoke,
        RouteLabel::TokenInfo,
        RouteLabel::Introspect,
        RouteLabel::Health,
        RouteLabel::Metrics,
        RouteLabel::Other,
    ];

    pub fn path(self) -> &'static str {
        let route = match self {
            RouteLabel::Token => Route::Token,
            RouteLabel::Revoke => Route::Revoke,
            RouteLabel::TokenInfo => Route::TokenInfo,
            RouteLabel::Introspect => Route::Introspect,
            RouteLabel::Health => Route::Health,
            RouteLabel::Metrics => Route::Metrics,
            RouteLabel::Other => return "other",
        };
        // The route table is the one place paths are spelled.
        ROUTES
            .iter()
            .find(|(_, r, ..)| *r == route)
            .map_or("other", |(p, ..)| p)
    }
}

impl From<Route> for RouteLabel {
    fn from(r: Route) -> RouteLabel {
        match r {
            Route::Token => RouteLabel::Token,
            Route::Revoke => RouteLabel::Revoke,
            Route::TokenInfo => RouteLabel::TokenInfo,
            Route::Introspect => RouteLabel::Introspect,
            Route::Health => RouteLabel::Health,
            Route::Metrics => RouteLabel::Metrics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
