//! The HTTP abuse list, against the real `svc api` binary: malformed JSON, deep
//! nesting, huge numbers, NaN/Infinity, wrong types, `$`-operators in bodies and query
//! parameters, pathological search strings, invalid ids, unicode and control characters, a
//! request id with CR/LF sent raw, out-of-range pages, 10,000 query parameters, and slow-loris
//! clients (slow headers, slow bodies, silent connections), and hostile credentials and tokens
//! (forged, `alg: none`, huge or non-UTF-8 Authorization headers, operator objects in logins).
//!
//! Each attack must get its documented 4xx (docs/API.md) or be cut off by a timeout, and while
//! it runs a watcher keeps asking `/health` on other connections: every one of those must be
//! answered. Nothing here asserts speed; the timeouts are checked with a wide margin.

use crate::common::api;

use std::time::{Duration, Instant};

use api::{App, Resp, Spawn};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Asks `/health` over fresh connections until stopped; every answer must be a 200.
struct HealthWatch {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<(u64, Vec<String>)>,
}

impl HealthWatch {
    fn start(port: u16) -> Self {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client");
            let url = format!("http://127.0.0.1:{port}/health");
            let (mut ok, mut failures) = (0u64, Vec::new());
            while !token.is_cancelled() {
                match client.get(&url).send().await {
                    Ok(resp) if resp.status() == 200 => ok += 1,
                    Ok(resp) => failures.push(format!("status {}", resp.status())),
                    Err(error) => failures.push(error.to_string()),
                }
                tokio::select! {
                    () = token.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_millis(25)) => {}
                }
            }
            (ok, failures)
        });
        HealthWatch { stop, task }
    }

    /// Stops the watcher; fails the test unless every health check was answered.
    async fn finish(self, what: &str) {
        self.stop.cancel();
        let (ok, failures) = self.task.await.expect("watcher");
        assert!(
            failures.is_empty(),
            "{what}: /health failed meanwhile: {failures:?}"
        );
        assert!(ok > 0, "{what}: no health check ran");
        eprintln!("FIGURE abuse {what}: {ok} health checks answered meanwhile, 0 failed");
    }
}

async fn json_post(app: &App, path: &str, body: impl Into<reqwest::Body>) -> Resp {
    app.post_raw(path, Some("application/json"), body).await
}

/// One raw exchange: writes `request`, reads until the server closes or `limit` passes.
async fn raw(port: u16, request: &[u8], limit: Duration) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.write_all(request).await.expect("write");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// The header `name` of a raw response, if present.
fn raw_header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response
        .split("\r\n\r\n")
        .next()?
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

#[tokio::test]
async fn hostile_bodies_get_400_naming_the_body_or_the_field() {
    // A body limit large enough for 100,000 brackets, so the nesting itself is what is refused.
    let app = Spawn::new().env("BODY_LIMIT", "200kb").start().await;
    app.act_as_admin().await;
    let watch = HealthWatch::start(app.port);

    let malformed: &[&[u8]] = &[
        b"{",
        b"{\"title\": ,}",
        b"{\"title\":\"t\",\"price\":1,}",
        b"{'title':'t'}",
        b"{\"title\":\"t\"\"price\":1}",
        b"\xff\xfe{}",
        b"{\"title\":\"\xc3\x28\",\"price\":1}",
        b"{\"title\":\"\\ud800\",\"price\":1}",
        b"\xef\xbb\xbf{\"title\":\"t\",\"price\":1}",
        b"{\"title\":\"t\",\"price\":NaN}",
        b"{\"title\":\"t\",\"price\":Infinity}",
        b"{\"title\":\"t\",\"price\":-Infinity}",
        b"{\"title\":\"t\",\"price\":1e309}",
        b"{\"title\":\"t\",\"price\":-1e400}",
        b"{\"title\":\"t\",\"price\":0x10}",
        b"",
    ];
    for body in malformed {
        let resp = json_post(&app, "/api/products", body.to_vec()).await;
        resp.error(400, "VALIDATION_ERROR");
        assert_eq!(
            resp.detail_fields(),
            ["body"],
            "{:?}",
            String::from_utf8_lossy(body)
        );
        assert!(resp.text.contains("position"), "{}", resp.text);
    }

    // Deep nesting: 100,000 brackets (of arrays and of objects) are refused, not recursed into.
    for deep in [
        "[".repeat(100_000),
        "{\"a\":".repeat(20_000),
        format!(
            "{{\"title\":{}1{},\"price\":1}}",
            "[".repeat(1000),
            "]".repeat(1000)
        ),
    ] {
        let resp = json_post(&app, "/api/products", deep).await;
        resp.error(400, "VALIDATION_ERROR");
        assert_eq!(resp.detail_fields(), ["body"]);
    }
    // Nesting within serde's limit reaches the validator, which names the field.
    let nested = format!(
        "{{\"title\":{}\"t\"{},\"price\":1}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let resp = json_post(&app, "/api/products", nested).await;
    resp.error(400, "VALIDATION_ERROR");
    assert_eq!(resp.detail_fields(), ["title"]);

    // Huge numbers that JSON can hold but the fields cannot.
    let cases = [
        (json!({"title": "t", "price": 1e308}), "price"),
        (
            json!({"title": "t", "price": 1, "stock": 9_223_372_036_854_775_807_i64}),
            "stock",
        ),
        (
            json!({"title": "t", "price": 1, "stock": u64::MAX}),
            "stock",
        ),
        (json!({"title": "t", "price": -0.000001}), "price"),
        (json!({"title": "t", "price": 1, "stock": 1.5}), "stock"),
    ];
    for (body, field) in cases {
        let resp = app.post("/api/products", &body).await;
        resp.error(400, "VALIDATION_ERROR");
        assert_eq!(resp.detail_fields(), [field], "{body}");
    }
    let resp = json_post(
        &app,
        "/api/products",
        "{\"title\":\"t\",\"price\":123456789012345678901234567890}",
    )
    .await;
    resp.error(400, "VALIDATION_ERROR");
    assert_eq!(resp.detail_fields(), ["price"]);

    // Wrong types are refused, never coerced; every field is named at once.
    let resp = app
        .post(
            "/api/products",
            &json!({"title": 5, "price": "10", "tags": "a", "stock": "3", "brand": [], "category": {}}),
        )
        .await;
    resp.error(400, "VALIDATION_ERROR");
    let mut fields = resp.detail_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["brand", "category", "price", "stock", "tags", "title"]
    );
    for body in [json!([]), json!("x"), json!(1), json!(null), json!(true)] {
        let resp = app.post("/api/products", &body).await;
        resp.error(400, "VALIDATION_ERROR");
        assert_eq!(resp.detail_fields(), ["body"], "{body}");
    }

    // `$`-operators in keys and values: refused by name.
    let resp = app
        .post(
            "/api/products",
            &json!({"$set": {"price": 0}, "title": {"$ne": ""}, "price": {"$gt": 0}}),
        )
        .await;
    resp.error(400, "VALIDATION_ERROR");
    let mut fields = resp.detail_fields();
    fields.sort();
    assert_eq!(fields, ["$set", "price", "title"]);
    let resp = app
        .post(
            "/api/users",
            &json!({"name": "a", "email": {"$ne": null}, "password": {"$regex": ".*"}}),
        )
        .await;
    resp.error(400, "VALIDATION_ERROR");
    assert_eq!(resp.detail_fields(), ["email", "password"]);

    // Unicode is data; control characters, bidi overrides and zero-width characters in a name
    // (a header of the welcome email, shown to people) are not.
    let resp = app
        .post(
            "/api/users",
            &json!({"name": "Ann\r\nBcc: all@evil.example", "email": "ann@example.com", "password": "correct horse"}),
        )
        .await;
    resp.error(400, "VALIDATION_ERROR");
    assert_eq!(resp.detail_fields(), ["name"]);
    for name in ["Zoë \u{202e}nneA", "Ann\u{200b}", "=?utf-8?b?QWRtaW4=?="] {
        let resp = app
            .post(
                "/api/users",
                &json!({"name": name, "email": "zoe@example.com", "password": "pässwörd🙂"}),
            )
            .await;
        resp.error(400, "VALIDATION_ERROR");
        assert_eq!(resp.detail_fields(), ["name"], "{name:?}");
    }
    let resp = app
        .post(
            "/api/users",
            &json!({"name": "Zoë 🙂 O'Brien 張", "email": "zoe@example.com", "password": "pässwörd🙂"}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    assert_eq!(resp.json()["data"]["name"], "Zoë 🙂 O'Brien 張");
    let title = "🙂".repeat(200);
    let resp = app
        .post("/api/products", &json!({"title": title, "price": 1}))
        .await;
    assert_eq!(resp.status, 201, "200 characters, 800 bytes: {}", resp.text);
    let resp = app
        .post(
            "/api/products",
            &json!({"title": "🙂".repeat(201), "price": 1}),
        )
        .await;
    resp.error(400, "VALIDATION_ERROR");
    assert_eq!(resp.detail_fields(), ["title"]);

    watch.finish("hostile bodies").await;
}

#[tokio::test]
async fn hostile_query_strings_get_400_naming_the_parameter_and_search_is_literal() {
    let app = Spawn::new().start().await;
    app.act_as_admin().await;
    for title in [
        "50% off",
        "a_b",
        "axb",
        "a.*b",
        "(a+)+$",
        "back\\slash",
        "plain",
    ] {
        let resp = app
            .post("/api/products", &json!({"title": title, "price": 1}))
            .await;
        assert_eq!(resp.status, 201, "{}", resp.text);
    }
    let watch = HealthWatch::start(app.port);
    let titles = |resp: &Resp| -> Vec<String> {
        let mut t: Vec<String> = resp.json()["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|p| p["title"].as_str().unwrap_or("").to_owned())
            .collect();
        t.sort();
        t
    };

    // LIKE wildcards and regex metacharacters match themselves.
    for (search, expected) in [
        ("%25", vec!["50% off"]),
        ("_", vec!["a_b"]),
        ("a_b", vec!["a_b"]),
        ("a.*b", vec!["a.*b"]),
        (".*", vec!["a.*b"]),
        ("(a%2B)%2B%24", vec!["(a+)+$"]),
        ("%5C", vec!["back\\slash"]),
        ("%5B", vec![]),
        ("%5E.*%24", vec![]),
        ("%25%25", vec![]),
        (
            "(((((((((((((((((((((((a*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*",
            vec![],
        ),
    ] {
        let resp = app.get(&format!("/api/products?search={search}")).await;
        assert_eq!(resp.status, 200, "search={search}: {}", resp.text);
        assert_eq!(titles(&resp), expected, "search={search}");
    }

    // Operators in brackets, control characters, bad numbers: 400 naming the parameter.
    for (query, field) in [
        ("category[$ne]=x", "category[$ne]"),
        ("price[$ne]=1", "price[$ne]"),
        ("price[$gt]=0", "price[$gt]"),
        ("search[$regex]=.*", "search[$regex]"),
        ("brand[$where]=1", "brand[$where]"),
        ("title[$exists]=true", "title[$exists]"),
        ("search=a%00b", "search"),
        ("search=a%0D%0Ab", "search"),
        ("page=1e309", "page"),
        ("page=9223372036854775808", "page"),
        ("page=18446744073709551616", "page"),
        ("page=-1", "page"),
        ("page=NaN", "page"),
        ("page=Infinity", "page"),
        ("page=0x10", "page"),
        ("page=%EF%BC%91", "page"),
        ("limit=1e2", "limit"),
        ("minPrice=1e309", "minPrice"),
        ("minPrice=NaN", "minPrice"),
        ("maxPrice=Infinity", "maxPrice"),
        ("price[gte]=9", ""),
        ("sort=%24natural", "sort"),
        ("fields=password", "fields"),
    ] {
        let resp = app.get(&format!("/api/products?{query}")).await;
        if field.is_empty() {
            assert_eq!(resp.status, 200, "{query}: {}", resp.text);
            continue;
        }
        resp.error(400, "VALIDATION_ERROR");
        assert_eq!(resp.detail_fields(), [field], "{query}");
    }
    for query in ["page=1e309", "page=9223372036854775808", "limit=-0"] {
        let resp = app.get(&format!("/api/users?{query}")).await;
        resp.error(400, "VALIDATION_ERROR");
    }

    // 10,000 parameters, distinct or all the same: one error naming `query` (sent raw: the
    // client library refuses URLs this long). Past 64 KiB the HTTP layer answers 414 itself.
    for (many, status) in [
        (
            (0..10_000)
                .map(|i| format!("p{i}"))
                .collect::<Vec<_>>()
                .join("&"),
            400,
        ),
        (vec!["page"; 10_000].join("&"), 400),
        (vec!["a=1"; 10_000].join("&"), 400),
        (
            (0..10_000)
                .map(|i| format!("p{i}=1"))
                .collect::<Vec<_>>()
                .join("&"),
            414,
        ),
        (vec!["price[gte]=1"; 10_000].join("&"), 414),
    ] {
        let request =
            format!("GET /api/products?{many} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let response = raw(app.port, request.as_bytes(), Duration::from_secs(20)).await;
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}")),
            "{} bytes of query: {response:.300}",
            many.len()
        );
        if status == 400 {
            let body: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap_or(""))
                .unwrap_or_else(|e| panic!("{e}: {response:.300}"));
            assert_eq!(body["code"], "VALIDATION_ERROR");
            assert_eq!(body["details"][0]["field"], "query");
            assert_eq!(body["details"].as_array().map(Vec::len), Some(1));
            assert!(
                response.len() < 3_000,
                "a short answer: {} bytes",
                response.len()
            );
        }
    }
    // A request line past hyper's buffer is refused by the HTTP layer.
    let huge = format!(
        "GET /api/products?search={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(500_000)
    );
    let response = raw(app.port, huge.as_bytes(), Duration::from_secs(20)).await;
    let status: u16 = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(
        response.is_empty() || (400..500).contains(&status),
        "a 500 kB request line: {response:.200}"
    );

    // Ids that are not 24 hex digits: 400 INVALID_ID; a well-formed unknown one: 404.
    for id in [
        "123",
        "zzzzzzzzzzzzzzzzzzzzzzzz",
        "0123456789abcdef012345678",
        "0123456789abcdef0123456",
        "0123456789abcdef0123456G",
        "%00",
        "0123456789abcdef0123456%00",
        "%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9",
        "..%2F..%2Fetc%2Fpasswd",
        "%7B%22%24ne%22%3A1%7D",
        "1e309",
    ] {
        for path in [format!("/api/products/{id}"), format!("/api/users/{id}")] {
            let resp = app.get(&path).await;
            resp.error(400, "INVALID_ID");
        }
        let resp = app
            .send(app.request(Method::DELETE, &format!("/api/products/{id}")))
            .await;
        resp.error(400, "INVALID_ID");
    }
    app.get("/api/products/0123456789abcdef01234567")
        .await
        .error(404, "NOT_FOUND");

    watch.finish("hostile query strings").await;
}

#[tokio::test]
async fn a_request_id_with_cr_or_lf_sent_raw_never_reaches_a_response_header() {
    let app = Spawn::new().start().await;
    let watch = HealthWatch::start(app.port);
    // (raw request, status, the id echoed: `Some("abc")`, `None` for a fresh UUID). A bare CR,
    // an obs-fold line or a NUL is malformed HTTP: the HTTP layer answers 400 and closes. A bare
    // LF ends the header (RFC 9112 allows it), so `Set-Cookie` is just another request header.
    let cases: [(&[u8], u16, Option<&str>); 6] = [
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: abc\rSet-Cookie: pwned=1\r\nConnection: close\r\n\r\n", 400, None),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: abc\nSet-Cookie: pwned=1\r\nConnection: close\r\n\r\n", 200, Some("abc")),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: abc\r\n Set-Cookie: pwned=1\r\nConnection: close\r\n\r\n", 400, None),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: abc%0d%0aSet-Cookie:%20pwned=1\r\nConnection: close\r\n\r\n", 200, None),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: \x00abc\r\nConnection: close\r\n\r\n", 400, None),
        (b"GET /api/nothing HTTP/1.1\r\nHost: x\r\nX-Request-ID: a\xc3\xa9\r\nConnection: close\r\n\r\n", 404, None),
    ];
    for (request, status, echoed) in cases {
        let response = raw(app.port, request, Duration::from_secs(20)).await;
        let shown = String::from_utf8_lossy(request).into_owned();
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{shown:?} -> {response:?}"
        );
        assert!(
            raw_header(&response, "set-cookie").is_none(),
            "an injected header came back: {shown:?} -> {response:?}"
        );
        let id = raw_header(&response, "x-request-id");
        match (status, echoed) {
            (400, _) => assert_eq!(id, None, "{shown:?}"),
            (_, Some(expected)) => assert_eq!(id, Some(expected), "{shown:?}"),
            (_, None) => assert!(
                id.is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()),
                "{shown:?} echoed {id:?} instead of a fresh id"
            ),
        }
    }
    watch.finish("raw request ids").await;
}

#[tokio::test]
async fn slow_and_silent_clients_are_cut_off_by_the_timeouts() {
    let app = Spawn::new()
        .env("HEADER_TIMEOUT", "1s")
        .env("BODY_TIMEOUT", "1s")
        .start()
        .await;
    let token = app.act_as_admin().await;
    let watch = HealthWatch::start(app.port);
    let port = app.port;
    // Well past the 1 s timeouts, far below "forever".
    let margin = Duration::from_secs(15);

    // Slow headers: a header byte every 200 ms, forever unless the server closes.
    let slow_headers = |n: usize| async move {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        let started = Instant::now();
        let mut buf = [0u8; 256];
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => {
                    // Closed (0 bytes or reset): cut off.
                    if matches!(read, Ok(0) | Err(_)) {
                        return started.elapsed();
                    }
                }
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stream.write_all(format!("X-Slow-{n}: a\r\n").as_bytes()).await.is_err() {
                        return started.elapsed();
                    }
                }
            }
            assert!(
                started.elapsed() < margin,
                "slow headers were never cut off"
            );
        }
    };
    // Silent: connects and says nothing.
    let silent = || async move {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let started = Instant::now();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(margin, stream.read(&mut buf)).await;
        assert!(read.is_ok(), "a silent connection was kept open");
        started.elapsed()
    };
    // Slow body: headers at once, then 10 bytes every 300 ms of a 1,000-byte body.
    let head = format!(
        "POST /api/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"title\":"
    );
    let slow_body = || {
        let head = head.clone();
        async move {
            let mut stream = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            stream.write_all(head.as_bytes()).await.expect("write");
            let started = Instant::now();
            let mut response = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                tokio::select! {
                    read = stream.read(&mut buf) => match read {
                        Ok(0) | Err(_) => break,
                        Ok(n) => response.extend_from_slice(&buf[..n]),
                    },
                    () = tokio::time::sleep(Duration::from_millis(300)) => {
                        let _ = stream.write_all(b"          ").await;
                    }
                }
                assert!(started.elapsed() < margin, "a slow body was never cut off");
            }
            (
                started.elapsed(),
                String::from_utf8_lossy(&response).into_owned(),
            )
        }
    };

    let mut tasks = Vec::new();
    for n in 0..100 {
        tasks.push(tokio::spawn(slow_headers(n)));
    }
    let silent_tasks: Vec<_> = (0..100).map(|_| tokio::spawn(silent())).collect();
    let body_tasks: Vec<_> = (0..20).map(|_| tokio::spawn(slow_body())).collect();
    let mut longest = Duration::ZERO;
    for task in tasks.into_iter().chain(silent_tasks) {
        longest = longest.max(task.await.expect("slow client"));
    }
    for task in body_tasks {
        let (elapsed, response) = task.await.expect("slow body");
        longest = longest.max(elapsed);
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
        assert!(response.contains("REQUEST_TIMEOUT"), "{response}");
    }
    eprintln!(
        "FIGURE abuse slow loris: 100 slow-header, 100 silent and 20 slow-body clients cut off; the last after {} ms (timeouts 1 s)",
        longest.as_millis()
    );
    // The server still serves normal requests on new connections.
    let resp = app
        .post("/api/products", &json!({"title": "t", "price": 1}))
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    watch.finish("slow loris").await;
}

/// A JSON body that is valid but sits at the limit, sent by many clients at once, changes
/// nothing for the others: the server answers each and keeps serving.
#[tokio::test]
async fn many_bodies_at_the_limit_at_once_are_each_answered() {
    let app = Spawn::new().start().await;
    let token = app.act_as_admin().await;
    let watch = HealthWatch::start(app.port);
    let mut padded = br#"{"title":"padded","price":1}"#.to_vec();
    padded.resize(10_000, b' ');
    let mut over = padded.clone();
    over.push(b' ');
    let mut tasks = Vec::new();
    for i in 0..100 {
        let client = app.client.clone();
        let url = app.url("/api/products");
        let token = token.clone();
        let body = if i % 2 == 0 {
            padded.clone()
        } else {
            over.clone()
        };
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    let mut statuses: Vec<u16> = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task").expect("answered"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        50,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 413).count(),
        50,
        "{statuses:?}"
    );
    let listed: Value = app.get("/api/products?limit=1").await.json();
    assert_eq!(listed["meta"]["total"], 50);
    watch.finish("bodies at the limit").await;
}

#[tokio::test]
async fn hostile_credentials_and_tokens_get_401_or_400_and_never_a_crash() {
    let app = Spawn::new().start().await;
    let watch = HealthWatch::start(app.port);
    let me = |value: String| {
        app.anonymous(Method::GET, "/api/users/me")
            .header("authorization", value)
    };
    // Authorization headers that are not a token this service signed: all 401.
    let huge = "A".repeat(6000);
    let nested_dots = ".".repeat(1000);
    for value in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "bearer x".to_owned(),
        "Basic YWRtaW46YWRtaW4=".to_owned(),
        "Bearer null".to_owned(),
        format!("Bearer {huge}"),
        format!("Bearer {nested_dots}"),
        "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0."
            .to_owned(),
        "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.%%%.%%%".to_owned(),
        "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.".to_owned(),
    ] {
        let resp = app.send(me(value.clone())).await;
        resp.error(401, "UNAUTHENTICATED");
        assert!(!resp.text.contains(&huge), "the token is not echoed");
    }
    // Non-UTF-8 bytes in the header, sent raw.
    let raw_response = raw(
        app.port,
        b"GET /api/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(raw_response.starts_with("HTTP/1.1 401"), "{raw_response}");

    // Login bodies: operators, wrong types, huge and odd values are 400 naming the field;
    // well-formed ones that match nothing are 401, never a 500.
    for (body, field) in [
        (json!({"email": {"$ne": ""}, "password": "x"}), "email"),
        (
            json!({"email": "a@b.co", "password": {"$gt": ""}}),
            "password",
        ),
        (json!({"email": ["a@b.co"], "password": "x"}), "email"),
        (
            json!({"email": "a@b.co", "password": "x".repeat(1000)}),
            "password",
        ),
        (json!({"email": "a@b.co"}), "password"),
        (json!({"email": "a@b.co", "password": ""}), "password"),
        (
            json!({"email": "a@b.co", "password": "x", "role": "admin"}),
            "role",
        ),
        (
            json!({"email": format!("{}@b.co", "a".repeat(5000)), "password": "x"}),
            "email",
        ),
    ] {
        let resp = app.post("/api/auth/login", &body).await;
        resp.error(400, "VALIDATION_ERROR");
        assert!(
            resp.detail_fields().contains(&field.to_owned()),
            "{body}: {}",
            resp.text
        );
    }
    for email in [
        "admin@example.com",
        "a%@b.co",
        "' OR 1=1 --@b.co",
        "\u{202e}x@b.co",
    ] {
        let resp = app
            .post(
                "/api/auth/login",
                &json!({"email": email, "password": "' OR '1'='1"}),
            )
            .await;
        assert!(
            resp.status == 401 || resp.status == 400,
            "{email}: {}",
            resp.text
        );
    }
    // Refresh and logout bodies.
    for body in [
        json!({"refreshToken": {"$ne": null}}),
        json!({"refreshToken": "x".repeat(600)}),
        json!({"refreshToken": 1}),
        json!([]),
    ] {
        app.post("/api/auth/refresh", &body)
            .await
            .error(400, "VALIDATION_ERROR");
    }
    app.post("/api/auth/refresh", &json!({"refreshToken": "%00\u{0}"}))
        .await
        .error(401, "UNAUTHENTICATED");
    app.post("/api/auth/logout", &json!({"refreshToken": "x"}))
        .await
        .error(401, "UNAUTHENTICATED");
    watch.finish("hostile credentials and tokens").await;
}
