//! Reading JSON request bodies with the contract's answers for each way they go wrong:
//! over 64 KiB → 413, not within 15 s → 408, not JSON → 415, malformed → 400,
//! well-formed but the wrong shape → 422 naming the field. The body is read by the extractor and parsed by the handler,
//! after the key's role was checked.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::problem::ApiError;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a request body may take to arrive, from when it is first read: a client
/// sending a byte at a time must not hold a connection (and a worker's attention)
/// forever. Over it the request is 408 and the connection is closed.
pub const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// A request body, read in full (up to the limit) but not yet interpreted.
pub struct RawBody {
    content_type: Option<String>,
    bytes: actix_web::web::Bytes,
}

/// A parsed JSON body, with a canonical form of it for idempotency fingerprints.
pub struct Json<T> {
    pub value: T,
    pub canonical: String,
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl RawBody {
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The body exactly as received (webhook signatures are computed over it).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn parse<T: DeserializeOwned>(&self) -> Result<Json<T>, ApiError> {
        match self.content_type.as_deref() {
            Some(ct) if is_json(ct) => {}
            Some(ct) => {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "The body must be application/json, not {ct}."
                )));
            }
            None => {
                return Err(ApiError::UnsupportedMediaType(
                    "The body must be JSON, sent with Content-Type: application/json.".to_owned(),
                ));
            }
        }
        let value: Value = serde_json::from_slice(&self.bytes)
            .map_err(|e| ApiError::MalformedJson(format!("The body is not valid JSON: {e}.")))?;
        // serde would also fill a struct from an array of its fields in order; the API
        // speaks objects only.
        if !value.is_object() {
            return Err(ApiError::field("body", "must be a JSON object"));
        }
        let canonical = canonical_json(&value);
        let value = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "body".to_owned() } else { path };
            ApiError::field(field, e.into_inner().to_string())
        })?;
        Ok(Json { value, canonical })
    }
}

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let mut payload = payload.take();
        Box::pin(async move {
            let too_large = ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            };
            if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
                return Err(too_large);
            }
            let read = async {
                let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
                while let Some(chunk) = payload.next().await {
                    let chunk = chunk.map_err(|e| {
                        ApiError::BadRequest(format!("The body could not be read: {e}."))
                    })?;
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(too_large);
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(body.freeze())
            };
            let bytes = tokio::time::timeout(BODY_DEADLINE, read)
                .await
                .map_err(|_| ApiError::RequestTimeout {
                    secs: BODY_DEADLINE.as_secs(),
                })??;
            Ok(RawBody {
                content_type,
                bytes,
            })
        })
    }
}

/// JSON with object keys sorted at every level, so two bodies that mean the same thing
/// have the same text whatever order their keys were written in.
pub fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (key, value)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(value, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// What identifies a request for idempotency: method, path and canonical body.
pub fn fingerprint(method: &str, path: &str, canonical_body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical_body.as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_ignores_key_order_and_spacing() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": "é"}}"#)
                .unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":"é","y":[1,{"c":3,"d":2}]},"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&b),
            r#"{"a":{"x":"é","y":[1,{"c":3,"d":2}]},"b":1}"#
        );
        let c: Value =
            serde_json::from_str(r#"{"a":{"x":"é","y":[{"c":3,"d":2},1]},"b":1}"#).unwrap();
        assert_ne!(canonical_json(&a), canonical_json(&c));
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }

    #[test]
    fn fingerprints_differ_by_method_path_and_body() {
        let base = fingerprint("POST", "/orders", "{}");
        assert_eq!(base, fingerprint("POST", "/orders", "{}"));
        assert_ne!(base, fingerprint("PATCH", "/orders", "{}"));
        assert_ne!(base, fingerprint("POST", "/orders/1", "{}"));
        assert_ne!(base, fingerprint("POST", "/orders", "{\"a\":1}"));
    }
}
