//! Errors of the release contract.

/// A key could not be made, read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not a minisign key (base64 line or key file).
    #[error("not a minisign {what} key: {reason}")]
    Parse {
        /// "public" or "secret".
        what: &'static str,
        /// What minisign said.
        reason: String,
    },
    /// The secret key is password-protected; the hub needs an unencrypted one.
    #[error(
        "the secret key is encrypted with a password; the hub needs an unencrypted key (anthill keygen)"
    )]
    Encrypted,
    /// Key generation failed (no randomness).
    #[error("cannot generate a key: {0}")]
    Generate(String),
}

/// A signature is missing, malformed, by another key, or does not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not a minisign signature file.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// Signed by another key than the one checked against.
    #[error("signed by key {signed_by}, not by {expected}")]
    OtherKey {
        /// Key id in the signature.
        signed_by: String,
        /// Key id checked against.
        expected: String,
    },
    /// The data or the trusted comment was changed after signing.
    #[error("signature does not match the data: {0}")]
    Mismatch(String),
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// A manifest or index that is not what it claims.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not valid JSON of the expected shape.
    #[error("malformed {what}: {source}")]
    Json {
        /// "manifest" or "index".
        what: &'static str,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A format version this build does not know.
    #[error("unsupported {what} format {format}")]
    Format {
        /// "manifest" or "index".
        what: &'static str,
        /// The version found.
        format: u32,
    },
    /// The signature does not hold.
    #[error("bad signature on the {what}: {source}")]
    Signature {
        /// "manifest" or "index".
        what: &'static str,
        /// Why.
        source: SignatureError,
    },
    /// The signed trusted comment does not agree with the JSON.
    #[error("the trusted comment {comment:?} does not match the {what}")]
    CommentMismatch {
        /// "manifest" or "index".
        what: &'static str,
        /// The trusted comment.
        comment: String,
    },
    /// Signed by another hub key than the one named inside.
    #[error("the {what} names hub key {named} but is signed by {signed}")]
    HubMismatch {
        /// "manifest" or "index".
        what: &'static str,
        /// Key id in the JSON.
        named: String,
        /// Key id of the verifying key.
        signed: String,
    },
}
