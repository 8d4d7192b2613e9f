//! The embedded backend against a real database file.

use std::time::Duration;

use serde_json::json;

use super::SqliteStore;
use crate::domain::{Email, NewProduct, ObjectId, Product, ProductPatch, Role, Timestamp, User};
use crate::query::{parse_products, parse_users};
use crate::queue::NewJob;
use crate::store::{
    Health, Outbox, OutboxMessage, ProductRepository, RateCounter, StoreError, UserRepository,
};

mod products;
mod search;

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).unwrap();
    (dir, store)
}

fn product(body: serde_json::Value, at: i64) -> Product {
    Product::create(
        NewProduct::from_json(&body).unwrap(),
        Timestamp::from_millis(at),
    )
}

async fn titles(store: &dyn ProductRepository, query: &str) -> (Vec<String>, u64) {
    let page = store
        .list(&parse_products(Some(query)).unwrap())
        .await
        .unwrap();
    (
        page.items.into_iter().map(|p| p.title).collect(),
        page.total,
    )
}

fn message(user: &User) -> OutboxMessage {
    OutboxMessage {
        queue: "email-queue".into(),
        job: NewJob {
            name: "welcome-email".into(),
            data: json!({"userId": user.id.to_string()}),
            opts: Default::default(),
        },
    }
}

#[tokio::test]
async fn a_user_and_its_outbox_message_are_written_together() {
    let (_dir, owned) = store();
    let store: &dyn UserRepository = &owned;
    let outbox: &dyn Outbox = &owned;
    let now = Timestamp::now();
    let ann = User::register(
        "Ann".into(),
        Email::parse("ann@example.com").unwrap(),
        Role::User,
        now,
    );
    store
        .insert(ann.clone(), "hash".into(), message(&ann))
        .await
        .unwrap();
    let twin = User::register(
        "Twin".into(),
        Email::parse("ann@example.com").unwrap(),
        Role::User,
        now,
    );
    assert!(matches!(
        store.insert(twin.clone(), "h".into(), message(&twin)).await,
        Err(StoreError::EmailTaken)
    ));
    assert_eq!(
        outbox.backlog().await.unwrap(),
        1,
        "the refused user left no message"
    );

    let claimed = outbox.claim(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].message, message(&ann));
    assert!(
        outbox
            .claim(10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    outbox
        .retry_later(&claimed[0].id, "down", Duration::ZERO)
        .await
        .unwrap();
    let again = outbox.claim(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(again[0].attempts, 1);
    outbox.delivered(&again[0].id).await.unwrap();
    assert_eq!(outbox.backlog().await.unwrap(), 0);

    assert_eq!(store.get(ann.id, false).await.unwrap(), ann);
    store.soft_delete(ann.id, Timestamp::now()).await.unwrap();
    assert!(matches!(
        store.get(ann.id, false).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.list(&parse_users(None).unwrap()).await.unwrap().total,
        0
    );
    assert_eq!(
        store
            .list(&parse_users(Some("includeDeleted=true")).unwrap())
            .await
            .unwrap()
            .total,
        1
    );
}

#[tokio::test]
async fn rate_counters_are_shared_through_the_file() {
    let (dir, one) = store();
    let two = SqliteStore::open_in(dir.path()).unwrap();
    assert_eq!(one.hit("1.2.3.4", 1000).await.unwrap(), 1);
    assert_eq!(two.hit("1.2.3.4", 1000).await.unwrap(), 2);
    assert_eq!(two.hit("5.6.7.8", 1000).await.unwrap(), 1);
    assert_eq!(
        one.hit("1.2.3.4", 2000).await.unwrap(),
        1,
        "a new window starts at 1"
    );
}

#[tokio::test]
async fn the_probe_sees_another_process_holding_the_write_lock_within_its_wait() {
    let (dir, store) = store();
    assert_eq!(store.probe().await, crate::store::Probe::UP);
    let other = crate::sqlite::open(&dir.path().join(crate::store::sqlite::DB_FILE)).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE;").unwrap();
    let started = std::time::Instant::now();
    let probe = store.probe().await;
    assert!(probe.reads && !probe.writes, "{probe:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the probe waited the busy timeout"
    );
    other.execute_batch("ROLLBACK;").unwrap();
    assert_eq!(store.probe().await, crate::store::Probe::UP);
}

#[tokio::test]
async fn a_write_given_up_while_waiting_for_the_lock_never_happens() {
    let (dir, store) = store();
    let other = crate::sqlite::open(&dir.path().join(crate::store::sqlite::DB_FILE)).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE;").unwrap();
    let given_up = tokio::time::timeout(
        Duration::from_millis(300),
        ProductRepository::insert(&store, product(json!({"title": "ghost", "price": 1}), 1)),
    )
    .await;
    assert!(given_up.is_err(), "the write waited for the lock");
    other.execute_batch("ROLLBACK;").unwrap();
    // The abandoned transaction gets the lock now (SQLite's busy handler retries every few
    // ms); it must roll back, not insert. There is no event for "nothing was written", so give
    // it ample time to do the wrong thing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (titles, total) = titles(&store, "").await;
    assert_eq!((titles.len(), total), (0, 0), "{titles:?}");
}
