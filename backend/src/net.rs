//! Who a client is on the network: the peer's address, unless the peer is one of the
//! proxies the operator trusts (`ORDER_NOTIFY_TRUSTED_PROXIES`), in which case the
//! address that proxy names in `X-Forwarded-For`. Anyone can write that header, so it
//! is believed only as far as trusted proxies vouch for it.

use std::net::IpAddr;

use ipnet::IpNet;

/// The networks whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of CIDRs (`10.0.0.0/8, 192.168.1.7/32, fd00::/8`); a bare
    /// address is a network of one. Empty trusts nobody.
    pub fn parse(raw: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "expected CIDRs such as 10.0.0.0/8 or 192.168.1.7, separated by commas; {entry:?} is neither"
                    )
                })?;
            nets.push(net.trunc());
        }
        Ok(TrustedProxies(nets))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a request from `peer` carrying `forwarded_for` (every
    /// `X-Forwarded-For` value, in order): walking the header from its right end, each
    /// trusted hop's word is taken for the address before it; the first address not
    /// trusted is the client. A hop that cannot be read stops the walk at the last
    /// address known.
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.into_iter().rev() {
            match parse_hop(hop) {
                Some(ip) => client = ip,
                None => break,
            }
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:10.0.0.1`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, `[v6]` or `v4:port`/`[v6]:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(socket.ip()));
    }
    hop.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<IpAddr>().ok())
        .map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lists_of_networks_and_addresses_are_read_and_bad_ones_named() {
        let proxies = TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8,").unwrap();
        assert!(proxies.contains(ip("10.1.2.3")));
        assert!(proxies.contains(ip("192.168.1.7")));
        assert!(!proxies.contains(ip("192.168.1.8")));
        assert!(proxies.contains(ip("fd00::1")));
        assert!(
            proxies.contains(ip("::ffff:10.0.0.9")),
            "IPv4 mapped into IPv6"
        );
        assert_eq!(
            TrustedProxies::parse("").unwrap(),
            TrustedProxies::default()
        );
        let error = TrustedProxies::parse("10.0.0.0/8, proxy.local").unwrap_err();
        assert!(error.contains("\"proxy.local\""), "{error}");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn the_header_is_believed_only_as_far_as_trusted_hops_vouch() {
        let none = TrustedProxies::default();
        let lb = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let forged = ["203.0.113.9"];
        // Nobody trusted: the header is the caller's own word.
        assert_eq!(
            none.client(ip("198.51.100.1"), forged.into_iter()),
            ip("198.51.100.1")
        );
        // A stranger cannot name another client by writing the header.
        assert_eq!(
            lb.client(ip("198.51.100.1"), forged.into_iter()),
            ip("198.51.100.1")
        );
        // Behind the trusted proxy, the address it appended is the client …
        assert_eq!(
            lb.client(ip("10.0.0.2"), ["203.0.113.9"].into_iter()),
            ip("203.0.113.9")
        );
        // … and what the client wrote before it is not believed.
        assert_eq!(
            lb.client(ip("10.0.0.2"), ["1.1.1.1, 203.0.113.9"].into_iter()),
            ip("203.0.113.9")
        );
        // Two trusted hops, headers split over two lines, ports and brackets.
        assert_eq!(
            lb.client(
                ip("10.0.0.2"),
                ["1.1.1.1, 198.51.100.7:4711", "10.9.9.9"].into_iter()
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            lb.client(ip("10.0.0.2"), ["[2001:db8::5]:443"].into_iter()),
            ip("2001:db8::5")
        );
        // Unreadable, or no header: the last address known.
        assert_eq!(
            lb.client(ip("10.0.0.2"), ["unknown"].into_iter()),
            ip("10.0.0.2")
        );
        assert_eq!(
            lb.client(ip("10.0.0.2"), std::iter::empty()),
            ip("10.0.0.2")
        );
    }
}
