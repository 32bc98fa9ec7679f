//! What every handler can reach.

use std::sync::Arc;

use super::events::StreamSlots;
use super::rate_limit::RateLimiter;
use crate::config::Settings;
use crate::live::LiveHub;
use crate::metrics::Metrics;
use crate::service::Services;

/// What every handler can reach: the use cases, and what the HTTP edge itself needs
/// (settings, the rate limiter, the request figures, the live change feed). No
/// database handle: every read and write goes through `services`.
pub struct AppState {
    pub services: Services,
    pub settings: Arc<Settings>,
    pub limiter: RateLimiter,
    /// This process's request and send figures, for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The live changes `GET /events` streams.
    pub events: Arc<LiveHub>,
    /// The streams each key has open here (`ORDER_NOTIFY_STREAMS_PER_KEY`).
    pub streams: Arc<StreamSlots>,
}
