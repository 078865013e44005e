//! The agent's HTTP client (reqwest with rustls, http and https): every
//! fetch has a size limit and a time limit, the event stream an idle limit.
//! Certificates are checked against the built-in roots plus any private CA
//! given with `--ca` ([`ExtraRoots`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{ACCEPT, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Connecting, sending or receiving failed.
    #[error("{url}: {message}")]
    Request {
        /// The URL.
        url: String,
        /// What failed, with its causes.
        message: String,
    },
    /// A status other than 200 (or 304 for a conditional GET).
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The body is larger than allowed.
    #[error("{url}: the answer is larger than {max} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        max: usize,
    },
    /// No complete answer in time.
    #[error("{url}: no complete answer within {0:?}", .timeout)]
    Timeout {
        /// The URL.
        url: String,
        /// The limit.
        timeout: Duration,
    },
}

impl FetchError {
    /// The HTTP status, if the server answered with an unexpected one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Why a `--ca` file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The file cannot be read.
    #[error("cannot read CA file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A `CERTIFICATE` block is not valid PEM, or not a usable certificate.
    #[error("CA file {}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its causes.
        reason: String,
    },
    /// No `-----BEGIN CERTIFICATE-----` block in the file.
    #[error("CA file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Largest `--ca` file read.
const MAX_CA_FILE: u64 = 4 << 20;

/// Certificates trusted as roots besides the built-in ones (`--ca`).
#[derive(Debug, Clone, Default)]
pub struct ExtraRoots(Vec<reqwest::Certificate>);

impl ExtraRoots {
    /// Reads each PEM file (one or more certificates each); a file that
    /// cannot be read, holds no certificate or a broken one is an error
    /// naming it.
    pub fn load(paths: &[PathBuf]) -> Result<Self, CaError> {
        let mut all = Vec::new();
        for p in paths {
            all.extend(Self::load_one(p)?);
        }
        Ok(Self(all))
    }

    fn load_one(path: &Path) -> Result<Vec<reqwest::Certificate>, CaError> {
        let pem = metainfo::read_limited(path, MAX_CA_FILE).map_err(|source| CaError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |e: &reqwest::Error| CaError::Invalid {
            path: path.to_path_buf(),
            reason: chain(e),
        };
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| invalid(&e))?;
        if certs.is_empty() {
            return Err(CaError::Empty {
                path: path.to_path_buf(),
            });
        }
        // A block that is base64 but not a certificate only fails when a
        // client is built: try that here, so that the error names the file.
        let mut b = reqwest::Client::builder().tls_built_in_root_certs(false);
        for c in &certs {
            b = b.add_root_certificate(c.clone());
        }
        b.build().map_err(|e| invalid(&e))?;
        Ok(certs)
    }

    /// How many certificates.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No extra roots.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Validators of a previous answer, for a conditional GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// `ETag` of the last answer.
    pub etag: Option<String>,
    /// `Last-Modified` of the last answer.
    pub last_modified: Option<String>,
}

/// What a GET returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// 304: unchanged since the validators.
    NotModified,
    /// 200 with its body and validators.
    Body {
        /// The body.
        bytes: Vec<u8>,
        /// Validators for the next conditional GET.
        validators: Validators,
    },
}

/// A shared client with the agent's limits.
#[derive(Debug, Clone)]
pub struct Client {
    inner: reqwest::Client,
    timeout: Duration,
}

impl Client {
    /// A client whose fetches each end within `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, FetchError> {
        Self::with_roots(timeout, &ExtraRoots::default())
    }

    /// A client that also trusts `roots` (besides the built-in roots).
    pub fn with_roots(timeout: Duration, roots: &ExtraRoots) -> Result<Self, FetchError> {
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("anthill-agent/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(5));
        for c in &roots.0 {
            b = b.add_root_certificate(c.clone());
        }
        let inner = b.build().map_err(|e| FetchError::Request {
            url: String::new(),
            message: chain(&e),
        })?;
        Ok(Self { inner, timeout })
    }

    fn err(url: &str, e: &reqwest::Error) -> FetchError {
        if e.is_timeout() {
            return FetchError::Timeout {
                url: url.to_string(),
                timeout: Duration::ZERO,
            };
        }
        FetchError::Request {
            url: url.to_string(),
            message: chain(e),
        }
    }

    /// GETs `url`, at most `max` bytes, conditionally if `since` is given.
    pub async fn get(
        &self,
        url: &str,
        max: usize,
        since: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.get_inner(url, max, since)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout {
                url: url.to_string(),
                timeout,
            }),
        }
    }

    async fn get_inner(
        &self,
        url: &str,
        max: usize,
        since: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let mut req = self.inner.get(url);
        if let Some(v) = since {
            if let Some(e) = &v.etag {
                req = req.header(IF_NONE_MATCH, e);
            }
            if let Some(m) = &v.last_modified {
                req = req.header(IF_MODIFIED_SINCE, m);
            }
        }
        let mut resp = req.send().await.map_err(|e| Self::err(url, &e))?;
        let status = resp.status().as_u16();
        if status == 304 && since.is_some() {
            return Ok(Fetched::NotModified);
        }
        if status != 200 {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let header = |h| {
            resp.headers()
                .get(h)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            max,
        };
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| Self::err(url, &e))? {
            if bytes.len() + chunk.len() > max {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { bytes, validators })
    }

    /// GETs `url` and returns a body that must succeed; 304 is an error here.
    pub async fn get_body(&self, url: &str, max: usize) -> Result<Vec<u8>, FetchError> {
        match self.get(url, max, None).await? {
            Fetched::Body { bytes, .. } => Ok(bytes),
            Fetched::NotModified => Err(FetchError::Status {
                url: url.to_string(),
                status: 304,
            }),
        }
    }

    /// POSTs a JSON body; any 2xx answer is success (its body is ignored).
    pub async fn post_json(&self, url: &str, body: Vec<u8>) -> Result<(), FetchError> {
        let send = self
            .inner
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send();
        let resp = match tokio::time::timeout(self.timeout, send).await {
            Ok(r) => r.map_err(|e| Self::err(url, &e))?,
            Err(_) => {
                return Err(FetchError::Timeout {
                    url: url.to_string(),
                    timeout: self.timeout,
                });
            }
        };
        if !resp.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: resp.status().as_u16(),
            });
        }
        Ok(())
    }

    /// Opens an event stream (`text/event-stream`); the caller reads it
    /// with [`EventStream::next_chunk`] under its own idle limit.
    pub async fn events(&self, url: &str) -> Result<EventStream, FetchError> {
        let send = self
            .inner
            .get(url)
            .header(ACCEPT, "text/event-stream")
            .send();
        let resp = tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| FetchError::Timeout {
                url: url.to_string(),
                timeout: self.timeout,
            })?
            .map_err(|e| Self::err(url, &e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        Ok(EventStream {
            resp,
            url: url.to_string(),
        })
    }
}

/// An open event stream.
#[derive(Debug)]
pub struct EventStream {
    resp: reqwest::Response,
    url: String,
}

impl EventStream {
    /// The next bytes, `None` at the end, an error after `idle` without any.
    pub async fn next_chunk(&mut self, idle: Duration) -> Result<Option<bytes::Bytes>, FetchError> {
        match tokio::time::timeout(idle, self.resp.chunk()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(Client::err(&self.url, &e)),
            Err(_) => Err(FetchError::Timeout {
                url: self.url.clone(),
                timeout: idle,
            }),
        }
    }
}
