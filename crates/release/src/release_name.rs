//! Release names: versions are names (`app-1.4.2`), and a name becomes a
//! directory, a file name and part of URLs on every host of the fleet.

/// A release name: 1 to 128 bytes of ASCII letters, digits and `._+-~@`,
/// not starting with `.` or `-` (no hidden files, no option look-alikes, no
/// `..`, no path separators, nothing that URLs or shells must escape).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ReleaseName(String);

/// Why a name cannot be a release name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseNameError {
    /// Empty.
    #[error("a release name cannot be empty")]
    Empty,
    /// Over 128 bytes.
    #[error("release name is {0} bytes long; at most 128")]
    TooLong(usize),
    /// Starts with `.` or `-`.
    #[error("release name {0:?} must not start with '.' or '-'")]
    BadStart(String),
    /// A character outside the allowed set.
    #[error("release name {name:?} contains {ch:?}; use letters, digits and . _ + - ~ @")]
    BadChar {
        /// The name, as given.
        name: String,
        /// The first offending character.
        ch: char,
    },
}

impl ReleaseName {
    /// Longest accepted name, in bytes.
    pub const MAX_LEN: usize = 128;

    /// Checks `name`.
    pub fn new(name: &str) -> Result<Self, ReleaseNameError> {
        if name.is_empty() {
            return Err(ReleaseNameError::Empty);
        }
        if let Some(ch) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._+-~@".contains(*c)))
        {
            return Err(ReleaseNameError::BadChar {
                name: name.to_string(),
                ch,
            });
        }
        if name.len() > Self::MAX_LEN {
            return Err(ReleaseNameError::TooLong(name.len()));
        }
        if name.starts_with('.') || name.starts_with('-') {
            return Err(ReleaseNameError::BadStart(name.to_string()));
        }
        Ok(Self(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReleaseName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ReleaseName {
    type Err = ReleaseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl<'de> serde::Deserialize<'de> for ReleaseName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_names() {
        for ok in ["app-1.4.2", "a", "A_b+c~d@e", "9"] {
            assert_eq!(ReleaseName::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn unsafe_names_are_refused() {
        assert_eq!(ReleaseName::new(""), Err(ReleaseNameError::Empty));
        for bad in ["..", ".hidden", "-rf", ".anthill"] {
            assert!(
                matches!(ReleaseName::new(bad), Err(ReleaseNameError::BadStart(_))),
                "{bad}"
            );
        }
        for bad in [
            "a/b",
            "a b",
            "é",
            "a\nb",
            "a\\b",
            "a%20",
            "a?b",
            "a#b",
            "a\u{1b}[2J",
        ] {
            assert!(
                matches!(ReleaseName::new(bad), Err(ReleaseNameError::BadChar { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            ReleaseName::new(&"x".repeat(129)),
            Err(ReleaseNameError::TooLong(129))
        );
    }

    #[test]
    fn deserializing_checks_too() {
        assert!(serde_json::from_str::<ReleaseName>("\"../x\"").is_err());
        assert_eq!(
            serde_json::from_str::<ReleaseName>("\"v1\"")
                .unwrap()
                .as_str(),
            "v1"
        );
    }
}
