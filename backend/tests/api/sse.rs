//! A small Server-Sent Events reader for the tests: parses the stream the way
//! EventSource does (fields per line, an empty line ends an event, comments ignored).

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {:?}", self.data))
    }
}

pub struct SseClient {
    body: BoxStream<'static, reqwest::Result<actix_web::web::Bytes>>,
    buffer: String,
    ready: VecDeque<Event>,
    /// The id of the last event that carried one, as EventSource keeps it.
    pub last_event_id: Option<String>,
}

impl SseClient {
    /// Opens the stream; panics unless it answers 200 with `text/event-stream`.
    pub async fn open(request: reqwest::RequestBuilder) -> SseClient {
        let response = request.send().await.expect("open the event stream");
        assert_eq!(response.status(), 200, "GET /events");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(response.headers()["cache-control"], "no-cache");
        SseClient {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
            ready: VecDeque::new(),
            last_event_id: None,
        }
    }

    /// The next event, or `None` when none arrives within `wait` (or the stream ended).
    pub async fn next_within(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(event) = self.ready.pop_front() {
                if event.id.is_some() {
                    self.last_event_id = event.id.clone();
                }
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next()).await;
            match chunk {
                Ok(Some(Ok(bytes))) => {
                    self.buffer
                        .push_str(std::str::from_utf8(&bytes).expect("UTF-8"));
                    self.parse();
                }
                Ok(Some(Err(_)) | None) | Err(_) => return None,
            }
        }
    }

    /// The next event; panics if none arrives within 5 s.
    pub async fn next(&mut self) -> Event {
        self.next_within(Duration::from_secs(5))
            .await
            .expect("an event within 5 s")
    }

    /// The next event that is not `ready`.
    pub async fn next_change(&mut self) -> Event {
        loop {
            let event = self.next().await;
            if event.event != "ready" {
                return event;
            }
        }
    }

    /// Whether the server ended the stream within `wait` (events on the way are dropped).
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }

    fn parse(&mut self) {
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut event = Event {
                id: None,
                event: "message".to_owned(),
                data: String::new(),
            };
            let mut has_data = false;
            for line in block.lines() {
                if line.starts_with(':') {
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => event.id = Some(value.to_owned()),
                    "event" => event.event = value.to_owned(),
                    "data" => {
                        if has_data {
                            event.data.push('\n');
                        }
                        event.data.push_str(value);
                        has_data = true;
                    }
                    _ => {}
                }
            }
            if has_data {
                self.ready.push_back(event);
            }
        }
    }
}
