//! Privacy transformations applied before anything is stored.

use std::net::IpAddr;

/// Truncates an IP address so it no longer identifies a host: IPv4 to its /24, IPv6 to its
/// /48. Text that is not an IP address gives `None` (and is not stored).
pub fn truncate_ip(raw: &str) -> Option<String> {
    match raw.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(std::net::Ipv4Addr::new(a, b, c, 0).to_string())
        }
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            for segment in &mut segments[3..] {
                *segment = 0;
            }
            Some(std::net::Ipv6Addr::from(segments).to_string())
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
    }
}
