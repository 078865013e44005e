/// The `event` of an announce (BEP 3; numbered as in BEP 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AnnounceEvent {
    /// A regular, periodic announce (absent or `empty`).
    #[default]
    None,
    /// The download finished (sent once).
    Completed,
    /// The client started the torrent.
    Started,
    /// The client is leaving the swarm.
    Stopped,
}

impl AnnounceEvent {
    /// The BEP 15 number: 0 none, 1 completed, 2 started, 3 stopped.
    pub fn to_udp(self) -> u32 {
        match self {
            Self::None => 0,
            Self::Completed => 1,
            Self::Started => 2,
            Self::Stopped => 3,
        }
    }

    /// The event of a BEP 15 number.
    pub fn from_udp(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::None),
            1 => Some(Self::Completed),
            2 => Some(Self::Started),
            3 => Some(Self::Stopped),
            _ => None,
        }
    }

    /// The HTTP query value (`None` for a regular announce).
    pub fn as_http(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Completed => Some("completed"),
            Self::Started => Some("started"),
            Self::Stopped => Some("stopped"),
        }
    }
}
