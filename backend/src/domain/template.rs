//! Message templates: a text per order status with `{placeholders}` filled from the
//! order. A template is parsed once; an unknown placeholder is refused, never sent to a
//! customer as literal braces.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::sms::SmsText;
use super::{OrderItem, OrderStatus};

pub const MAX_TEMPLATE_CHARS: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placeholder {
    CustomerName,
    FirstName,
    OrderRef,
    Items,
    Status,
    Eta,
}

impl Placeholder {
    pub const ALL: [Placeholder; 6] = [
        Placeholder::CustomerName,
        Placeholder::FirstName,
        Placeholder::OrderRef,
        Placeholder::Items,
        Placeholder::Status,
        Placeholder::Eta,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Placeholder::CustomerName => "customer_name",
            Placeholder::FirstName => "first_name",
            Placeholder::OrderRef => "order_ref",
            Placeholder::Items => "items",
            Placeholder::Status => "status",
            Placeholder::Eta => "eta",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Placeholder),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    body: String,
    parts: Vec<Part>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_TEMPLATE_CHARS} characters")]
    TooLong,
    #[error("unknown placeholder {}; use {}", .0.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(", "), known_list())]
    UnknownPlaceholders(Vec<String>),
}

fn known_list() -> String {
    let names: Vec<_> = Placeholder::ALL
        .iter()
        .map(|p| format!("{{{}}}", p.name()))
        .collect();
    names.join(", ")
}

/// A `{word}` at the start of `text`: its name and its length in bytes. Braces around
/// anything else (`{ }`, `{1}`) are ordinary text.
fn placeholder_at(text: &str) -> Option<(&str, usize)> {
    let inner = text.strip_prefix('{')?;
    let end = inner.find('}')?;
    let name = &inner[..end];
    let is_word = !name.is_empty()
        && name.len() <= 40
        && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
    is_word.then_some((name, end + 2))
}

impl Template {
    pub fn parse(body: &str) -> Result<Template, TemplateError> {
        if body.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        if body.chars().count() > MAX_TEMPLATE_CHARS {
            return Err(TemplateError::TooLong);
        }
        let mut parts = Vec::new();
        let mut unknown = Vec::new();
        let mut text = String::new();
        let mut rest = body;
        while let Some(c) = rest.chars().next() {
            if let Some((name, len)) = placeholder_at(rest) {
                match Placeholder::ALL.into_iter().find(|p| p.name() == name) {
                    Some(placeholder) => {
                        if !text.is_empty() {
                            parts.push(Part::Text(std::mem::take(&mut text)));
                        }
                        parts.push(Part::Field(placeholder));
                    }
                    None if !unknown.iter().any(|u| u == name) => unknown.push(name.to_owned()),
                    None => {}
                }
                rest = &rest[len..];
            } else {
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !unknown.is_empty() {
            return Err(TemplateError::UnknownPlaceholders(unknown));
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template {
            body: body.to_owned(),
            parts,
        })
    }

    pub fn body(&self) -> &str {
        &self.body
    }

    /// The template's own words, without its placeholders: what every text it gives
    /// takes at least.
    pub fn fixed_text(&self) -> SmsText {
        let text: String = self
            .parts
            .iter()
            .filter_map(|part| match part {
                Part::Text(text) => Some(text.as_str()),
                Part::Field(_) => None,
            })
            .collect();
        SmsText::new(text)
    }

    pub fn render(&self, values: &TemplateValues) -> SmsText {
        let mut out = String::with_capacity(self.body.len() + 64);
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(field) => out.push_str(values.get(*field)),
            }
        }
        SmsText::new(out)
    }

    /// The text we send for a status until an admin writes their own.
    pub fn default_for(status: OrderStatus) -> Template {
        let body = match status {
            OrderStatus::Pending => {
                "Hi {first_name}, we have your order {order_ref} ({items}) and we're working on it. We'll text you again when it's confirmed."
            }
            OrderStatus::Confirmed => {
                "Good news {first_name}: order {order_ref} is confirmed and our kitchen is preparing it now. Expected: {eta}."
            }
            OrderStatus::Delayed => {
                "Sorry {first_name}, order {order_ref} needs a little longer than we planned. New time: {eta}. Thanks for your patience!"
            }
            OrderStatus::Delivered => {
                "{first_name}, order {order_ref} is on its way: the driver will be with you shortly. Enjoy your meal!"
            }
            OrderStatus::Cancelled => {
                "Hi {first_name}, order {order_ref} has been cancelled. Questions? Reply to this text or call the restaurant and we'll help."
            }
        };
        Template::parse(body)
            .unwrap_or_else(|e| panic!("the default {status} template is invalid: {e}"))
    }
}

/// What the placeholders of one order stand for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateValues {
    customer_name: String,
    first_name: String,
    order_ref: String,
    items: String,
    status: String,
    eta: String,
}

/// What `{eta}` says when no time was promised.
pub const NO_ETA: &str = "soon";

/// Items named in a text before the rest are summed up as "and N more".
const ITEMS_IN_TEXT: usize = 3;

impl TemplateValues {
    /// The order texts are shown for when no real one is chosen (template previews and
    /// the size of each template in the list).
    pub fn sample(status: OrderStatus) -> TemplateValues {
        let items = [
            OrderItem {
                name: "Margherita".to_owned(),
                quantity: 2,
            },
            OrderItem {
                name: "Cola".to_owned(),
                quantity: 1,
            },
        ];
        TemplateValues::new(
            "Ada Lovelace",
            None,
            Uuid::from_u128(0x4b20b7),
            &items,
            status,
        )
        .with_eta_text("19:30")
    }

    pub fn new(
        customer_name: &str,
        external_ref: Option<&str>,
        order_id: Uuid,
        items: &[OrderItem],
        status: OrderStatus,
    ) -> TemplateValues {
        let first_name = customer_name
            .split_whitespace()
            .next()
            .unwrap_or(customer_name)
            .to_owned();
        TemplateValues {
            customer_name: customer_name.to_owned(),
            first_name,
            order_ref: order_ref(external_ref, order_id),
            items: describe_items(items),
            status: status.as_str().to_owned(),
            eta: NO_ETA.to_owned(),
        }
    }

    /// `{eta}`: the promised time as `HH:MM` on the clocks of `zone`, or "soon".
    pub fn with_eta(self, eta: Option<DateTime<Utc>>, zone: Tz) -> TemplateValues {
        match eta {
            Some(eta) => {
                let local = eta.with_timezone(&zone).format("%H:%M").to_string();
                self.with_eta_text(&local)
            }
            None => self.with_eta_text(NO_ETA),
        }
    }

    fn with_eta_text(self, eta: &str) -> TemplateValues {
        TemplateValues {
            eta: eta.to_owned(),
            ..self
        }
    }

    fn get(&self, field: Placeholder) -> &str {
        match field {
            Placeholder::CustomerName => &self.customer_name,
            Placeholder::FirstName => &self.first_name,
            Placeholder::OrderRef => &self.order_ref,
            Placeholder::Items => &self.items,
            Placeholder::Status => &self.status,
            Placeholder::Eta => &self.eta,
        }
    }
}

/// A short, speakable reference for orders without an external one: the last six hex
/// digits of the id (the random end of a UUIDv7, unlike its time-ordered start).
/// What `{order_ref}` puts in a text: the caller's own reference when there is one,
/// else the order's short code.
pub fn order_ref(external_ref: Option<&str>, order_id: Uuid) -> String {
    external_ref
        .map(str::to_owned)
        .unwrap_or_else(|| short_ref(order_id))
}

pub fn short_ref(order_id: Uuid) -> String {
    let mut buf = Uuid::encode_buffer();
    let hex = order_id.simple().encode_upper(&mut buf);
    let mut short = String::with_capacity(7);
    short.push('#');
    short.push_str(&hex[hex.len() - 6..]);
    short
}

fn describe_items(items: &[OrderItem]) -> String {
    let mut listed: Vec<String> = items
        .iter()
        .take(ITEMS_IN_TEXT)
        .map(|item| format!("{} x {}", item.quantity, item.name))
        .collect();
    if items.len() > ITEMS_IN_TEXT {
        listed.push(format!("{} more", items.len() - ITEMS_IN_TEXT));
        let last = listed.pop().unwrap_or_default();
        return format!("{} and {last}", listed.join(", "));
    }
    listed.join(", ")
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.body)
    }
}

/// The text sent for a status, and whether it is sent by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusTemplate {
    pub status: OrderStatus,
    pub template: Template,
    /// `false` stops the automatic text for this status; "Notify customer" still sends it.
    pub enabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sms::Encoding;

    #[test]
    fn a_short_ref_is_a_hash_and_the_ids_last_six_hex_digits_in_capitals() {
        let id = Uuid::parse_str("01a22fc3-e892-7501-9188-80e94e46348e").unwrap();
        assert_eq!(short_ref(id), "#46348E");
    }

    fn item(name: &str, quantity: u32) -> OrderItem {
        OrderItem {
            name: name.to_owned(),
            quantity,
        }
    }

    fn values() -> TemplateValues {
        let id = Uuid::parse_str("01a210c8-1c84-7676-b075-0e715f4b20b7").unwrap();
        TemplateValues::new(
            "Ada Lovelace",
            None,
            id,
            &[item("Margherita", 2), item("Cola", 1)],
            OrderStatus::Confirmed,
        )
    }

    #[test]
    fn every_placeholder_is_filled() {
        let template =
            Template::parse("{customer_name}|{first_name}|{order_ref}|{items}|{status}|{eta}")
                .unwrap();
        let text = template.render(&values());
        assert_eq!(
            text.body(),
            "Ada Lovelace|Ada|#4B20B7|2 x Margherita, 1 x Cola|confirmed|soon"
        );
    }

    #[test]
    fn the_eta_is_the_local_time_of_the_configured_zone() {
        let eta = "2026-07-01T17:45:00Z".parse::<DateTime<Utc>>().unwrap();
        let template = Template::parse("at {eta}").unwrap();
        let at = |zone: Tz| {
            template
                .render(&values().with_eta(Some(eta), zone))
                .body()
                .to_owned()
        };
        assert_eq!(at(chrono_tz::UTC), "at 17:45");
        // Summer time in Amsterdam (UTC+2), and a zone with a half-hour offset.
        assert_eq!(at(chrono_tz::Europe::Amsterdam), "at 19:45");
        assert_eq!(at(chrono_tz::Asia::Kolkata), "at 23:15");
        let winter = "2026-12-01T17:45:00Z".parse::<DateTime<Utc>>().unwrap();
        let text = template.render(&values().with_eta(Some(winter), chrono_tz::Europe::Amsterdam));
        assert_eq!(text.body(), "at 18:45");
        let none = template.render(&values().with_eta(None, chrono_tz::Europe::Amsterdam));
        assert_eq!(none.body(), "at soon");
    }

    #[test]
    fn the_external_ref_is_the_order_ref_when_there_is_one() {
        let v = TemplateValues::new(
            "Grace",
            Some("PO-17"),
            Uuid::nil(),
            &[item("Soup", 1)],
            OrderStatus::Pending,
        );
        assert_eq!(
            Template::parse("{order_ref} {first_name}")
                .unwrap()
                .render(&v)
                .body(),
            "PO-17 Grace"
        );
    }

    #[test]
    fn unknown_placeholders_are_refused_by_name() {
        let error = Template::parse("Hi {name}, order {order_ref} {total} {name}").unwrap_err();
        assert_eq!(
            error,
            TemplateError::UnknownPlaceholders(vec!["name".into(), "total".into()])
        );
        assert!(error.to_string().contains("{name}, {total}"), "{error}");
        assert!(error.to_string().contains("{customer_name}"));
    }

    #[test]
    fn other_braces_are_text() {
        let text = Template::parse("Deal {1} { } {a-b} {")
            .unwrap()
            .render(&values());
        assert_eq!(text.body(), "Deal {1} { } {a-b} {");
        assert_eq!(text.encoding(), Encoding::Gsm7);
    }

    #[test]
    fn empty_and_overlong_templates_are_refused() {
        assert_eq!(Template::parse("  "), Err(TemplateError::Empty));
        assert_eq!(
            Template::parse(&"x".repeat(1001)),
            Err(TemplateError::TooLong)
        );
        assert!(Template::parse(&"x".repeat(1000)).is_ok());
    }

    #[test]
    fn long_item_lists_are_summed_up() {
        let items: Vec<_> = (1..=5).map(|i| item(&format!("dish {i}"), i)).collect();
        assert_eq!(
            describe_items(&items),
            "1 x dish 1, 2 x dish 2, 3 x dish 3 and 2 more"
        );
        assert_eq!(
            describe_items(&items[..3]),
            "1 x dish 1, 2 x dish 2, 3 x dish 3"
        );
        assert_eq!(describe_items(&items[..1]), "1 x dish 1");
    }

    #[test]
    fn every_default_template_is_one_gsm_segment_for_a_typical_order() {
        let eta = "2026-07-01T17:45:00Z".parse::<DateTime<Utc>>().ok();
        for (status, eta) in OrderStatus::ALL
            .into_iter()
            .flat_map(|status| [(status, None), (status, eta)])
        {
            let values = values().with_eta(eta, chrono_tz::Europe::Amsterdam);
            let text = Template::default_for(status).render(&values);
            assert_eq!(text.encoding(), Encoding::Gsm7, "{status}: {}", text.body());
            assert_eq!(text.segments(), 1, "{status}: {}", text.body());
            assert!(text.body().contains("Ada"), "{status} greets the customer");
            if matches!(status, OrderStatus::Confirmed | OrderStatus::Delayed) {
                let told = if eta.is_some() { "19:45" } else { NO_ETA };
                assert!(text.body().contains(told), "{status}: {}", text.body());
            }
        }
    }
}
