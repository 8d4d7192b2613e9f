//! A real MongoDB wire-protocol server for the tests: SecantusDB (`secantusd-py`, from PyPI;
//! `scripts/test.sh` installs it into `target/mongo-venv`). One server per test, on a free
//! loopback port, with its storage in a temporary folder of its own (so a restarted server keeps
//! its data and a killed one leaves nothing behind). Dropping a [`MongoServer`] kills it by PID
//! and reaps it. `SVC_TEST_SECANTUSD` overrides the executable.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use mongodb::bson::doc;
use mongodb::options::ClientOptions;

use crate::common::harness::free_port;
use crate::common::wait::{PATIENCE, holds_within, holds_within_async};

/// The database the tests' `svc api` uses (named in the URL's path).
pub const DATABASE: &str = "svc_test";

fn executable() -> PathBuf {
    if let Some(path) = std::env::var_os("SVC_TEST_SECANTUSD") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/mongo-venv/bin/secantusd-py")
}

pub struct MongoServer {
    pub port: u16,
    storage: tempfile::TempDir,
    child: Mutex<Option<Child>>,
    /// A folder with `server.pem`/`server.key`/`ca.pem` (see `common::tls`): the server speaks
    /// only TLS, and [`MongoServer::url`] asks for it with that CA.
    tls: Option<PathBuf>,
}

impl MongoServer {
    /// A server on a free port, started and answering.
    pub async fn start() -> MongoServer {
        MongoServer::start_with(None).await
    }

    /// A server that speaks only TLS, with the certificates in `certs` (see `common::tls`).
    pub async fn start_tls(certs: &std::path::Path) -> MongoServer {
        MongoServer::start_with(Some(certs.to_owned())).await
    }

    async fn start_with(tls: Option<PathBuf>) -> MongoServer {
        // Another process may take the port between our probe and the server's bind: retry.
        for _ in 0..3 {
            let mut server = MongoServer::reserve();
            server.tls = tls.clone();
            if server.run().await {
                return server;
            }
        }
        panic!("SecantusDB did not start on any of 3 ports");
    }

    /// A server that is not running yet, on a port free now (for "the server is down" tests;
    /// start it with [`MongoServer::run`]).
    pub fn reserve() -> MongoServer {
        MongoServer {
            port: free_port(),
            storage: tempfile::Builder::new()
                .prefix("svc-mongo")
                .tempdir()
                .expect("temp dir"),
            child: Mutex::new(None),
            tls: None,
        }
    }

    /// Starts the server on its port and storage; returns whether it answers a ping.
    pub async fn run(&self) -> bool {
        let exe = executable();
        assert!(
            exe.exists(),
            "{} is missing: run scripts/test.sh, or python3 -m venv target/mongo-venv && \
             target/mongo-venv/bin/pip install secantusdb==0.7.0b3",
            exe.display()
        );
        let mut command = Command::new(&exe);
        if let Some(certs) = &self.tls {
            command
                .arg("--tls-cert-file")
                .arg(certs.join("server.pem"))
                .arg("--tls-key-file")
                .arg(certs.join("server.key"));
        }
        let child = command
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--storage-path")
            .arg(self.storage.path())
            .args(["--standalone", "--log-level", "WARNING"])
            .stdin(Stdio::null())
            .stdout(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", exe.display()));
        *self.child.lock().unwrap() = Some(child);
        let client = self.client().await;
        holds_within_async(PATIENCE, || async {
            if self.exited() {
                return true;
            }
            client
                .database("admin")
                .run_command(doc! {"ping": 1})
                .await
                .is_ok()
        })
        .await;
        !self.exited()
    }

    /// Whether the server process has ended.
    fn exited(&self) -> bool {
        let mut child = self.child.lock().unwrap();
        match child.as_mut() {
            Some(c) => c.try_wait().expect("try_wait").is_some(),
            None => true,
        }
    }

    /// Stops the server (SIGTERM, so its storage is closed cleanly; SIGKILL after 10 s) and
    /// reaps it. Its port then refuses connections.
    pub fn stop(&self) {
        let Some(mut child) = self.child.lock().unwrap().take() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if !holds_within(PATIENCE, || child.try_wait().expect("try_wait").is_some()) {
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// The URL `svc api` is given (the database in the path; TLS with the test CA when the
    /// server speaks TLS).
    pub fn url(&self) -> String {
        let url = self.plain_url();
        match &self.tls {
            Some(certs) => format!(
                "{url}&tls=true&tlsCAFile={}",
                certs.join("ca.pem").display()
            ),
            None => url,
        }
    }

    /// The URL without any TLS option.
    pub fn plain_url(&self) -> String {
        format!(
            "mongodb://127.0.0.1:{}/{DATABASE}?directConnection=true",
            self.port
        )
    }

    /// A driver client for looking at the data (short timeouts: the server may be down).
    pub async fn client(&self) -> mongodb::Client {
        let mut options = ClientOptions::parse(self.url()).await.expect("test URL");
        options.server_selection_timeout = Some(Duration::from_millis(500));
        options.connect_timeout = Some(Duration::from_millis(500));
        mongodb::Client::with_options(options).expect("client")
    }

    /// The API's database.
    pub async fn database(&self) -> mongodb::Database {
        self.client().await.database(DATABASE)
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
