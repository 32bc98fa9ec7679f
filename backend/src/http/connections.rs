//! Who the client is, and how many connections it may hold open.
//!
//! The client's address is the peer's, or behind a trusted proxy the one that proxy
//! names (`net::TrustedProxies`); the rate limits and the access log use it.
//!
//! Each client address may hold `ORDER_NOTIFY_CONNECTIONS_PER_ADDRESS` connections at
//! once (trusted proxies carry many clients and are not counted). One more is shut as
//! soon as it is accepted, before a byte of it is read, so a stranger holding
//! connections open (sending a body a byte at a time, say) runs out of them long before
//! the server runs out of file descriptors. A connection's place is given back when
//! actix drops it.

use std::any::Any;
use std::collections::HashMap;
use std::net::{IpAddr, Shutdown};
use std::sync::{Arc, Mutex};

use actix_web::HttpRequest;
use actix_web::dev::Extensions;
use actix_web::http::header;

use crate::metrics::Metrics;
use crate::net::TrustedProxies;

/// The client's address: the peer's, or the one a trusted proxy names in
/// `X-Forwarded-For`.
pub fn client_address(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let forwarded = req
        .headers()
        .get_all(header::X_FORWARDED_FOR)
        .filter_map(|v| v.to_str().ok());
    Some(trusted.client(peer, forwarded))
}

/// Open connections per client address, against the cap.
pub struct ConnectionCounts {
    cap: usize,
    trusted: TrustedProxies,
    open: Mutex<HashMap<IpAddr, usize>>,
    metrics: Arc<Metrics>,
}

/// Holds a connection's place while actix keeps the connection (it lives in the
/// connection's data, dropped with it).
pub struct Place {
    counts: Arc<ConnectionCounts>,
    address: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.counts.lock();
        if let Some(n) = open.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.address);
            }
        }
    }
}

impl ConnectionCounts {
    /// `cap` 0 counts nothing.
    pub fn new(cap: usize, trusted: TrustedProxies, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(ConnectionCounts {
            cap,
            trusted,
            open: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one more connection from `address`, unless it holds the cap.
    pub fn take(self: &Arc<Self>, address: IpAddr) -> Option<Place> {
        let mut open = self.lock();
        let n = open.entry(address).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Place {
            counts: self.clone(),
            address,
        })
    }

    /// For `HttpServer::on_connect`: counts the new connection, or shuts it when its
    /// address already holds the cap.
    pub fn on_connect(self: &Arc<Self>, connection: &dyn Any, data: &mut Extensions) {
        if self.cap == 0 {
            return;
        }
        let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        if self.trusted.contains(peer.ip()) {
            return;
        }
        match self.take(peer.ip()) {
            Some(place) => {
                data.insert(place);
            }
            None => {
                self.metrics.record_connection_refused();
                log::debug!(
                    "shut a connection from {}: it holds {} already",
                    peer.ip(),
                    self.cap
                );
                // Both directions: actix reads the end of the stream at once and drops
                // the connection; the client sees it closed.
                let _ = socket2::SockRef::from(stream).shutdown(Shutdown::Both);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_the_cap_and_gets_places_back() {
        let counts = ConnectionCounts::new(2, TrustedProxies::default(), Arc::default());
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let b: IpAddr = "203.0.113.2".parse().unwrap();
        let first = counts.take(a).unwrap();
        let _second = counts.take(a).unwrap();
        assert!(counts.take(a).is_none());
        assert!(
            counts.take(b).is_some(),
            "another address has its own places"
        );
        drop(first);
        assert!(counts.take(a).is_some());
        drop(_second);
        assert!(
            counts.lock().is_empty(),
            "nothing kept for addresses that left"
        );
    }
}
