//! Which address a request comes from, for the rate limit.
//!
//! The socket's peer address is the truth. `X-Forwarded-For` is believed only when the peer is a
//! proxy listed in `TRUSTED_PROXIES`, and then read from the right: each trusted hop is skipped
//! and the first untrusted address is the client. A client can prepend anything to the header,
//! but cannot forge the entries its own trusted proxy appended, so a forged header cannot dodge
//! the limit.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

/// An address block: `10.0.0.0/8`, `::1/128`, or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for IpNet {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| "is not an IP address or CIDR block (e.g. 10.0.0.0/8)".to_owned())?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("has a prefix length over {max}"))?,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl IpNet {
    /// Whether `ip` lies inside the block (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The client address of a request whose socket peer is `peer`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    // Every X-Forwarded-For header, in order, as one list of hops.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            // Garbage from the client's side of the chain: stop at the last good hop.
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// The key a client is counted under: its IPv4 address, or its IPv6 /64 (`2001:db8:1:2::/64`).
/// One IPv6 subscriber commonly holds a whole /64, so counting single addresses would give it
/// 2^64 fresh budgets.
pub fn client_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !(u128::MAX >> 64);
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
    }
}

/// The client key of a request: its address from [`client_ip`], keyed by [`client_key`];
/// `unknown` when the server was built without peer addresses.
pub fn request_client(request: &axum::extract::Request, trusted: &[IpNet]) -> String {
    match request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        Some(axum::extract::ConnectInfo(peer)) => {
            client_key(client_ip(peer.ip(), request.headers(), trusted))
        }
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), "2001:db8:1:2::/64");
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        assert_eq!(client_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(client_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
    }
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in xff {
            map.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn blocks_contain_their_addresses() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.200.1.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        let one: IpNet = "::1".parse().unwrap();
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("proxy.local".parse::<IpNet>().is_err());
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_header_says() {
        assert_eq!(
            client_ip(ip("1.2.3.4"), &headers(&["9.9.9.9"]), &[]),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn a_trusted_proxy_chain_is_read_from_the_right() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        // The client forged "6.6.6.6"; its real address was appended by our proxy 10.0.0.2.
        let h = headers(&["6.6.6.6, 1.2.3.4", "10.0.0.2"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("1.2.3.4"));
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers(&[]), &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers(&["junk, 1.2.3.4"]), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers(&["1.2.3.4, junk"]), &trusted),
            ip("127.0.0.1")
        );
    }
}
