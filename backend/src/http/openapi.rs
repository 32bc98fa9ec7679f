//! The OpenAPI description, generated from the handlers and types by utoipa. The
//! checked-in `openapi.yaml` is this document; a test fails when they differ.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    events, health, keys, metrics, notifications, opt_outs, orders, problem, sandbox, templates,
    webhooks,
};
use crate::domain::{Encoding, OrderItem, OrderStatus, Role, ValidationError};

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

#[derive(OpenApi)]
#[openapi(
    info(
        title = "order-notify",
        description = "Orders for a delivery kitchen, and the texts that tell customers where their order is. \
            Errors are RFC 9457 problem documents (`application/problem+json`).",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        health::healthz,
        health::readyz,
        metrics::metrics,
        orders::list_orders,
        orders::create_order,
        orders::get_order,
        orders::change_status,
        orders::list_events,
        events::stream,
        events::create_token,
        notifications::list_for_order,
        notifications::notify_customer,
        notifications::list_notifications,
        notifications::retry,
        opt_outs::list_opt_outs,
        opt_outs::remove_opt_out,
        keys::list_keys,
        keys::create_key,
        keys::revoke_key,
        templates::list_templates,
        templates::save_template,
        templates::preview,
        sandbox::list_messages,
        webhooks::messagebird::status_report,
        webhooks::messagebird::inbound,
        webhooks::twilio::status_callback,
        webhooks::twilio::inbound,
    ),
    components(
        schemas(
            OrderStatus, Role, OrderItem, ValidationError, problem::Problem,
            orders::OrderView, orders::OrderPage, orders::CreateOrder, orders::NewOrderItem,
            orders::ChangeStatus, orders::StatusChanged, orders::OrderEventView, orders::OrderEventList,
            notifications::Notification, notifications::NotificationList, notifications::NotifyCustomer,
            crate::domain::NotificationState, notifications::NotificationPage, opt_outs::OptOut,
            opt_outs::OptOutList, keys::Key, keys::KeyList, keys::CreateKey, keys::CreatedKey,
            health::Health, health::Readiness, Encoding, templates::TemplateView, templates::TemplateList,
            templates::SaveTemplate, templates::PreviewRequest, templates::Preview,
            sandbox::SandboxMessage, sandbox::SandboxMessageList,
            events::OrderChanged, events::NotificationChanged, events::StreamToken,
        ),
        responses(
            problem::BadRequest, problem::Unauthorized, problem::Forbidden, problem::NotFound,
            problem::Conflict, problem::PreconditionFailed, problem::PayloadTooLarge,
            problem::UnsupportedMediaType, problem::UnprocessableEntity, problem::TooManyRequests,
            problem::ServiceUnavailable,
        ),
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "orders", description = "Orders and their status"),
        (name = "notifications", description = "Texts to customers"),
        (name = "events", description = "Live order and text changes (Server-Sent Events)"),
        (name = "templates", description = "The text sent for each status"),
        (name = "opt-outs", description = "Customers who texted STOP (admin only)"),
        (name = "keys", description = "API keys (admin only)"),
        (name = "sandbox", description = "The sandbox provider's outbox"),
        (name = "webhooks", description = "Provider callbacks, checked by the provider's signature when a signing key is set"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    // The crate version would make the file change on every release bump; the API's
    // own version is what clients care about.
    doc.info.version = "1.0.0".to_owned();
    doc
}

/// The document as YAML, exactly as `openapi.yaml` should hold it.
pub fn yaml() -> String {
    spec()
        .to_yaml()
        .unwrap_or_else(|e| panic!("the OpenAPI document cannot be written as YAML: {e}"))
}
