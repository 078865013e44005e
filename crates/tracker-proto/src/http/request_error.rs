/// Why an announce or scrape query is rejected. Every variant is safe to
/// send back as the bencoded `failure reason` (its `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A required parameter is absent.
    #[error("missing parameter {0}")]
    MissingParameter(&'static str),
    /// A parameter's value cannot be used.
    #[error("invalid parameter {0}")]
    InvalidParameter(&'static str),
    /// A parameter that may appear once appeared again.
    #[error("duplicate parameter {0}")]
    DuplicateParameter(&'static str),
    /// A `%` not followed by two hex digits.
    #[error("bad percent-encoding in parameter {0}")]
    BadPercentEncoding(&'static str),
    /// A value longer than [`super::MAX_VALUE_LEN`] bytes once decoded.
    #[error("parameter {0} is too long")]
    ValueTooLong(&'static str),
    /// More infohashes in one scrape than the tracker serves at once.
    #[error("too many info_hash parameters (at most {max})")]
    TooManyInfoHashes {
        /// The limit.
        max: usize,
    },
}
