//! HTTP trigger routing and the headers Spin adds (spin.md §8;
//! `spin@v3.6.3:crates/http/src/routes.rs`, `crates/trigger-http/src/headers.rs`).
//!
//! Routes are exact (`/cart`), with single-segment wildcards (`/users/:id/edit`), or with a
//! trailing wildcard (`/x/...`; `/...` matches everything). When several match, segments are
//! compared left to right — a literal beats `:name`, which beats the trailing wildcard, and a
//! route that ends exactly beats a trailing wildcard — so the longest literal prefix wins and
//! exact beats wildcard, as routefinder ranks them for Spin.

use crate::manifest::HttpTrigger;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone)]
struct Route {
    component: String,
    /// As written in the manifest.
    raw: String,
    /// Absolutized, single trailing `/` removed (Spin's "based" route with base `/`).
    based: String,
    segments: Vec<Segment>,
    trailing_wildcard: bool,
}

/// What a request path matched, with everything the Spin headers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteMatch {
    pub(crate) component: String,
    based_route: String,
    raw_route: String,
    path_info: String,
    captures: Vec<(String, String)>,
}

impl RouteMatch {
    /// The match Spin synthesizes for a service-chaining request: as if `path` had matched `/...`
    /// of `component` (`RouteMatch::synthetic`).
    pub(crate) fn synthetic(component: &str, path: &str) -> RouteMatch {
        RouteMatch {
            component: component.to_owned(),
            based_route: "/...".into(),
            raw_route: "/...".into(),
            path_info: path.to_owned(),
            captures: Vec::new(),
        }
    }

    /// The headers Spin appends, in Spin's order: `spin-path-info`, `spin-full-url`,
    /// `spin-matched-route`, `spin-base-path`, `spin-raw-component-route`,
    /// `spin-component-route`, `spin-client-addr`, then one `spin-path-match-<name>` per `:name`.
    pub(crate) fn spin_headers(&self, full_url: &str, client_addr: &str) -> Vec<(String, String)> {
        let component_route = self
            .raw_route
            .strip_suffix("/...")
            .unwrap_or(&self.raw_route)
            .to_owned();
        let mut headers = vec![
            ("spin-path-info".to_owned(), self.path_info.clone()),
            ("spin-full-url".to_owned(), full_url.to_owned()),
            ("spin-matched-route".to_owned(), self.based_route.clone()),
            ("spin-base-path".to_owned(), "/".to_owned()),
            (
                "spin-raw-component-route".to_owned(),
                self.raw_route.clone(),
            ),
            ("spin-component-route".to_owned(), component_route),
            ("spin-client-addr".to_owned(), client_addr.to_owned()),
        ];
        for (name, value) in &self.captures {
            let name = name.replace('_', "-").to_ascii_lowercase();
            headers.push((format!("spin-path-match-{name}"), value.clone()));
        }
        headers
    }
}

/// Checks a route pattern: `:name` segments need a name; `...` only as the last segment.
pub(crate) fn check_route(route: &str) -> Result<(), String> {
    parse(route).map(|_| ())
}

fn parse(raw: &str) -> Result<(String, Vec<Segment>, bool), String> {
    let absolute = if raw.starts_with('/') {
        raw.to_owned()
    } else {
        format!("/{raw}")
    };
    let based = absolute.strip_suffix('/').unwrap_or(&absolute).to_owned();
    let (prefix, trailing_wildcard) = match based.strip_suffix("/...") {
        Some(p) => (p.to_owned(), true),
        None if based == "..." => (String::new(), true),
        None => (based.clone(), false),
    };
    let mut segments = Vec::new();
    for seg in prefix.split('/').skip(1) {
        if seg == "..." {
            return Err("'...' may only end a route".into());
        }
        match seg.strip_prefix(':') {
            Some("") => return Err("':' must be followed by a name".into()),
            Some(name) => segments.push(Segment::Param(name.to_owned())),
            None => segments.push(Segment::Literal(seg.to_owned())),
        }
    }
    Ok((based, segments, trailing_wildcard))
}

/// The routes of the public `[[trigger.http]]` entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Builds the router; private routes are left out (only chaining reaches them). A route
    /// written twice keeps the later component, as Spin does.
    pub(crate) fn new(triggers: &[HttpTrigger]) -> Result<Router, String> {
        let mut routes: Vec<Route> = Vec::new();
        for t in triggers {
            let Some(raw) = &t.route else { continue };
            let (based, segments, trailing_wildcard) = parse(raw)?;
            let route = Route {
                component: t.component.clone(),
                raw: raw.clone(),
                based,
                segments,
                trailing_wildcard,
            };
            match routes.iter_mut().find(|r| r.raw == route.raw) {
                Some(existing) => *existing = route,
                None => routes.push(route),
            }
        }
        Ok(Router { routes })
    }

    /// The best route for `path` (no query), if any.
    pub(crate) fn route(&self, path: &str) -> Option<RouteMatch> {
        let trailing_slash = path.ends_with('/');
        let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let mut best: Option<(Vec<u8>, &Route)> = None;
        for route in &self.routes {
            if matches(route, &parts).is_none() {
                continue;
            }
            let rank = rank(route);
            if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                best = Some((rank, route));
            }
        }
        let (_, route) = best?;
        let (captures, rest) = matches(route, &parts)?;
        let path_info = if route.trailing_wildcard {
            // Spin's historic trailing-slash rules (`RouteMatch::trailing_wildcard`).
            match (rest.is_empty(), trailing_slash) {
                (true, false) => String::new(),
                (true, true) => "/".into(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            }
        } else {
            String::new()
        };
        Some(RouteMatch {
            component: route.component.clone(),
            based_route: route.based.clone(),
            raw_route: route.raw.clone(),
            path_info,
            captures,
        })
    }
}

/// Literal 3, `:name` 2, trailing wildcard 1; a route that ends without a wildcard gets a final
/// 4, so it outranks a wildcard matching the same path.
fn rank(route: &Route) -> Vec<u8> {
    let mut r: Vec<u8> = route
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(_) => 3,
            Segment::Param(_) => 2,
        })
        .collect();
    r.push(if route.trailing_wildcard { 1 } else { 4 });
    r
}

fn matches(route: &Route, parts: &[&str]) -> Option<(Vec<(String, String)>, String)> {
    if parts.len() < route.segments.len()
        || (!route.trailing_wildcard && parts.len() != route.segments.len())
    {
        return None;
    }
    let mut captures = Vec::new();
    for (seg, part) in route.segments.iter().zip(parts) {
        match seg {
            Segment::Literal(l) if l == part => {}
            Segment::Literal(_) => return None,
            Segment::Param(_) if part.is_empty() => return None,
            Segment::Param(name) => captures.push((name.clone(), (*part).to_owned())),
        }
    }
    Some((captures, parts[route.segments.len()..].join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let triggers: Vec<HttpTrigger> = routes
            .iter()
            .map(|(r, c)| HttpTrigger {
                component: (*c).into(),
                route: Some((*r).into()),
            })
            .collect();
        Router::new(&triggers).unwrap()
    }

    #[test]
    fn longest_prefix_and_exact_win() {
        let r = router(&[
            ("/...", "all"),
            ("/one/...", "one"),
            ("/one/two/...", "two"),
            ("/one", "one-exact"),
            ("/users/:id/edit", "edit"),
        ]);
        assert_eq!(r.route("/one/two/three").unwrap().component, "two");
        assert_eq!(r.route("/one/x").unwrap().component, "one");
        assert_eq!(r.route("/one").unwrap().component, "one-exact");
        assert_eq!(r.route("/").unwrap().component, "all");
        assert_eq!(r.route("/users/7/edit").unwrap().component, "edit");
        assert_eq!(r.route("/users/7/view").unwrap().component, "all");
        assert!(router(&[("/a", "a")]).route("/b").is_none());
    }

    #[test]
    fn path_info_keeps_spins_trailing_slash_rules() {
        let r = router(&[("/foo/...", "f")]);
        assert_eq!(r.route("/foo").unwrap().path_info, "");
        assert_eq!(r.route("/foo/").unwrap().path_info, "/");
        assert_eq!(r.route("/foo/bar").unwrap().path_info, "/bar");
        assert_eq!(r.route("/foo/bar/").unwrap().path_info, "/bar/");
    }

    #[test]
    fn headers_follow_spin() {
        let r = router(&[("/foo/:userid/...", "f")]);
        let m = r.route("/foo/42/bar").unwrap();
        let h = m.spin_headers("https://fermyon.dev/foo/42/bar?k=v", "127.0.0.1:8777");
        let expected: Vec<(String, String)> = [
            ("spin-path-info", "/bar"),
            ("spin-full-url", "https://fermyon.dev/foo/42/bar?k=v"),
            ("spin-matched-route", "/foo/:userid/..."),
            ("spin-base-path", "/"),
            ("spin-raw-component-route", "/foo/:userid/..."),
            ("spin-component-route", "/foo/:userid"),
            ("spin-client-addr", "127.0.0.1:8777"),
            ("spin-path-match-userid", "42"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(h, expected);
    }
}
