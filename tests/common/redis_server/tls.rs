//! A TLS-only `redis-server`'s settings, from the test PKI (`common::tls`).

use std::path::{Path, PathBuf};

pub use crate::common::tls::Pki;

/// What a TLS `redis-server` needs: its certificate, key, the CA for client certificates, and
/// whether it requires them. Cloneable, so a restarted server gets the same.
#[derive(Clone)]
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    require_client_cert: bool,
}

impl ServerTls {
    /// redis-server's TLS arguments.
    pub fn args(&self) -> Vec<String> {
        let path = |p: &Path| p.display().to_string();
        vec![
            "--tls-cert-file".into(),
            path(&self.cert),
            "--tls-key-file".into(),
            path(&self.key),
            "--tls-ca-cert-file".into(),
            path(&self.ca),
            "--tls-auth-clients".into(),
            if self.require_client_cert {
                "yes"
            } else {
                "no"
            }
            .into(),
        ]
    }

    /// What the tests' own client presents: the CA, and the client certificate.
    pub fn client_certificates(&self) -> redis::TlsCertificates {
        let read = |p: &Path| std::fs::read(p).expect("read a test certificate");
        redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: read(&self.client_cert),
                client_key: read(&self.client_key),
            }),
            root_cert: Some(read(&self.ca)),
        }
    }
}

impl Pki {
    pub fn server_tls(&self, require_client_cert: bool) -> ServerTls {
        ServerTls {
            cert: self.path("server.pem"),
            key: self.path("server.key"),
            ca: self.ca(),
            client_cert: self.client_cert(),
            client_key: self.client_key(),
            require_client_cert,
        }
    }
}
