//! Privacy transformations applied before anything is stored.

use std::net::IpAddr;

/// Truncates an IP address so it no longer identifies a host: IPv4 to its /24, IPv6 to its
/// /48. Text that is not an IP address gives `None` (and is not stored).
pub fn truncate_ip(raw: &str) -> Option<String> {
    raw.trim().parse::<IpAddr>().ok().map(|ip| network_of(ip).to_string())
}

/// The network an address belongs to, as [`truncate_ip`] keeps it: its /24 (IPv4) or /48
/// (IPv6). An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`, as a dual-stack socket sees
/// IPv4 peers) is taken as the IPv4 address it is.
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            for segment in &mut segments[3..] {
                *segment = 0;
            }
            IpAddr::V6(std::net::Ipv6Addr::from(segments))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_keep_only_their_network() {
        assert_eq!(truncate_ip("192.168.1.77").as_deref(), Some("192.168.1.0"));
        assert_eq!(truncate_ip(" 10.0.0.1 ").as_deref(), Some("10.0.0.0"));
        assert_eq!(truncate_ip("2001:db8:85a3:8d3:1319:8a2e:370:7348").as_deref(), Some("2001:db8:85a3::"));
        assert_eq!(truncate_ip("not an ip"), None);
        assert_eq!(truncate_ip("::ffff:192.168.1.77").as_deref(), Some("192.168.1.0"), "IPv4 in IPv6");
    }
}
