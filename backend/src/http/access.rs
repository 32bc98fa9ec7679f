//! Who may call what, as the route table (`routes::table`) says: which paths need a
//! key, and which roles each keyed route admits. Handed to the server as app data, so
//! the authentication code reads the rules without depending on the handlers.

use actix_web::HttpRequest;
use actix_web::http::Method;

use crate::domain::Role;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, readiness and the figures, for load balancers and scrapers.
    Open,
    /// A provider's callback: no key (its signature is checked when a signing key is
    /// configured), rate-limited per client address like every request without one.
    Webhook,
    /// An API key (or, for `GET /events`, a stream token) with one of these roles.
    Key(&'static [Role]),
}

/// The table's access rules.
pub struct AccessRules {
    routes: Vec<(Method, &'static str, Access)>,
    /// The first path segments keyed routes use (`orders`, `keys`, …).
    keyed_roots: Vec<&'static str>,
}

impl AccessRules {
    pub fn new(routes: impl Iterator<Item = (Method, &'static str, Access)>) -> Self {
        let routes: Vec<_> = routes.collect();
        let mut keyed_roots: Vec<&'static str> = routes
            .iter()
            .filter(|(_, _, access)| matches!(access, Access::Key(_)))
            .map(|(_, path, _)| first_segment(path))
            .collect();
        keyed_roots.sort_unstable();
        keyed_roots.dedup();
        AccessRules {
            routes,
            keyed_roots,
        }
    }

    /// Whether `path` needs a key: it lies under a root that a keyed route uses, so a
    /// made-up path there is 401 without a key, not 404.
    pub fn needs_key(&self, path: &str) -> bool {
        self.keyed_roots.contains(&first_segment(path))
    }

    /// Whether `path` is an open route (health, readiness, the figures).
    pub fn is_open(&self, path: &str) -> bool {
        self.routes
            .iter()
            .any(|(_, route, access)| *access == Access::Open && *route == path)
    }

    /// The roles the route this request matched admits; none when it matched no keyed
    /// route, so a handler that wants a key refuses.
    pub fn roles_for(&self, req: &HttpRequest) -> &'static [Role] {
        let Some(pattern) = req.match_pattern() else {
            return &[];
        };
        self.routes
            .iter()
            .find(|(method, path, _)| method == req.method() && *path == pattern)
            .map_or(&[], |(_, _, access)| match access {
                Access::Key(roles) => roles,
                Access::Open | Access::Webhook => &[],
            })
    }
}

fn first_segment(path: &str) -> &str {
    path.trim_start_matches('/').split('/').next().unwrap_or("")
}
