//! Every route in one table: method, path, handler, who may call it, and its OpenAPI
//! operation. The table drives actix's registration (with a problem+json 405 naming
//! the methods a path takes), the authentication rule (which paths need a key, which
//! roles each route admits) and the OpenAPI document's path list. A new route is one
//! line here and its handler.

use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::openapi::RefOr;
use utoipa::openapi::path::PathsBuilder;
use utoipa::openapi::schema::Schema;

use super::access::{Access, AccessRules};
use super::problem::ApiError;
use super::webhooks::{bird, messagebird, twilio};
use super::{
    audit, events, health, keys, metrics, notifications, opt_outs, orders, sandbox, settings,
    templates, webhook_endpoints as hooks,
};
use crate::domain::Role;

/// Every role: what an order system's integration key may do, too.
const ALL: Access = Access::Key(&[Role::Admin, Role::Staff, Role::Integration]);
/// The kitchen: admins and staff.
const KITCHEN: Access = Access::Key(&[Role::Admin, Role::Staff]);
const ADMIN: Access = Access::Key(&[Role::Admin]);
/// Who may have webhooks: admins (every order) and order systems (their own orders).
const HOOKED: Access = Access::Key(&[Role::Admin, Role::Integration]);

/// One route of the table.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    handler: fn() -> actix_web::Route,
    document: fn(PathsBuilder) -> PathsBuilder,
    /// Adds the named schemas the operation refers to (its bodies and answers).
    schemas: fn(&mut Vec<(String, RefOr<Schema>)>),
}

/// `route!(GET "/orders", ALL, orders::list_orders, orders::__path_list_orders)`: the
/// last part is the type `#[utoipa::path]` generates beside the handler.
macro_rules! route {
    ($method:ident $path:literal, $access:expr, $handler:path, $doc:path) => {
        Route {
            method: Method::$method,
            path: $path,
            access: $access,
            handler: || web::method(Method::$method).to($handler),
            document: |paths| paths.path_from::<Tagged<$doc>>(),
            schemas: <$doc as utoipa::__dev::SchemaReferences>::schemas,
        }
    };
}

/// A handler's OpenAPI operation with its `tag`. `#[utoipa::path]` keeps the tag apart
/// (its `OpenApi` derive adds it when it lists the path); this adds it the same way,
/// through the trait the generated code implements for that purpose.
struct Tagged<P>(std::marker::PhantomData<P>);

impl<P> utoipa::Path for Tagged<P>
where
    P: utoipa::Path + for<'t> utoipa::__dev::Tags<'t>,
{
    fn path() -> String {
        P::path()
    }

    fn methods() -> Vec<utoipa::openapi::path::HttpMethod> {
        P::methods()
    }

    fn operation() -> utoipa::openapi::path::Operation {
        let mut operation = P::operation();
        let tags = operation.tags.get_or_insert_with(Vec::new);
        if tags.is_empty() {
            tags.extend(P::tags().into_iter().map(str::to_owned));
        }
        operation
    }
}

/// The table. Order matters only where paths overlap: a literal segment
/// (`/templates/preview`) comes before a parameter in the same place.
pub fn table() -> &'static [Route] {
    static TABLE: OnceLock<Vec<Route>> = OnceLock::new();
    TABLE.get_or_init(|| {
        use Access::{Open, Webhook};
        vec![
            route!(GET "/healthz", Open, health::healthz, health::__path_healthz),
            route!(GET "/readyz", Open, health::readyz, health::__path_readyz),
            route!(GET "/metrics", Open, metrics::metrics, metrics::__path_metrics),
            route!(GET "/orders", ALL, orders::list_orders, orders::__path_list_orders),
            route!(POST "/orders", ALL, orders::create_order, orders::__path_create_order),
            route!(GET "/orders/{id}", ALL, orders::get_order, orders::__path_get_order),
            route!(PATCH "/orders/{id}", ALL, orders::edit_order, orders::__path_edit_order),
            route!(PATCH "/orders/{id}/status", ALL, orders::change_status, orders::__path_change_status),
            route!(GET "/orders/{id}/events", ALL, orders::list_events, orders::__path_list_events),
            route!(GET "/orders/{id}/notifications", ALL, notifications::list_for_order, notifications::__path_list_for_order),
            route!(POST "/orders/{id}/notifications", ALL, notifications::notify_customer, notifications::__path_notify_customer),
            route!(GET "/notifications", KITCHEN, notifications::list_notifications, notifications::__path_list_notifications),
            route!(GET "/notifications/{id}", ALL, notifications::get_notification, notifications::__path_get_notification),
            route!(POST "/notifications/{id}/retry", KITCHEN, notifications::retry, notifications::__path_retry),
            route!(GET "/events", ALL, events::stream, events::__path_stream),
            route!(POST "/events/token", ALL, events::create_token, events::__path_create_token),
            route!(GET "/keys", ADMIN, keys::list_keys, keys::__path_list_keys),
            route!(POST "/keys", ADMIN, keys::create_key, keys::__path_create_key),
            route!(DELETE "/keys/{id}", ADMIN, keys::revoke_key, keys::__path_revoke_key),
            route!(GET "/webhook-endpoints", HOOKED, hooks::list_endpoints, hooks::__path_list_endpoints),
            route!(POST "/webhook-endpoints", HOOKED, hooks::create_endpoint, hooks::__path_create_endpoint),
            route!(DELETE "/webhook-endpoints/{id}", HOOKED, hooks::delete_endpoint, hooks::__path_delete_endpoint),
            route!(GET "/webhook-endpoints/{id}/deliveries", HOOKED, hooks::list_deliveries, hooks::__path_list_deliveries),
            route!(GET "/opt-outs", ADMIN, opt_outs::list_opt_outs, opt_outs::__path_list_opt_outs),
            route!(DELETE "/opt-outs/{phone}", ADMIN, opt_outs::remove_opt_out, opt_outs::__path_remove_opt_out),
            route!(GET "/audit", ADMIN, audit::list_audit, audit::__path_list_audit),
            route!(GET "/templates", KITCHEN, templates::list_templates, templates::__path_list_templates),
            route!(POST "/templates/preview", KITCHEN, templates::preview, templates::__path_preview),
            route!(PUT "/templates/{status}", ADMIN, templates::save_template, templates::__path_save_template),
            route!(GET "/settings", KITCHEN, settings::get_settings, settings::__path_get_settings),
            route!(GET "/sandbox/messages", KITCHEN, sandbox::list_messages, sandbox::__path_list_messages),
            route!(GET "/webhooks/messagebird", Webhook, messagebird::status_report, messagebird::__path_status_report),
            route!(POST "/webhooks/messagebird", Webhook, messagebird::status_report, messagebird::__path_status_report),
            route!(POST "/webhooks/messagebird/inbound", Webhook, messagebird::inbound, messagebird::__path_inbound),
            route!(POST "/webhooks/twilio/status", Webhook, twilio::status_callback, twilio::__path_status_callback),
            route!(POST "/webhooks/twilio/inbound", Webhook, twilio::inbound, twilio::__path_inbound),
            route!(POST "/webhooks/bird", Webhook, bird::event, bird::__path_event),
        ]
    })
}

/// Registers `routes` with actix, one resource per path. Another method on a known
/// path answers 405 problem+json with the `Allow` header listing the path's methods.
pub fn register<'a>(cfg: &mut web::ServiceConfig, routes: impl Iterator<Item = &'a Route>) {
    let mut paths: Vec<(&'static str, Vec<&Route>)> = Vec::new();
    for route in routes {
        match paths.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, same)) => same.push(route),
            None => paths.push((route.path, vec![route])),
        }
    }
    for (path, routes) in paths {
        let allow = allowed_methods(path);
        let resource = routes.iter().fold(
            web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
                Err::<HttpResponse, _>(ApiError::MethodNotAllowed {
                    detail: format!(
                        "{} is not supported on {}; it takes {allow}.",
                        req.method(),
                        req.path()
                    ),
                    allow,
                })
            })),
            |resource, route| resource.route((route.handler)()),
        );
        cfg.service(resource);
    }
}

/// The methods the table gives `path`, as the `Allow` header lists them ("GET, POST").
/// Worked out once per process, however many servers and workers register routes.
fn allowed_methods(path: &str) -> &'static str {
    static ALLOW: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let allow = ALLOW.get_or_init(|| {
        let mut allow: Vec<(&'static str, String)> = Vec::new();
        for route in table() {
            match allow.iter_mut().find(|(p, _)| *p == route.path) {
                Some((_, methods)) => {
                    methods.push_str(", ");
                    methods.push_str(route.method.as_str());
                }
                None => allow.push((route.path, route.method.as_str().to_owned())),
            }
        }
        allow
    });
    allow
        .iter()
        .find(|(p, _)| *p == path)
        .map_or("", |(_, methods)| methods.as_str())
}

/// The OpenAPI path list: every route's operation. (MessageBird's status report takes
/// GET and POST with one handler; `openapi::spec` adds the GET its attribute cannot say.)
pub fn documented() -> utoipa::openapi::path::Paths {
    table()
        .iter()
        .fold(PathsBuilder::new(), |paths, route| (route.document)(paths))
        .build()
}

/// The named schemas the documented operations refer to, so a route's bodies and
/// answers are in the document's components without a list kept elsewhere.
pub fn schemas() -> Vec<(String, RefOr<Schema>)> {
    let mut schemas = Vec::new();
    for route in table() {
        (route.schemas)(&mut schemas);
    }
    schemas
}

/// The access rules of the table, for the authentication middleware and `Caller`.
pub fn access_rules() -> AccessRules {
    AccessRules::new(table().iter().map(|r| (r.method.clone(), r.path, r.access)))
}

/// The routes a worker process's operations server serves: the open ones.
pub fn operations() -> impl Iterator<Item = &'static Route> {
    table().iter().filter(|r| r.access == Access::Open)
}

/// The routes of the API server: all of them.
pub fn all() -> impl Iterator<Item = &'static Route> {
    table().iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_need_a_key_and_the_rest_is_public() {
        let rules = access_rules();
        let needs_key = |path| rules.needs_key(path);
        for path in [
            "/orders",
            "/orders/x/status",
            "/keys",
            "/keys/1",
            "/templates",
            "/notifications",
            "/opt-outs/x",
            "/audit",
            "/sandbox/messages",
            "/settings",
            "/events",
            "/webhook-endpoints",
            "/webhook-endpoints/x/deliveries",
        ] {
            assert!(needs_key(path), "{path}");
        }
        for path in [
            "/",
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/swagger-ui/",
            "/webhooks/messagebird",
            "/assets/app.js",
            "/ordersx",
        ] {
            assert!(!needs_key(path), "{path}");
        }
    }

    #[test]
    fn every_route_is_documented_once_and_every_operation_is_routed() {
        let paths = super::super::openapi::spec().paths;
        let documented: usize = paths
            .paths
            .values()
            .map(|item| {
                [&item.get, &item.post, &item.put, &item.patch, &item.delete]
                    .iter()
                    .filter(|op| op.is_some())
                    .count()
            })
            .sum();
        assert_eq!(documented, table().len());
        for route in table() {
            assert!(
                paths.paths.contains_key(route.path),
                "{} is not documented",
                route.path
            );
        }
    }

    #[test]
    fn every_reference_in_the_document_resolves() {
        fn refs(value: &serde_json::Value, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, inner) in map {
                        match (key.as_str(), inner) {
                            ("$ref", serde_json::Value::String(target)) => {
                                found.push(target.clone())
                            }
                            _ => refs(inner, found),
                        }
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|i| refs(i, found)),
                _ => {}
            }
        }
        let doc = serde_json::to_value(super::super::openapi::spec()).unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 50, "{found:?}");
        for target in found {
            let pointer = target.trim_start_matches('#');
            assert!(
                doc.pointer(pointer).is_some(),
                "{target} is not in the document"
            );
        }
    }
}
