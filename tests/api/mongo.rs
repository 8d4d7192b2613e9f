//! What only the MongoDB backend has to prove, against a real wire-protocol server
//! (SecantusDB, see `tests/common/api/mongo.rs`): the API starts while the server is down and
//! connects when it appears; requests fail fast with 503 while it is down and recover when it
//! is back; the welcome email waits in the user's own document while the queue is down; the
//! indexes are made at start, idempotently, and a unique index that cannot be built keeps the
//! API from serving; every list shape has its index on the server (`explain`); TLS
//! (`tls=true&tlsCAFile=…`) works and an untrusted server is refused.
//! The rest of the API suite runs on this backend too (`mongo::*` tests).

use crate::common::api;
use crate::common::tls;
use crate::common::wait::{PATIENCE, holds_within_async, wait_until_async};

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;

use api::mongo::MongoServer;
use api::{App, Backend, Spawn};
use mongodb::bson::{Document, doc};
use serde_json::json;

/// A call bound short enough that the down-server tests do not wait long, long enough for a
/// busy CI runner.
const DB_TIMEOUT: &str = "1s";

/// A sign-up, as anyone may make it: no token.
async fn sign_up(app: &App, email: &str) -> api::Resp {
    app.send(
        app.anonymous(reqwest::Method::POST, "/api/users")
            .json(&json!({"name": "M", "email": email, "password": api::PASSWORD})),
    )
    .await
}

fn users(db: &mongodb::Database) -> mongodb::Collection<Document> {
    db.collection("users")
}

#[tokio::test]
async fn the_api_starts_without_the_server_and_connects_when_it_appears() {
    let server = Arc::new(MongoServer::reserve());
    let notify_dir = tempfile::tempdir().unwrap();
    let notify_path = notify_dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let app = Backend::Mongo(server.clone())
        .spawn()
        .unready()
        .env("DB_TIMEOUT", DB_TIMEOUT)
        .env("NOTIFY_SOCKET", notify_path.to_str().unwrap())
        .start()
        .await;
    // Up and answering (the start did not wait for the database), but not ready: the database
    // is named, requests get a 503, and no READY=1 was sent.
    assert_eq!(app.get("/health").await.status, 200);
    let ready = app.get("/ready").await;
    ready.error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(ready.detail_fields(), ["database"]);
    let list = app.get("/api/products").await;
    list.error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(list.header("retry-after"), Some("5"));
    assert!(
        !list.text.contains("127.0.0.1"),
        "no driver message: {}",
        list.text
    );
    sign_up(&app, "early@example.com")
        .await
        .error(503, "SERVICE_UNAVAILABLE");
    notify.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    assert!(
        notify.recv(&mut buf).is_err(),
        "READY=1 sent while the database is down"
    );
    // The server appears: the API connects by itself, makes its indexes, and is ready.
    assert!(server.run().await, "the server starts");
    notify.set_nonblocking(false).unwrap();
    notify.set_read_timeout(Some(PATIENCE)).unwrap();
    let n = notify.recv(&mut buf).expect("READY=1 once connected");
    assert_eq!(&buf[..n], b"READY=1");
    assert!(
        app.becomes_ready().await,
        "never became ready: {:?}",
        app.logs()
    );
    assert!(
        app.wait_for_log(|l| l["msg"] == "connected to MongoDB; indexes in place")
            .await
            .is_some()
    );
    assert_eq!(sign_up(&app, "late@example.com").await.status, 201);
    sign_up(&app, "LATE@example.com")
        .await
        .error(409, "EMAIL_TAKEN");
    app.act_as_admin().await;
    let listed = app.get("/api/users").await.json();
    let emails: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert_eq!(
        (
            listed["meta"]["total"].as_u64(),
            emails.contains(&"early@example.com")
        ),
        (Some(2), false),
        "the sign-up refused while down left nothing behind (the other user is the admin): {listed}"
    );
}

#[tokio::test]
async fn requests_fail_fast_while_the_server_is_down_and_recover_when_it_is_back() {
    let backend = Backend::mongo().await;
    let Backend::Mongo(server) = backend.clone() else {
        unreachable!()
    };
    let app = backend.spawn().env("DB_TIMEOUT", DB_TIMEOUT).start().await;
    app.act_as_admin().await;
    let created = app
        .post("/api/products", &json!({"title": "Kept", "price": 3}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["data"]["id"].as_str().unwrap().to_owned();

    server.stop();
    // A burst of requests: every one is answered, 503 in the API's shape, none hangs.
    let mut burst = Vec::new();
    for i in 0..10 {
        let request = if i % 2 == 0 {
            app.request(reqwest::Method::GET, "/api/products")
        } else {
            app.request(reqwest::Method::POST, "/api/products")
                .json(&json!({"title": "Lost", "price": 1}))
        };
        burst.push(tokio::spawn(async move {
            let response = tokio::time::timeout(PATIENCE, request.send())
                .await
                .expect("a request hung while the database was down")
                .expect("response");
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = response.json().await.expect("JSON body");
            (status, retry_after, body)
        }));
    }
    for task in burst {
        let (status, retry_after, body) = task.await.unwrap();
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("SERVICE_UNAVAILABLE")),
            "{body}"
        );
        assert_eq!(retry_after.as_deref(), Some("5"));
    }
    // Once the server was found unreachable, calls fail at once instead of each waiting out
    // DB_TIMEOUT: the log shows calls refused by the store gate.
    assert!(
        app.wait_for_log(|l| l["msg"] == "database unavailable"
            && l["error"]
                .as_str()
                .unwrap_or("")
                .contains("known to the gate"))
            .await
            .is_some(),
        "{:?}",
        app.logs()
    );
    let ready = app.get("/ready").await;
    ready.error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(ready.detail_fields(), ["database"]);
    assert_eq!(app.get("/health").await.status, 200, "liveness holds");

    // The server comes back with its data: the API recovers by itself.
    assert!(server.run().await, "the server restarts");
    assert!(
        app.becomes_ready().await,
        "never recovered: {:?}",
        app.logs()
    );
    let read = app.get(&format!("/api/products/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json()["data"]["title"], "Kept");
    let listed = app.get("/api/products").await.json();
    assert_eq!(
        listed["meta"]["total"], 1,
        "no write of the outage got through: {listed}"
    );
    assert_eq!(
        app.post("/api/products", &json!({"title": "After", "price": 1}))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn a_pending_welcome_email_lives_in_the_user_document_until_relayed() {
    let backend = Backend::mongo().await;
    let Backend::Mongo(server) = backend.clone() else {
        unreachable!()
    };
    let app = backend.spawn().start().await;
    // The embedded queue goes down: inserts into its table fail.
    app.db()
        .execute_batch(
            "CREATE TRIGGER queue_down BEFORE INSERT ON queue_jobs BEGIN SELECT RAISE(ABORT, 'queue is down'); END;",
        )
        .unwrap();
    let created = sign_up(&app, "pending@example.com").await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["data"]["id"].as_str().unwrap().to_owned();
    let job_id = format!("welcome-{id}");
    assert!(
        app.wait_for_log(|l| l["msg"] == "queue unavailable; job kept in the outbox")
            .await
            .is_some()
    );

    // The job was written by the same insert as the user, inside the user's document.
    let db = server.database().await;
    let oid = mongodb::bson::oid::ObjectId::parse_str(&id).unwrap();
    let user = users(&db)
        .find_one(doc! {"_id": oid})
        .await
        .unwrap()
        .expect("user document");
    let outbox = user.get_document("outbox").expect("the pending job");
    let job = outbox
        .get_document("message")
        .unwrap()
        .get_document("job")
        .unwrap();
    assert_eq!(job.get_str("name").unwrap(), "welcome-email");
    assert_eq!(
        job.get_document("opts").unwrap().get_str("job_id").unwrap(),
        job_id
    );
    assert_eq!(
        job.get_document("data").unwrap().get_str("email").unwrap(),
        "pending@example.com"
    );
    // Never shown to clients (here the user itself).
    let token = app.login("pending@example.com").await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = app
        .send(app.with_token(&token, reqwest::Method::GET, &format!("/api/users/{id}")))
        .await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    let shown = shown.text;
    assert!(
        !shown.contains("outbox") && !shown.contains("passwordHash"),
        "{shown}"
    );

    // The queue is back: the relay enqueues the job and clears the field.
    app.db().execute_batch("DROP TRIGGER queue_down;").unwrap();
    wait_until_async("the job to leave the user's document", || async {
        let user = users(&db).find_one(doc! {"_id": oid}).await.unwrap();
        user.is_some_and(|u| !u.contains_key("outbox"))
    })
    .await;
    let queue = svc::queue::sqlite::SqliteQueue::open_in(&app.data_dir).unwrap();
    let job = svc::queue::Queue::job(&queue, &job_id).await.unwrap();
    assert_eq!(
        job.expect("on the queue").data["email"],
        "pending@example.com"
    );
}

#[tokio::test]
async fn indexes_are_made_at_start_and_a_unique_index_that_cannot_be_built_keeps_it_unready() {
    let backend = Backend::mongo().await;
    let Backend::Mongo(server) = backend.clone() else {
        unreachable!()
    };
    // Data from before the API: two users with one email, so `email` cannot be unique.
    let db = server.database().await;
    let at = mongodb::bson::DateTime::now();
    for _ in 0..2 {
        users(&db)
            .insert_one(
                doc! {"name": "Dup", "email": "dup@example.com", "createdAt": at, "updatedAt": at},
            )
            .await
            .unwrap();
    }
    let app = backend
        .spawn()
        .unready()
        .env("DB_TIMEOUT", DB_TIMEOUT)
        .start()
        .await;
    let ready = app.get("/ready").await;
    ready.error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(ready.detail_fields(), ["database"]);
    sign_up(&app, "dup@example.com")
        .await
        .error(503, "SERVICE_UNAVAILABLE");
    assert!(
        app.wait_for_log(|l| l["error"]
            .as_str()
            .unwrap_or("")
            .contains("cannot create the indexes of users"))
            .await
            .is_some(),
        "{:?}",
        app.logs()
    );

    // The operator removes the duplicate: the API builds the index by itself and serves.
    users(&db)
        .delete_one(doc! {"email": "dup@example.com"})
        .await
        .unwrap();
    assert!(app.becomes_ready().await, "{:?}", app.logs());
    sign_up(&app, "dup@example.com")
        .await
        .error(409, "EMAIL_TAKEN");

    // A second instance finds the indexes made and changes nothing.
    let second = backend.spawn().start().await;
    assert!(second.becomes_ready().await);
    let mut cursor = users(&db).list_indexes().await.unwrap();
    let mut found = Vec::new();
    while cursor.advance().await.unwrap() {
        let index = cursor.deserialize_current().unwrap();
        let unique = index
            .options
            .as_ref()
            .and_then(|o| o.unique)
            .unwrap_or(false);
        found.push((index.keys.to_string(), unique));
    }
    found.sort();
    assert!(
        found.contains(&(doc! {"email": 1}.to_string(), true)),
        "{found:?}"
    );
    assert_eq!(
        found.len(),
        4,
        "_id, email, createdAt+_id, outbox.dueAt: {found:?}"
    );
    let products = db
        .collection::<Document>("products")
        .list_index_names()
        .await
        .unwrap();
    for name in [
        "price_1__id_1",
        "createdAt_1__id_1",
        "category_1",
        "tags_1",
        // A filter and its sort from one index walk.
        "category_1_price_1__id_1",
        "category_1_createdAt_1__id_1",
        "brand_1_title_1__id_1",
        "brand_1_stock_1__id_1",
    ] {
        assert!(products.iter().any(|n| n == name), "{name} in {products:?}");
    }
}

#[tokio::test]
async fn tls_to_the_server_works_with_its_ca_and_an_untrusted_or_plain_connection_is_refused() {
    let pki = tls::Pki::new();
    let server = Arc::new(MongoServer::start_tls(pki.dir()).await);

    // Trusted through tlsCAFile: the API connects, serves, and the data is on the server.
    let app = Backend::Mongo(server.clone()).spawn().start().await;
    let token = app.act_as_admin().await;
    let created = app
        .post("/api/products", &json!({"title": "Over TLS", "price": 1}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let stored = server
        .database()
        .await
        .collection::<Document>("products")
        .count_documents(doc! {"title": "Over TLS"})
        .await
        .unwrap();
    assert_eq!(stored, 1);

    // Without the CA (the system's roots do not know it), and without TLS at all: the API
    // starts but is never ready, names the database, and logs no secret-bearing URL.
    let untrusted = server.plain_url() + "&tls=true";
    for (url, why) in [
        (untrusted, "invalid peer certificate"),
        (server.plain_url(), "Connection reset"),
    ] {
        let app = Spawn::new()
            .env("DB_URL", &url)
            .env("AUTH_SECRET", api::TEST_AUTH_SECRET)
            .env("DB_TIMEOUT", DB_TIMEOUT)
            .start()
            .await;
        // Polled until a connection attempt has failed for that reason (not merely not
        // finished yet): /ready logs it.
        let failed = holds_within_async(PATIENCE, || async {
            let ready = app.get("/ready").await;
            ready.error(503, "SERVICE_UNAVAILABLE");
            assert_eq!(ready.detail_fields(), ["database"], "{url}");
            app.logs().iter().any(|l| {
                l["msg"] == "not ready"
                    && l["dependency"] == "database"
                    && l["error"].as_str().unwrap_or("").contains(why)
            })
        })
        .await;
        assert!(failed, "never failed with {why:?}: {:?}", app.logs());
        // The admin's token (same signing key) gets as far as the store, which is unreachable.
        app.send(
            app.with_token(&token, reqwest::Method::POST, "/api/products")
                .json(&json!({"title": "Refused", "price": 1})),
        )
        .await
        .error(503, "SERVICE_UNAVAILABLE");
    }
}

/// Every list shape (each filter with each sort key) has the index a MongoDB planner walks for
/// it: `category` or `brand` then the first sort key then `_id`, `tags`, or the first sort key
/// then `_id` (a search's regex cannot use an index; its order can). The filter and sort are
/// the documents the store sends. SecantusDB's own choice is a collection scan for every list:
/// it picks an index only when the index's leading keys cover every filter field with at most
/// one range, and every list filters `deletedAt: null` (docs/MONGODB.md). So each shape is
/// explained with that index as the hint: the server must know the index (an unknown hint is an
/// error) and report the list as a scan of it.
#[tokio::test]
async fn every_list_shape_has_its_index_on_the_server() {
    let backend = Backend::mongo().await;
    let Backend::Mongo(server) = backend.clone() else {
        unreachable!()
    };
    let app = backend.spawn().start().await;
    assert!(app.becomes_ready().await, "{:?}", app.logs());
    let db = server.database().await;
    let filters = [
        "",
        "category=laptops",
        "brand=Acme",
        "category=laptops&minPrice=100&maxPrice=1500&inStock=true",
        "brand=Acme&inStock=false",
        "minPrice=100&maxPrice=1500",
        "tags=sale",
        "search=phone",
    ];
    let sorts = [
        "",
        "price",
        "-price",
        "-price,title",
        "title",
        "stock",
        "createdAt",
        "-updatedAt",
    ];
    for filter in filters {
        for sort in sorts {
            let raw = format!("{filter}&sort={sort}&page=5");
            let raw = raw.replace("&sort=&", "&");
            let query = svc::query::parse_products(Some(raw.trim_start_matches('&'))).unwrap();
            let filter_doc = svc::store::mongo::product_filter(&query.filter);
            let sort_doc = svc::store::mongo::product_sort(&query);
            let first_key = sort_doc.keys().next().unwrap().clone();
            let index = match ["category", "brand"]
                .into_iter()
                .find(|f| filter_doc.contains_key(*f))
            {
                Some(field) => format!("{field}_1_{first_key}_1__id_1"),
                None if filter_doc.contains_key("tags") => "tags_1".to_owned(),
                None => format!("{first_key}_1__id_1"),
            };
            let explained = db
                .run_command(doc! {
                    "explain": {
                        "find": "products",
                        "filter": filter_doc.clone(),
                        "sort": sort_doc.clone(),
                        "skip": 80_i64,
                        "limit": 20_i64,
                        "hint": index.as_str(),
                    },
                    "verbosity": "queryPlanner",
                })
                .await
                .unwrap_or_else(|e| panic!("{raw}: {index}: {e}"));
            let mut stage = explained
                .get_document("queryPlanner")
                .and_then(|p| p.get_document("winningPlan"))
                .ok();
            let mut scanned = None;
            while let Some(s) = stage {
                if s.get_str("stage") == Ok("IXSCAN") {
                    scanned = s.get_str("indexName").ok().map(str::to_owned);
                }
                stage = s.get_document("inputStage").ok();
            }
            assert_eq!(
                scanned.as_deref(),
                Some(index.as_str()),
                "{raw}: {filter_doc} {sort_doc}: {explained}"
            );
        }
    }
}
