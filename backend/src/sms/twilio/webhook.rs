//! Twilio's callbacks, as this provider reads them: the `X-Twilio-Signature` each one
//! carries (base64 HMAC-SHA1, keyed with the auth token, of the called URL followed by
//! every form field, sorted by name, as name then value), a status callback's fields as
//! a [`Report`], and where an inbound text keeps its sender and words. The HTTP edge
//! (`http::webhooks::twilio`) only gathers the call and hands the result on.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::domain::{DeliveryReport, Report};

pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The signature Twilio computes for a call to `url` with these form fields.
pub fn signature(auth_token: &str, url: &str, fields: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort();
    let mut data = url.to_owned();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `given` is Twilio's signature of a call to `url` whose form body is `body`;
/// `Err` says why not.
pub fn verify(auth_token: &str, given: &str, url: &str, body: &[u8]) -> Result<(), &'static str> {
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| "not a form")?;
    let expected = signature(auth_token, url, &fields);
    if subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.as_bytes()).into() {
        Ok(())
    } else {
        Err("signature mismatch")
    }
}

/// What a status callback says, read from its fields (`get` gives a field that is
/// there and not empty): `delivered` → delivered at `now`; `undelivered` and `failed`
/// → failed with Twilio's error code; other statuses → `None`, nothing to record.
/// `Err` when there is no status.
pub fn status_report<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    now: DateTime<Utc>,
) -> Result<Option<Report>, &'static str> {
    let status = get("MessageStatus").ok_or("A status callback needs MessageStatus.")?;
    let says = match status {
        "delivered" => DeliveryReport::Delivered { at: now },
        "undelivered" | "failed" => {
            let mut reason = format!("Twilio reported {status}");
            if let Some(code) = get("ErrorCode") {
                reason.push_str(&format!(" (error {code})"));
            }
            DeliveryReport::Failed { reason }
        }
        _ => return Ok(None),
    };
    Ok(Some(Report {
        reference: None,
        provider_message_id: get("MessageSid").map(str::to_owned),
        says,
    }))
}

/// The field of an inbound text that holds its sender.
pub const INBOUND_SENDER: &str = "From";
/// The fields that may hold an inbound text's words.
pub const INBOUND_TEXT: &[&str] = &["Body"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_the_url_and_the_sorted_fields() {
        let fields = vec![
            ("MessageStatus".to_owned(), "delivered".to_owned()),
            ("MessageSid".to_owned(), "SM1".to_owned()),
        ];
        let reordered = vec![fields[1].clone(), fields[0].clone()];
        let url = "https://orders.example.com/webhooks/twilio/status";
        let a = signature("token", url, &fields);
        assert_eq!(a, signature("token", url, &reordered));
        assert_ne!(a, signature("other", url, &fields));
        assert_ne!(a, signature("token", "https://evil.example/x", &fields));
        assert_eq!(STANDARD.decode(&a).unwrap().len(), 20, "HMAC-SHA1");
    }
}
