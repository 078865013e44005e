//! The URLs the hub writes into torrents and the feed.

use release::ReleaseName;

use crate::HubError;

/// URLs below the hub's public base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urls {
    base: String,
    udp_tracker: String,
}

impl Urls {
    /// From the public base URL (`http://host:port` or `https://…`, a path
    /// allowed) and the port the UDP tracker listens on.
    pub fn new(base: &str, udp_port: u16) -> Result<Self, HubError> {
        let bad = |reason| HubError::PublicUrl {
            url: base.to_string(),
            reason,
        };
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .ok_or_else(|| bad("must start with http:// or https://"))?;
        if base
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<')
        {
            return Err(bad("contains spaces, quotes or control characters"));
        }
        let authority = rest.split('/').next().unwrap_or("");
        let host = match authority.strip_prefix('[') {
            Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or("")),
            None => authority.split(':').next().unwrap_or("").to_string(),
        };
        if host.is_empty() || host == "[]" {
            return Err(bad("has no host"));
        }
        if host == "0.0.0.0" || host == "[::]" {
            return Err(bad(
                "an unspecified address cannot be reached; give the host's name or address",
            ));
        }
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            udp_tracker: format!("udp://{host}:{udp_port}/announce"),
        })
    }

    /// The base, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }
    /// The HTTP tracker.
    pub fn announce(&self) -> String {
        format!("{}/announce", self.base)
    }
    /// The UDP tracker (BEP 15), same host, the UDP port.
    pub fn udp_announce(&self) -> &str {
        &self.udp_tracker
    }
    /// The BEP 19 web seed root (clients append `NAME/PATH`).
    pub fn webseed(&self) -> String {
        format!("{}/webseed/", self.base)
    }
    /// The feed.
    pub fn feed(&self) -> String {
        format!("{}/feed.xml", self.base)
    }
    /// A release's `.torrent`.
    pub fn torrent(&self, name: &ReleaseName) -> String {
        format!("{}/torrents/{name}.torrent", self.base)
    }
    /// A release's manifest.
    pub fn manifest(&self, name: &ReleaseName) -> String {
        format!("{}/manifests/{name}.json", self.base)
    }
    /// A release's manifest signature.
    pub fn signature(&self, name: &ReleaseName) -> String {
        format!("{}/manifests/{name}.json.minisig", self.base)
    }
    /// A release's page.
    pub fn page(&self, name: &ReleaseName) -> String {
        format!("{}/releases/{name}", self.base)
    }
    /// A foreign torrent (from `torrents/`).
    pub fn foreign(&self, file: &str) -> String {
        format!("{}/foreign/{file}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_every_url_from_the_base() {
        let u = Urls::new("http://hub.example:6880/", 6880).unwrap();
        assert_eq!(u.announce(), "http://hub.example:6880/announce");
        assert_eq!(u.udp_announce(), "udp://hub.example:6880/announce");
        assert_eq!(u.webseed(), "http://hub.example:6880/webseed/");
        let n = ReleaseName::new("app-1").unwrap();
        assert_eq!(
            u.torrent(&n),
            "http://hub.example:6880/torrents/app-1.torrent"
        );
        let v6 = Urls::new("https://[fd00::1]:443/hub", 6880).unwrap();
        assert_eq!(v6.udp_announce(), "udp://[fd00::1]:6880/announce");
        assert_eq!(v6.feed(), "https://[fd00::1]:443/hub/feed.xml");
    }

    #[test]
    fn refuses_unusable_bases() {
        for bad in [
            "ftp://x",
            "http://",
            "http://0.0.0.0:6880",
            "http://a b",
            "hub:6880",
        ] {
            assert!(Urls::new(bad, 1).is_err(), "{bad}");
        }
    }
}
