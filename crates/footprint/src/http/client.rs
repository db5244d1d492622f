//! The `ClientIp` extractor: the address a request comes from — the peer's, or, when the peer
//! is one of `server.trusted_proxies`, the one it names in `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::app::state::AppState;
use crate::kernel::error::ApiError;

const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address; `None` when the request came without a socket (the router driven
/// in-process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

/// The client behind `peer`: each trusted proxy appends the address it received the request
/// from, so the client is the last address in the chain that is not a trusted proxy. A
/// header from an untrusted peer, or one that cannot be read, is not believed.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted_proxies: &[IpAddr]) -> IpAddr {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|proxy| proxy.to_canonical() == ip.to_canonical());
    if !trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for header in forwarded_for.iter().rev() {
        for hop in header.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if trusted(&ip) => client = ip,
                Ok(ip) => return ip,
                Err(_) => return client,
            }
        }
    }
    client
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(ClientIp(None));
        };
        let headers: Vec<&str> =
            parts.headers.get_all(FORWARDED_FOR).iter().filter_map(|value| value.to_str().ok()).collect();
        Ok(ClientIp(Some(client_ip(peer.ip(), &headers, &state.config.server.trusted_proxies))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let proxy = [ip("10.0.0.2")];
        assert_eq!(client_ip(ip("203.0.113.9"), &["198.51.100.1"], &proxy), ip("203.0.113.9"), "not a proxy");
        assert_eq!(client_ip(ip("203.0.113.9"), &["198.51.100.1"], &[]), ip("203.0.113.9"), "no proxies");
        assert_eq!(client_ip(ip("10.0.0.2"), &["198.51.100.1"], &proxy), ip("198.51.100.1"));
        assert_eq!(client_ip(ip("10.0.0.2"), &[], &proxy), ip("10.0.0.2"), "no header: the proxy itself");
    }

    #[test]
    fn the_client_is_the_last_untrusted_hop() {
        let proxies = [ip("10.0.0.2"), ip("10.0.0.3")];
        // The client wrote a first address itself; the proxies appended the real ones.
        let chain = ["6.6.6.6, 198.51.100.1, 10.0.0.3"];
        assert_eq!(client_ip(ip("10.0.0.2"), &chain, &proxies), ip("198.51.100.1"));
        let split = ["6.6.6.6", "198.51.100.1, 10.0.0.3"];
        assert_eq!(client_ip(ip("10.0.0.2"), &split, &proxies), ip("198.51.100.1"), "over several headers");
        assert_eq!(client_ip(ip("10.0.0.2"), &["garbage, 10.0.0.3"], &proxies), ip("10.0.0.3"));
        let mapped = [ip("::ffff:10.0.0.2")];
        assert_eq!(client_ip(ip("10.0.0.2"), &["2001:db8::1"], &mapped), ip("2001:db8::1"));
    }
}
