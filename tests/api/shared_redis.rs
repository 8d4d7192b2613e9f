//! The API's rate limit counted in Redis: two `svc api` instances with separate `DATA_DIR`s (so
//! the SQLite file cannot be what shares the count) on one real `redis-server` share one limit,
//! with the same headers as the embedded limiter; with Redis killed requests are still answered
//! (fail open, one log line per change of state), and counting resumes when Redis is back.

use crate::common::api;
use crate::common::redis_server;
use crate::common::wait::{PATIENCE, holds_within_async};

use api::{App, Resp, Spawn};
use redis_server::RedisServer;

/// The limit of these tests: 5 per day, so no window boundary falls inside a test (windows are
/// aligned to the epoch: a one-minute window could roll over mid-test).
const LIMIT: &str = "5/24h";

async fn instance(redis: &RedisServer) -> App {
    Spawn::new()
        .env("REDIS_URL", &redis.url())
        .env("RATE_LIMIT", LIMIT)
        .start()
        .await
}

/// A GET that must be answered: a hang fails the test instead of stalling it.
async fn get(app: &App, path: &str) -> Resp {
    let request = app.request(reqwest::Method::GET, path).timeout(PATIENCE);
    app.send(request).await
}

fn counter(redis: &RedisServer) -> Option<u64> {
    redis::cmd("GET")
        .arg("svc:ratelimit:86400000:127.0.0.1")
        .query(&mut redis.conn())
        .expect("GET")
}

#[tokio::test]
async fn two_instances_with_separate_data_dirs_share_one_limit_through_redis() {
    let redis = RedisServer::start();
    let one = instance(&redis).await;
    let two = instance(&redis).await;
    assert_ne!(one.data_dir, two.data_dir);
    for app in [&one, &two] {
        let listening = app
            .wait_for_log(|l| l["msg"] == "listening")
            .await
            .expect("listening");
        assert_eq!(listening["rateLimit"], "redis", "{listening}");
    }

    let mut responses = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { &one } else { &two };
        responses.push(get(app, "/api/products").await);
    }
    for (i, resp) in responses[..5].iter().enumerate() {
        assert_eq!(resp.status, 200, "request {i}: {}", resp.text);
        assert_eq!(resp.header("ratelimit-limit"), Some("5"));
        assert_eq!(
            resp.header("ratelimit-remaining"),
            Some((4 - i).to_string().as_str()),
            "request {i}"
        );
        let reset: u64 = resp.header("ratelimit-reset").unwrap().parse().unwrap();
        assert!((1..=86_400).contains(&reset), "reset {reset}");
    }
    let last = &responses[5];
    let body = last.error(429, "RATE_LIMITED");
    assert!(body["message"].is_string());
    assert_eq!(last.header("ratelimit-limit"), Some("5"));
    assert_eq!(last.header("ratelimit-remaining"), Some("0"));
    let retry: u64 = last.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry));
    // Either instance refuses now.
    get(&one, "/api/products").await.error(429, "RATE_LIMITED");

    // One counter, in Redis, apart from BullMQ's keys, expiring by itself at the window's end.
    assert_eq!(counter(&redis), Some(7));
    let ttl: i64 = redis::cmd("PTTL")
        .arg("svc:ratelimit:86400000:127.0.0.1")
        .query(&mut redis.conn())
        .expect("PTTL");
    assert!((1..=86_400_000).contains(&ttl), "ttl {ttl}");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("svc:*")
        .query(&mut redis.conn())
        .expect("KEYS");
    assert_eq!(keys, ["svc:ratelimit:86400000:127.0.0.1"]);
    // Nothing of it in the SQLite files.
    for app in [&one, &two] {
        let rows: i64 = app
            .db()
            .query_row("SELECT COUNT(*) FROM api_rate_limits", [], |r| r.get(0))
            .expect("the embedded store's counter table");
        assert_eq!(rows, 0, "the embedded counter was used");
    }
    // Probes are never limited.
    for path in ["/health", "/ready", "/metrics"] {
        assert_eq!(get(&two, path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn with_redis_down_requests_pass_and_counting_resumes_when_it_is_back() {
    let mut redis = RedisServer::start();
    let one = instance(&redis).await;
    let two = instance(&redis).await;
    for app in [&one, &two] {
        assert_eq!(get(app, "/api/products").await.status, 200);
    }
    assert_eq!(counter(&redis), Some(2));

    redis.kill();
    // Well past the limit: every request is answered, none refused, none counted.
    for i in 0..20 {
        let app = if i % 2 == 0 { &one } else { &two };
        let resp = get(app, "/api/products").await;
        assert_eq!(
            resp.status, 200,
            "request {i} with Redis down: {}",
            resp.text
        );
        assert_eq!(resp.header("ratelimit-remaining"), None, "request {i}");
    }
    // One log line for the outage per instance, not one per request.
    for app in [&one, &two] {
        let down: Vec<_> = app
            .logs()
            .into_iter()
            .filter(|l| {
                l["msg"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("rate limiter unavailable"))
            })
            .collect();
        assert_eq!(down.len(), 1, "{down:?}");
        assert_eq!(down[0]["level"], "warn");
    }

    redis.restart();
    // Counting resumes by itself on each instance (the restarted Redis starts from an empty
    // count; requests in between pass uncounted).
    for app in [&one, &two] {
        let resumed = holds_within_async(PATIENCE, || async {
            let resp = get(app, "/api/products").await;
            assert_eq!(resp.status, 200, "{}", resp.text);
            resp.header("ratelimit-remaining").is_some()
        })
        .await;
        assert!(resumed, "counting never resumed: {:?}", app.logs());
        app.wait_for_log(|l| l["msg"] == "rate limiter available again; requests are counted")
            .await
            .expect("the recovery is logged");
    }
    // Spend the rest of the limit across both instances: the next request is refused.
    let used = counter(&redis).expect("counting again");
    assert!(used < 5, "{used} counted already");
    for i in used..5 {
        let app = if i % 2 == 0 { &two } else { &one };
        let resp = get(app, "/api/products").await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        assert_eq!(
            resp.header("ratelimit-remaining"),
            Some((4 - i).to_string().as_str())
        );
    }
    get(&one, "/api/products").await.error(429, "RATE_LIMITED");
    assert_eq!(counter(&redis), Some(6));
}
