//! Provider callbacks, the untrusted input the service reads without an API key:
//! - `webhooks::parameters` on any query string, content type and body (read by the
//!   same `RawBody` extractor the handlers use): it never panics, and what it returns
//!   is exactly the query's parameters overlaid with the form's or JSON object's fields
//!   (JSON strings as themselves, other values as JSON), or an error when either is
//!   unreadable;
//! - `messagebird::verify_signature` on any token: it never panics, a token signed with
//!   one key is refused with any other key, and any change to a valid token is refused;
//! - `twilio::signature` over a form body's fields, as Twilio's callbacks are checked
//!   (HMAC-SHA1 and HMAC-SHA256): the same whatever the order of the fields, and
//!   accepted by `twilio::verify` for the URL with its port or without;
//! - Bird's events: `bird::webhook::read` on any body never panics, and
//!   `bird::webhook::verify` on any headers never panics, accepts a call signed as
//!   Standard Webhooks says (computed here) and refuses it under another secret or with
//!   one byte of the body changed.

#![no_main]

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use actix_web::FromRequest;
use actix_web::http::Uri;
use actix_web::http::header::{self, HeaderValue};
use actix_web::test::TestRequest;
use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use order_notify::http::body::RawBody;
use order_notify::http::webhooks::parameters;
use order_notify::sms::messagebird::webhook::{SignatureError, verify_signature};
use order_notify::domain::Secret;
use order_notify::sms::bird::webhook as bird;
use order_notify::sms::twilio::webhook as twilio;
use sha2::{Digest, Sha256};

#[derive(Arbitrary, Debug)]
enum ContentType<'a> {
    None,
    Form,
    Json,
    Other(&'a str),
}

#[derive(Arbitrary, Debug)]
enum JsonField<'a> {
    Text(&'a str),
    Number(i64),
    Bool(bool),
    Null,
    List(Vec<&'a str>),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    content_type: ContentType<'a>,
    query: &'a str,
    json_fields: Vec<(&'a str, JsonField<'a>)>,
    token: &'a str,
    key: &'a str,
    other_key: &'a str,
    url: &'a str,
    /// Our clock, which is not the caller's to choose: seconds since 1970 up to 2106.
    now: u32,
    /// Where to change a valid token, and to what.
    tamper: (u16, u8),
    body: &'a [u8],
}

/// An extractor's future over an in-memory payload finishes at its first poll. It is
/// polled inside a tokio runtime (one for every input): the body's deadline is a tokio
/// timer, as it is in the server.
fn ready<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime")
    });
    let _inside = runtime.enter();
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("reading an in-memory body waited"),
    }
}

/// `parameters` for a call with this query, content type and body; `None` when actix
/// itself would not have built such a request (an invalid URI or header value).
fn call(
    query: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Option<Result<HashMap<String, String>, String>> {
    let uri = format!("/webhooks/messagebird?{query}");
    Uri::try_from(uri.as_str()).ok()?;
    let mut request = TestRequest::post().uri(&uri).set_payload(body.to_vec());
    if let Some(content_type) = content_type {
        let value = HeaderValue::from_str(content_type).ok()?;
        request = request.insert_header((header::CONTENT_TYPE, value));
    }
    let (req, mut payload) = request.to_http_parts();
    let raw = ready(RawBody::from_request(&req, &mut payload)).expect("a small body is read");
    Some(parameters(&req, &raw).map_err(|e| e.to_string()))
}

/// The parameters a call must yield: the query's, then each of the body's fields in
/// order, a later one replacing an earlier one of the same name.
fn overlay(
    query: &HashMap<String, String>,
    fields: Vec<(String, String)>,
) -> HashMap<String, String> {
    let mut expected = query.clone();
    expected.extend(fields);
    expected
}

/// A JSON value as `parameters` passes it on: a string as itself, anything else as JSON.
fn as_text(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

fn check_parameters(input: &Input) {
    let content_type = match input.content_type {
        ContentType::None => None,
        ContentType::Form => Some("application/x-www-form-urlencoded"),
        ContentType::Json => Some("application/json"),
        ContentType::Other(other) => Some(other),
    };
    let Some(query_only) = call(input.query, None, b"") else {
        return;
    };

    // A JSON object made of the input's fields, so every run takes the JSON path.
    let object: serde_json::Map<String, serde_json::Value> = input
        .json_fields
        .iter()
        .map(|(key, field)| {
            let value = match field {
                JsonField::Text(s) => serde_json::json!(s),
                JsonField::Number(n) => serde_json::json!(n),
                JsonField::Bool(b) => serde_json::json!(b),
                JsonField::Null => serde_json::Value::Null,
                JsonField::List(items) => serde_json::json!(items),
            };
            (key.to_string(), value)
        })
        .collect();
    let json_body = serde_json::to_vec(&object).expect("a map serialises");
    let result = call(input.query, Some("application/json"), &json_body)
        .expect("the same query with a JSON content type is a request");
    match &query_only {
        Ok(query) => {
            let fields = object.into_iter().map(|(k, v)| (k, as_text(v))).collect();
            assert_eq!(result, Ok(overlay(query, fields)));
        }
        Err(_) => assert!(result.is_err(), "a bad query is refused whatever the body"),
    }

    // The input's own content type and body.
    let Some(result) = call(input.query, content_type, input.body) else {
        return;
    };
    let Ok(query) = query_only else {
        assert!(result.is_err(), "a bad query is refused whatever the body");
        return;
    };
    if input.body.is_empty() {
        assert_eq!(result, Ok(query));
        return;
    }
    // As `parameters` reads the header: a value that is not visible ASCII reads as "".
    let is_form = content_type
        .and_then(|ct| HeaderValue::from_str(ct).ok())
        .is_some_and(|v| {
            v.to_str()
                .is_ok_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
        });
    let fields: Option<Vec<(String, String)>> = if is_form {
        serde_urlencoded::from_bytes(input.body).ok()
    } else {
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(input.body)
            .ok()
            .map(|json| json.into_iter().map(|(k, v)| (k, as_text(v))).collect())
    };
    match fields {
        Some(fields) => assert_eq!(result, Ok(overlay(&query, fields))),
        None => assert!(result.is_err(), "an unreadable body is refused"),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A token as MessageBird signs one (the `sign` helper of messagebird.rs's tests).
fn sign(key: &str, claims: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(claims);
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{header}.{claims}").as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{header}.{claims}.{signature}")
}

/// HMAC pads a key of up to one block (64 bytes) with zeros, so `k` and `k\0` are the
/// same key; such pairs are not "another key".
fn same_hmac_key(a: &str, b: &str) -> bool {
    let short = |k: &str| k.len() <= 64;
    if short(a) && short(b) {
        a.trim_end_matches('\0') == b.trim_end_matches('\0')
    } else {
        a == b
    }
}

fn check_signature(input: &Input) {
    let now = i64::from(input.now);
    let (key, other_key, url, body) = (input.key, input.other_key, input.url, input.body);
    // Any token: an answer, not a panic.
    let _ = verify_signature(input.token, key, url, body, now);

    let mut claims = serde_json::json!({
        "iss": "MessageBird", "nbf": now - 1, "exp": now + 60, "jti": "fuzz",
        "url_hash": sha256_hex(url.as_bytes()),
    });
    if !body.is_empty() {
        claims["payload_hash"] = serde_json::json!(sha256_hex(body));
    }
    let token = sign(key, claims.to_string().as_bytes());
    assert_eq!(verify_signature(&token, key, url, body, now), Ok(()));
    if !same_hmac_key(key, other_key) {
        assert_eq!(
            verify_signature(&token, other_key, url, body, now),
            Err(SignatureError::Mismatch)
        );
    }

    // Whatever the claims, the key is checked first: with another key the answer is
    // Mismatch, never a verdict on claims an attacker wrote.
    let forged = sign(key, input.query.as_bytes());
    let with_key = verify_signature(&forged, key, url, body, now);
    assert_ne!(with_key, Err(SignatureError::Mismatch));
    if !same_hmac_key(key, other_key) {
        assert_eq!(
            verify_signature(&forged, other_key, url, body, now),
            Err(SignatureError::Mismatch)
        );
    }

    // Changing any one character of a valid token makes it invalid.
    let (at, replacement) = input.tamper;
    let at = usize::from(at) % token.len();
    let replacement = char::from(replacement % 128);
    if token.as_bytes()[at] != replacement as u8 {
        let mut tampered = token.clone();
        tampered.replace_range(at..at + 1, replacement.encode_utf8(&mut [0; 4]));
        assert!(
            verify_signature(&tampered, key, url, body, now).is_err(),
            "{tampered:?} was accepted"
        );
    }
}

fn check_twilio(input: &Input) {
    let Ok(fields) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(input.body) else {
        return;
    };
    for (algorithm, length) in [
        (twilio::Algorithm::HmacSha1, 20),
        (twilio::Algorithm::HmacSha256, 32),
    ] {
        let signature = twilio::signature(input.key, input.url, &fields, algorithm);
        assert_eq!(
            STANDARD.decode(&signature).map(|s| s.len()),
            Ok(length),
            "{algorithm:?}"
        );
        let reversed: Vec<_> = fields.iter().rev().cloned().collect();
        assert_eq!(
            twilio::signature(input.key, input.url, &reversed, algorithm),
            signature
        );
        // Signed for the URL with its port or without, it is accepted either way.
        for url in twilio::with_and_without_port(input.url) {
            let signed = twilio::signature(input.key, &url, &fields, algorithm);
            assert_eq!(
                twilio::verify(input.key, &signed, input.url, input.body, algorithm),
                Ok(())
            );
        }
    }
}

/// Standard Webhooks' signature of a call, from the spec.
fn standard_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn check_bird(input: &Input) {
    let now = chrono::Utc::now();
    let _ = bird::read(input.body, now);
    let secret = Secret::new(format!("whsec_{}", STANDARD.encode(input.key)));
    let anything = bird::Signed {
        id: Some(input.token),
        timestamp: Some(input.query),
        signature: Some(input.url),
    };
    let _ = bird::verify(&secret, &anything, input.body);

    // A call signed by the spec: accepted when it could have been sent (Bird's bodies
    // are JSON, so UTF-8, and the id must be a header value).
    let Ok(body) = std::str::from_utf8(input.body) else {
        return;
    };
    if input.token.is_empty()
        || !input.token.bytes().all(|b| (0x21..0x7f).contains(&b))
        || input.key.is_empty()
    {
        return;
    }
    let timestamp = now.timestamp().to_string();
    let signature = standard_signature(input.key.as_bytes(), input.token, now.timestamp(), body.as_bytes());
    let call = bird::Signed {
        id: Some(input.token),
        timestamp: Some(&timestamp),
        signature: Some(&signature),
    };
    assert_eq!(bird::verify(&secret, &call, body.as_bytes()), Ok(()));
    if !same_hmac_key(input.key, input.other_key) {
        let other = Secret::new(format!("whsec_{}", STANDARD.encode(input.other_key)));
        assert!(bird::verify(&other, &call, body.as_bytes()).is_err());
    }
    if !body.is_empty() {
        let mut changed = body.as_bytes().to_vec();
        let at = usize::from(input.tamper.0) % changed.len();
        changed[at] ^= 1 | (input.tamper.1 & 0x7e);
        assert!(bird::verify(&secret, &call, &changed).is_err());
    }
}

fuzz_target!(|input: Input| {
    check_parameters(&input);
    check_signature(&input);
    check_twilio(&input);
    check_bird(&input);
});
