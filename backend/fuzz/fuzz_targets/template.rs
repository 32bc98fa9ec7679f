//! Templates (`Template::parse`, `Template::render`) on any text and any order: parsing
//! keeps the text as written and refuses only for the stated reasons; rendering
//! replaces exactly the `{placeholders}`, left to right, and counts the result as
//! `SmsText` would.

#![no_main]

use arbitrary::Arbitrary;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use order_notify::domain::{
    OrderItem, OrderStatus, Placeholder, SmsText, Template, TemplateError, TemplateValues,
    short_ref,
};
use uuid::Uuid;

/// `domain::template::MAX_TEMPLATE_CHARS`, which the library does not export.
const MAX_TEMPLATE_CHARS: usize = 1000;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    customer_name: &'a str,
    external_ref: Option<&'a str>,
    order_id: [u8; 16],
    items: Vec<(&'a str, u32)>,
    status: u8,
    /// The promised time, in seconds from 2026-01-01 (a year either way), if any.
    eta: Option<i32>,
    zone: u8,
    body: &'a str,
}

/// Zones with whole, half-hour and 45-minute offsets, and with daylight saving.
const ZONES: [chrono_tz::Tz; 5] = [
    chrono_tz::UTC,
    chrono_tz::Europe::Amsterdam,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Asia::Kathmandu,
    chrono_tz::America::St_Johns,
];

/// What rendering must produce: each `{name}` of a known placeholder replaced by its
/// value, everything else kept. (A parsed template has no unknown placeholders, and
/// placeholder names hold no braces, so this simple scan finds the same ones.)
fn substitute(body: &str, values: &[(&str, String)]) -> String {
    let mut out = String::new();
    let mut rest = body;
    'scan: while let Some(c) = rest.chars().next() {
        for (name, value) in values {
            let after = rest
                .strip_prefix('{')
                .and_then(|r| r.strip_prefix(name))
                .and_then(|r| r.strip_prefix('}'));
            if let Some(after) = after {
                out.push_str(value);
                rest = after;
                continue 'scan;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fuzz_target!(|input: Input| {
    let body = input.body;
    let known: Vec<&str> = Placeholder::ALL.iter().map(|p| p.name()).collect();
    let template = match Template::parse(body) {
        Ok(template) => template,
        Err(TemplateError::Empty) => {
            assert!(body.trim().is_empty());
            return;
        }
        Err(TemplateError::TooLong) => {
            assert!(!body.trim().is_empty());
            assert!(body.chars().count() > MAX_TEMPLATE_CHARS);
            return;
        }
        Err(TemplateError::UnknownPlaceholders(names)) => {
            assert!(!names.is_empty());
            for (i, name) in names.iter().enumerate() {
                assert!(!known.contains(&name.as_str()), "{name} is known");
                assert!(
                    body.contains(&format!("{{{name}}}")),
                    "{name} is not in the text"
                );
                assert!(!names[..i].contains(name), "{name} is named twice");
            }
            return;
        }
    };
    assert!(!body.trim().is_empty());
    assert!(body.chars().count() <= MAX_TEMPLATE_CHARS);
    assert_eq!(template.body(), body);
    assert_eq!(template.to_string(), body);
    assert_eq!(Template::parse(template.body()).as_ref(), Ok(&template));

    let items: Vec<OrderItem> = input
        .items
        .iter()
        .map(|&(name, quantity)| OrderItem {
            name: name.to_owned(),
            quantity,
        })
        .collect();
    let order_id = Uuid::from_bytes(input.order_id);
    let status = OrderStatus::ALL[usize::from(input.status) % OrderStatus::ALL.len()];
    let eta = input.eta.and_then(|seconds| {
        DateTime::<Utc>::from_timestamp(1_767_225_600 + i64::from(seconds % 31_536_000), 0)
    });
    let zone = ZONES[usize::from(input.zone) % ZONES.len()];
    let values = TemplateValues::new(
        input.customer_name,
        input.external_ref,
        order_id,
        &items,
        status,
    )
    .with_eta(eta, zone);

    // Each placeholder alone renders to what it stands for.
    let value = |p: &Placeholder| {
        Template::parse(&format!("{{{}}}", p.name()))
            .expect("a lone placeholder is a template")
            .render(&values)
            .into_body()
    };
    let values_by_name: Vec<(&str, String)> = Placeholder::ALL
        .iter()
        .map(|p| (p.name(), value(p)))
        .collect();
    let get = |name: &str| &values_by_name.iter().find(|(n, _)| *n == name).unwrap().1;
    let name = input.customer_name;
    assert_eq!(get("customer_name"), name);
    let first_name = name.split_whitespace().next().unwrap_or(name);
    assert_eq!(get("first_name"), first_name);
    let order_ref = input
        .external_ref
        .map(str::to_owned)
        .unwrap_or_else(|| short_ref(order_id));
    assert_eq!(get("order_ref"), &order_ref);
    assert_eq!(get("status"), status.as_str());
    // `{eta}`: the promised time as HH:MM on the zone's clocks, or "soon".
    let told = get("eta");
    match eta {
        None => assert_eq!(told, "soon"),
        Some(eta) => {
            let local = eta.with_timezone(&zone);
            let expected = format!("{:02}:{:02}", chrono::Timelike::hour(&local), chrono::Timelike::minute(&local));
            assert_eq!(told, &expected);
        }
    }
    if items.is_empty() {
        assert_eq!(get("items"), "");
    }

    let text = template.render(&values);
    assert_eq!(text.body(), substitute(body, &values_by_name));
    assert_eq!(text, SmsText::new(text.body()));
});
