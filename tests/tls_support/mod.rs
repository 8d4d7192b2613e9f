//! Throwaway certificates for the TLS tests, made with the `openssl` CLI (`scripts/test.sh`
//! installs it): a CA, a server certificate for `127.0.0.1` (and `localhost`) it signed, and a
//! client certificate for mutual TLS. P-256 keys, valid two days.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

const EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `ca.pem` + `ca.key`, and `server.pem` + `server.key` (for `127.0.0.1` and
/// `localhost`), signed by that CA, into `dir`.
pub fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            &["req", "-x509", "-days", "2", "-subj", "/CN=svc test CA"][..],
            &EC_KEY,
            &["-keyout", "ca.key", "-out", "ca.pem"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
    );
    signed(
        dir,
        "server",
        "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
}

/// Writes `client.pem` + `client.key`, signed by the CA [`certificates`] made in `dir`.
pub fn client_certificate(dir: &Path) {
    signed(
        dir,
        "client",
        "/CN=svc test client",
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    );
}

/// `<name>.pem` + `<name>.key` for `subject`, with the extensions in `ext`, signed by the CA.
fn signed(dir: &Path, name: &str, subject: &str, ext: &str) {
    let (key, csr, pem, ext_file) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    openssl(
        dir,
        &[
            &["req", "-subj", subject][..],
            &EC_KEY,
            &["-keyout", &key, "-out", &csr],
        ]
        .concat(),
    );
    std::fs::write(dir.join(&ext_file), ext).expect("write the extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-extfile",
            &ext_file,
        ],
    );
}
