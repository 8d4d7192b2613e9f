//! The smallest HTTP client `svc smoke` needs: one request per connection (HTTP/1.1 through
//! hyper's connection API, which the binary already has through axum), plain TCP for `http://`
//! and rustls with the Mozilla roots (`webpki-roots`, already in the build for SMTP), plus the
//! certificates of an optional PEM file (a private CA), for `https://`. reqwest stays a
//! test-only dependency.
//!
//! A fresh connection per request is deliberate: the smoke test makes a dozen requests, and a
//! new connection each time also proves the target accepts new connections, which is what a
//! deployment gate wants to know.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// The largest response body read (the API's answers are a few hundred bytes).
const MAX_BODY: usize = 1 << 20;

/// Why a target URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{0:?} is not a URL like http://127.0.0.1:3000 or https://api.example.com")]
    Malformed(String),
    #[error("{0:?}: only http:// and https:// URLs are supported")]
    Scheme(String),
    #[error("{0:?}: a URL with a user name, query or fragment is not a base URL")]
    NotABase(String),
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot set up TLS: {0}")]
    TlsSetup(String),
    #[error("cannot read CA certificates from {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("TLS handshake with {host} failed: {source}")]
    Tls {
        host: String,
        source: std::io::Error,
    },
    #[error("HTTP error: {0}")]
    Http(#[from] hyper::Error),
    #[error("cannot build the request: {0}")]
    Request(#[from] axum::http::Error),
    #[error("the response body is over {MAX_BODY} bytes or broken: {0}")]
    Body(String),
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
}

/// A base URL: where the API is, and the path prefix (if any) it is mounted under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    /// The host as written, without brackets for IPv6.
    pub host: String,
    pub port: u16,
    /// `host[:port]` as written, for the `Host` header.
    pub authority: String,
    /// The base path without a trailing slash (`""` for the root).
    pub base_path: String,
}

impl Target {
    /// Parses `http[s]://host[:port][/prefix]`.
    ///
    /// # Errors
    /// [`UrlError`] saying what is wrong.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let malformed = || UrlError::Malformed(url.to_owned());
        let uri: Uri = url.trim().parse().map_err(|_| malformed())?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(_) => return Err(UrlError::Scheme(url.to_owned())),
            None => return Err(malformed()),
        };
        let authority = uri.authority().ok_or_else(malformed)?;
        if authority.as_str().contains('@') || uri.query().is_some() || url.contains('#') {
            return Err(UrlError::NotABase(url.to_owned()));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(malformed());
        }
        let port = match authority.port_u16() {
            Some(0) => return Err(malformed()),
            Some(port) => port,
            None if tls => 443,
            None => 80,
        };
        Ok(Target {
            tls,
            host: host.to_owned(),
            port,
            authority: authority.as_str().to_owned(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

/// One answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// `Retry-After` in seconds, if the server sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        let secs = self.headers.get(header::RETRY_AFTER)?.to_str().ok()?;
        secs.trim().parse().ok().map(Duration::from_secs)
    }
}

/// Sends requests to one [`Target`].
pub struct Client {
    target: Target,
    tls: Option<TlsConnector>,
    user_agent: HeaderValue,
}

impl Client {
    /// A client for `target`; for `https://`, with rustls, the Mozilla roots and the
    /// certificates in the PEM file `ca_file`, if given.
    ///
    /// # Errors
    /// [`HttpError::CaFile`] when `ca_file` holds no readable certificate,
    /// [`HttpError::TlsSetup`] when the TLS configuration cannot be built.
    pub fn new(target: Target, ca_file: Option<&Path>) -> Result<Self, HttpError> {
        let tls = if target.tls {
            Some(tls_connector(ca_file)?)
        } else {
            None
        };
        Ok(Client {
            target,
            tls,
            user_agent: HeaderValue::from_static(concat!("svc-smoke/", env!("CARGO_PKG_VERSION"))),
        })
    }

    /// Sends `method path` (relative to the base path) with an optional JSON body and extra
    /// headers, on a new connection, giving up after `timeout` for the whole exchange.
    ///
    /// # Errors
    /// [`HttpError`] when no complete answer arrives; any HTTP status is an answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
        headers: &[(&'static str, String)],
        timeout: Duration,
    ) -> Result<Reply, HttpError> {
        match tokio::time::timeout(timeout, self.exchange(method, path, json, headers)).await {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout(timeout)),
        }
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
        headers: &[(&'static str, String)],
    ) -> Result<Reply, HttpError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.target.base_path))
            .header(header::HOST, &self.target.authority)
            .header(header::USER_AGENT, self.user_agent.clone())
            .header(header::ACCEPT, "application/json")
            .header(header::CONNECTION, "close");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let body = match json {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(value.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body)?;

        let addr = format!("{}:{}", self.target.authority, self.target.port);
        let tcp = TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .map_err(|source| HttpError::Connect { addr, source })?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => exchange_on(tcp, request).await,
            Some(connector) => {
                let tls_error = |source| HttpError::Tls {
                    host: self.target.host.clone(),
                    source,
                };
                let name = ServerName::try_from(self.target.host.clone()).map_err(|e| {
                    tls_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
                })?;
                let stream = connector.connect(name, tcp).await.map_err(tls_error)?;
                exchange_on(stream, request).await
            }
        }
    }
}

/// One request and its whole answer over `io`.
async fn exchange_on<IO>(io: IO, request: Request<Full<Bytes>>) -> Result<Reply, HttpError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    // The connection future does the I/O; it ends when the server closes after the answer.
    let connection = tokio::spawn(connection);
    let result = async {
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| HttpError::Body(e.to_string()))?
            .to_bytes();
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
    .await;
    connection.abort();
    result
}

/// rustls with the ring provider (named explicitly: the tree may hold a second provider, and
/// then rustls refuses to guess), the Mozilla root certificates and those of `ca_file`.
fn tls_connector(ca_file: Option<&Path>) -> Result<TlsConnector, HttpError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        add_pem_roots(&mut roots, path)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::TlsSetup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Adds every certificate of the PEM file at `path` as a trusted root.
fn add_pem_roots(roots: &mut RootCertStore, path: &Path) -> Result<(), HttpError> {
    let error = |message: String| HttpError::CaFile {
        path: path.display().to_string(),
        message,
    };
    let mut added = 0;
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| error(e.to_string()))? {
        let cert = cert.map_err(|e| error(e.to_string()))?;
        roots.add(cert).map_err(|e| error(e.to_string()))?;
        added += 1;
    }
    if added == 0 {
        return Err(error("no PEM certificate in it".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_parsed() {
        let t = Target::parse("http://127.0.0.1:3000").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.base_path.as_str()),
            (false, "127.0.0.1", 3000, "")
        );
        let t = Target::parse("https://api.example.com/svc/").unwrap();
        assert_eq!(
            (t.tls, t.port, t.authority.as_str(), t.base_path.as_str()),
            (true, 443, "api.example.com", "/svc")
        );
        let t = Target::parse("http://[::1]:8080/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
        assert_eq!(Target::parse("http://localhost").unwrap().port, 80);
    }

    #[test]
    fn other_urls_are_refused() {
        assert!(matches!(Target::parse("ftp://x"), Err(UrlError::Scheme(_))));
        for bad in ["127.0.0.1:3000", "", "http://", "http://h:0", "not a url"] {
            assert!(
                matches!(Target::parse(bad), Err(UrlError::Malformed(_))),
                "{bad}"
            );
        }
        for bad in ["http://u:p@h", "http://h/?x=1", "http://h/#top"] {
            assert!(
                matches!(Target::parse(bad), Err(UrlError::NotABase(_))),
                "{bad}"
            );
        }
    }
}
