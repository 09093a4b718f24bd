//! The client's IP address: the peer, or — only when the peer is a configured trusted proxy —
//! the nearest untrusted address in `X-Forwarded-For`. Rate limits and audit logs key on it, so
//! a client must never be able to choose it by sending the header itself.

use axum::extract::{ConnectInfo, Request};
use http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use tower::util::MapRequestLayer;

/// The client address of a request, put into its extensions by [`resolve_client_ip`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// What rate limits key on: the IPv4 address, or the IPv6 /64 network, since one IPv6
    /// client usually holds a whole /64 and could otherwise rotate addresses to escape a limit.
    pub fn limit_key(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    /// The address [`resolve_client_ip`] found, else the peer: never a failed request.
    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or_else(|| {
                ClientIp(
                    parts
                        .extensions
                        .get::<ConnectInfo<SocketAddr>>()
                        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip()),
                )
            }))
    }
}

/// Networks whose `X-Forwarded-For` is believed (load balancers, ingress controllers).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// Comma-separated addresses or CIDR networks; empty means none.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl TrustedProxies {
    fn contains(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client address for a connection from `peer` carrying `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        // An IPv4 client seen through a dual-stack listener is `::ffff:a.b.c.d`; compare and key
        // it as the IPv4 address it is.
        let peer = peer.to_canonical();
        if !self.contains(&peer) {
            return peer;
        }
        // Walk from the nearest hop outwards; the first address not ours is the client. A
        // malformed entry ends the walk: nothing beyond it can be trusted.
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
                break;
            };
            client = ip;
            if !self.contains(&ip) {
                break;
            }
        }
        client
    }
}

/// Layer inserting [`ClientIp`] into every request; a plain request map (no boxed middleware,
/// see [`crate::server::with_common_layers`]).
pub fn resolve_client_ip(
    trusted: Arc<TrustedProxies>,
) -> MapRequestLayer<impl Fn(Request) -> Request + Clone + Send + Sync + 'static> {
    MapRequestLayer::new(move |mut request: Request| {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        let ip = trusted.client_ip(peer, request.headers());
        request.extensions_mut().insert(ClientIp(ip));
        request
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn xff(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn untrusted_peers_cannot_choose_their_address() {
        let none = TrustedProxies::default();
        let peer: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(none.client_ip(peer, &xff("1.2.3.4")), peer);
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let trusted: TrustedProxies = "10.0.0.0/8, 127.0.0.1".parse().unwrap();
        let lb: IpAddr = "10.1.2.3".parse().unwrap();
        // The client forged the first entry; the ingress appended the real one.
        let headers = xff("6.6.6.6, 198.51.100.9, 10.0.0.5");
        assert_eq!(
            trusted.client_ip(lb, &headers),
            "198.51.100.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            trusted.client_ip(lb, &HeaderMap::new()),
            lb,
            "no header: the peer"
        );
        assert_eq!(
            trusted.client_ip(lb, &xff("garbage, 198.51.100.9")),
            "198.51.100.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            trusted.client_ip(lb, &xff("198.51.100.9, garbage")),
            lb,
            "stop at garbage"
        );
    }

    #[test]
    fn mapped_addresses_are_ipv4_and_ipv6_keys_on_the_64() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let client = trusted.client_ip(mapped, &xff("198.51.100.9"));
        assert_eq!(
            client,
            "198.51.100.9".parse::<IpAddr>().unwrap(),
            "the mapped proxy is trusted"
        );
        let a = ClientIp("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ClientIp("2001:db8:1:2:bbbb::2".parse().unwrap());
        assert_eq!(a.limit_key(), b.limit_key());
        assert_eq!(a.limit_key(), "2001:db8:1:2::/64");
        assert_eq!(
            ClientIp("192.0.2.1".parse().unwrap()).limit_key(),
            "192.0.2.1"
        );
    }

    #[test]
    fn parses_addresses_and_networks() {
        assert!("".parse::<TrustedProxies>().is_ok());
        assert!("10.0.0.0/8,::1,fd00::/8".parse::<TrustedProxies>().is_ok());
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.local".parse::<TrustedProxies>().is_err());
    }
}
