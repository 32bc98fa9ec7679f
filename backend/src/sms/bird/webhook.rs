//! Bird's events, as this provider reads them. Bird signs each call by Standard
//! Webhooks: `webhook-id` (the event's id, the same on every retry), `webhook-timestamp`
//! (Unix seconds, accepted within 5 minutes of our clock) and `webhook-signature`
//! (`v1,<base64>` entries, space-separated) = HMAC-SHA256, keyed with the `whsec_`
//! secret's base64 bytes, over `id.timestamp.body`. The body is
//! `{"type", "timestamp", "data": {"sms_id", "to", "from", "metadata", "error", "text"}}`.
//! The HTTP edge (`http::webhooks::bird`) gathers the call and hands the result on.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use standardwebhooks::Webhook;
use uuid::Uuid;

use crate::domain::{DeliveryReport, Reply, Report, Secret};

pub use standardwebhooks::{
    HEADER_WEBHOOK_ID as EVENT_ID, HEADER_WEBHOOK_SIGNATURE as SIGNATURE,
    HEADER_WEBHOOK_TIMESTAMP as TIMESTAMP,
};

/// The three signing headers of one call, as sent (any may be missing).
pub struct Signed<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Whether `body` came from Bird: signed with `secret` no more than 5 minutes from now
/// (either way). `Err` says why not, for the log.
pub fn verify(secret: &Secret, call: &Signed<'_>, body: &[u8]) -> Result<(), String> {
    let webhook = Webhook::new(secret.expose()).map_err(|e| e.to_string())?;
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        (EVENT_ID, call.id),
        (TIMESTAMP, call.timestamp),
        (SIGNATURE, call.signature),
    ] {
        if let Some(value) = value {
            let value = http::HeaderValue::from_str(value).map_err(|_| format!("bad {name}"))?;
            headers.insert(name, value);
        }
    }
    webhook.verify(body, &headers).map_err(|e| e.to_string())
}

/// What one of Bird's events says.
#[derive(Debug)]
pub enum Event {
    /// A text's fate: `sms.delivered`, or a failure (`sms.undelivered`, `sms.failed`,
    /// `sms.rejected`, `sms.expired`).
    Report(Report),
    /// A customer's text to our number (`sms.received`): STOP and START.
    Reply(Reply),
    /// An event that changes nothing here (`sms.accepted`, `sms.sent`, any type Bird
    /// adds later); its type.
    Passed(String),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct SmsData {
    #[serde(default)]
    sms_id: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    text: Option<String>,
    /// What we sent with the text, echoed: `{"notification_id": "<our id>"}`.
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<SmsError>,
}

#[derive(Deserialize)]
struct SmsError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    carrier_error_code: Option<String>,
}

/// The failure events and how a text's `last_error` names them.
const FAILURES: &[(&str, &str)] = &[
    ("sms.undelivered", "undelivered"),
    ("sms.failed", "failed"),
    ("sms.rejected", "rejected"),
    ("sms.expired", "expired"),
];

/// Reads a verified event's body; `now` dates a delivery whose event has no readable
/// time. `Err` for a body that is not one of Bird's events.
pub fn read(body: &[u8], now: DateTime<Utc>) -> Result<Event, String> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| format!("The body is not one of Bird's events: {e}."))?;
    let sms = || -> Result<SmsData, String> {
        match &envelope.data {
            None | Some(serde_json::Value::Null) => Ok(SmsData::default()),
            Some(data) => SmsData::deserialize(data)
                .map_err(|e| format!("The event's data is not an SMS event's: {e}.")),
        }
    };
    let report = |data: SmsData, says: DeliveryReport| {
        let reference = data
            .metadata
            .as_ref()
            .and_then(|m| m.get("notification_id"))
            .and_then(|id| id.as_str())
            .and_then(|id| Uuid::parse_str(id).ok());
        Event::Report(Report {
            reference,
            provider_message_id: data.sms_id,
            says,
        })
    };
    let kind = envelope.kind.as_str();
    if kind == "sms.delivered" {
        let at = envelope
            .timestamp
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(now, |t| t.with_timezone(&Utc));
        return Ok(report(sms()?, DeliveryReport::Delivered { at }));
    }
    if let Some((_, word)) = FAILURES.iter().find(|(name, _)| *name == kind) {
        let data = sms()?;
        let reason = reason(word, data.error.as_ref());
        return Ok(report(data, DeliveryReport::Failed { reason }));
    }
    if kind == "sms.received" {
        let data = sms()?;
        let sender = data
            .from
            .filter(|f| !f.is_empty())
            .ok_or("An sms.received event needs data.from.")?;
        return Ok(Event::Reply(Reply {
            sender,
            text: data.text.unwrap_or_default(),
            via: super::PLUGIN.name,
        }));
    }
    Ok(Event::Passed(envelope.kind))
}

/// "Bird reported undelivered: Handset is off (unreachable; carrier code 27)".
fn reason(word: &str, error: Option<&SmsError>) -> String {
    let mut text = format!("Bird reported {word}");
    let Some(error) = error else {
        return text;
    };
    if let Some(description) = error.description.as_deref().filter(|d| !d.is_empty()) {
        text.push_str(": ");
        text.push_str(description);
    }
    let mut codes = Vec::new();
    if let Some(code) = error.code.as_deref().filter(|c| !c.is_empty()) {
        codes.push(code.to_owned());
    }
    if let Some(carrier) = error
        .carrier_error_code
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        codes.push(format!("carrier code {carrier}"));
    }
    if !codes.is_empty() {
        text.push_str(&format!(" ({})", codes.join("; ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// The signature as the spec defines it, computed here without the library.
    fn sign(id: &str, timestamp: &str, body: &str) -> String {
        let key = STANDARD.decode(&SECRET["whsec_".len()..]).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_signature_by_the_spec_is_accepted_and_anything_else_refused() {
        let secret = Secret::new(SECRET);
        let body = r#"{"type":"sms.delivered","data":{}}"#;
        let now = Utc::now().timestamp().to_string();
        let good = sign("msg_1", &now, body);
        let call = |id, ts, sig| Signed {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        };
        assert_eq!(
            verify(&secret, &call("msg_1", &now, &good), body.as_bytes()),
            Ok(())
        );
        // One of several signatures (a secret being rotated) is enough.
        let several = format!("v1,bm90IGl0 {good}");
        assert!(verify(&secret, &call("msg_1", &now, &several), body.as_bytes()).is_ok());
        let tampered = body.replace("delivered", "failed");
        assert!(verify(&secret, &call("msg_1", &now, &good), tampered.as_bytes()).is_err());
        assert!(verify(&secret, &call("msg_2", &now, &good), body.as_bytes()).is_err());
        let stale = (Utc::now().timestamp() - 301).to_string();
        let stale_signed = sign("msg_1", &stale, body);
        assert!(
            verify(
                &secret,
                &call("msg_1", &stale, &stale_signed),
                body.as_bytes()
            )
            .is_err()
        );
        let ahead = (Utc::now().timestamp() + 301).to_string();
        let ahead_signed = sign("msg_1", &ahead, body);
        assert!(
            verify(
                &secret,
                &call("msg_1", &ahead, &ahead_signed),
                body.as_bytes()
            )
            .is_err()
        );
        let v2 = good.replace("v1,", "v2,");
        assert!(verify(&secret, &call("msg_1", &now, &v2), body.as_bytes()).is_err());
        let missing = Signed {
            id: Some("msg_1"),
            timestamp: None,
            signature: Some(&good),
        };
        assert!(verify(&secret, &missing, body.as_bytes()).is_err());
    }

    #[test]
    fn events_are_read_into_reports_replies_or_nothing() {
        let now = Utc::now();
        let id = Uuid::now_v7();
        let delivered = format!(
            r#"{{"type":"sms.delivered","timestamp":"2026-05-21T12:00:00Z","data":{{"sms_id":"sms_1","to":"+31612345678","from":"Kitchen","metadata":{{"notification_id":"{id}"}}}}}}"#
        );
        let Event::Report(report) = read(delivered.as_bytes(), now).unwrap() else {
            panic!("not a report");
        };
        assert_eq!(report.reference, Some(id));
        assert_eq!(report.provider_message_id.as_deref(), Some("sms_1"));
        assert_eq!(
            report.says,
            DeliveryReport::Delivered {
                at: "2026-05-21T12:00:00Z".parse().unwrap()
            }
        );

        let failed = r#"{"type":"sms.undelivered","timestamp":"x","data":{"sms_id":"sms_2","error":{"code":"unreachable","description":"Handset is off","carrier_error_code":"27","occurred_at":"2026-05-21T12:00:00Z"}}}"#;
        let Event::Report(report) = read(failed.as_bytes(), now).unwrap() else {
            panic!("not a report");
        };
        assert_eq!(report.reference, None);
        assert_eq!(
            report.says,
            DeliveryReport::Failed {
                reason: "Bird reported undelivered: Handset is off (unreachable; carrier code 27)"
                    .to_owned()
            }
        );
        let bare = r#"{"type":"sms.expired","data":{"sms_id":"sms_3"}}"#;
        let Event::Report(report) = read(bare.as_bytes(), now).unwrap() else {
            panic!("not a report");
        };
        assert_eq!(
            report.says,
            DeliveryReport::Failed {
                reason: "Bird reported expired".to_owned()
            }
        );

        let received = r#"{"type":"sms.received","timestamp":"2026-05-21T12:00:00Z","data":{"sms_id":"sms_4","to":"+3197010","from":"+31612345678","text":"STOP"}}"#;
        let Event::Reply(reply) = read(received.as_bytes(), now).unwrap() else {
            panic!("not a reply");
        };
        assert_eq!(
            (reply.sender.as_str(), reply.text.as_str(), reply.via),
            ("+31612345678", "STOP", "bird")
        );

        for passed in ["sms.sent", "sms.accepted", "email.delivered"] {
            let body = format!(r#"{{"type":"{passed}","timestamp":"t","data":{{"anything":1}}}}"#);
            assert!(
                matches!(read(body.as_bytes(), now), Ok(Event::Passed(kind)) if kind == passed)
            );
        }
        for bad in [
            "not json",
            "[]",
            r#"{"data":{}}"#,
            r#"{"type":"sms.received","data":{"text":"STOP"}}"#,
            r#"{"type":"sms.delivered","data":{"sms_id":5}}"#,
        ] {
            assert!(read(bad.as_bytes(), now).is_err(), "{bad}");
        }
    }
}
