//! The OpenAPI description, generated from the handlers and types by utoipa. The
//! checked-in `openapi.yaml` is this document; a test fails when they differ.

use utoipa::openapi::link::Link;
use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Required};
use utoipa::{Modify, OpenApi};

use super::{events, problem};
use crate::domain::{ValidationError, line_pattern, notes_pattern};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key created with `order-notify keys create` or `POST /keys`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "A stream token from `POST /events/token` (only `GET /events` takes one).",
            ))),
        );
    }
}

/// The marker a free-text field's `pattern` carries in its `#[schema]` attribute
/// (which takes only a literal), replaced here by [`line_pattern`]: the same tables
/// the parser refuses characters by, so the document cannot drift from the code.
pub const LINE: &str = "line";
/// The marker of a notes field's `pattern`, replaced by [`notes_pattern`].
pub const NOTES: &str = "notes";

struct LinePatterns;

impl LinePatterns {
    fn fill(schema: &mut RefOr<Schema>) {
        let RefOr::T(schema) = schema else { return };
        match schema {
            Schema::Object(object) => {
                match object.pattern.as_deref() {
                    Some(LINE) => object.pattern = Some(line_pattern()),
                    Some(NOTES) => object.pattern = Some(notes_pattern()),
                    _ => {}
                }
                object.properties.values_mut().for_each(Self::fill);
            }
            Schema::Array(array) => {
                if let ArrayItems::RefOrSchema(item) = &mut array.items {
                    Self::fill(item);
                }
            }
            Schema::OneOf(one) => one.items.iter_mut().for_each(Self::fill),
            Schema::AllOf(all) => all.items.iter_mut().for_each(Self::fill),
            Schema::AnyOf(any) => any.items.iter_mut().for_each(Self::fill),
            _ => {}
        }
    }
}

impl Modify for LinePatterns {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.schemas.values_mut().for_each(Self::fill);
        }
    }
}

/// Links from a response to the operations that can follow it (create an order → read,
/// change, text it; create a key → revoke it; a STOP → remove the opt-out), for readers
/// and for Schemathesis's stateful runs.
struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let order_id = "$response.body#/id";
        for (from, status, to, parameter, value) in [
            ("create_order", "201", "get_order", "id", order_id),
            ("create_order", "201", "change_status", "id", order_id),
            ("create_order", "201", "edit_order", "id", order_id),
            ("create_order", "201", "list_events", "id", order_id),
            ("create_order", "201", "list_for_order", "id", order_id),
            ("create_order", "201", "notify_customer", "id", order_id),
            (
                "change_status",
                "200",
                "get_order",
                "id",
                "$response.body#/order/id",
            ),
            (
                "change_status",
                "200",
                "list_events",
                "id",
                "$response.body#/order/id",
            ),
            (
                "notify_customer",
                "202",
                "retry",
                "id",
                "$response.body#/id",
            ),
            (
                "create_endpoint",
                "201",
                "list_deliveries",
                "id",
                "$response.body#/id",
            ),
            (
                "create_endpoint",
                "201",
                "delete_endpoint",
                "id",
                "$response.body#/id",
            ),
            (
                "create_key",
                "201",
                "revoke_key",
                "id",
                "$response.body#/id",
            ),
            // A STOP creates an opt-out that can then be removed.
            (
                "messagebird_inbound",
                "200",
                "remove_opt_out",
                "phone",
                "$request.query.originator",
            ),
            (
                "twilio_inbound",
                "200",
                "remove_opt_out",
                "phone",
                "$request.body#/From",
            ),
        ] {
            let link = Link::builder().operation_id(to).parameter(parameter, value);
            let Some(response) = response_mut(openapi, from, status) else {
                panic!("no {status} response of {from} to link from");
            };
            response.links.insert(to.to_owned(), link.build().into());
        }
    }
}

/// `POST /orders/{id}/notifications` takes a `NotifyCustomer` or no body at all (utoipa
/// would write an optional body as "the object or JSON null", which the server does not
/// take).
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        match operation_mut(openapi, "notify_customer").and_then(|op| op.request_body.as_mut()) {
            Some(RefOr::T(body)) => body.required = Some(Required::False),
            _ => panic!("notify_customer has no inline request body"),
        }
    }
}

/// `GET /webhooks/messagebird` is the same operation as the POST (one handler serves
/// both), under its own operationId.
struct StatusReportsByGet;

impl Modify for StatusReportsByGet {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let item = openapi
            .paths
            .paths
            .get_mut("/webhooks/messagebird")
            .expect("the MessageBird status report path");
        let mut get = item.post.clone().expect("POST /webhooks/messagebird");
        get.operation_id = Some("messagebird_status_report_get".to_owned());
        get.summary = Some(
            "A status report sent by GET (MessageBird's default), handled as the POST form is."
                .to_owned(),
        );
        get.description = None;
        item.get = Some(get);
    }
}

/// The response `status` of the operation `operation_id`, when it is written inline.
fn response_mut<'a>(
    openapi: &'a mut utoipa::openapi::OpenApi,
    operation_id: &str,
    status: &str,
) -> Option<&'a mut utoipa::openapi::Response> {
    match operation_mut(openapi, operation_id)?
        .responses
        .responses
        .get_mut(status)?
    {
        RefOr::T(response) => Some(response),
        RefOr::Ref(_) => None,
    }
}

fn operation_mut<'a>(
    openapi: &'a mut utoipa::openapi::OpenApi,
    operation_id: &str,
) -> Option<&'a mut utoipa::openapi::path::Operation> {
    openapi.paths.paths.values_mut().find_map(|item| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        .find(|op| op.operation_id.as_deref() == Some(operation_id))
    })
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "order-notify",
        description = "Orders for a delivery kitchen, and the texts that tell customers where their order is. \
            Errors are RFC 9457 problem documents (`application/problem+json`).",
        license(name = "MIT", identifier = "MIT"),
    ),
    components(
        // The schemas the routes' operations name come from the route table
        // (`routes::schemas`); these are the ones only other schemas or answers name.
        schemas(
            ValidationError, problem::Problem, events::OrderChanged, events::NotificationChanged,
            crate::domain::OrderMessage, crate::domain::NotificationMessage,
            crate::domain::CustomerMessage,
        ),
        responses(
            problem::BadRequest, problem::Unauthorized, problem::Forbidden, problem::NotFound,
            problem::Conflict, problem::PreconditionFailed, problem::PayloadTooLarge, problem::RequestTimeout,
            problem::UnsupportedMediaType, problem::UnprocessableEntity, problem::TooManyRequests,
            problem::ServiceUnavailable,
        ),
    ),
    tags(
        (name = "orders", description = "Orders and their status"),
        (name = "notifications", description = "Texts to customers"),
        (name = "events", description = "Live order and text changes (Server-Sent Events)"),
        (name = "templates", description = "The text sent for each status"),
        (name = "opt-outs", description = "Customers who texted STOP (admin only)"),
        (name = "audit", description = "Who changed keys, texts and opt-outs, and when (admin only)"),
        (name = "keys", description = "API keys (admin only)"),
        (name = "sandbox", description = "The sandbox provider's outbox"),
        (name = "settings", description = "What the dashboard must know of the server's configuration"),
        (name = "webhook-endpoints", description = "Where an order system hears of changes: signed messages (Standard Webhooks) for each event in `webhooks` (admins and integration keys)"),
        (name = "webhooks", description = "Provider callbacks: answered only for the providers that send the texts, and only with a valid signature"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    // The paths come from the one route table, so a route cannot go undocumented; the
    // finishing touches need them in place.
    doc.paths = super::routes::documented();
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in super::routes::schemas() {
        components.schemas.entry(name).or_insert(schema);
    }
    doc.webhooks = Some(webhook_messages());
    let touches: [&dyn Modify; 5] = [
        &BearerAuth,
        &Links,
        &OptionalBodies,
        &StatusReportsByGet,
        &LinePatterns,
    ];
    for touch in touches {
        touch.modify(&mut doc);
    }
    // The crate version would make the file change on every release bump; the API's
    // own version is what clients care about.
    doc.info.version = "1.0.0".to_owned();
    doc
}

/// The document as `/openapi.json` serves it, built once per process. Built, the
/// document is a few MiB of maps and lists; each HTTP worker kept one of its own, a
/// tenth of an idle server's memory, to serve the same bytes from.
pub fn json() -> actix_web::web::Bytes {
    static JSON: std::sync::LazyLock<actix_web::web::Bytes> = std::sync::LazyLock::new(|| {
        let text = spec()
            .to_json()
            .unwrap_or_else(|e| panic!("the OpenAPI document cannot be written as JSON: {e}"));
        actix_web::web::Bytes::from(text)
    });
    JSON.clone()
}

/// The document as YAML, exactly as `openapi.yaml` should hold it.
pub fn yaml() -> String {
    spec()
        .to_yaml()
        .unwrap_or_else(|e| panic!("the OpenAPI document cannot be written as YAML: {e}"))
}

/// The messages `/webhook-endpoints` receive, one per event type: a POST of
/// `{"type", "timestamp", "data"}` with the Standard Webhooks headers.
fn webhook_messages() -> utoipa::openapi::path::Paths {
    use utoipa::openapi::path::{
        HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, Paths,
    };
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder};

    use crate::domain::EventType;

    let header = |name: &str, description: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(description))
            .schema(Some(utoipa::openapi::schema::Object::with_type(
                utoipa::openapi::schema::Type::String,
            )))
            .build()
    };
    let mut paths = Paths::new();
    for kind in EventType::ALL {
        let (schema, about) = match kind {
            EventType::OrderCreated => ("OrderMessage", "An order was taken in."),
            EventType::OrderUpdated => (
                "OrderMessage",
                "An order's details were corrected; `data.changed` names them.",
            ),
            EventType::OrderStatusChanged => (
                "OrderMessage",
                "An order moved to another status; `data.from` is the one it left.",
            ),
            EventType::NotificationSent => ("NotificationMessage", "A provider took a text."),
            EventType::NotificationDelivered => (
                "NotificationMessage",
                "A provider reported a text delivered to the handset.",
            ),
            EventType::NotificationFailed => (
                "NotificationMessage",
                "A text failed: refused, out of attempts, or reported undelivered.",
            ),
            EventType::CustomerOptedOut => (
                "CustomerMessage",
                "A customer texted STOP (sent to admins' endpoints and to those of keys that created an order for the number).",
            ),
            EventType::CustomerOptedIn => (
                "CustomerMessage",
                "A customer texted START, or an admin lifted the opt-out.",
            ),
        };
        let operation = OperationBuilder::new()
            .summary(Some(kind.as_str()))
            .description(Some(format!(
                "{about} Delivered at least once: retried with growing waits for 24 hours until the endpoint answers 2xx within 10 s (redirects are not followed); `webhook-id` is the same on every attempt, so a repeat can be recognised."
            )))
            .tag("webhook-endpoints")
            .parameters(Some([
                header("webhook-id", "The message's id (`msg_…`), the same on every attempt"),
                header("webhook-timestamp", "Seconds since the Unix epoch at this attempt; refuse one far from your clock"),
                header(
                    "webhook-signature",
                    "`v1,` and the base64 HMAC-SHA256 of `webhook-id.webhook-timestamp.body` with the base64-decoded part of the endpoint's `whsec_` secret after the prefix",
                ),
            ]))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(schema)))
                            .build(),
                    )
                    .required(Some(Required::True))
                    .build(),
            ))
            .response(
                "2XX",
                ResponseBuilder::new()
                    .description("Received; any other answer, or none within 10 s, is retried")
                    .build(),
            )
            .build();
        paths.paths.insert(
            kind.as_str().to_owned(),
            PathItem::new(HttpMethod::Post, operation),
        );
    }
    paths
}
