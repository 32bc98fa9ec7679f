//! Webhooks out: the events an order system can subscribe to, the address it gives us
//! (and which addresses we refuse to call), the signed message each event becomes, and
//! how long we keep trying to deliver it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Notification, Order, OrderField, OrderItem, OrderStatus};

/// What happened, as the `type` of a webhook message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "order.created")]
    OrderCreated,
    /// Details corrected (name, phone, items, notes, promised time).
    #[serde(rename = "order.updated")]
    OrderUpdated,
    #[serde(rename = "order.status_changed")]
    OrderStatusChanged,
    /// The provider took the text.
    #[serde(rename = "notification.sent")]
    NotificationSent,
    /// The provider's report says the handset got it.
    #[serde(rename = "notification.delivered")]
    NotificationDelivered,
    /// Refused, out of attempts, or reported undelivered.
    #[serde(rename = "notification.failed")]
    NotificationFailed,
    /// The customer texted STOP.
    #[serde(rename = "customer.opted_out")]
    CustomerOptedOut,
    /// The customer texted START, or an admin lifted the opt-out.
    #[serde(rename = "customer.opted_in")]
    CustomerOptedIn,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::OrderCreated,
        EventType::OrderUpdated,
        EventType::OrderStatusChanged,
        EventType::NotificationSent,
        EventType::NotificationDelivered,
        EventType::NotificationFailed,
        EventType::CustomerOptedOut,
        EventType::CustomerOptedIn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order.created",
            EventType::OrderUpdated => "order.updated",
            EventType::OrderStatusChanged => "order.status_changed",
            EventType::NotificationSent => "notification.sent",
            EventType::NotificationDelivered => "notification.delivered",
            EventType::NotificationFailed => "notification.failed",
            EventType::CustomerOptedOut => "customer.opted_out",
            EventType::CustomerOptedIn => "customer.opted_in",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                format!(
                    "{s:?} is not an event; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// The events an endpoint wants: every one, or those listed (never none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscription {
    Every,
    Only(Vec<EventType>),
}

impl Subscription {
    /// The list as asked for: `None` is every event; a list is kept in the order of
    /// [`EventType::ALL`], each once, and may not be empty.
    pub fn parse(asked: Option<&[EventType]>) -> Result<Subscription, String> {
        let Some(wanted) = asked else {
            return Ok(Subscription::Every);
        };
        if wanted.is_empty() {
            return Err(
                "must name at least one event (leave it out to receive every event)".to_owned(),
            );
        }
        let only = EventType::ALL
            .into_iter()
            .filter(|t| wanted.contains(t))
            .collect();
        Ok(Subscription::Only(only))
    }

    pub fn wants(&self, event: EventType) -> bool {
        match self {
            Subscription::Every => true,
            Subscription::Only(events) => events.contains(&event),
        }
    }

    /// As the store keeps it: `None`, or the names between commas (`,a,b,`), so that a
    /// name is found by looking for `,name,`.
    pub fn to_column(&self) -> Option<String> {
        match self {
            Subscription::Every => None,
            Subscription::Only(events) => Some(
                events
                    .iter()
                    .fold(",".to_owned(), |list, e| format!("{list}{e},")),
            ),
        }
    }

    pub fn from_column(column: Option<&str>) -> Subscription {
        match column {
            None => Subscription::Every,
            Some(list) => Subscription::Only(
                list.split(',')
                    .filter_map(|name| name.parse::<EventType>().ok())
                    .collect(),
            ),
        }
    }

    /// For the API: `null` for every event, else the list.
    pub fn listed(&self) -> Option<Vec<EventType>> {
        match self {
            Subscription::Every => None,
            Subscription::Only(events) => Some(events.clone()),
        }
    }
}

/// The longest address we take.
const MAX_URL_LEN: usize = 2048;

/// An address to send webhooks to: `http` or `https`, with a host, without credentials
/// or a fragment. Whether its host may be called (not a private network) is checked
/// apart, because that needs DNS ([`is_public`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    pub fn parse(raw: &str) -> Result<EndpointUrl, String> {
        if raw.len() > MAX_URL_LEN {
            return Err(format!("must be at most {MAX_URL_LEN} characters"));
        }
        let url = url::Url::parse(raw.trim())
            .map_err(|e| format!("is not an absolute http(s) URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "must start with https:// or http://, not {}:",
                url.scheme()
            ));
        }
        if url.host().is_none() {
            return Err("must name a host".to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "must not carry a user name or password (verify our signature instead)".to_owned(),
            );
        }
        if url.fragment().is_some() {
            return Err("must not have a #fragment".to_owned());
        }
        Ok(EndpointUrl(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host as written: a name to resolve, or an address.
    pub fn host(&self) -> url::Host<&str> {
        self.0.host().expect("parse checked the host")
    }

    /// The port a connection goes to (the scheme's default when none is written).
    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(443)
    }
}

/// Whether `ip` is an address on the public internet, which a webhook may be sent to:
/// not loopback, private, shared (CGNAT), link-local (where clouds answer metadata),
/// unspecified, multicast, broadcast, documentation, benchmarking or reserved space,
/// nor any of those wrapped in IPv6 (mapped, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    match segments {
        // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return is_public_v4(embedded_v4(hi, lo)),
        // 6to4 (2002::/16) carries an IPv4 address after the prefix.
        [0x2002, hi, lo, ..] => return is_public_v4(embedded_v4(hi, lo)),
        _ => {}
    }
    let first = segments[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local (fc00::/7), e.g. fd00:ec2::254
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[..6] == [0, 0, 0, 0, 0, 0])) // IPv4-compatible (deprecated)
}

/// An order as a webhook shows it: the API's order without its latest text.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrderSnapshot {
    pub id: Uuid,
    pub external_ref: Option<String>,
    /// How the texts name the order (`{order_ref}`).
    pub order_ref: String,
    pub customer_name: String,
    pub phone: String,
    pub items: Vec<OrderItem>,
    pub status: OrderStatus,
    pub eta: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Order> for OrderSnapshot {
    fn from(order: &Order) -> Self {
        OrderSnapshot {
            id: order.id,
            external_ref: order.external_ref.clone(),
            order_ref: order.order_ref(),
            customer_name: order.customer_name.clone(),
            phone: order.phone.as_str().to_owned(),
            items: order.items.clone().into_vec(),
            status: order.status,
            eta: order.eta,
            notes: order.notes.clone(),
            version: order.version,
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }
}

/// What an `order.*` message carries.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrderEventData {
    /// The order right after the change.
    pub order: OrderSnapshot,
    /// `order.status_changed`: the status it left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<OrderStatus>,
    /// `order.updated`: the details that changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<Vec<OrderField>>,
}

/// What a `notification.*` message carries.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NotificationEventData {
    /// The text right after the change (its `order_id` names the order).
    pub notification: Notification,
}

/// What a `customer.*` message carries.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CustomerEventData {
    /// E.164.
    pub phone: String,
    /// Where it came from: the provider the reply came through, or `admin`.
    pub source: String,
}

/// A webhook message about an order: `{"type", "timestamp", "data"}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrderMessage {
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    pub data: OrderEventData,
}

/// A webhook message about a text.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NotificationMessage {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub timestamp: DateTime<Utc>,
    pub data: NotificationEventData,
}

/// A webhook message about a customer's consent to texts.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CustomerMessage {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub timestamp: DateTime<Utc>,
    pub data: CustomerEventData,
}

/// Whose endpoints hear of an event. Endpoints of admin keys hear of everything; an
/// integration key's endpoints only of what is theirs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// An order's event: the endpoints of the key that created it.
    OrderOf(Option<Uuid>),
    /// A customer's event: the endpoints of every key that created an order for this
    /// number (it knows the number already).
    CustomersOf(String),
}

/// An event on its way into the webhook outbox: one message, the same bytes for every
/// endpoint that wants it, signed afresh at every attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// `webhook-id` is `msg_` and this, the same on every attempt.
    pub id: Uuid,
    pub kind: EventType,
    pub audience: Audience,
    pub order_id: Option<Uuid>,
    /// The JSON body, exactly as it is sent and signed.
    pub body: String,
}

impl WebhookEvent {
    fn new(
        kind: EventType,
        audience: Audience,
        order_id: Option<Uuid>,
        body: impl Serialize,
    ) -> Self {
        WebhookEvent {
            id: Uuid::now_v7(),
            kind,
            audience,
            order_id,
            body: serde_json::to_string(&body).expect("a webhook message is always JSON"),
        }
    }

    /// `order.created`, `order.status_changed` (with `from`) or `order.updated` (with
    /// `changed`), about `order` as it is now.
    pub fn order(
        kind: EventType,
        order: &Order,
        from: Option<OrderStatus>,
        changed: Option<&[OrderField]>,
        at: DateTime<Utc>,
    ) -> Self {
        let message = OrderMessage {
            kind,
            timestamp: at,
            data: OrderEventData {
                order: OrderSnapshot::from(order),
                from,
                changed: changed.map(<[OrderField]>::to_vec),
            },
        };
        WebhookEvent::new(
            kind,
            Audience::OrderOf(order.created_by),
            Some(order.id),
            message,
        )
    }

    /// `notification.*` about `text`, of the order `owner` created.
    pub fn notification(
        kind: EventType,
        text: &Notification,
        owner: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Self {
        let message = NotificationMessage {
            kind,
            timestamp: at,
            data: NotificationEventData {
                notification: text.clone(),
            },
        };
        WebhookEvent::new(kind, Audience::OrderOf(owner), Some(text.order_id), message)
    }

    /// `customer.opted_out` or `customer.opted_in`.
    pub fn customer(kind: EventType, phone: &str, source: &str, at: DateTime<Utc>) -> Self {
        let message = CustomerMessage {
            kind,
            timestamp: at,
            data: CustomerEventData {
                phone: phone.to_owned(),
                source: source.to_owned(),
            },
        };
        WebhookEvent::new(kind, Audience::CustomersOf(phone.to_owned()), None, message)
    }
}

/// The `webhook-id` of the event with this id.
pub fn message_id(event: Uuid) -> String {
    format!("msg_{}", event.simple())
}

/// An endpoint as its owner sees it (its secret is shown once, at creation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub subscription: Subscription,
    /// The integration key whose orders it hears of; `None`: an admin's, every order.
    pub owner: Option<Uuid>,
    /// The name of the key that created it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its first attempt or its next one.
    Pending,
    /// An attempt is under way.
    Sending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt for 24 hours failed, or the endpoint was deleted.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Sending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// One event's delivery to one endpoint, with its latest attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookDelivery {
    /// The `webhook-id` it is sent with (the same on every attempt).
    #[schema(example = "msg_01938f0c5c7a7b3e9d2c4b1a0f9e8d7c")]
    pub id: String,
    #[serde(skip)]
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub order_id: Option<Uuid>,
    pub state: DeliveryState,
    pub attempts: i32,
    /// The HTTP status of the latest answer (`null`: none yet, or no answer).
    pub last_status: Option<u16>,
    /// Why the latest attempt failed, if it did.
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt is due, while it is pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A delivery claimed for an attempt: what to send, where, and the key to sign it with.
#[derive(Clone, PartialEq, Eq)]
pub struct DueWebhook {
    pub event_id: Uuid,
    pub endpoint_id: Uuid,
    pub url: String,
    pub secret: super::Secret,
    pub body: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for DueWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DueWebhook")
            .field("id", &message_id(self.event_id))
            .field("url", &self.url)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What one attempt at a delivery came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookAttempt {
    Delivered {
        status: u16,
    },
    /// Try again at `at`.
    Retry {
        status: Option<u16>,
        error: String,
        at: DateTime<Utc>,
    },
    /// Out of time: no more attempts.
    GaveUp {
        status: Option<u16>,
        error: String,
    },
}

/// How long a message is retried before it is marked failed.
pub const WEBHOOK_RETRY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest wait between two attempts.
pub const WEBHOOK_LONGEST_WAIT: Duration = Duration::from_secs(4 * 60 * 60);

/// When to try a delivery again after its `attempts`-th attempt failed: `base`, then
/// three times as long after every failure, at most four hours apart, for 24 hours from
/// when the event happened (`created_at`); `None` once that window is over.
pub fn next_webhook_attempt(
    attempts: i32,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
    base: Duration,
) -> Option<DateTime<Utc>> {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    let wait = base
        .saturating_mul(3u32.saturating_pow(exponent))
        .min(WEBHOOK_LONGEST_WAIT);
    let at = now + chrono::Duration::from_std(wait).ok()?;
    let window_ends = created_at + chrono::Duration::from_std(WEBHOOK_RETRY_WINDOW).ok()?;
    (at <= window_ends).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_not_public() {
        for refused in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip(refused)), "{refused} was taken for public");
        }
        for allowed in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(allowed)), "{allowed} was refused");
        }
    }

    #[test]
    fn endpoint_urls_must_be_http_with_a_host_and_no_credentials() {
        assert!(EndpointUrl::parse("https://shop.example/hooks/orders?x=1").is_ok());
        assert!(EndpointUrl::parse("http://203.0.113.9:8080/h").is_ok());
        for (bad, says) in [
            ("ftp://shop.example/h", "must start with https://"),
            ("file:///etc/passwd", "must start with https://"),
            ("shop.example/h", "absolute"),
            ("https://user:pw@shop.example/h", "user name or password"),
            ("https://shop.example/h#x", "fragment"),
        ] {
            let error = EndpointUrl::parse(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
        let long = format!("https://shop.example/{}", "a".repeat(MAX_URL_LEN));
        assert!(EndpointUrl::parse(&long).is_err());
    }

    #[test]
    fn a_subscription_lists_each_event_once_in_a_fixed_order_and_never_none() {
        let asked = [
            EventType::NotificationFailed,
            EventType::OrderCreated,
            EventType::NotificationFailed,
        ];
        let sub = Subscription::parse(Some(&asked)).unwrap();
        assert_eq!(
            sub.listed(),
            Some(vec![EventType::OrderCreated, EventType::NotificationFailed])
        );
        assert!(sub.wants(EventType::OrderCreated));
        assert!(!sub.wants(EventType::OrderUpdated));
        let column = sub.to_column().unwrap();
        assert_eq!(column, ",order.created,notification.failed,");
        assert_eq!(Subscription::from_column(Some(&column)), sub);
        assert_eq!(Subscription::parse(None).unwrap(), Subscription::Every);
        assert!(Subscription::parse(Some(&[])).is_err());
        let error = "order.eaten".parse::<EventType>().unwrap_err();
        assert!(error.contains("order.eaten"), "{error}");
    }

    #[test]
    fn retries_wait_three_times_longer_each_time_for_a_day_then_stop() {
        let start: DateTime<Utc> = "2026-12-01T18:00:00Z".parse().unwrap();
        let base = Duration::from_secs(5);
        let wait = |attempts, now: DateTime<Utc>| {
            next_webhook_attempt(attempts, start, now, base).map(|at| (at - now).num_seconds())
        };
        assert_eq!(wait(1, start), Some(5));
        assert_eq!(wait(2, start), Some(15));
        assert_eq!(wait(3, start), Some(45));
        assert_eq!(wait(12, start), Some(4 * 3600));
        let late = start + chrono::Duration::hours(23);
        assert_eq!(wait(3, late), Some(45));
        assert_eq!(wait(12, late), None, "past the 24 hours");
        // However many attempts, the wait never overflows.
        assert_eq!(wait(i32::MAX, start), Some(4 * 3600));
    }
}
