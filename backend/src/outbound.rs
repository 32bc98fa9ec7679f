//! Where the service may send webhooks: an order system names an address, and a
//! stranger with an integration key could name one inside our own network (the
//! database, a cloud's metadata service at 169.254.169.254). Every address a webhook
//! would go to is checked against [`is_public`] twice: when the endpoint is registered,
//! and after DNS at every connection ([`GuardedResolver`]), so a name that later points
//! inside is refused too. `ORDER_NOTIFY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true` lifts both
//! checks (an order system on the same private network).

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::{EndpointUrl, is_public};

/// How long a name may take to resolve: a request that registers an endpoint waits
/// for it.
const LOOKUP_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Why an address may not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{}", private(host, ip))]
    Private { host: String, ip: IpAddr },
    #[error("{0} does not resolve to any address")]
    Unresolved(String),
}

/// "localhost is 127.0.0.1, a private …" for a name; "10.0.0.8 is a private …" for an
/// address.
fn private(host: &str, ip: &IpAddr) -> String {
    let what = "a private, loopback, link-local or reserved address";
    if host == ip.to_string() {
        format!("{ip} is {what}")
    } else {
        format!("{host} is {ip}, {what}")
    }
}

/// Resolves `host` (an address stays as it is) and checks every address it gives,
/// unless private networks are allowed. The addresses to connect to.
pub async fn check_host(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Refused> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(LOOKUP_WITHIN, tokio::net::lookup_host((bare, port)))
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| Refused::Unresolved(bare.to_owned()))?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(Refused::Unresolved(bare.to_owned()));
    }
    if !allow_private && let Some(inside) = addresses.iter().find(|a| !is_public(a.ip())) {
        return Err(Refused::Private {
            host: bare.to_owned(),
            ip: inside.ip(),
        });
    }
    Ok(addresses)
}

/// Checks the host of an endpoint's address, as [`check_host`] does.
pub async fn check_endpoint(url: &EndpointUrl, allow_private: bool) -> Result<(), Refused> {
    let host = url.host().to_string();
    check_host(&host, url.port(), allow_private).await.map(drop)
}

/// reqwest's DNS resolver for webhook requests: the system's resolver, then the check.
/// A URL with an address instead of a name never reaches a resolver, so the
/// dispatcher checks those itself ([`check_endpoint`]) before each request.
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found = check_host(name.as_str(), 0, allow_private).await?;
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_names_and_addresses_are_refused_unless_private_networks_are_allowed() {
        for host in [
            "localhost",
            "127.0.0.1",
            "[::1]",
            "169.254.169.254",
            "10.0.0.8",
        ] {
            let refused = check_host(host, 80, false).await.unwrap_err();
            assert!(
                matches!(refused, Refused::Private { .. }),
                "{host}: {refused:?}"
            );
            assert!(check_host(host, 80, true).await.is_ok(), "{host} allowed");
        }
        assert!(check_host("93.184.216.34", 443, false).await.is_ok());
        let named = check_host("localhost", 80, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(named.starts_with("localhost is "), "{named}");
        let literal = check_host("10.0.0.8", 80, false)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            literal,
            "10.0.0.8 is a private, loopback, link-local or reserved address"
        );
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_refused() {
        let refused = check_host("no-such-host.invalid", 443, true)
            .await
            .unwrap_err();
        assert_eq!(refused, Refused::Unresolved("no-such-host.invalid".into()));
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_points_inside() {
        let resolver = GuardedResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().unwrap();
        let error = resolver.resolve(name).await.err().expect("refused");
        assert!(error.to_string().contains("loopback"), "{error}");
        let open = GuardedResolver {
            allow_private: true,
        };
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = open.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
