//! MessageBird's callbacks, as this provider reads them: the signature every call
//! carries when a signing key is set (`MessageBird-Signature-JWT`: HS256, HS384 or HS512 over the
//! signing key, with the called URL's and the body's SHA-256 as claims and a validity
//! window), a status report's fields as a [`Report`], and where an inbound text keeps
//! its sender and words. The HTTP edge (`http::webhooks::messagebird`) only gathers the
//! call and hands the result to the use cases.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha384, Sha512};
use uuid::Uuid;

use crate::domain::{DeliveryReport, Report};

pub const SIGNATURE_HEADER: &str = "MessageBird-Signature-JWT";
/// Clock difference tolerated between MessageBird and us.
const LEEWAY_SECS: i64 = 60;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no {SIGNATURE_HEADER} header")]
    Missing,
    #[error("the signature is not a well-formed JWT")]
    Malformed,
    #[error("the signature does not match the signing key")]
    Mismatch,
    #[error("the signature is outside its validity window")]
    Expired,
    #[error("the signature is for another URL")]
    WrongUrl,
    #[error("the signature is for another body")]
    WrongBody,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    nbf: Option<i64>,
    exp: Option<i64>,
    url_hash: Option<String>,
    payload_hash: Option<String>,
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Whether `signature` is the HMAC that `alg` (HS256, HS384 or HS512, as MessageBird's
/// own request validators accept) names, of `signed` under `key`, compared in constant
/// time; `None` for any other algorithm.
fn hmac_matches(alg: &str, key: &str, signed: &[u8], signature: &[u8]) -> Option<bool> {
    macro_rules! check {
        ($digest:ty) => {{
            let mut mac = Hmac::<$digest>::new_from_slice(key.as_bytes()).ok()?;
            mac.update(signed);
            Some(mac.verify_slice(signature).is_ok())
        }};
    }
    match alg {
        "HS256" => check!(Sha256),
        "HS384" => check!(Sha384),
        "HS512" => check!(Sha512),
        _ => None,
    }
}

/// Checks a `MessageBird-Signature-JWT` for a call to `url` with `body` at `now`.
pub fn verify_signature(
    token: &str,
    key: &str,
    url: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let mut parts = token.trim().split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SignatureError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| SignatureError::Malformed)
    };
    let header: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| SignatureError::Malformed)?;
    let token = token.trim();
    let signed = &token.as_bytes()[..token.rfind('.').unwrap_or(0)];
    let signature = decode(signature)?;
    match hmac_matches(&header.alg, key, signed, &signature) {
        None => return Err(SignatureError::Malformed),
        Some(false) => return Err(SignatureError::Mismatch),
        Some(true) => {}
    }
    let claims: Claims =
        serde_json::from_slice(&decode(claims)?).map_err(|_| SignatureError::Malformed)?;
    if claims.iss.as_deref() != Some("MessageBird") {
        return Err(SignatureError::Malformed);
    }
    let (Some(nbf), Some(exp)) = (claims.nbf, claims.exp) else {
        return Err(SignatureError::Malformed);
    };
    if now + LEEWAY_SECS < nbf || now - LEEWAY_SECS >= exp {
        return Err(SignatureError::Expired);
    }
    if claims.url_hash.as_deref() != Some(sha256_hex(url.as_bytes()).as_str()) {
        return Err(SignatureError::WrongUrl);
    }
    let expected_body = (!body.is_empty()).then(|| sha256_hex(body));
    if claims.payload_hash != expected_body {
        return Err(SignatureError::WrongBody);
    }
    Ok(())
}

/// What a status report says, read from its fields (`get` gives a field that is there
/// and not empty): `delivered` → delivered (at `statusDatetime`, else `now`);
/// `delivery_failed` and `expired` → failed with MessageBird's reason; other statuses
/// (`sent`, `buffered`) → `None`, nothing to record. `Err` when there is no status.
pub fn status_report<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    now: DateTime<Utc>,
) -> Result<Option<Report>, &'static str> {
    let status = get("status").ok_or("A status report needs a status.")?;
    let says = match status {
        "delivered" => {
            let at = get("statusDatetime")
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(now);
            DeliveryReport::Delivered { at }
        }
        "delivery_failed" | "expired" => {
            let mut reason = format!("MessageBird reported {status}");
            if let Some(detail) = get("statusReason") {
                reason.push_str(&format!(": {detail}"));
            }
            if let Some(code) = get("statusErrorCode") {
                reason.push_str(&format!(" (error code {code})"));
            }
            DeliveryReport::Failed { reason }
        }
        _ => return Ok(None),
    };
    Ok(Some(Report {
        reference: get("reference").and_then(|r| Uuid::parse_str(r).ok()),
        provider_message_id: get("id").map(str::to_owned),
        says,
    }))
}

/// The field of an inbound text that holds its sender.
pub const INBOUND_SENDER: &str = "originator";
/// The fields that may hold an inbound text's words, the first present wins.
pub const INBOUND_TEXT: &[&str] = &["body", "payload", "message"];

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Signs claims the way MessageBird does (for tests here and in the API tests).
    pub fn sign(key: &str, claims: &serde_json::Value) -> String {
        sign_with("HS256", key, claims)
    }

    /// Signs claims with the HMAC `alg` names (HS256, HS384 or HS512).
    pub fn sign_with(alg: &str, key: &str, claims: &serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        macro_rules! mac_of {
            ($digest:ty) => {{
                let mut mac = Hmac::<$digest>::new_from_slice(key.as_bytes()).unwrap();
                mac.update(signed.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }};
        }
        let signature = match alg {
            "HS384" => mac_of!(Sha384),
            "HS512" => mac_of!(Sha512),
            _ => mac_of!(Sha256),
        };
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    const URL: &str = "https://orders.example.com/webhooks/messagebird?id=1&status=delivered";

    fn claims(now: i64, body: Option<&[u8]>) -> serde_json::Value {
        let mut claims = serde_json::json!({
            "iss": "MessageBird", "nbf": now - 1, "exp": now + 60, "jti": "abc",
            "url_hash": sha256_hex(URL.as_bytes()),
        });
        if let Some(body) = body {
            claims["payload_hash"] = serde_json::json!(sha256_hex(body));
        }
        claims
    }

    #[test]
    fn a_correct_signature_is_accepted() {
        let now = 1_800_000_000;
        assert_eq!(
            verify_signature(&sign("secret", &claims(now, None)), "secret", URL, b"", now),
            Ok(())
        );
        let body = br#"{"status":"delivered"}"#;
        assert_eq!(
            verify_signature(
                &sign("secret", &claims(now, Some(body))),
                "secret",
                URL,
                body,
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn hs384_and_hs512_are_accepted_and_other_algorithms_are_not() {
        let now = 1_800_000_000;
        for alg in ["HS384", "HS512"] {
            let token = sign_with(alg, "secret", &claims(now, None));
            assert_eq!(
                verify_signature(&token, "secret", URL, b"", now),
                Ok(()),
                "{alg}"
            );
            assert_eq!(
                verify_signature(&token, "other", URL, b"", now),
                Err(SignatureError::Mismatch),
                "{alg}"
            );
        }
        // A token that says HS512 but carries an HS256 signature does not match.
        let hs256 = sign("secret", &claims(now, None));
        let (_, rest) = hs256.split_once('.').unwrap();
        let relabelled = format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#)
        );
        assert_eq!(
            verify_signature(&relabelled, "secret", URL, b"", now),
            Err(SignatureError::Mismatch)
        );
        for alg in ["none", "RS256", "HS1"] {
            // Signed (with SHA-256) but labelled with an algorithm we do not take.
            let token = sign_with(alg, "secret", &claims(now, None));
            assert_eq!(
                verify_signature(&token, "secret", URL, b"", now),
                Err(SignatureError::Malformed),
                "{alg}"
            );
        }
    }

    #[test]
    fn every_wrong_part_is_refused() {
        let now = 1_800_000_000;
        let token = sign("secret", &claims(now, None));
        assert_eq!(
            verify_signature(&token, "other", URL, b"", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&token, "secret", "https://evil.example/x", b"", now),
            Err(SignatureError::WrongUrl)
        );
        assert_eq!(
            verify_signature(&token, "secret", URL, b"{}", now),
            Err(SignatureError::WrongBody)
        );
        assert_eq!(
            verify_signature(&token, "secret", URL, b"", now + 3600),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_signature(&token, "secret", URL, b"", now - 3600),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_signature("a.b", "secret", URL, b"", now),
            Err(SignatureError::Malformed)
        );
        let mut tampered = token.clone();
        tampered.insert(token.find('.').unwrap() + 3, 'x');
        assert!(verify_signature(&tampered, "secret", URL, b"", now).is_err());
        let mut wrong_issuer = claims(now, None);
        wrong_issuer["iss"] = serde_json::json!("Someone");
        assert_eq!(
            verify_signature(&sign("secret", &wrong_issuer), "secret", URL, b"", now),
            Err(SignatureError::Malformed)
        );
    }
}
