//! Locality-first peer selection: peers near the requester come first, so a
//! rack's traffic stays in the rack. "Near" is either a configured group
//! (any CIDR network) or the same prefix of a configured length.

use crate::config::SwarmConfig;
use crate::subnet::{Subnet, mask};
use std::net::IpAddr;

/// Locality rules; built only when some rule is configured.
#[derive(Debug, Clone)]
pub(crate) struct Locality {
    groups: Vec<Subnet>,
    v4_prefix: Option<u8>,
    v6_prefix: Option<u8>,
}

/// The neighbourhood of one requester.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Neighbourhood {
    /// Inside a configured group.
    Group(Subnet),
    /// Inside the prefix network `net/len`.
    Prefix(IpAddr, u8),
}

impl Neighbourhood {
    /// Whether `ip` is in this neighbourhood.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match *self {
            Self::Group(g) => g.contains(ip),
            Self::Prefix(net, len) => {
                let ip = ip.to_canonical();
                ip.is_ipv4() == net.is_ipv4() && mask(ip, len) == net
            }
        }
    }
}

impl Locality {
    pub(crate) fn new(c: &SwarmConfig) -> Option<Self> {
        let l = Self {
            groups: c.locality_groups.clone(),
            v4_prefix: c.prefer_subnet_v4.map(|p| p.min(32)),
            v6_prefix: c.prefer_subnet_v6.map(|p| p.min(128)),
        };
        (!l.groups.is_empty() || l.v4_prefix.is_some() || l.v6_prefix.is_some()).then_some(l)
    }

    /// The requester's neighbourhood, if any rule covers it.
    pub(crate) fn neighbourhood(&self, ip: IpAddr) -> Option<Neighbourhood> {
        let ip = ip.to_canonical();
        if let Some(g) = self.groups.iter().find(|g| g.contains(ip)) {
            return Some(Neighbourhood::Group(*g));
        }
        let len = if ip.is_ipv4() {
            self.v4_prefix
        } else {
            self.v6_prefix
        }?;
        Some(Neighbourhood::Prefix(mask(ip, len), len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_before_prefix() {
        let l = Locality::new(&SwarmConfig {
            prefer_subnet_v4: Some(24),
            locality_groups: vec!["10.1.0.0/16".parse().unwrap()],
            ..SwarmConfig::default()
        })
        .unwrap();
        let n = l.neighbourhood("10.1.2.3".parse().unwrap()).unwrap();
        assert!(n.contains("10.1.200.1".parse().unwrap()));
        let n = l.neighbourhood("10.2.2.3".parse().unwrap()).unwrap();
        assert!(n.contains("10.2.2.99".parse().unwrap()));
        assert!(!n.contains("10.2.3.1".parse().unwrap()));
        assert!(l.neighbourhood("fd00::1".parse().unwrap()).is_none());
    }

    #[test]
    fn off_by_default() {
        assert!(Locality::new(&SwarmConfig::default()).is_none());
    }
}
