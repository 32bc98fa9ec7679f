//! `GET /events`: order and text changes as Server-Sent Events, and `POST /events/token`
//! for clients (a browser's EventSource) that cannot send an Authorization header.
//!
//! Each event's id is its position in the change log, so a client that reconnects
//! with `Last-Event-ID` (or `?last_event_id=`) gets everything it missed, read from the
//! log, then the live changes, without gaps or repeats. A position the log no longer
//! holds gets a `reset` event: reload, then carry on.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::Caller;
use super::problem::ApiError;
use crate::domain::Scope;
use crate::domain::{NotificationState, OrderStatus, ValidationError};
use crate::http::AppState;
use crate::service::StorageError;
use crate::service::live::{Change, ChangeKind, Cursor};

/// A comment this often keeps proxies from closing a quiet stream, and re-checks that
/// the key was not revoked meanwhile.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// What EventSource waits before reconnecting, in milliseconds.
const RETRY_MS: u32 = 2000;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// A token from `POST /events/token`, instead of the Authorization header.
    pub token: Option<String>,
    /// Resume after this event id (what the `Last-Event-ID` header does; this wins).
    #[param(pattern = "^[0-9]{1,18}-[0-9]{1,18}$")]
    pub last_event_id: Option<String>,
}

/// An order was created (version 1) or changed status. Sent as `event: order`.
#[derive(Serialize, ToSchema)]
pub struct OrderChanged {
    pub order_id: Uuid,
    pub status: OrderStatus,
    pub version: i32,
    pub at: DateTime<Utc>,
}

/// A text about an order was queued or reached a new state (`sending` is not
/// announced). Sent as `event: notification`.
#[derive(Serialize, ToSchema)]
pub struct NotificationChanged {
    pub order_id: Uuid,
    pub notification_id: Uuid,
    pub state: NotificationState,
    pub at: DateTime<Utc>,
}

/// One event of the stream, as a Server-Sent Events client hands it over.
#[derive(ToSchema)]
pub struct StreamEvent {
    /// The position after this event, for `Last-Event-ID` (`reset` carries none).
    #[schema(pattern = "^[0-9]{1,18}-[0-9]{1,18}$")]
    pub id: Option<String>,
    pub event: StreamEventKind,
    /// JSON: `{}` for `ready` and `reset`, an [`OrderChanged`] for `order`, a
    /// [`NotificationChanged`] for `notification`.
    pub data: String,
}

#[derive(Clone, Copy, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum StreamEventKind {
    Ready,
    Order,
    Notification,
    Reset,
}

impl StreamEventKind {
    fn name(self) -> &'static str {
        match self {
            StreamEventKind::Ready => "ready",
            StreamEventKind::Order => "order",
            StreamEventKind::Notification => "notification",
            StreamEventKind::Reset => "reset",
        }
    }
}

impl StreamEvent {
    /// The event on the wire (its JSON holds no newline, so one `data:` line suffices).
    fn frame(&self) -> String {
        let id = self.id.as_ref().map(|id| format!("id: {id}\n"));
        format!(
            "{}event: {}\ndata: {}\n\n",
            id.unwrap_or_default(),
            self.event.name(),
            self.data
        )
    }
}

#[derive(Serialize, ToSchema)]
pub struct StreamToken {
    /// Opens `GET /events?token=…` for this key until `expires_at`.
    #[schema(example = "ons_4Jq9…")]
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// A token for `GET /events?token=…`, for clients such as EventSource that cannot send
/// an Authorization header. It opens streams for one minute and does nothing else.
#[utoipa::path(
    post, path = "/events/token", tag = "events",
    responses(
        (status = 201, description = "A new token", body = StreamToken),
        (status = 401, response = super::problem::Unauthorized),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
    ),
    security(("bearer" = []))
)]
pub async fn create_token(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let key_id = caller.key_id;
    let (token, expires_at) = state.services.create_stream_token(key_id).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(StreamToken { token, expires_at }))
}

/// Order and text changes as they happen, as Server-Sent Events.
///
/// Events: `ready` (first, carrying the current position as its id), `order`
/// ([`OrderChanged`]), `notification` ([`NotificationChanged`]) and `reset` (the
/// position to resume from is no longer kept: reload what you show). A comment line
/// arrives every 15 s. Integration keys see only their own orders.
#[utoipa::path(
    get, path = "/events", tag = "events",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
    ),
    responses(
        (status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = StreamEvent),
        (status = 401, response = super::problem::Unauthorized),
        (status = 422, response = super::problem::UnprocessableEntity),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
    ),
    security(("bearer" = []), ("token" = []))
)]
pub async fn stream(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    params: web::Query<StreamParams>,
) -> Result<HttpResponse, ApiError> {
    let resume =
        match (
            params.last_event_id.as_deref(),
            req.headers().get("last-event-id"),
        ) {
            (Some(raw), _) => Resume::From(raw.parse::<Cursor>().map_err(|e| {
                ApiError::Validation(vec![ValidationError::new("last_event_id", e)])
            })?),
            // Browsers send back the ids we gave them; anything else names a position
            // this server does not hold.
            (None, Some(value)) => match value.to_str().ok().map(str::parse::<Cursor>) {
                Some(Ok(cursor)) => Resume::From(cursor),
                _ => Resume::Unknown,
            },
            (None, None) => Resume::Now,
        };
    let Some(slot) = state.streams.take(caller.key_id) else {
        return Err(ApiError::Limit {
            slug: "stream-limit",
            title: "Too many open streams",
            detail: format!(
                "This key has {} event streams open here already; close one and try again.",
                state.streams.per_key
            ),
            retry_after_secs: 5,
        });
    };
    // Subscribe before reading the log, so nothing falls between the two.
    let live = state
        .events
        .subscribe(Duration::from_secs(5))
        .await
        .ok_or_else(|| {
            ApiError::Unavailable("Live events are not available yet; try again.".to_owned())
        })?;
    let (start, reset) = match resume {
        Resume::From(cursor) if state.services.can_resume_from(cursor).await? => (cursor, false),
        Resume::From(_) | Resume::Unknown => (state.services.latest_change().await?, true),
        Resume::Now => (state.services.latest_change().await?, false),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let stream = Stream {
        state: state.clone(),
        key_id: caller.key_id,
        scope: caller.scope(),
        cursor: start,
        tx,
    };
    let guard = state.metrics.event_stream_opened();
    tokio::spawn(async move {
        let _counted = (guard, slot);
        stream.run(live, reset).await;
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, actix_web::Error>(chunk), rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Proxies such as nginx would otherwise hold events back in their buffers.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

async fn shutting_down(closing: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await.map(|_| ());
}

/// The event streams each key has open on this process, at most `per_key` each, so a
/// leaked key (or a page that reopens its stream in a loop) cannot hold the server's
/// connections and tasks.
pub struct StreamSlots {
    pub per_key: usize,
    open: std::sync::Mutex<std::collections::HashMap<Uuid, usize>>,
}

/// One open stream's place, given back when the stream ends.
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    key: Uuid,
}

impl StreamSlots {
    pub fn new(per_key: usize) -> Self {
        StreamSlots {
            per_key,
            open: Default::default(),
        }
    }

    /// A place for one more stream of `key`, unless it has all of its places.
    pub fn take(self: &Arc<Self>, key: Uuid) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_default();
        if *count >= self.per_key {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            slots: self.clone(),
            key,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Where a new stream starts.
enum Resume {
    Now,
    From(Cursor),
    /// A `Last-Event-ID` that is not ours.
    Unknown,
}

/// One client's stream: the log from its position, then the live changes.
struct Stream {
    state: web::Data<AppState>,
    key_id: Uuid,
    scope: Scope,
    cursor: Cursor,
    tx: mpsc::Sender<Bytes>,
}

/// Why a stream stopped writing (the client, shutdown, or a reason to reconnect).
struct Ended;

/// The log could not be read: the stream ends, and its client resumes from its last id.
impl From<StorageError> for Ended {
    fn from(e: StorageError) -> Ended {
        log::warn!("an event stream cannot read the change log: {e}");
        Ended
    }
}

impl Stream {
    async fn run(mut self, mut live: broadcast::Receiver<Arc<Change>>, reset: bool) {
        let _ = self.write(live_stream_start(self.cursor, reset)).await;
        if self.catch_up().await.is_err() {
            return;
        }
        let mut closing = self.state.events.closing();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        loop {
            let step = tokio::select! {
                received = live.recv() => match received {
                    Ok(change) => self.forward(&change).await,
                    // Fell too far behind, or the hub is gone: the client reconnects
                    // from its last id and reads what it missed from the log.
                    Err(_) => Err(Ended),
                },
                _ = heartbeat.tick() => self.heartbeat().await,
                _ = shutting_down(&mut closing) => Err(Ended),
                _ = self.tx.closed() => Err(Ended),
            };
            if step.is_err() {
                return;
            }
        }
    }

    /// Everything after the stream's position that the log holds now.
    async fn catch_up(&mut self) -> Result<(), Ended> {
        let mut pages = self.state.services.changes_after(self.cursor);
        while let Some(page) = pages.next().await? {
            for change in &page {
                self.forward(change).await?;
            }
        }
        Ok(())
    }

    async fn forward(&mut self, change: &Change) -> Result<(), Ended> {
        // The live feed repeats what catching up already read.
        if change.cursor <= self.cursor {
            return Ok(());
        }
        self.cursor = change.cursor;
        if let ChangeKind::KeyRevoked { key_id } = change.kind {
            // Revoked on any instance: this key's streams end at once.
            return if key_id == self.key_id {
                Err(Ended)
            } else {
                Ok(())
            };
        }
        let visible = match self.scope {
            Scope::All => true,
            Scope::CreatedBy(key) => change.owner == Some(key),
        };
        match event_text(change) {
            Some(text) if visible => self.write(text).await,
            _ => Ok(()),
        }
    }

    async fn heartbeat(&mut self) -> Result<(), Ended> {
        match self.state.services.key_is_active(self.key_id).await {
            Ok(false) => return Err(Ended),
            Ok(true) => {}
            // A database hiccup is not a reason to drop the client.
            Err(e) => log::warn!("an event stream cannot check its key: {e}"),
        }
        self.write(": keep-alive\n\n".to_owned()).await
    }

    async fn write(&self, text: String) -> Result<(), Ended> {
        self.tx.send(Bytes::from(text)).await.map_err(|_| Ended)
    }
}

fn live_stream_start(cursor: Cursor, reset: bool) -> String {
    let mut text = format!("retry: {RETRY_MS}\n\n");
    if reset {
        let reset = StreamEvent {
            id: None,
            event: StreamEventKind::Reset,
            data: "{}".to_owned(),
        };
        text.push_str(&reset.frame());
    }
    let ready = StreamEvent {
        id: Some(cursor.to_string()),
        event: StreamEventKind::Ready,
        data: "{}".to_owned(),
    };
    text.push_str(&ready.frame());
    text
}

/// One change as an SSE event; `None` for what clients are not told (a revoked key).
fn event_text(change: &Change) -> Option<String> {
    let (event, data) = match &change.kind {
        ChangeKind::Order {
            order_id,
            status,
            version,
        } => (
            StreamEventKind::Order,
            serde_json::to_string(&OrderChanged {
                order_id: *order_id,
                status: *status,
                version: *version,
                at: change.at,
            }),
        ),
        ChangeKind::Notification {
            order_id,
            id,
            state,
        } => (
            StreamEventKind::Notification,
            serde_json::to_string(&NotificationChanged {
                order_id: *order_id,
                notification_id: *id,
                state: *state,
                at: change.at,
            }),
        ),
        ChangeKind::KeyRevoked { .. } => return None,
    };
    let event = StreamEvent {
        id: Some(change.cursor.to_string()),
        event,
        data: data.unwrap_or_else(|_| "{}".to_owned()),
    };
    Some(event.frame())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_has_its_own_places_and_an_ended_stream_gives_its_back() {
        let slots = Arc::new(StreamSlots::new(2));
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let first = slots.take(a).expect("a first place");
        let _second = slots.take(a).expect("a second place");
        assert!(slots.take(a).is_none(), "only two");
        assert!(slots.take(b).is_some(), "another key has its own");
        drop(first);
        assert!(
            slots.take(a).is_some(),
            "the ended stream's place is free again"
        );
    }

    #[test]
    fn a_change_is_one_event_with_its_position_as_id() {
        let at = DateTime::from_timestamp(1_764_000_000, 0).unwrap_or_default();
        let change = Change {
            cursor: Cursor { txid: 7, id: 42 },
            owner: None,
            kind: ChangeKind::Order {
                order_id: Uuid::nil(),
                status: OrderStatus::Confirmed,
                version: 2,
            },
            at,
        };
        let text = event_text(&change).unwrap_or_default();
        assert!(
            text.starts_with("id: 7-42\nevent: order\ndata: {"),
            "{text}"
        );
        assert!(text.ends_with("}\n\n"), "{text}");
        assert_eq!(text.matches('\n').count(), 4, "{text}");
        assert!(
            text.contains(r#""status":"confirmed","version":2"#),
            "{text}"
        );
    }

    #[test]
    fn every_id_the_schema_admits_is_a_position_the_server_reads() {
        // The longest id the documented pattern allows must still parse: a part one
        // digit longer than i64 holds is well-formed to a client and refused here.
        let doc = serde_json::to_value(crate::http::openapi::spec()).unwrap_or_default();
        let params = &doc["paths"]["/events"]["get"]["parameters"];
        let pattern = params
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == "last_event_id"))
            .and_then(|p| p["schema"]["pattern"].as_str())
            .unwrap_or_default()
            .to_owned();
        let schema = &doc["components"]["schemas"]["StreamEvent"]["properties"]["id"];
        assert_eq!(schema["pattern"].as_str(), Some(pattern.as_str()));
        let digits: usize = pattern
            .split_once(",")
            .and_then(|(_, rest)| rest.split_once('}'))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or_default();
        assert!(digits > 0, "no part length in {pattern:?}");
        let part = "9".repeat(digits);
        let largest = format!("{part}-{part}");
        assert!(
            largest.parse::<Cursor>().is_ok(),
            "{largest} under {pattern}"
        );
        assert!("41-9698986079708316176".parse::<Cursor>().is_err());
    }

    #[test]
    fn a_stream_starts_with_its_position_and_says_when_to_reload() {
        let start = live_stream_start(Cursor { txid: 0, id: 9 }, false);
        assert_eq!(start, "retry: 2000\n\nid: 0-9\nevent: ready\ndata: {}\n\n");
        let reset = live_stream_start(Cursor { txid: 0, id: 9 }, true);
        assert!(reset.contains("event: reset\n"), "{reset}");
        assert!(reset.find("reset") < reset.find("ready"), "{reset}");
    }
}
