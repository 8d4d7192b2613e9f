//! SMTP peers on loopback for the worker tests: a minimal server that answers slowly (to hold a
//! job in hand) or not at all (a hung server), and the real `aiosmtpd` from PyPI.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the test server behaves.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Accepts connections and never says a word: the client waits.
    Silent,
    /// A working server that waits this long before accepting each message.
    SlowAccept(Duration),
}

/// A small SMTP server on 127.0.0.1, in threads; lives until the test process ends.
pub struct TestSmtp {
    pub port: u16,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Messages whose DATA began.
    pub data_started: Arc<AtomicUsize>,
    /// Messages fully received (raw text).
    pub messages: Arc<Mutex<Vec<String>>>,
}

impl TestSmtp {
    pub fn start(mode: Mode) -> TestSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = TestSmtp {
            port,
            connections: Arc::new(AtomicUsize::new(0)),
            data_started: Arc::new(AtomicUsize::new(0)),
            messages: Arc::new(Mutex::new(Vec::new())),
        };
        let (connections, started, messages) = (
            Arc::clone(&server.connections),
            Arc::clone(&server.data_started),
            Arc::clone(&server.messages),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                connections.fetch_add(1, Ordering::SeqCst);
                let (started, messages) = (Arc::clone(&started), Arc::clone(&messages));
                std::thread::spawn(move || match mode {
                    Mode::Silent => {
                        // Hold the connection open without answering.
                        std::thread::sleep(Duration::from_secs(600));
                        drop(stream);
                    }
                    Mode::SlowAccept(delay) => {
                        let _ = converse(stream, delay, &started, &messages);
                    }
                });
            }
        });
        server
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }
}

fn converse(
    stream: TcpStream,
    delay: Duration,
    started: &AtomicUsize,
    messages: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 test-smtp ready\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let verb = line.trim_end().to_ascii_uppercase();
        if verb.starts_with("EHLO") || verb.starts_with("HELO") {
            out.write_all(b"250 test-smtp\r\n")?;
        } else if verb.starts_with("DATA") {
            started.fetch_add(1, Ordering::SeqCst);
            out.write_all(b"354 end with .\r\n")?;
            let mut message = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line.trim_end() == "." {
                    break;
                }
                message.push_str(&line);
            }
            std::thread::sleep(delay);
            messages.lock().expect("messages").push(message);
            out.write_all(b"250 queued\r\n")?;
        } else if verb.starts_with("QUIT") {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            out.write_all(b"250 ok\r\n")?;
        }
    }
}

/// The Python interpreter of the venv `scripts/test.sh` makes (with `aiosmtpd`), if present.
pub fn aiosmtpd_python() -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

/// A real `aiosmtpd` server on a free loopback port, saving each message as a file in `dir`;
/// the first `refuse_first` messages get a `451` (greylisting). Killed on drop.
pub struct Aiosmtpd {
    child: Child,
    pub port: u16,
}

impl Aiosmtpd {
    pub fn start(python: &Path, dir: &Path, refuse_first: u32) -> Aiosmtpd {
        Self::spawn(python, dir, refuse_first, "")
    }

    /// A server that answers `550 5.1.1 <address>: Recipient address rejected` to every
    /// recipient containing `reject`.
    pub fn start_rejecting(python: &Path, dir: &Path, reject: &str) -> Aiosmtpd {
        Self::spawn(python, dir, 0, reject)
    }

    fn spawn(python: &Path, dir: &Path, refuse_first: u32, reject: &str) -> Aiosmtpd {
        let port = crate::common::harness::free_port();
        let support = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/worker");
        let child = Command::new(python)
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "smtp_sink.Sink",
            ])
            .env("PYTHONPATH", support)
            .env("SINK_DIR", dir)
            .env("SINK_REFUSE_FIRST", refuse_first.to_string())
            .env("SINK_REJECT_RCPT", reject)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn aiosmtpd");
        let server = Aiosmtpd { child, port };
        crate::common::wait::wait_until("aiosmtpd to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        server
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
