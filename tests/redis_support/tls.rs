//! Throw-away certificates for the TLS tests, made with the `openssl` CLI (`scripts/test.sh`
//! installs it): a CA, a server certificate it signed for `127.0.0.1` and `localhost` (as
//! subject alternative names: rustls checks the name against those only), a client certificate
//! it signed (mutual TLS), and a second, unrelated CA (a client that trusts the wrong CA).
//! EC P-256 keys: quick to make, and both OpenSSL (redis-server) and rustls take them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A test PKI in its own temporary folder.
pub struct Pki {
    dir: tempfile::TempDir,
}

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
    /// Makes every certificate (a second or so).
    pub fn new() -> Self {
        let pki = Pki {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        pki.make_ca("ca", "svc test CA");
        pki.make_ca("other-ca", "an unrelated CA");
        pki.make_signed(
            "server",
            "localhost",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        );
        pki.make_signed("client", "svc test client", "extendedKeyUsage=clientAuth\n");
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA that signed the server's and the client's certificates.
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// A CA that signed neither.
    pub fn other_ca(&self) -> PathBuf {
        self.path("other-ca.pem")
    }

    pub fn client_cert(&self) -> PathBuf {
        self.path("client.pem")
    }

    pub fn client_key(&self) -> PathBuf {
        self.path("client.key")
    }

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

    fn make_ca(&self, name: &str, subject: &str) {
        openssl(
            self.dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN={subject}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }

    /// A key and a certificate signed by `ca` with `extensions` (plus those of an end entity).
    fn make_signed(&self, name: &str, subject: &str, extensions: &str) {
        let dir = self.dir.path();
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={subject}"),
            ],
        );
        let ext = format!("{name}.ext");
        std::fs::write(
            dir.join(&ext),
            format!(
                "{extensions}basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            ),
        )
        .expect("write the extensions");
        let serial = format!("0x{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &serial,
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
