//! Spawns the real `svc api` binary for the integration tests: one process per [`App`], each in
//! its own temporary folder (its own `DATA_DIR`), on a port the kernel picks (`PORT=0`; the port
//! is read from the `listening` log line). A dropped [`App`] kills and reaps its process.
//! Set `TEST_LOG=1` to see the children's output.
//!
//! The store is a [`Backend`]: the embedded SQLite store, or MongoDB ([`mongo::MongoServer`], a
//! real wire-protocol server per test). [`backend_tests!`] runs a test body once on each, as
//! `sqlite::NAME` and `mongo::NAME`. The queue is the embedded one in both cases, so queue
//! checks (`App::db`, `SqliteQueue` over `App::data_dir`) work on either.

#![allow(dead_code)]

pub mod mongo;

use std::future::ready;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::harness::SVC;
use crate::common::wait::{PATIENCE, holds_within, holds_within_async};

/// The signing key of the MongoDB instances (required there; the embedded store makes its own).
pub const TEST_AUTH_SECRET: &str = "test-signing-key-0123456789abcdef0123456789";

/// The password of every account [`App::create_account`] makes.
pub const PASSWORD: &str = "correct horse battery";

/// Runs each named `async fn NAME(backend: Backend)` of the test file once per backend, as the
/// tests `sqlite::NAME` and `mongo::NAME` (every area sees it: `common` and `api` are
/// `#[macro_use]`).
#[allow(unused_macros)]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::common::api::Backend::sqlite()).await
                }
            )*
        }

        mod mongo {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::common::api::Backend::mongo().await).await
                }
            )*
        }
    };
}

/// The store a test's `svc api` uses. Cheap to clone: instances started from clones share it.
#[derive(Clone)]
pub enum Backend {
    /// The embedded store in the instance's `DATA_DIR`.
    Sqlite,
    /// MongoDB: `DB_URL` points at this server.
    Mongo(Arc<mongo::MongoServer>),
}

impl Backend {
    pub fn sqlite() -> Self {
        Backend::Sqlite
    }

    /// A fresh MongoDB server for this test.
    pub async fn mongo() -> Self {
        Backend::Mongo(Arc::new(mongo::MongoServer::start().await))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Mongo(_) => "mongo",
        }
    }

    /// How to start an instance on this backend.
    pub fn spawn(&self) -> Spawn {
        let spawn = Spawn::new();
        match self {
            Backend::Sqlite => spawn,
            Backend::Mongo(server) => Spawn {
                backend: self.clone(),
                ..spawn
                    .env("DB_URL", &server.url())
                    .env("AUTH_SECRET", TEST_AUTH_SECRET)
            },
        }
    }

    /// Makes the database unusable for the running instances (SQLite: the products table goes
    /// away; MongoDB: the server stops).
    pub async fn break_database(&self, app: &App) {
        match self {
            Backend::Sqlite => app
                .db()
                .execute_batch("ALTER TABLE products RENAME TO products_away;")
                .expect("rename"),
            Backend::Mongo(server) => server.stop(),
        }
    }

    /// Undoes [`Backend::break_database`].
    pub async fn repair_database(&self, app: &App) {
        match self {
            Backend::Sqlite => app
                .db()
                .execute_batch("ALTER TABLE products_away RENAME TO products;")
                .expect("rename back"),
            Backend::Mongo(server) => assert!(server.run().await, "the server restarts"),
        }
    }
}

/// How to start an [`App`].
pub struct Spawn {
    env: Vec<(String, String)>,
    data_dir: Option<PathBuf>,
    backend: Backend,
    /// On MongoDB, [`Spawn::start`] also waits for `/ready` (the store connects after the
    /// start), unless a test wants the instance before that.
    wait_ready: bool,
}

impl Spawn {
    /// An instance on the embedded store.
    pub fn new() -> Self {
        Spawn {
            env: Vec::new(),
            data_dir: None,
            backend: Backend::Sqlite,
            wait_ready: true,
        }
    }

    /// Sets (or overrides) one environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Returns from [`Spawn::start`] once listening, without waiting for the database.
    pub fn unready(mut self) -> Self {
        self.wait_ready = false;
        self
    }

    /// Shares a data folder with another instance.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_owned());
        self
    }

    /// Starts the process and waits for its `listening` line.
    pub async fn start(self) -> App {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| tmp.path().join("data"));
        let mut child = self
            .command(tmp.path(), &data_dir)
            .spawn()
            .expect("spawn svc api");
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        pump(child.stdout.take().expect("stdout"), lines.clone(), "out");
        pump_text(child.stderr.take().expect("stderr"), stderr.clone());
        let mut app = App {
            child,
            port: 0,
            env: self.env.clone(),
            token: Mutex::new(None),
            data_dir,
            backend: self.backend.clone(),
            lines,
            stderr,
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            exit: None,
            _tmp: tmp,
        };
        let listening = app.wait_for_log(|line| line["msg"] == "listening").await;
        let Some(line) = listening else {
            let exit = app.child.try_wait().ok().flatten();
            panic!(
                "svc api did not start (exit {exit:?}); stdout: {:?}; stderr: {}",
                app.logs(),
                app.stderr()
            );
        };
        app.port = u16::try_from(line["port"].as_u64().expect("port")).expect("port");
        if self.wait_ready && matches!(self.backend, Backend::Mongo(_)) {
            assert!(
                app.becomes_ready().await,
                "svc api never got ready: {:?}",
                app.logs()
            );
        }
        app
    }

    /// Runs the process to its end (for settings that must refuse to start).
    pub fn run_to_exit(self) -> (ExitStatus, String) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("data");
        let mut child = self
            .command(tmp.path(), &data_dir)
            .spawn()
            .expect("spawn svc api");
        let mut status = None;
        if !holds_within(PATIENCE, || {
            status = child.try_wait().expect("wait");
            status.is_some()
        }) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("svc api did not exit");
        }
        let status = status.expect("the wait ended when svc api exited");
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        (status, stderr)
    }

    fn command(&self, cwd: &Path, data_dir: &Path) -> Command {
        let mut command = Command::new(SVC);
        command
            .arg("api")
            .env_clear()
            .current_dir(cwd)
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("DATA_DIR", data_dir)
            .env("LOG_LEVEL", "info")
            .env("RATE_LIMIT", "1000000/1h")
            .env("AUTH_RATE_LIMIT", "1000000/1h")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }
}

/// A short unique string for test emails.
pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// Reads `pipe` line by line into `lines` (echoed when TEST_LOG is set).
fn pump(
    pipe: impl std::io::Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
    tag: &'static str,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if std::env::var_os("TEST_LOG").is_some() {
                eprintln!("[svc api {tag}] {line}");
            }
            lines.lock().unwrap().push(line);
        }
    });
}

fn pump_text(pipe: impl std::io::Read + Send + 'static, text: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if std::env::var_os("TEST_LOG").is_some() {
                eprintln!("[svc api err] {line}");
            }
            let mut text = text.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
}

/// A running `svc api`.
pub struct App {
    child: Child,
    pub port: u16,
    /// The variables the instance was started with beyond the defaults (for `svc user`).
    env: Vec<(String, String)>,
    /// Sent as `Authorization: Bearer` with every request made through [`App::request`] once
    /// set ([`App::act_as_admin`]).
    token: Mutex<Option<String>>,
    pub data_dir: PathBuf,
    pub backend: Backend,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    pub client: reqwest::Client,
    exit: Option<ExitStatus>,
    _tmp: tempfile::TempDir,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON (panics with the text when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Checks the error shape and returns the body.
    pub fn error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "status of {:?}", self.text);
        let body = self.json();
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(body["code"], code, "{body}");
        for key in ["message", "timestamp", "path", "requestId"] {
            assert!(body[key].is_string(), "{key} missing in {body}");
        }
        assert_eq!(
            body["requestId"].as_str(),
            self.header("x-request-id"),
            "{body}"
        );
        body
    }

    /// The `field`s of the error's `details`.
    pub fn detail_fields(&self) -> Vec<String> {
        self.json()["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A request, with the bearer token of [`App::act_as_admin`] if one was set.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.anonymous(method, path);
        match self.token.lock().unwrap().as_deref() {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// A request without any token.
    pub fn anonymous(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request with `token` as its bearer token.
    pub fn with_token(&self, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.anonymous(method, path).bearer_auth(token)
    }

    /// Runs `svc user ARGS` against this instance's database (its `DATA_DIR`, `DB_URL`), with
    /// `stdin` as its input; returns (exit code, stdout, stderr).
    pub fn svc_user(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut command = Command::new(SVC);
        command
            .arg("user")
            .args(args)
            .env_clear()
            .env("DATA_DIR", &self.data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn svc user");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), stdin.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("svc user");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Makes an account with [`PASSWORD`] (an administrator through `svc user create --admin`,
    /// else a sign-up) and returns its id.
    pub async fn create_account(&self, email: &str, admin: bool) -> String {
        if admin {
            let (code, out, err) = self.svc_user(
                &[
                    "create",
                    "--email",
                    email,
                    "--name",
                    "Admin",
                    "--admin",
                    "--password-stdin",
                ],
                PASSWORD,
            );
            assert_eq!(code, 0, "svc user create: {out} {err}");
            out.rsplit("(id ")
                .next()
                .unwrap()
                .trim()
                .trim_end_matches(')')
                .to_owned()
        } else {
            let body = serde_json::json!({"name": "User", "email": email, "password": PASSWORD});
            let created = self
                .send(self.anonymous(Method::POST, "/api/users").json(&body))
                .await;
            assert_eq!(created.status, 201, "{}", created.text);
            created.json()["data"]["id"].as_str().unwrap().to_owned()
        }
    }

    /// Logs `email` in with [`PASSWORD`]; returns the response's `data`.
    pub async fn login(&self, email: &str) -> Value {
        let body = serde_json::json!({"email": email, "password": PASSWORD});
        let response = self
            .send(self.anonymous(Method::POST, "/api/auth/login").json(&body))
            .await;
        assert_eq!(response.status, 200, "login: {}", response.text);
        response.json()["data"].clone()
    }

    /// A new account (`admin` or not), logged in: its id and access token.
    pub async fn account(&self, email: &str, admin: bool) -> (String, String) {
        let id = self.create_account(email, admin).await;
        let token = self.login(email).await["accessToken"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, token)
    }

    /// From now on, [`App::request`] (and so `get`, `post`, …) acts as a fresh administrator.
    pub async fn act_as_admin(&self) -> String {
        let email = format!("admin-{}@example.com", uuid_like());
        let (_, token) = self.account(&email, true).await;
        *self.token.lock().unwrap() = Some(token.clone());
        token
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        Resp {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(self.request(Method::PATCH, path).json(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// A raw body with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        let mut request = self.request(Method::POST, path).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.send(request).await
    }

    /// Every stdout line so far, parsed (non-JSON lines become strings).
    pub fn logs(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| Value::String(l.clone())))
            .collect()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Whether `/ready` answers 200 within [`PATIENCE`].
    pub async fn becomes_ready(&self) -> bool {
        holds_within_async(PATIENCE, || async {
            self.get("/ready").await.status == 200
        })
        .await
    }

    /// Waits for a log line matching `matches`.
    pub async fn wait_for_log(&self, mut matches: impl FnMut(&Value) -> bool) -> Option<Value> {
        let mut found = None;
        holds_within_async(PATIENCE, || {
            found = self.logs().into_iter().find(|l| matches(l));
            ready(found.is_some())
        })
        .await;
        found
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal).expect("kill");
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        let child = &mut self.child;
        let mut status = None;
        holds_within_async(PATIENCE, || {
            status = child.try_wait().expect("try_wait");
            ready(status.is_some())
        })
        .await;
        let status = status.expect("svc api did not exit");
        self.exit = Some(status);
        status
    }

    /// The stored password hash of user `id`, read from the backend's database.
    pub async fn password_hash(&self, id: &str) -> String {
        match &self.backend {
            Backend::Sqlite => self
                .db()
                .query_row("SELECT password_hash FROM users WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .expect("user row"),
            Backend::Mongo(server) => {
                let oid = mongodb::bson::oid::ObjectId::parse_str(id).expect("object id");
                let user = server
                    .database()
                    .await
                    .collection::<mongodb::bson::Document>("users")
                    .find_one(mongodb::bson::doc! {"_id": oid})
                    .await
                    .expect("read user")
                    .expect("user document");
                user.get_str("passwordHash")
                    .expect("passwordHash")
                    .to_owned()
            }
        }
    }

    /// Stores a product the API could never have written (an id that is no ObjectId).
    pub async fn insert_corrupt_product(&self) {
        match &self.backend {
            Backend::Sqlite => {
                self.db()
                    .execute(
                        "INSERT INTO products (id, title, price, tags, stock, search_text, created_at, updated_at) \
                         VALUES ('not-an-object-id', 'bad', 1, '[]', 0, 'bad', 1, 1)",
                        [],
                    )
                    .expect("insert");
            }
            Backend::Mongo(server) => {
                let at = mongodb::bson::DateTime::from_millis(1);
                server
                    .database()
                    .await
                    .collection::<mongodb::bson::Document>("products")
                    .insert_one(mongodb::bson::doc! {
                        "_id": "not-an-object-id", "title": "bad", "price": 1.0, "tags": [],
                        "stock": 0_i64, "searchText": "bad", "createdAt": at, "updatedAt": at,
                        "deletedAt": null,
                    })
                    .await
                    .expect("insert");
            }
        }
    }

    /// The SQLite file in `DATA_DIR`: the embedded queue's (and, on the embedded backend, the
    /// store's) database.
    pub fn db(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(self.data_dir.join("svc.db")).expect("open db");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        conn
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
