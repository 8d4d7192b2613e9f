//! Throw-away certificates for the TLS tests, made with the `openssl` CLI (`scripts/test.sh`
//! installs it): a CA, a server certificate it signed for `127.0.0.1` and `localhost` (as
//! subject alternative names: rustls checks the name against those only), a client certificate
//! it signed (mutual TLS), and a second, unrelated CA (a client that trusts the wrong CA).
//! EC P-256 keys: quick to make, and OpenSSL (redis-server), Python's ssl (SecantusDB, the smoke
//! test's proxy) and rustls all take them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A test PKI in its own temporary folder.
pub struct Pki {
    dir: tempfile::TempDir,
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

    /// The folder holding every file: `ca.pem`, `server.pem`/`server.key`, `client.pem`/`client.key`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
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
