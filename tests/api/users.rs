//! `svc api` users over real HTTP: sign-up, the welcome-email job it enqueues (read back from the
//! real embedded queue in `DATA_DIR`), duplicates (also racing), soft delete, and the queue-down
//! guarantee. Every test runs on both store backends.

use crate::common::api;
use crate::common::wait::{wait_for_async, wait_until_async};

use std::time::Duration;

use api::{App, Backend};
use serde_json::{Value, json};
use svc::queue::Queue;
use svc::queue::sqlite::SqliteQueue;

/// A sign-up, as anyone may make it: no token.
async fn sign_up(app: &App, name: &str, email: &str) -> Value {
    let resp = app
        .send(
            app.anonymous(reqwest::Method::POST, "/api/users")
                .json(&json!({"name": name, "email": email, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    resp.json()["data"].clone()
}

fn queue(app: &App) -> SqliteQueue {
    SqliteQueue::open_in(&app.data_dir).expect("open queue")
}

/// Waits for the job `id` to be on the queue.
async fn wait_for_job(app: &App, id: &str) -> svc::queue::JobRecord {
    let queue = queue(app);
    wait_for_async(&format!("job {id} on the queue"), || async {
        queue.job(id).await.expect("read queue")
    })
    .await
}

backend_tests!(
    a_sign_up_stores_the_user_without_secrets_and_enqueues_the_welcome_email,
    users_are_listed_read_and_soft_deleted_and_emails_are_unique,
    concurrent_sign_ups_with_one_email_make_one_user,
    bad_sign_ups_are_refused_without_coercion_or_mass_assignment,
    a_user_created_while_the_queue_is_down_gets_its_email_once_the_queue_is_back,
    jobs_left_in_the_outbox_by_a_stopped_instance_are_relayed_by_the_next,
);

async fn a_sign_up_stores_the_user_without_secrets_and_enqueues_the_welcome_email(
    backend: Backend,
) {
    let app = backend.spawn().start().await;
    let resp = app
        .send(
            app.anonymous(reqwest::Method::POST, "/api/users")
                .header("x-request-id", "signup-req-1")
                .json(&json!({"name": " Ada Lovelace ", "email": " Ada@Example.COM ", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    assert!(
        !resp.text.to_lowercase().contains("password") && !resp.text.contains("argon2"),
        "{}",
        resp.text
    );
    let user = resp.json()["data"].clone();
    let mut keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "createdAt",
            "deletedAt",
            "email",
            "id",
            "name",
            "role",
            "updatedAt"
        ]
    );
    assert_eq!(
        (
            user["name"].as_str(),
            user["email"].as_str(),
            user["role"].as_str()
        ),
        (Some("Ada Lovelace"), Some("ada@example.com"), Some("user"))
    );
    let id = user["id"].as_str().unwrap();

    // The stored hash is argon2id with the crate's defaults; nothing logged it.
    let hash = app.password_hash(id).await;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(
        app.logs()
            .iter()
            .all(|l| !l.to_string().contains("correct horse") && !l.to_string().contains("argon2"))
    );

    // The job: name, id, data, attempts 3, exponential backoff 1000 ms.
    let job = wait_for_job(&app, &format!("welcome-{id}")).await;
    assert_eq!(job.name, "welcome-email");
    assert_eq!(
        job.data,
        json!({"userId": id, "email": "ada@example.com", "name": "Ada Lovelace", "requestId": "signup-req-1"})
    );
    assert_eq!(job.opts.attempts, 3);
    assert_eq!(
        job.opts.backoff,
        svc::queue::Backoff::exponential(Duration::from_millis(1000))
    );
    let counts = queue(&app).counts().await.unwrap();
    assert_eq!(counts.waiting, 1);
}

async fn users_are_listed_read_and_soft_deleted_and_emails_are_unique(backend: Backend) {
    let app = backend.spawn().start().await;
    // Listing, reading and deleting others is an admin's business; the admin is the oldest user.
    app.act_as_admin().await;
    let ann = sign_up(&app, "Ann", "ann@example.com").await;
    let bob = sign_up(&app, "Bob", "bob@example.com").await;

    let dup = app
        .send(app.anonymous(reqwest::Method::POST, "/api/users").json(
            &json!({"name": "Ann 2", "email": "ANN@example.com ", "password": "another password"}),
        ))
        .await;
    dup.error(409, "EMAIL_TAKEN");
    assert_eq!(dup.detail_fields(), ["email"]);

    let list = app.get("/api/users").await;
    assert_eq!(list.status, 200);
    let body = list.json();
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Bob", "Ann", "Admin"], "newest first");
    assert_eq!(body["data"][2]["role"], "admin");
    assert_eq!(
        body["meta"],
        json!({"page": 1, "limit": 10, "total": 3, "totalPages": 1, "hasNext": false, "hasPrev": false})
    );
    assert!(!list.text.to_lowercase().contains("password"));
    let page = app.get("/api/users?limit=1&page=2").await.json();
    assert_eq!(page["data"][0]["name"], "Ann");
    assert_eq!(page["meta"]["hasPrev"], true);
    app.get("/api/users?search=ann")
        .await
        .error(400, "VALIDATION_ERROR");
    app.get("/api/users?limit=1000")
        .await
        .error(400, "VALIDATION_ERROR");

    let ann_id = ann["id"].as_str().unwrap();
    let read = app.get(&format!("/api/users/{ann_id}")).await;
    assert_eq!(read.json()["data"], ann);
    let deleted = app.delete(&format!("/api/users/{ann_id}")).await;
    assert_eq!(deleted.status, 200);
    assert!(deleted.json()["data"]["deletedAt"].is_string());
    app.get(&format!("/api/users/{ann_id}"))
        .await
        .error(404, "NOT_FOUND");
    app.delete(&format!("/api/users/{ann_id}"))
        .await
        .error(404, "NOT_FOUND");
    assert_eq!(
        app.get(&format!("/api/users/{ann_id}?includeDeleted=true"))
            .await
            .status,
        200
    );
    assert_eq!(app.get("/api/users").await.json()["meta"]["total"], 2);
    assert_eq!(
        app.get("/api/users?includeDeleted=true").await.json()["meta"]["total"],
        3
    );
    assert_eq!(
        app.get(&format!("/api/users/{}", bob["id"].as_str().unwrap()))
            .await
            .status,
        200
    );

    app.get("/api/users/not-an-id")
        .await
        .error(400, "INVALID_ID");
    app.delete("/api/users/not-an-id")
        .await
        .error(400, "INVALID_ID");
    app.get("/api/users/0123456789abcdef01234567")
        .await
        .error(404, "NOT_FOUND");
}

async fn bad_sign_ups_are_refused_without_coercion_or_mass_assignment(backend: Backend) {
    let app = backend.spawn().start().await;
    let cases: Vec<(Value, Vec<&str>, &str)> = vec![
        (
            json!({"name": "a", "email": {"$ne": ""}, "password": "12345678"}),
            vec!["email"],
            "must be a string",
        ),
        (
            json!({"name": "a", "email": "a@b.co", "password": {"$gt": ""}}),
            vec!["password"],
            "must be a string",
        ),
        (
            json!({"name": ["a"], "email": "a@b.co", "password": "12345678"}),
            vec!["name"],
            "must be a string",
        ),
        (
            json!({"name": "a", "email": "a@b.co", "password": "12345678", "role": "admin"}),
            vec!["role"],
            "not an allowed field",
        ),
        (
            json!({"name": "a", "email": "a@b.co", "password": "12345678", "isAdmin": true, "id": "x"}),
            vec!["isAdmin", "id"],
            "not an allowed field",
        ),
        (
            json!({"name": "a", "email": "not-an-email", "password": "12345678"}),
            vec!["email"],
            "email address",
        ),
        (
            json!({"name": "a", "email": "a@b.co", "password": "short"}),
            vec!["password"],
            "at least 8",
        ),
        (
            json!({"name": "a", "email": "a@b.co", "password": "x".repeat(129)}),
            vec!["password"],
            "at most 128",
        ),
        (
            json!({"name": "   ", "email": "a@b.co", "password": "12345678"}),
            vec!["name"],
            "must not be empty",
        ),
        (json!({}), vec!["name", "email", "password"], "is required"),
    ];
    for (body, fields, message) in cases {
        let resp = app
            .send(
                app.anonymous(reqwest::Method::POST, "/api/users")
                    .json(&body),
            )
            .await;
        resp.error(400, "VALIDATION_ERROR");
        let mut got = resp.detail_fields();
        got.sort();
        let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        want.sort();
        assert_eq!(got, want, "{body}");
        assert!(resp.text.contains(message), "{body}: {}", resp.text);
    }
    assert_eq!(
        queue(&app).counts().await.unwrap().waiting,
        0,
        "no job for a refused sign-up"
    );
    // Read the list as an admin (made now, so its own welcome email cannot blur the check above).
    app.act_as_admin().await;
    assert_eq!(
        app.get("/api/users?includeDeleted=true").await.json()["meta"]["total"],
        1,
        "only the admin"
    );
}

async fn a_user_created_while_the_queue_is_down_gets_its_email_once_the_queue_is_back(
    backend: Backend,
) {
    let app = backend.spawn().start().await;
    // The queue goes down: every insert into its table fails (a real SQLite error in the
    // embedded queue), while the store works.
    app.db()
        .execute_batch(
            "CREATE TRIGGER queue_down BEFORE INSERT ON queue_jobs BEGIN SELECT RAISE(ABORT, 'queue is down'); END;",
        )
        .unwrap();
    let user = sign_up(&app, "Grace", "grace@example.com").await;
    let id = user["id"].as_str().unwrap();
    let job_id = format!("welcome-{id}");
    let refused = app
        .wait_for_log(|l| {
            l["msg"] == "queue unavailable; job kept in the outbox" && l["jobId"] == job_id.as_str()
        })
        .await;
    assert!(refused.is_some(), "{:?}", app.logs());
    let token = app.login("grace@example.com").await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let own = app
        .send(app.with_token(&token, reqwest::Method::GET, &format!("/api/users/{id}")))
        .await;
    assert_eq!(own.status, 200, "the user exists: {}", own.text);
    assert!(queue(&app).job(&job_id).await.unwrap().is_none());
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains("outbox_backlog 1"), "{metrics}");

    // The queue comes back: the relay's retry delivers the job, exactly once.
    app.db().execute_batch("DROP TRIGGER queue_down;").unwrap();
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job.data["email"], "grace@example.com");
    wait_until_async("the outbox to let go of the job", || async {
        app.get("/metrics").await.text.contains("outbox_backlog 0")
    })
    .await;
    assert_eq!(queue(&app).counts().await.unwrap().waiting, 1);
}

async fn jobs_left_in_the_outbox_by_a_stopped_instance_are_relayed_by_the_next(backend: Backend) {
    let first = backend.spawn().start().await;
    first
        .db()
        .execute_batch("CREATE TRIGGER queue_down BEFORE INSERT ON queue_jobs BEGIN SELECT RAISE(ABORT, 'down'); END;")
        .unwrap();
    let user = sign_up(&first, "Linus", "linus@example.com").await;
    let job_id = format!("welcome-{}", user["id"].as_str().unwrap());
    assert!(
        first
            .wait_for_log(|l| l["msg"] == "queue unavailable; job kept in the outbox")
            .await
            .is_some()
    );
    let data_dir = first.data_dir.clone();
    let mut first = first;
    first.signal(nix::sys::signal::Signal::SIGKILL);
    first.wait_exit().await;
    first
        .db()
        .execute_batch("DROP TRIGGER queue_down;")
        .unwrap();
    assert!(
        queue(&first).job(&job_id).await.unwrap().is_none(),
        "the killed instance never delivered it"
    );
    // A fresh instance on the same data relays the row once its claim lease has passed.
    let next = backend.spawn().data_dir(&data_dir).start().await;
    let job = wait_for_job(&next, &job_id).await;
    assert_eq!(job.name, "welcome-email");
    drop(first);
}

async fn concurrent_sign_ups_with_one_email_make_one_user(backend: Backend) {
    // Two instances on one database, eight sign-ups with the same email at once: the unique
    // index decides, whatever the interleaving.
    let one = backend.spawn().start().await;
    let two = backend.spawn().data_dir(&one.data_dir).start().await;
    // The admin that reads the list afterwards: the oldest user.
    one.act_as_admin().await;
    let mut racing = Vec::new();
    for i in 0..8 {
        let app = if i % 2 == 0 { &one } else { &two };
        let request = app.anonymous(reqwest::Method::POST, "/api/users").json(
            &json!({"name": format!("Racer {i}"), "email": "race@example.com", "password": "correct horse battery"}),
        );
        racing.push(tokio::spawn(async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            (status, response.text().await.expect("body"))
        }));
    }
    let mut statuses = Vec::new();
    for task in racing {
        let (status, text) = task.await.expect("task");
        if status == 409 {
            assert!(text.contains("EMAIL_TAKEN"), "{text}");
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
    let users = one.get("/api/users?includeDeleted=true").await.json();
    assert_eq!(
        users["meta"]["total"], 2,
        "the racer and the admin: {users}"
    );
    assert_eq!(users["data"][0]["email"], "race@example.com");
    assert_eq!(users["data"][1]["role"], "admin");
    // One user, one welcome email (and the admin's own).
    let id = users["data"][0]["id"].as_str().unwrap();
    wait_for_job(&one, &format!("welcome-{id}")).await;
    let admin = users["data"][1]["id"].as_str().unwrap();
    wait_for_job(&one, &format!("welcome-{admin}")).await;
    assert_eq!(queue(&one).counts().await.unwrap().waiting, 2);
}
