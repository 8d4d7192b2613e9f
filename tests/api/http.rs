//! `svc api` as an HTTP service: probes, metrics, every header, the error codes and body rules,
//! CORS, the rate limit across instances, request-id correlation, settings, readiness and the
//! drain on SIGTERM. Every test runs the real binary; those that do not poke at SQLite itself
//! run on both store backends.

use crate::common::api;
use crate::common::wait::{PATIENCE, holds_within_async, wait_for_async, wait_until_async};

use std::future::ready;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;

use api::{App, Backend, Resp, Spawn};
use nix::sys::signal::Signal;
use reqwest::Method;
use serde_json::{Value, json};

const SECURITY_HEADERS: [(&str, &str); 12] = [
    (
        "content-security-policy",
        "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("origin-agent-cluster", "?1"),
    ("referrer-policy", "no-referrer"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-dns-prefetch-control", "off"),
    ("x-download-options", "noopen"),
    ("x-frame-options", "DENY"),
    ("x-permitted-cross-domain-policies", "none"),
    ("x-xss-protection", "0"),
];

fn assert_hardened(resp: &Resp, what: &str) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(resp.header(name), Some(value), "{name} on {what}");
    }
    assert!(
        resp.header("server").is_none(),
        "no server banner on {what}"
    );
    assert!(
        resp.header("x-powered-by").is_none(),
        "no x-powered-by on {what}"
    );
    assert!(
        resp.header("x-request-id").is_some(),
        "x-request-id on {what}"
    );
}

fn is_uuid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok()
}

/// The value of the first sample of `metric` (a line starting with it) in a scrape.
fn sample(scrape: &str, metric: &str) -> Option<f64> {
    scrape
        .lines()
        .find(|l| l.starts_with(metric))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// One raw HTTP/1.1 exchange over a fresh connection (for what reqwest will not send).
fn raw_exchange(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stream.write_all(request).expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

backend_tests!(
    probes_answer_and_metrics_describe_the_service,
    ready_names_what_is_down,
    every_response_carries_the_security_headers,
    request_ids_are_echoed_or_generated_and_tag_every_log_line,
    cors_allows_only_the_listed_origins,
    bodies_must_be_small_well_formed_json,
    unknown_routes_and_methods_are_404_in_the_error_shape,
    a_corrupt_row_is_an_opaque_500_with_its_cause_in_the_log,
    the_rate_limit_holds_across_two_instances,
    forwarded_addresses_count_only_through_trusted_proxies,
    instances_share_one_port,
);

async fn probes_answer_and_metrics_describe_the_service(backend: Backend) {
    let app = backend.spawn().start().await;
    for path in ["/health", "/api/health"] {
        let resp = app.get(path).await;
        assert_eq!(
            (resp.status.as_u16(), resp.json()),
            (200, json!({"status": "ok"})),
            "{path}"
        );
    }
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(
        ready.json()["checks"],
        json!({"database": "ok", "queue": "ok"})
    );

    app.get("/api/products").await;
    app.get("/api/products/0123456789abcdef01234567").await;
    app.post(
        "/api/users",
        &json!({"name": "M", "email": "m@example.com", "password": "12345678"}),
    )
    .await;
    let scrape = app.get("/metrics").await;
    assert_eq!(scrape.status, 200);
    assert!(
        scrape
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = scrape.text;
    for expected in [
        r#"http_requests_total{method="GET",route="/api/products",status="200"} 1"#,
        r#"http_requests_total{method="GET",route="/api/products/{id}",status="404"} 1"#,
        r#"http_requests_total{method="POST",route="/api/users",status="201"} 1"#,
        r#"http_request_duration_seconds_bucket{method="GET",route="/api/products",le="0.005"}"#,
        r#"http_request_duration_seconds_count{method="GET",route="/api/products"} 1"#,
        "http_requests_in_flight 1",
        r#"queue_jobs{queue="email-queue",state="failed"} 0"#,
        r#"queue_up{queue="email-queue"} 1"#,
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "outbox_backlog ",
    ] {
        assert!(text.contains(expected), "{expected} missing in\n{text}");
    }
    wait_until_async("the welcome email to show as waiting", || async {
        let text = app.get("/metrics").await.text;
        sample(&text, r#"queue_jobs{queue="email-queue",state="waiting"}"#) == Some(1.0)
    })
    .await;
    assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 1e6);
}

async fn ready_names_what_is_down(backend: Backend) {
    let app = backend.spawn().start().await;
    app.db()
        .execute_batch("ALTER TABLE queue_jobs RENAME TO queue_jobs_away;")
        .unwrap();
    let resp = app.get("/ready").await;
    let body = resp.error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(resp.detail_fields(), ["queue"]);
    assert!(
        body["message"].as_str().unwrap().contains("queue"),
        "{body}"
    );
    assert!(
        !resp.text.contains("no such table"),
        "no driver message: {}",
        resp.text
    );
    assert_eq!(
        app.get("/health").await.status,
        200,
        "liveness does not depend on the queue"
    );

    backend.break_database(&app).await;
    // At once on SQLite; MongoDB's probe trusts calls that just succeeded for 2 s.
    let resp = wait_for_async("/ready to name the database and the queue", || async {
        let resp = app.get("/ready").await;
        (resp.detail_fields() == ["database", "queue"]).then_some(resp)
    })
    .await;
    assert_eq!(resp.detail_fields(), ["database", "queue"], "{}", resp.text);
    resp.error(503, "SERVICE_UNAVAILABLE");
    assert!(
        !resp.text.contains("no such table") && !resp.text.contains("Server selection"),
        "no driver message: {}",
        resp.text
    );

    backend.repair_database(&app).await;
    app.db()
        .execute_batch("ALTER TABLE queue_jobs_away RENAME TO queue_jobs;")
        .unwrap();
    assert!(app.becomes_ready().await, "ready again once both are back");
}

async fn every_response_carries_the_security_headers(backend: Backend) {
    let app = backend
        .spawn()
        .env("RATE_LIMIT", "8/24h")
        .env("CORS_ORIGINS", "https://app.example.com")
        .start()
        .await;
    assert_hardened(
        &app.send(
            app.anonymous(Method::POST, "/api/products")
                .json(&json!({"title": "t", "price": 1})),
        )
        .await,
        "401",
    );
    app.act_as_admin().await;
    let product = app
        .post("/api/products", &json!({"title": "t", "price": 1}))
        .await;
    assert_hardened(&product, "201");
    assert_hardened(&app.get("/health").await, "200 /health");
    assert_hardened(&app.get("/api/products?x=1").await, "400");
    assert_hardened(&app.get("/nope").await, "404");
    assert_hardened(
        &app.post_raw("/api/products", Some("text/plain"), "x").await,
        "415",
    );
    assert_hardened(
        &app.post_raw(
            "/api/products",
            Some("application/json"),
            vec![b' '; 10_001],
        )
        .await,
        "413",
    );
    let preflight = app
        .send(
            app.request(Method::OPTIONS, "/api/products")
                .header("origin", "https://app.example.com")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_hardened(&preflight, "preflight");
    let mut last = app.get("/api/products").await;
    for _ in 0..10 {
        if last.status == 429 {
            break;
        }
        last = app.get("/api/products").await;
    }
    assert_eq!(last.status, 429);
    assert_hardened(&last, "429");
    assert_eq!(last.header("content-type"), Some("application/json"));
}

async fn request_ids_are_echoed_or_generated_and_tag_every_log_line(backend: Backend) {
    let app = backend.spawn().start().await;
    let echo = app
        .send(
            app.request(Method::GET, "/health")
                .header("x-request-id", "client-id.1_A-z"),
        )
        .await;
    assert_eq!(echo.header("x-request-id"), Some("client-id.1_A-z"));
    let max = "a".repeat(128);
    let echo = app
        .send(
            app.request(Method::GET, "/health")
                .header("x-request-id", max.as_str()),
        )
        .await;
    assert_eq!(echo.header("x-request-id"), Some(max.as_str()));
    for bad in [
        "has space",
        "semi;colon",
        "quote\"",
        "<script>",
        &"a".repeat(129),
    ] {
        let resp = app
            .send(
                app.request(Method::GET, "/health")
                    .header("x-request-id", bad),
            )
            .await;
        let id = resp.header("x-request-id").unwrap();
        assert!(
            is_uuid(id) && id != bad,
            "{bad:?} replaced by a UUID, got {id}"
        );
    }
    let generated = app.get("/health").await;
    assert!(is_uuid(generated.header("x-request-id").unwrap()));
    let error = app
        .send(
            app.request(Method::GET, "/api/products/bad")
                .header("x-request-id", "err-id-9"),
        )
        .await;
    assert_eq!(error.error(400, "INVALID_ID")["requestId"], "err-id-9");

    // A sign-up: the access line, the handler's line and the relay's line all carry the id,
    // and so does the job it enqueued.
    let signup = app
        .send(
            app.request(Method::POST, "/api/users")
                .header("x-request-id", "trace-me-42")
                .json(
                    &json!({"name": "Tracy", "email": "tracy@example.com", "password": "12345678"}),
                ),
        )
        .await;
    assert_eq!(signup.status, 201);
    let relayed = app
        .wait_for_log(|l| l["msg"] == "job enqueued" && l["requestId"] == "trace-me-42")
        .await;
    assert!(relayed.is_some(), "{:?}", app.logs());
    // The relay runs beside the request: its line may come before the access line.
    let completed = app
        .wait_for_log(|l| l["msg"] == "request completed" && l["requestId"] == "trace-me-42")
        .await;
    assert!(completed.is_some(), "{:?}", app.logs());
    let lines: Vec<Value> = app
        .logs()
        .into_iter()
        .filter(|l| l["requestId"] == "trace-me-42")
        .collect();
    let msgs: Vec<&str> = lines.iter().map(|l| l["msg"].as_str().unwrap()).collect();
    assert!(
        msgs.contains(&"user created")
            && msgs.contains(&"request completed")
            && msgs.contains(&"job enqueued"),
        "{msgs:?}"
    );
    let access = lines
        .iter()
        .find(|l| l["msg"] == "request completed")
        .unwrap();
    assert_eq!(
        (
            access["method"].as_str(),
            access["path"].as_str(),
            access["status"].as_u64()
        ),
        (Some("POST"), Some("/api/users"), Some(201))
    );
    assert!(access["durationMs"].as_f64().unwrap() >= 0.0);
    assert!(access["time"].is_string() && access["level"] == "info");
    let job: String = app
        .db()
        .query_row(
            "SELECT data FROM queue_jobs WHERE id LIKE 'welcome-%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&job).unwrap()["requestId"],
        "trace-me-42"
    );
    // Exactly one access line per request.
    let completed = app
        .logs()
        .iter()
        .filter(|l| l["msg"] == "request completed" && l["requestId"] == "trace-me-42")
        .count();
    assert_eq!(completed, 1);
}

async fn cors_allows_only_the_listed_origins(backend: Backend) {
    let app = backend
        .spawn()
        .env(
            "CORS_ORIGINS",
            "https://app.example.com,http://localhost:5173",
        )
        .start()
        .await;
    let allowed = app
        .send(
            app.request(Method::GET, "/api/products")
                .header("origin", "https://app.example.com"),
        )
        .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        allowed
            .header("vary")
            .unwrap()
            .to_lowercase()
            .contains("origin")
    );
    assert!(
        allowed
            .header("access-control-expose-headers")
            .unwrap()
            .contains("x-request-id")
    );
    let other = app
        .send(
            app.request(Method::GET, "/api/products")
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!(
        other.status, 200,
        "CORS is enforced by the browser; the header is what matters"
    );
    assert_eq!(other.header("access-control-allow-origin"), None);
    assert!(
        other
            .header("vary")
            .unwrap()
            .to_lowercase()
            .contains("origin")
    );

    let preflight = |origin: &'static str| {
        app.request(Method::OPTIONS, "/api/products/0123456789abcdef01234567")
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "content-type,x-request-id",
            )
    };
    let ok = app.send(preflight("http://localhost:5173")).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert!(
        ok.header("access-control-allow-methods")
            .unwrap()
            .contains("PATCH")
    );
    let headers = ok
        .header("access-control-allow-headers")
        .unwrap()
        .to_lowercase();
    assert!(
        headers.contains("content-type") && headers.contains("x-request-id"),
        "{headers}"
    );
    assert!(ok.header("vary").unwrap().to_lowercase().contains("origin"));
    let refused = app.send(preflight("https://evil.example")).await;
    assert_eq!(refused.header("access-control-allow-origin"), None);
}

async fn bodies_must_be_small_well_formed_json(backend: Backend) {
    let app = backend.spawn().start().await;
    let token = app.act_as_admin().await;
    // Exactly 10,000 bytes (valid JSON padded with spaces) is accepted; 10,001 is not.
    let json_of = |size: usize| {
        let mut body = br#"{"title":"padded","price":1}"#.to_vec();
        body.resize(size, b' ');
        body
    };
    let fits = app
        .post_raw("/api/products", Some("application/json"), json_of(10_000))
        .await;
    assert_eq!(fits.status, 201, "{}", fits.text);
    let resp = app
        .post_raw("/api/products", Some("application/json"), json_of(10_001))
        .await;
    let body = resp.error(413, "PAYLOAD_TOO_LARGE");
    assert!(
        body["message"].as_str().unwrap().contains("10000"),
        "{body}"
    );
    app.post_raw("/api/users", Some("application/json"), json_of(10_001))
        .await
        .error(413, "PAYLOAD_TOO_LARGE");

    // Chunked, with no Content-Length: the limit holds while reading.
    let mut request = format!(
        "POST /api/products HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        10_001
    )
    .into_bytes();
    request.extend(json_of(10_001));
    request.extend(b"\r\n0\r\n\r\n");
    let port = app.port;
    let raw = tokio::task::spawn_blocking(move || raw_exchange(port, &request))
        .await
        .unwrap();
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("PAYLOAD_TOO_LARGE"), "{raw}");

    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
    ] {
        let resp = app
            .post_raw("/api/products", content_type, r#"{"title":"t","price":1}"#)
            .await;
        resp.error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    let ok = app
        .post_raw(
            "/api/products",
            Some("application/json; charset=utf-8"),
            r#"{"title":"t","price":1}"#,
        )
        .await;
    assert_eq!(ok.status, 201);

    let resp = app
        .post_raw(
            "/api/products",
            Some("application/json"),
            "{\"title\": \"t\",, \"price\": 1}",
        )
        .await;
    let body = resp.error(400, "VALIDATION_ERROR");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("position 14") && message.contains("line 1, column 15"),
        "{message}"
    );
    assert_eq!(resp.detail_fields(), ["body"]);
    let resp = app
        .post_raw("/api/products", Some("application/json"), "")
        .await;
    resp.error(400, "VALIDATION_ERROR");
    let resp = app
        .send(
            app.request(Method::PATCH, "/api/products/0123456789abcdef01234567")
                .header("content-type", "application/json")
                .body("{oops"),
        )
        .await;
    resp.error(400, "VALIDATION_ERROR");
}

async fn unknown_routes_and_methods_are_404_in_the_error_shape(backend: Backend) {
    let app = backend.spawn().start().await;
    let body = app.get("/api/nothing").await.error(404, "NOT_FOUND");
    assert_eq!(body["path"], "/api/nothing");
    app.send(app.request(Method::PUT, "/api/products"))
        .await
        .error(404, "NOT_FOUND");
    app.send(app.request(Method::PATCH, "/api/users/0123456789abcdef01234567"))
        .await
        .error(404, "NOT_FOUND");
}

async fn a_corrupt_row_is_an_opaque_500_with_its_cause_in_the_log(backend: Backend) {
    let app = backend.spawn().start().await;
    app.insert_corrupt_product().await;
    let resp = app
        .send(
            app.request(Method::GET, "/api/products")
                .header("x-request-id", "boom-1"),
        )
        .await;
    let body = resp.error(500, "INTERNAL_ERROR");
    assert_eq!(body["message"], "Internal server error");
    assert!(
        !resp.text.contains("corrupt") && !resp.text.contains("not-an-object-id"),
        "{}",
        resp.text
    );
    let logged = app
        .wait_for_log(|l| {
            l["msg"] == "request failed" && l["requestId"] == "boom-1" && l["level"] == "error"
        })
        .await
        .expect("the cause is logged");
    assert!(
        logged["error"].as_str().unwrap().contains("corrupt id"),
        "{logged}"
    );
}

#[tokio::test]
async fn a_database_busy_past_its_timeout_is_a_503() {
    let app = Spawn::new().env("RATE_LIMIT", "off").start().await;
    app.act_as_admin().await;
    let db = app.db();
    db.execute_batch("BEGIN IMMEDIATE;").unwrap();
    let resp = app
        .post("/api/products", &json!({"title": "t", "price": 1}))
        .await;
    db.execute_batch("ROLLBACK;").unwrap();
    let body = resp.error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(resp.header("retry-after"), Some("5"));
    let text = resp.text.to_lowercase();
    assert!(
        !text.contains("locked") && !text.contains("busy") && !text.contains("sqlite"),
        "{body}"
    );
    // Writes come back once the store gate's prober sees the lock gone (every 200 ms).
    wait_until_async("writes to come back", || async {
        app.post("/api/products", &json!({"title": "t", "price": 1}))
            .await
            .status
            == 201
    })
    .await;
}

async fn the_rate_limit_holds_across_two_instances(backend: Backend) {
    let one = backend.spawn().env("RATE_LIMIT", "10/24h").start().await;
    let two = backend
        .spawn()
        .env("RATE_LIMIT", "10/24h")
        .data_dir(&one.data_dir)
        .start()
        .await;
    assert_ne!(one.port, two.port);
    let mut responses = Vec::new();
    for i in 0..11 {
        let app = if i % 2 == 0 { &one } else { &two };
        responses.push(app.get("/api/products").await);
    }
    for (i, resp) in responses[..10].iter().enumerate() {
        assert_eq!(resp.status, 200, "request {i}");
        assert_eq!(resp.header("ratelimit-limit"), Some("10"));
        assert_eq!(
            resp.header("ratelimit-remaining"),
            Some((9 - i).to_string().as_str()),
            "request {i}"
        );
        let reset: u64 = resp.header("ratelimit-reset").unwrap().parse().unwrap();
        assert!(reset <= 86_400);
    }
    let last = &responses[10];
    let body = last.error(429, "RATE_LIMITED");
    assert!(body["message"].is_string());
    assert_eq!(last.header("ratelimit-remaining"), Some("0"));
    let retry: u64 = last.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry));

    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    let forged = one
        .send(
            one.request(Method::GET, "/api/products")
                .header("x-forwarded-for", "203.0.113.9"),
        )
        .await;
    forged.error(429, "RATE_LIMITED");
    // Probes and scrapes are never limited.
    for app in [&one, &two] {
        for path in ["/health", "/api/health", "/ready", "/metrics"] {
            assert_eq!(app.get(path).await.status, 200, "{path}");
        }
    }
}

async fn forwarded_addresses_count_only_through_trusted_proxies(backend: Backend) {
    let app = backend
        .spawn()
        .env("RATE_LIMIT", "2/24h")
        .env("TRUSTED_PROXIES", "127.0.0.1/32")
        .start()
        .await;
    let from = |client: &'static str| {
        app.request(Method::GET, "/api/products")
            .header("x-forwarded-for", client)
    };
    assert_eq!(app.send(from("198.51.100.1")).await.status, 200);
    assert_eq!(app.send(from("198.51.100.1")).await.status, 200);
    app.send(from("198.51.100.1"))
        .await
        .error(429, "RATE_LIMITED");
    // A client that prepends a fake address is still known by the address our proxy appended.
    app.send(from("192.0.2.77, 198.51.100.1"))
        .await
        .error(429, "RATE_LIMITED");
    assert_eq!(
        app.send(from("198.51.100.2")).await.status,
        200,
        "another client has its own count"
    );
}

async fn instances_share_one_port(backend: Backend) {
    let one = backend.spawn().start().await;
    let port = one.port.to_string();
    let two = backend
        .spawn()
        .env("PORT", &port)
        .data_dir(&one.data_dir)
        .start()
        .await;
    assert_eq!(two.port, one.port);
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for _ in 0..40 {
        let resp = fresh.get(one.url("/health")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    let served = |app: &App| {
        app.logs()
            .iter()
            .filter(|l| l["msg"] == "request completed" && l["path"] == "/health")
            .count()
    };
    // The access lines reach the test through a pipe and a reader thread: wait for all 40.
    let all_logged =
        holds_within_async(PATIENCE, || ready(served(&one) + served(&two) == 40)).await;
    assert!(
        all_logged,
        "{} + {} access lines",
        served(&one),
        served(&two)
    );
    assert!(
        served(&one) > 0 && served(&two) > 0,
        "the kernel spread connections over both: {} / {}",
        served(&one),
        served(&two)
    );
}

#[tokio::test]
async fn invalid_settings_refuse_to_start_naming_the_variable() {
    let (status, stderr) = Spawn::new()
        .env("PORT", "eighty")
        .env("RATE_LIMIT", "lots")
        .env("BODY_LIMIT", "10 furlongs")
        .env("CORS_ORIGINS", "app.example.com")
        .env("TRUSTED_PROXIES", "10.0.0.0/40")
        .env("LOG_LEVEL", "chatty")
        .env("DB_URL", "postgres://db")
        .run_to_exit();
    assert_eq!(status.code(), Some(2), "{stderr}");
    for var in [
        "PORT",
        "RATE_LIMIT",
        "BODY_LIMIT",
        "CORS_ORIGINS",
        "TRUSTED_PROXIES",
        "LOG_LEVEL",
        "DB_URL",
    ] {
        assert!(
            stderr.contains(&format!("{var}:")),
            "{var} not named in {stderr}"
        );
    }
    let (status, stderr) = Spawn::new()
        .env("DB_URL", "mongodb://db.example/bad.name")
        .env("DB_POOL_MAX", "0")
        .env("DB_TIMEOUT", "forever")
        .run_to_exit();
    assert_eq!(status.code(), Some(2), "{stderr}");
    for var in ["DB_URL", "DB_POOL_MAX", "DB_TIMEOUT"] {
        assert!(
            stderr.contains(&format!("{var}:")),
            "{var} not named in {stderr}"
        );
    }
    let (status, stderr) = Spawn::new()
        .env("REDIS_HOST", "cache")
        .env("REDIS_URL", "redis://cache")
        .run_to_exit();
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("REDIS_HOST:"), "{stderr}");
}

#[tokio::test]
async fn it_reports_ready_and_drains_a_slow_request_on_sigterm() {
    let notify_dir = tempfile::tempdir().unwrap();
    let notify_path = notify_dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut app = Spawn::new()
        .env("NOTIFY_SOCKET", notify_path.to_str().unwrap())
        .start()
        .await;
    app.act_as_admin().await;
    let mut buf = [0u8; 64];
    let n = notify.recv(&mut buf).expect("READY=1");
    assert_eq!(&buf[..n], b"READY=1");

    // Make a request slow in a real way: hold the database's write lock.
    let db = app.db();
    db.execute_batch("BEGIN IMMEDIATE;").unwrap();
    let slow = {
        let request = app
            .request(Method::POST, "/api/products")
            .json(&json!({"title": "slow", "price": 1}));
        tokio::spawn(async move { request.send().await })
    };
    wait_until_async("the slow request to start", || async {
        let scrape = app.get("/metrics").await.text;
        sample(&scrape, "http_requests_in_flight").unwrap_or(0.0) >= 2.0
    })
    .await;

    app.signal(Signal::SIGTERM);
    assert!(
        app.wait_for_log(|l| l["msg"] == "SIGTERM received, shutting down")
            .await
            .is_some()
    );
    let n = notify.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    // No new connections while draining.
    let port = app.port;
    wait_until_async("new connections to be refused after SIGTERM", || {
        ready(TcpStream::connect(("127.0.0.1", port)).is_err())
    })
    .await;
    assert!(!slow.is_finished(), "the slow request is still in flight");

    db.execute_batch("ROLLBACK;").unwrap();
    let done = slow.await.unwrap().expect("the slow request got an answer");
    assert_eq!(done.status(), 201);
    let status = app.wait_exit().await;
    assert_eq!(status.code(), Some(0));
    let stored: i64 = app
        .db()
        .query_row(
            "SELECT COUNT(*) FROM products WHERE title = 'slow'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 1);
    assert!(app.wait_for_log(|l| l["msg"] == "stopped").await.is_some());
}

#[tokio::test]
async fn the_drain_is_bounded() {
    let mut app = Spawn::new().env("BODY_TIMEOUT", "60s").start().await;
    let token = app.act_as_admin().await;
    // A request whose body never arrives stays in flight past the 8 s drain.
    let port = app.port;
    let stuck = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        stream
            .write_all(format!("POST /api/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{").as_bytes())
            .expect("write");
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        response
    });
    wait_until_async("the slow request to start", || async {
        sample(&app.get("/metrics").await.text, "http_requests_in_flight").unwrap_or(0.0) >= 2.0
    })
    .await;
    let signalled = std::time::Instant::now();
    app.signal(Signal::SIGTERM);
    let status = app.wait_exit().await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(
        took < std::time::Duration::from_secs(10),
        "exited after {took:?}, not at the 8 s drain bound"
    );
    let timed_out = app
        .wait_for_log(|l| l["msg"] == "drain timed out; dropping the requests still in flight")
        .await;
    assert!(timed_out.is_some(), "{:?}", app.logs());
    assert!(
        stuck.await.unwrap().is_empty(),
        "the stuck request was cut off, not answered"
    );
}
