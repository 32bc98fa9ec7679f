//! `/orders`: list, create, read (with ETag), change status (with If-Match) and history.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::Caller;
use super::body::{RawBody, fingerprint};
use super::idempotency::{self, answer};
use super::problem::ApiError;
use super::query::{PageParams, QueryParser, next_cursor};
use crate::domain::{
    CustomerName, ExternalRef, IfMatch, NewOrder, Notes, Notification, Order, OrderEdit,
    OrderField, OrderFilter, OrderItem, OrderItems, OrderSearch, OrderStatus, PhoneNumber,
    ValidationError, parse_eta, tag_list_matches,
};
use crate::http::AppState;
use crate::service::{Answer, Created, EditRequest, Edited, StatusChangeRequest, StatusChanged};

/// An order as the API shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename = "Order")]
#[schema(as = Order)]
pub struct OrderView {
    pub id: Uuid,
    /// The creating system's own reference, unique per API key.
    pub external_ref: Option<String>,
    /// How the texts name the order (exactly what `{order_ref}` gives): the
    /// `external_ref`, else `#` and the last six hex digits of the id.
    #[schema(example = "#AF9473")]
    pub order_ref: String,
    pub customer_name: String,
    /// E.164, such as `+31612345678`.
    #[schema(example = "+31612345678")]
    pub phone: String,
    pub items: Vec<OrderItem>,
    pub status: OrderStatus,
    /// The time the customer was promised the order (`{eta}` in texts); `null`: none.
    #[serde(serialize_with = "crate::domain::rfc3339::optional")]
    pub eta: Option<DateTime<Utc>>,
    /// What the kitchen must know that is not an item (allergies, the door, the bell).
    #[schema(example = "Ring bell 3. No peanuts.")]
    pub notes: Option<String>,
    /// Goes up by one with every change (of status or details); the ETag is `"v<version>"`.
    pub version: i32,
    #[serde(serialize_with = "crate::domain::rfc3339::time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::domain::rfc3339::time")]
    pub updated_at: DateTime<Utc>,
    /// The latest text sent (or queued) about this order.
    pub last_notification: Option<Notification>,
}

impl OrderView {
    pub fn new(order: Order, last_notification: Option<Notification>) -> Self {
        OrderView {
            order_ref: order.order_ref(),
            id: order.id,
            external_ref: order.external_ref,
            customer_name: order.customer_name,
            phone: order.phone.into_string(),
            items: order.items.into_vec(),
            status: order.status,
            eta: order.eta,
            notes: order.notes,
            version: order.version,
            created_at: order.created_at,
            updated_at: order.updated_at,
            last_notification,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrderPage {
    pub items: Vec<OrderView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)] // read by ToSchema: the description says no other fields
pub struct NewOrderItem {
    /// One line of text, 1 to 100 characters.
    #[schema(example = "Margherita", max_length = 100, pattern = "line")]
    pub name: String,
    #[schema(minimum = 1, maximum = 999, example = 2)]
    pub quantity: i64,
}

/// serde's derive would also read an item from an array (`["Pie", 2]`); an item is an
/// object with named fields, nothing else.
impl<'de> Deserialize<'de> for NewOrderItem {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            name: String,
            #[serde(deserialize_with = "whole_number")]
            quantity: i64,
        }

        struct ObjectOnly;

        impl<'de> serde::de::Visitor<'de> for ObjectOnly {
            type Value = Fields;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object with name and quantity")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Fields, A::Error> {
                Fields::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        let fields = deserializer.deserialize_map(ObjectOnly)?;
        Ok(NewOrderItem {
            name: fields.name,
            quantity: fields.quantity,
        })
    }
}

/// A whole number, also when written `2.0` (JSON Schema counts that as an integer).
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::de::{Error, Unexpected, Visitor};

    struct Whole;

    impl Visitor<'_> for Whole {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number")
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
        }

        fn visit_f64<E: Error>(self, v: f64) -> Result<i64, E> {
            // Exactly representable, so the conversion below loses nothing.
            const LIMIT: f64 = 9_007_199_254_740_992.0;
            if v.fract() == 0.0 && v.abs() <= LIMIT {
                Ok(v as i64)
            } else {
                Err(E::invalid_type(Unexpected::Float(v), &self))
            }
        }
    }

    deserializer.deserialize_any(Whole)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// One line of text, 1 to 100 characters.
    #[schema(example = "Ada Lovelace", max_length = 100, pattern = "line")]
    pub customer_name: String,
    /// International (`+31 6 1234 5678`), or national when the server has a default region.
    /// Format `phone`: a number valid in its country's numbering plan.
    #[schema(
        example = "+31 6 1234 5678",
        format = "phone",
        min_length = 1,
        max_length = 40
    )]
    pub phone: String,
    #[schema(min_items = 1, max_items = 50)]
    pub items: Vec<NewOrderItem>,
    #[serde(default)]
    #[schema(max_length = 100, pattern = "line")]
    pub external_ref: Option<String>,
    /// Up to 500 characters, line breaks allowed; blank is none.
    #[serde(default)]
    #[schema(
        max_length = 500,
        pattern = "notes",
        example = "Ring bell 3. No peanuts."
    )]
    pub notes: Option<String>,
    /// The time promised to the customer (RFC 3339 with its offset): at most an hour
    /// ago, at most 7 days ahead.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = "eta")]
    pub eta: Option<String>,
    /// Text the customer that the order was received (default: no text on creation).
    #[serde(default)]
    pub notify: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStatus {
    pub status: OrderStatus,
    /// `false` changes the status without texting the customer.
    #[serde(default)]
    pub notify: Option<bool>,
    /// A new promised time with this step (RFC 3339 with its offset: at most an hour
    /// ago, at most 7 days ahead), told in the text as `{eta}`; `null` withdraws the
    /// promise; left out, the order keeps its time. With the status the order already
    /// has, only the time changes and nobody is texted.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = "eta")]
    pub eta: Option<Option<String>>,
}

/// Corrections to an order's details: only the fields given change (at least one).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct EditOrder {
    /// One line of text, 1 to 100 characters.
    #[schema(example = "Ada Lovelace", max_length = 100, pattern = "line")]
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub customer_name: Option<String>,
    /// As for a new order. Texts already queued keep the number they were addressed to.
    #[schema(
        example = "+31 6 1234 5678",
        format = "phone",
        min_length = 1,
        max_length = 40
    )]
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub phone: Option<String>,
    /// The whole list, replacing the order's items.
    #[schema(min_items = 1, max_items = 50)]
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub items: Option<Vec<NewOrderItem>>,
    /// Up to 500 characters, line breaks allowed; `null` or blank clears them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 500, pattern = "notes")]
    pub notes: Option<Option<String>>,
    /// The time promised to the customer (RFC 3339 with its offset: at most an hour
    /// ago, at most 7 days ahead); `null` withdraws it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = "eta")]
    pub eta: Option<Option<String>>,
}

/// A field that may be left out (`None`) or given as `null` (`Some(None)`).
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A field that may be left out but, when given, is not `null`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[derive(Serialize, ToSchema)]
#[serde(rename = "StatusChanged")]
#[schema(as = StatusChanged)]
pub struct StatusChangedView {
    pub order: OrderView,
    /// The text queued by this change, if any.
    pub notification: Option<Notification>,
}

#[derive(Serialize, ToSchema)]
pub struct OrderEventView {
    /// `null` for the event that created the order.
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    /// The name of the API key that made the change.
    pub actor: String,
    #[serde(serialize_with = "crate::domain::rfc3339::time")]
    pub at: DateTime<Utc>,
    /// The details this step changed: those an edit corrected (its `from` and `to` are
    /// the status the order kept), or `eta` when a status change also promised a time.
    /// Empty for a status change alone.
    pub changed: Vec<OrderField>,
    /// The order's promised time right after this step.
    #[serde(serialize_with = "crate::domain::rfc3339::optional")]
    pub eta: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct OrderEventList {
    pub items: Vec<OrderEventView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListOrdersParams {
    /// Only these statuses, comma-separated (`pending,confirmed`).
    #[param(
        pattern = "^ *((pending|confirmed|delayed|delivered|cancelled) *)?(, *((pending|confirmed|delayed|delivered|cancelled) *)?)*$"
    )]
    pub status: Option<String>,
    /// Search: the customer's name (accents optional: `zoe` finds Zoë), the order's
    /// code as texts give it (`#AF9473`, with or without `#`), its external_ref, its
    /// items and notes, and, when the search is written as a number, its phone number
    /// (international, national or in part).
    pub q: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

impl ListOrdersParams {
    fn into_filter(self, state: &AppState) -> Result<OrderFilter, ApiError> {
        let mut query = QueryParser::default();
        let statuses = query.list("status", self.status.as_deref());
        let page = query.page(self.limit.as_deref(), self.cursor.as_deref());
        let search = self
            .q
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty());
        if search.as_ref().is_some_and(|q| q.chars().count() > 100) {
            query.push(ValidationError::new("q", "must be at most 100 characters"));
        }
        query.finish()?;
        let region = state.services.settings().default_region;
        Ok(OrderFilter {
            statuses,
            search: search.map(|q| OrderSearch::new(&q, region)),
            limit: page.limit,
            before_seq: page.from,
        })
    }
}

impl CreateOrder {
    /// Turns the request into domain types, reporting every bad field at once.
    fn parse(self, state: &AppState) -> Result<NewOrder, ApiError> {
        let mut errors = Vec::new();
        let customer_name = CustomerName::parse(&self.customer_name)
            .map_err(|e| errors.push(e))
            .ok();
        let phone = PhoneNumber::accept(&self.phone, &state.services.settings().phone_policy())
            .map_err(|e| errors.push(ValidationError::new("phone", e.to_string())))
            .ok();
        let raw_items: Vec<(String, i64)> = self
            .items
            .into_iter()
            .map(|i| (i.name, i.quantity))
            .collect();
        let items = OrderItems::parse(&raw_items)
            .map_err(|e| errors.extend(e))
            .ok();
        let external_ref = match self.external_ref {
            Some(raw) => ExternalRef::parse(&raw)
                .map(Some)
                .map_err(|e| errors.push(e))
                .ok(),
            None => Some(None),
        };
        let notes = match self.notes {
            Some(raw) => Notes::parse(&raw).map_err(|e| errors.push(e)).ok(),
            None => Some(None),
        };
        let eta = match self.eta {
            Some(raw) => parse_eta(&raw, Utc::now())
                .map(Some)
                .map_err(|e| errors.push(e))
                .ok(),
            None => Some(None),
        };
        match (customer_name, phone, items, external_ref, notes, eta) {
            (
                Some(customer_name),
                Some(phone),
                Some(items),
                Some(external_ref),
                Some(notes),
                Some(eta),
            ) if errors.is_empty() => Ok(NewOrder {
                customer_name,
                phone,
                items,
                external_ref,
                notes,
                eta,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

impl EditOrder {
    /// Turns the request into domain types, reporting every bad field at once.
    fn parse(self, state: &AppState) -> Result<OrderEdit, ApiError> {
        if self.customer_name.is_none()
            && self.phone.is_none()
            && self.items.is_none()
            && self.notes.is_none()
            && self.eta.is_none()
        {
            return Err(ApiError::Validation(vec![ValidationError::new(
                "body",
                "give at least one of customer_name, phone, items, notes and eta",
            )]));
        }
        let mut errors = Vec::new();
        let customer_name = self
            .customer_name
            .and_then(|raw| CustomerName::parse(&raw).map_err(|e| errors.push(e)).ok());
        let policy = state.services.settings().phone_policy();
        let phone = self.phone.and_then(|raw| {
            PhoneNumber::accept(&raw, &policy)
                .map_err(|e| errors.push(ValidationError::new("phone", e.to_string())))
                .ok()
        });
        let items = self.items.and_then(|items| {
            let raw: Vec<(String, i64)> = items.into_iter().map(|i| (i.name, i.quantity)).collect();
            OrderItems::parse(&raw).map_err(|e| errors.extend(e)).ok()
        });
        let notes = self.notes.and_then(|raw| match raw {
            Some(raw) => Notes::parse(&raw).map_err(|e| errors.push(e)).ok(),
            None => Some(None),
        });
        let eta = self.eta.and_then(|raw| optional_eta(raw, &mut errors));
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(OrderEdit {
            customer_name,
            phone,
            items,
            notes,
            eta,
        })
    }
}

/// A promised time as given (`Some(None)`: withdrawn); `None` after noting why it was
/// refused.
fn optional_eta(
    raw: Option<String>,
    errors: &mut Vec<ValidationError>,
) -> Option<Option<DateTime<Utc>>> {
    match raw {
        Some(raw) => parse_eta(&raw, Utc::now())
            .map(Some)
            .map_err(|e| errors.push(e))
            .ok(),
        None => Some(None),
    }
}

/// The answer to an edit: 200 with the order as it is now.
fn edited(edited: &Edited) -> Answer {
    let view = OrderView::new(edited.order.clone(), edited.last_text.clone());
    answer(StatusCode::OK, &view)
}

/// The request's `If-Match`; a header that is not text matches no version.
fn if_match(req: &HttpRequest) -> Option<IfMatch> {
    req.headers()
        .get(header::IF_MATCH)
        .map(|value| IfMatch::new(value.to_str().unwrap_or("")))
}

/// The answer to a new order: 201 with the order and its `Location`.
fn created(created: &Created) -> Answer {
    let view = OrderView::new(created.order.clone(), created.text.clone());
    Answer {
        location: Some(format!("/orders/{}", created.order.id)),
        ..answer(StatusCode::CREATED, &view)
    }
}

/// The answer to a status change: 200 with the order and the text it queued.
fn status_changed(changed: &StatusChanged) -> Answer {
    let view = StatusChangedView {
        order: OrderView::new(changed.order.clone(), changed.last_text.clone()),
        notification: changed.text.clone(),
    };
    answer(StatusCode::OK, &view)
}

/// List orders, newest first.
#[utoipa::path(
    get, path = "/orders", tag = "orders",
    params(ListOrdersParams),
    responses(
        (status = 200, description = "A page of orders, newest first", body = OrderPage),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 422, response = super::problem::UnprocessableEntity),
    ),
    security(("bearer" = []))
)]
pub async fn list_orders(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<ListOrdersParams>,
) -> Result<HttpResponse, ApiError> {
    let filter = params.into_inner().into_filter(&state)?;
    let page = state.services.list_orders(caller.scope(), &filter).await?;
    Ok(HttpResponse::Ok().json(OrderPage {
        items: page
            .orders
            .into_iter()
            .map(|(order, last)| OrderView::new(order, last))
            .collect(),
        next_cursor: next_cursor(page.next),
    }))
}

/// Create an order. It starts `pending`; no text is sent unless `notify` is true.
#[utoipa::path(
    post, path = "/orders", tag = "orders",
    request_body = CreateOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request safe for 24 hours", pattern = "^[!-~]{1,255}$")),
    responses(
        (status = 201, description = "Created", body = OrderView,
            headers(("Location" = String, description = "The new order's URL"))),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 409, response = super::problem::Conflict),
        (status = 413, response = super::problem::PayloadTooLarge),
        (status = 408, response = super::problem::RequestTimeout),
        (status = 415, response = super::problem::UnsupportedMediaType),
        (status = 422, response = super::problem::UnprocessableEntity),
    ),
    security(("bearer" = []))
)]
pub async fn create_order(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency::key(&req)?;
    let request = body.parse::<CreateOrder>()?;
    let fingerprint = fingerprint("POST", "/orders", &request.canonical);
    let notify = request.value.notify == Some(true);
    let new = request.value.parse(&state)?;
    let once = idempotency::once(key, &caller, fingerprint, created);
    let ran = state
        .services
        .create_order(&caller.actor(), new, notify, once)
        .await?;
    Ok(idempotency::respond(ran, created))
}

/// Read one order. Answers 304 to a matching `If-None-Match`.
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderView,
            headers(("ETag" = String, description = "`\"v<version>\"`, for If-Match"))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 404, response = super::problem::NotFound),
    ),
    security(("bearer" = []))
)]
pub async fn get_order(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let order = state
        .services
        .order(caller.scope(), id.into_inner())
        .await?;
    let tag = order.etag();
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| tag_list_matches(value, &tag, true))
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .finish());
    }
    let last = state.services.last_text(order.id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, tag))
        .json(OrderView::new(order, last)))
}

/// Change an order's status. Setting the status it already has changes nothing.
#[utoipa::path(
    patch, path = "/orders/{id}/status", tag = "orders",
    request_body = ChangeStatus,
    params(
        ("id" = Uuid, Path, description = "The order's id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the order still has this ETag"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request safe for 24 hours", pattern = "^[!-~]{1,255}$"),
    ),
    responses(
        (status = 200, description = "The order after the change", body = StatusChangedView),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 404, response = super::problem::NotFound),
        (status = 409, response = super::problem::Conflict),
        (status = 412, response = super::problem::PreconditionFailed),
        (status = 413, response = super::problem::PayloadTooLarge),
        (status = 408, response = super::problem::RequestTimeout),
        (status = 415, response = super::problem::UnsupportedMediaType),
        (status = 422, response = super::problem::UnprocessableEntity),
    ),
    security(("bearer" = []))
)]
pub async fn change_status(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let key = idempotency::key(&req)?;
    let request = body.parse::<ChangeStatus>()?;
    let fingerprint = fingerprint("PATCH", &format!("/orders/{id}/status"), &request.canonical);
    let mut errors = Vec::new();
    let eta = match request.value.eta {
        Some(raw) => match optional_eta(raw, &mut errors) {
            Some(eta) => Some(eta),
            None => return Err(ApiError::Validation(errors)),
        },
        None => None,
    };
    let change = StatusChangeRequest {
        order: id,
        to: request.value.status,
        notify: request.value.notify,
        eta,
        if_match: if_match(&req),
    };
    let once = idempotency::once(key, &caller, fingerprint, status_changed);
    let ran = state
        .services
        .change_status(&caller.actor(), caller.scope(), change, once)
        .await?;
    Ok(idempotency::respond(ran, status_changed))
}

/// Correct an order's name, phone number, items, notes or promised time, whatever its
/// status. Sends no text; giving a field the value it has changes nothing.
#[utoipa::path(
    patch, path = "/orders/{id}", tag = "orders",
    request_body = EditOrder,
    params(
        ("id" = Uuid, Path, description = "The order's id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the order still has this ETag"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request safe for 24 hours", pattern = "^[!-~]{1,255}$"),
    ),
    responses(
        (status = 200, description = "The order after the edit", body = OrderView),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 404, response = super::problem::NotFound),
        (status = 409, response = super::problem::Conflict),
        (status = 412, response = super::problem::PreconditionFailed),
        (status = 413, response = super::problem::PayloadTooLarge),
        (status = 408, response = super::problem::RequestTimeout),
        (status = 415, response = super::problem::UnsupportedMediaType),
        (status = 422, response = super::problem::UnprocessableEntity),
    ),
    security(("bearer" = []))
)]
pub async fn edit_order(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let key = idempotency::key(&req)?;
    let request = body.parse::<EditOrder>()?;
    let fingerprint = fingerprint("PATCH", &format!("/orders/{id}"), &request.canonical);
    let edit = EditRequest {
        order: id,
        edit: request.value.parse(&state)?,
        if_match: if_match(&req),
    };
    let once = idempotency::once(key, &caller, fingerprint, edited);
    let ran = state
        .services
        .edit_order(&caller.actor(), caller.scope(), edit, once)
        .await?;
    Ok(idempotency::respond(ran, edited))
}

/// The order's history (status changes and edits), oldest first, a page at a time.
#[utoipa::path(
    get, path = "/orders/{id}/events", tag = "orders",
    params(("id" = Uuid, Path, description = "The order's id"), PageParams),
    responses(
        (status = 200, description = "History, oldest first", body = OrderEventList),
        (status = 422, response = super::problem::UnprocessableEntity),
        (status = 400, response = super::problem::BadRequest),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
        (status = 404, response = super::problem::NotFound),
    ),
    security(("bearer" = []))
)]
pub async fn list_events(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let page = params.into_inner().page()?;
    let (history, next) = state
        .services
        .history(caller.scope(), id.into_inner(), page)
        .await?;
    Ok(HttpResponse::Ok().json(OrderEventList {
        next_cursor: next_cursor(next),
        items: history
            .into_iter()
            .map(|e| OrderEventView {
                from: e.from,
                to: e.to,
                actor: e.actor,
                at: e.at,
                changed: e.changed,
                eta: e.eta,
            })
            .collect(),
    }))
}
