//! Twilio's callbacks, as this provider reads them: the `X-Twilio-Signature` each one
//! carries (base64 HMAC of the called URL followed by every form field, sorted by name,
//! as name then value), a status callback's fields as a [`Report`], and where an
//! inbound text keeps its sender and words. The HMAC is SHA-1 keyed with the auth
//! token, or, when the call carries `X-Twilio-Webhooks-Signature-Settings:
//! key=…,algorithm=HMAC_SHA256`, the algorithm it names keyed with the webhook shared
//! key. As Twilio's own `RequestValidator`, the URL is checked with and without its
//! port, since Twilio is not consistent about it. The HTTP edge
//! (`http::webhooks::twilio`) only gathers the call and hands the result on.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use crate::domain::{DeliveryReport, Report};

pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// Names the shared key and the algorithm of a call signed with a webhook key.
pub const SETTINGS_HEADER: &str = "X-Twilio-Webhooks-Signature-Settings";

/// The HMAC a call was signed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// The legacy signature, keyed with the auth token.
    HmacSha1,
    HmacSha256,
}

/// Which key and algorithm signed a call, read from its settings header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// No settings header: HMAC-SHA1 with the auth token.
    AuthToken,
    /// A settings header: its algorithm (HMAC-SHA1 when it names none), with the
    /// webhook shared key.
    SharedKey(Algorithm),
}

/// The scheme of a call with this settings header (`None`: the header is absent).
/// `Err` for an algorithm Twilio's own validator does not know either.
pub fn scheme_of(settings: Option<&str>) -> Result<Scheme, &'static str> {
    let Some(settings) = settings else {
        return Ok(Scheme::AuthToken);
    };
    let named = settings.split(',').find_map(|part| {
        let (name, value) = part.split_once('=')?;
        (name.trim() == "algorithm" && !value.trim().is_empty()).then(|| value.trim())
    });
    match named {
        None => Ok(Scheme::SharedKey(Algorithm::HmacSha1)),
        Some(a) if a.eq_ignore_ascii_case("HMAC_SHA1") => {
            Ok(Scheme::SharedKey(Algorithm::HmacSha1))
        }
        Some(a) if a.eq_ignore_ascii_case("HMAC_SHA256") => {
            Ok(Scheme::SharedKey(Algorithm::HmacSha256))
        }
        Some(_) => Err("an unsupported signature algorithm"),
    }
}

/// The signature Twilio computes for a call to `url` with these form fields. A name
/// that repeats contributes each of its distinct values, sorted.
pub fn signature(
    key: &str,
    url: &str,
    fields: &[(String, String)],
    algorithm: Algorithm,
) -> String {
    let sorted: BTreeSet<&(String, String)> = fields.iter().collect();
    let mut data = url.to_owned();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let digest = match algorithm {
        Algorithm::HmacSha1 => {
            let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes())
                .expect("HMAC takes a key of any length");
            mac.update(data.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::HmacSha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
                .expect("HMAC takes a key of any length");
            mac.update(data.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    STANDARD.encode(digest)
}

/// `url` with its port written out (`:443` for https, `:80` for http, when none is)
/// and without any port: the two forms Twilio may have signed.
pub fn with_and_without_port(url: &str) -> [String; 2] {
    let Some((scheme, rest)) = url.split_once("://") else {
        return [url.to_owned(), url.to_owned()];
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // The port follows the last `:` outside an IPv6 literal's brackets.
    let host_end = authority.rfind(']').map_or(0, |i| i + 1);
    let (host, port) = match authority[host_end..].rfind(':') {
        Some(i) => (&authority[..host_end + i], Some(&authority[host_end + i..])),
        None => (authority, None),
    };
    let default = if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else {
        ":80"
    };
    [
        format!("{scheme}://{host}{}{tail}", port.unwrap_or(default)),
        format!("{scheme}://{host}{tail}"),
    ]
}

/// Whether `given` is Twilio's signature, by `key` and `algorithm`, of a call to `url`
/// (with or without its port) whose form body is `body`; `Err` says why not.
pub fn verify(
    key: &str,
    given: &str,
    url: &str,
    body: &[u8],
    algorithm: Algorithm,
) -> Result<(), &'static str> {
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| "not a form")?;
    let mut matched = false;
    for url in with_and_without_port(url) {
        let expected = signature(key, &url, &fields, algorithm);
        matched |= bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            given.as_bytes(),
        ));
    }
    if matched {
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
        let sha1 = Algorithm::HmacSha1;
        let a = signature("token", url, &fields, sha1);
        assert_eq!(a, signature("token", url, &reordered, sha1));
        assert_ne!(a, signature("other", url, &fields, sha1));
        assert_ne!(
            a,
            signature("token", "https://evil.example/x", &fields, sha1)
        );
        assert_eq!(STANDARD.decode(&a).unwrap().len(), 20, "HMAC-SHA1");
        let b = signature("token", url, &fields, Algorithm::HmacSha256);
        assert_eq!(STANDARD.decode(&b).unwrap().len(), 32, "HMAC-SHA256");
    }

    #[test]
    fn the_settings_header_names_the_scheme() {
        assert_eq!(scheme_of(None), Ok(Scheme::AuthToken));
        assert_eq!(
            scheme_of(Some("key=webhooks_sharedkey_1,algorithm=HMAC_SHA256")),
            Ok(Scheme::SharedKey(Algorithm::HmacSha256))
        );
        assert_eq!(
            scheme_of(Some(" algorithm = hmac_sha1 , key=k")),
            Ok(Scheme::SharedKey(Algorithm::HmacSha1))
        );
        assert_eq!(
            scheme_of(Some("key=k")),
            Ok(Scheme::SharedKey(Algorithm::HmacSha1))
        );
        assert!(scheme_of(Some("key=k,algorithm=HMAC_MD5")).is_err());
    }

    #[test]
    fn a_url_is_tried_with_and_without_its_port() {
        assert_eq!(
            with_and_without_port("https://orders.example.com/webhooks/twilio/status?x=1"),
            [
                "https://orders.example.com:443/webhooks/twilio/status?x=1",
                "https://orders.example.com/webhooks/twilio/status?x=1"
            ]
        );
        assert_eq!(
            with_and_without_port("http://127.0.0.1:8080/a"),
            ["http://127.0.0.1:8080/a", "http://127.0.0.1/a"]
        );
        assert_eq!(
            with_and_without_port("http://[::1]/a"),
            ["http://[::1]:80/a", "http://[::1]/a"]
        );
        assert_eq!(
            with_and_without_port("https://[::1]:8443"),
            ["https://[::1]:8443", "https://[::1]"]
        );
    }
}
