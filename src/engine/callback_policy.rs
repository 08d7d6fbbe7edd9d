//! Where verdict callbacks may connect and how often a notice is tried.
//!
//! Every address a callback host resolves to is checked here at delivery time, after DNS
//! resolution, and the connection goes to the checked address (never a second resolution),
//! so a host that later resolves to an internal address cannot reach it. Loopback,
//! link-local, private (RFC 1918, ULA), shared (RFC 6598), unspecified, broadcast,
//! multicast, documentation and reserved addresses are refused unless the configuration
//! allows private addresses or names a network that holds them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

/// A CIDR network such as `10.20.0.0/16` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

/// Why a network could not be parsed.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0:?} is not a CIDR network (address/prefix)")]
pub struct NetworkError(pub String);

impl FromStr for Network {
    type Err = NetworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || NetworkError(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                a.parse::<IpAddr>().map_err(|_| err())?,
                Some(p.parse::<u8>().map_err(|_| err())?),
            ),
            None => (s.parse::<IpAddr>().map_err(|_| err())?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(err());
        }
        Ok(Self { addr, prefix })
    }
}

impl Network {
    /// Whether `ip` lies in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
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

/// An IPv4-mapped IPv6 address as its IPv4 address; others unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn special_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn special_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that is checked too.
    let embedded_v4 = match ip.segments() {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
        }
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        _ => None,
    };
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || ip.segments()[..6] == [0; 6] // IPv4-compatible and other reserved ::/96
        || embedded_v4.is_some_and(special_v4)
}

/// Whether `ip` is an address no callback may reach without explicit configuration:
/// loopback, link-local, private, unique-local, shared, unspecified, broadcast, multicast,
/// documentation or reserved.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

/// Which resolved addresses callbacks may connect to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Allow every internal address (loopback, private, link-local, …).
    pub allow_internal: bool,
    /// Internal networks allowed one by one.
    pub allowed_networks: Vec<Network>,
}

impl AddressPolicy {
    /// Whether a callback may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        !is_internal(ip)
            || self.allow_internal
            || self.allowed_networks.iter().any(|n| n.contains(ip))
    }

    /// Everything allowed (for tests and local relays on loopback).
    pub fn allow_all() -> Self {
        Self {
            allow_internal: true,
            allowed_networks: Vec::new(),
        }
    }
}

/// How often and how far apart a notice is tried before it becomes a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, over restarts; then the notice is a dead letter.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubled after each further failure.
    pub base_delay: Duration,
    /// Longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failed` failed attempts (1 or more): `base · 2^(failed − 1)`, at most
    /// `max_delay`.
    pub fn delay_after(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(30);
        self.base_delay
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// Everything the posting task needs to decide where and when to deliver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Allowed addresses.
    pub addresses: AddressPolicy,
    /// Retries and backoff.
    pub retry: RetryPolicy,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_ranges_are_refused_and_public_ones_allowed() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:a00:1::1",
        ] {
            assert!(is_internal(ip(s)), "{s} should be internal");
            assert!(!AddressPolicy::default().permits(ip(s)), "{s}");
            assert!(AddressPolicy::allow_all().permits(ip(s)), "{s}");
        }
        for s in [
            "8.8.8.8",
            "203.0.114.7",
            "2606:4700::1111",
            "::ffff:8.8.4.4",
        ] {
            assert!(!is_internal(ip(s)), "{s} should be public");
            assert!(AddressPolicy::default().permits(ip(s)), "{s}");
        }
    }

    #[test]
    fn allowed_networks_open_only_their_range() {
        let policy = AddressPolicy {
            allow_internal: false,
            allowed_networks: vec!["10.20.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()],
        };
        assert!(policy.permits(ip("10.20.9.9")));
        assert!(policy.permits(ip("::ffff:10.20.0.1")));
        assert!(!policy.permits(ip("10.21.0.1")));
        assert!(policy.permits(ip("fd12::1")));
        assert!(!policy.permits(ip("127.0.0.1")));
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("nope/8".parse::<Network>().is_err());
        assert!("127.0.0.1"
            .parse::<Network>()
            .unwrap()
            .contains(ip("127.0.0.1")));
        assert!("0.0.0.0/0"
            .parse::<Network>()
            .unwrap()
            .contains(ip("1.2.3.4")));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let waits: Vec<u128> = (1..=5).map(|n| policy.delay_after(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(policy.delay_after(u32::MAX), Duration::from_millis(500));
    }
}
