use std::fmt;
use std::str::FromStr;

/// A BitTorrent client the fleet scenario can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    /// libtorrent-rasterbar through its Debian python bindings.
    Libtorrent,
    /// aria2c.
    Aria2,
    /// Our own engine: `anthill seed` and `anthill get`.
    Anthill,
}

impl Client {
    /// Every client, in the order benchmarks list them.
    pub const ALL: [Client; 3] = [Client::Anthill, Client::Libtorrent, Client::Aria2];

    /// The name used on command lines and in `ANTHILL_FLEET_CLIENT`.
    pub fn name(self) -> &'static str {
        match self {
            Client::Libtorrent => "libtorrent",
            Client::Aria2 => "aria2",
            Client::Anthill => "anthill",
        }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A client name that is not one of [`Client::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown client {0:?}: expected anthill, libtorrent or aria2")]
pub struct UnknownClient(pub String);

impl FromStr for Client {
    type Err = UnknownClient;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Client::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownClient(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Client::ALL {
            assert_eq!(c.name().parse::<Client>(), Ok(c));
        }
    }

    #[test]
    fn unknown_name_is_rejected() {
        assert_eq!(
            "qbittorrent".parse::<Client>(),
            Err(UnknownClient("qbittorrent".into()))
        );
    }
}
