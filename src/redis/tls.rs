//! The files behind `rediss://`: a private CA to trust (`REDIS_TLS_CA_FILE`) and a client
//! certificate + key for mutual TLS (`REDIS_TLS_CERT_FILE`, `REDIS_TLS_KEY_FILE`), all PEM.
//!
//! They are read and checked once, when the configuration is read, so a missing file, a file
//! that holds no certificate, a key rustls cannot use or a key that does not belong to its
//! certificate stops the start naming the variable and the path — instead of every connection
//! failing later with a handshake error. The redis crate receives the PEM bytes
//! ([`TlsFiles::certificates`]) and builds its rustls configuration from them on each connect.
//!
//! Without `REDIS_TLS_CA_FILE` the server certificate is checked against the Mozilla roots
//! compiled into the binary (`webpki-roots`, the redis crate's `tls-rustls-webpki-roots`): the
//! same trust store as the MongoDB driver's and the SMTP transport's, and one that does not
//! depend on the image having a CA bundle. With it, only the CAs in that file are trusted (point
//! it at `/etc/ssl/certs/ca-certificates.crt` to use the system's).

use std::path::{Path, PathBuf};

use redis::{ClientTlsConfig, TlsCertificates};
use tokio_rustls::rustls::RootCertStore;
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::sign::CertifiedKey;

/// Variable naming the CA bundle to trust instead of the built-in roots.
pub const CA_FILE: &str = "REDIS_TLS_CA_FILE";
/// Variable naming the client certificate (chain) for mutual TLS.
pub const CERT_FILE: &str = "REDIS_TLS_CERT_FILE";
/// Variable naming the client certificate's private key.
pub const KEY_FILE: &str = "REDIS_TLS_KEY_FILE";

/// A PEM file as read at start: its path (for messages) and its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PemFile {
    pub path: PathBuf,
    pem: Vec<u8>,
}

impl std::fmt::Debug for PemFile {
    // The path only: a key file's bytes are a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())
    }
}

/// The client's identity for mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub cert: PemFile,
    pub key: PemFile,
}

/// The TLS material of a `rediss://` connection; empty means the built-in roots and no client
/// certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<PemFile>,
    pub identity: Option<Identity>,
}

impl TlsFiles {
    /// Whether any file was given.
    pub fn is_empty(&self) -> bool {
        self.ca.is_none() && self.identity.is_none()
    }

    /// The material in the redis crate's form.
    pub fn certificates(&self) -> TlsCertificates {
        TlsCertificates {
            client_tls: self.identity.as_ref().map(|id| ClientTlsConfig {
                client_cert: id.cert.pem.clone(),
                client_key: id.key.pem.clone(),
            }),
            root_cert: self.ca.as_ref().map(|ca| ca.pem.clone()),
        }
    }
}

/// Reads `path` as a CA bundle: at least one certificate, each usable as a trust anchor.
///
/// # Errors
/// What is wrong, naming the path (the caller names the variable).
pub fn read_ca(path: &Path) -> Result<PemFile, String> {
    let file = read(path)?;
    let mut roots = RootCertStore::empty();
    for cert in certificates(&file)? {
        roots.add(cert).map_err(|e| {
            format!(
                "{} holds a certificate that cannot be a trust anchor ({e})",
                path.display()
            )
        })?;
    }
    Ok(file)
}

/// Reads the client certificate and its key, and checks that they belong together.
///
/// # Errors
/// `(variable, message)`: which file is wrong and why.
pub fn read_identity(cert: &Path, key: &Path) -> Result<Identity, (&'static str, String)> {
    let cert_file = read(cert).map_err(|e| (CERT_FILE, e))?;
    let chain = certificates(&cert_file).map_err(|e| (CERT_FILE, e))?;
    let key_file = read(key).map_err(|e| (KEY_FILE, e))?;
    let der = PrivateKeyDer::from_pem_slice(&key_file.pem).map_err(|e| {
        (
            KEY_FILE,
            format!("{} holds no usable PEM private key ({e})", key.display()),
        )
    })?;
    CertifiedKey::from_der(chain, der, &default_provider()).map_err(|e| {
        (
            KEY_FILE,
            format!(
                "{} is not a key for the certificate in {} ({e})",
                key.display(),
                cert.display()
            ),
        )
    })?;
    Ok(Identity {
        cert: cert_file,
        key: key_file,
    })
}

fn read(path: &Path) -> Result<PemFile, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {} ({e})", path.display()))?;
    Ok(PemFile {
        path: path.to_owned(),
        pem,
    })
}

/// Every certificate in a PEM file; at least one.
fn certificates(file: &PemFile) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(&file.pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not valid PEM ({e})", file.path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            file.path.display()
        ));
    }
    Ok(certs)
}

/// Whether `error` (or an error it wraps) is a TLS failure: a certificate the client does not
/// trust, a name that does not match, a client certificate the server refused. Used to make
/// such errors say "TLS" and point at the variables, since they will not go away by retrying.
pub fn is_tls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    use std::error::Error;
    use std::io;
    use std::sync::Arc;
    let mut current: Option<&(dyn Error + 'static)> = Some(error);
    // Bounded: error chains are short, and a cycle must not hang the caller.
    for _ in 0..16 {
        let Some(err) = current else { return false };
        if err.is::<tokio_rustls::rustls::Error>() {
            return true;
        }
        // The redis crate keeps its cause as an `Arc<dyn Error>`, and `io::Error::source` skips
        // the error an `io::Error` wraps: step into both explicitly.
        current = if let Some(shared) = err.downcast_ref::<Arc<dyn Error + Send + Sync>>() {
            Some(shared.as_ref() as &(dyn Error + 'static))
        } else if let Some(inner) = err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner as &(dyn Error + 'static))
        } else {
            err.source()
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = read_ca(&missing).unwrap_err();
        assert!(
            err.contains("cannot read") && err.contains("nope.pem"),
            "{err}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = read_ca(&empty).unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
        let (var, err) = read_identity(&empty, &missing).unwrap_err();
        assert_eq!(var, CERT_FILE, "{err}");
    }

    #[test]
    fn a_key_file_never_shows_its_bytes() {
        let file = PemFile {
            path: "/run/secrets/redis.key".into(),
            pem: b"-----BEGIN PRIVATE KEY-----\nSECRET\n".to_vec(),
        };
        let shown = format!(
            "{:?}",
            TlsFiles {
                ca: None,
                identity: Some(Identity {
                    cert: file.clone(),
                    key: file
                })
            }
        );
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("/run/secrets/redis.key"), "{shown}");
    }

    #[test]
    fn rustls_errors_are_found_inside_io_errors() {
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            tokio_rustls::rustls::Error::DecryptError,
        );
        assert!(is_tls_error(&tls));
        let shared: std::sync::Arc<dyn std::error::Error + Send + Sync> =
            std::sync::Arc::new(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                tokio_rustls::rustls::Error::DecryptError,
            ));
        assert!(is_tls_error(&shared));
        let plain = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!is_tls_error(&plain));
    }
}
