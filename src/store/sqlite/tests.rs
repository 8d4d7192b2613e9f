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
async fn products_round_trip_and_filter() {
    let (_dir, owned) = store();
    owned.ping().await.unwrap();
    let store: &dyn ProductRepository = &owned;
    let phone = store
        .insert(product(json!({"title": "Phone", "price": 500, "brand": "Acme", "category": "phones", "tags": ["5g", "apple"], "stock": 3}), 1))
        .await
        .unwrap();
    store
        .insert(product(
            json!({"title": "Case", "description": "for a PHONE", "price": 20, "tags": ["apple"]}),
            2,
        ))
        .await
        .unwrap();
    store
        .insert(product(
            json!({"title": "100% cotton_shirt", "price": 30, "stock": 1}),
            3,
        ))
        .await
        .unwrap();
    assert_eq!(store.get(phone.id, false).await.unwrap(), phone);
    assert_eq!(
        titles(store, "").await,
        (
            vec!["100% cotton_shirt".into(), "Case".into(), "Phone".into()],
            3
        )
    );
    assert_eq!(
        titles(store, "search=phone&sort=price").await.0,
        ["Case", "Phone"]
    );
    assert_eq!(
        titles(store, "search=%25").await.0,
        ["100% cotton_shirt"],
        "% is literal"
    );
    assert_eq!(
        titles(store, "search=o_t").await.0,
        Vec::<String>::new(),
        "_ is literal"
    );
    assert_eq!(titles(store, "tags=5g").await.0, ["Phone"]);
    assert_eq!(titles(store, "tags=apple&inStock=true").await.0, ["Phone"]);
    assert_eq!(titles(store, "inStock=false").await.0, ["Case"]);
    assert_eq!(
        titles(store, "price[gt]=20&price[lt]=500").await.0,
        ["100% cotton_shirt"]
    );
    assert_eq!(titles(store, "brand=Acme").await.0, ["Phone"]);
    assert_eq!(
        titles(store, "brand=acme").await.0,
        Vec::<String>::new(),
        "exact match"
    );
    assert!(matches!(
        store.get(ObjectId::new(), true).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn updates_deletes_and_restores() {
    let (_dir, owned) = store();
    let store: &dyn ProductRepository = &owned;
    let p = store
        .insert(product(
            json!({"title": "Old", "price": 1, "tags": ["a"]}),
            1,
        ))
        .await
        .unwrap();
    let patch = ProductPatch::from_json(&json!({"title": "New", "tags": ["b"]})).unwrap();
    let updated = store
        .update(p.id, patch, Timestamp::from_millis(9))
        .await
        .unwrap();
    assert_eq!(
        (updated.title.as_str(), updated.updated_at.millis()),
        ("New", 9)
    );
    assert_eq!(titles(store, "tags=a").await.1, 0);
    assert_eq!(titles(store, "tags=b&search=new").await.1, 1);

    let deleted = store
        .soft_delete(p.id, Timestamp::from_millis(10))
        .await
        .unwrap();
    assert_eq!(deleted.deleted_at, Some(Timestamp::from_millis(10)));
    assert!(matches!(
        store.get(p.id, false).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.get(p.id, true).await.is_ok());
    assert!(matches!(
        store.soft_delete(p.id, Timestamp::from_millis(11)).await,
        Err(StoreError::NotFound)
    ));
    let patch = ProductPatch::from_json(&json!({"price": 2})).unwrap();
    assert!(matches!(
        store.update(p.id, patch, Timestamp::from_millis(11)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(titles(store, "").await.1, 0);
    assert_eq!(titles(store, "includeDeleted=true").await.1, 1);

    let restored = store
        .restore(p.id, Timestamp::from_millis(12))
        .await
        .unwrap();
    assert_eq!(restored.deleted_at, None);
    assert_eq!(store.get(p.id, false).await.unwrap(), restored);
}

#[tokio::test]
async fn the_search_index_finds_what_the_scan_finds_and_follows_every_write() {
    let (_dir, owned) = store();
    let store: &dyn ProductRepository = &owned;
    let bodies = [
        json!({"title": "Straße Ölkanne", "description": "say \"hi\" OR not*", "price": 1}),
        json!({"title": "ÉCRAN 4K", "brand": "Ünï", "category": "screens", "price": 2}),
        json!({"title": "aaaa", "description": "(x) ^y: z", "price": 3}),
        json!({"title": "end", "description": "tail", "brand": "abc", "price": 4}),
    ];
    let mut ids = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        ids.push(store.insert(product(body, i as i64)).await.unwrap().id);
    }
    for (search, expected) in [
        ("straße", vec!["Straße Ölkanne"]),
        ("ölk", vec!["Straße Ölkanne"]),
        ("%22hi%22%20or", vec!["Straße Ölkanne"]),
        ("not*", vec!["Straße Ölkanne"]),
        ("écran", vec!["ÉCRAN 4K"]),
        ("ÜNÏ", vec!["ÉCRAN 4K"]),
        ("aaa", vec!["aaaa"]),
        ("aaaa", vec!["aaaa"]),
        ("aaaaa", vec![]),
        ("(x)%20%5Ey%3A", vec!["aaaa"]),
        // A search never matches across two fields.
        ("endtail", vec![]),
        ("tailabc", vec![]),
        ("ab", vec!["end"]),
        ("4", vec!["ÉCRAN 4K"]),
    ] {
        let (found, total) = titles(store, &format!("search={search}&sort=price")).await;
        assert_eq!(found, expected, "search={search}");
        assert_eq!(total, expected.len() as u64, "search={search}");
    }

    let patch = ProductPatch::from_json(&json!({"title": "Kettle"})).unwrap();
    store
        .update(ids[0], patch, Timestamp::from_millis(9))
        .await
        .unwrap();
    assert_eq!(titles(store, "search=straße").await.1, 0);
    assert_eq!(titles(store, "search=kettle").await.0, ["Kettle"]);
    let patch = ProductPatch::from_json(&json!({"price": 8})).unwrap();
    store
        .update(ids[0], patch, Timestamp::from_millis(10))
        .await
        .unwrap();
    assert_eq!(titles(store, "search=kettle").await.1, 1);
    store
        .soft_delete(ids[0], Timestamp::from_millis(11))
        .await
        .unwrap();
    assert_eq!(titles(store, "search=kettle").await.1, 0);
    assert_eq!(
        titles(store, "search=kettle&includeDeleted=true").await.1,
        1
    );
    store
        .restore(ids[0], Timestamp::from_millis(12))
        .await
        .unwrap();
    assert_eq!(titles(store, "search=kettle").await.1, 1);
    owned
        .pool
        .write(|tx| {
            tx.execute("DELETE FROM products WHERE title = 'Kettle'", [])
                .map_err(super::map_err)
        })
        .await
        .unwrap();
    assert_eq!(
        titles(store, "search=kettle&includeDeleted=true").await.1,
        0
    );
    let check = owned
        .pool
        .read(|conn| {
            conn.execute(
                "INSERT INTO products_search (products_search) VALUES ('integrity-check')",
                [],
            )
            .map_err(super::map_err)
        })
        .await;
    assert!(check.is_ok(), "{check:?}");
}

#[tokio::test]
async fn a_database_of_the_schema_before_the_search_index_gets_its_indexes_when_opened() {
    opened_with_indexes(false).await;
}

#[tokio::test]
async fn a_database_with_the_first_search_index_gets_the_live_one_when_opened() {
    opened_with_indexes(true).await;
}

async fn opened_with_indexes(with_first_search_index: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(super::DB_FILE);
    {
        // The products table as the previous schema made it, with rows, and no search index.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE products (
                id TEXT PRIMARY KEY, title TEXT NOT NULL, description TEXT, price REAL NOT NULL,
                brand TEXT, category TEXT, tags TEXT NOT NULL DEFAULT '[]',
                stock INTEGER NOT NULL DEFAULT 0, search_text TEXT NOT NULL,
                created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted_at INTEGER
            );
            CREATE INDEX products_price ON products (price, id);",
        )
        .unwrap();
        if with_first_search_index {
            // The first search index, which also held deleted products.
            conn.execute_batch(
                "CREATE VIRTUAL TABLE products_fts USING fts5(search_text, content = 'products',
                    content_rowid = 'rowid', tokenize = 'trigram case_sensitive 1');
                CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
                    INSERT INTO products_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
                END;",
            )
            .unwrap();
        }
        for (i, title) in ["Old Phone", "Old Lamp", "Headphones"]
            .into_iter()
            .enumerate()
        {
            conn.execute(
                "INSERT INTO products (id, title, price, search_text, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, 1, 1)",
                rusqlite::params![
                    ObjectId::new().to_string(),
                    title,
                    i as f64,
                    title.to_lowercase()
                ],
            )
            .unwrap();
        }
    }
    let owned = SqliteStore::open(&path).unwrap();
    let store: &dyn ProductRepository = &owned;
    let live_indexes: i64 = owned
        .pool
        .read(|conn| {
            conn.query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' \
                 AND name LIKE 'products_live_%' AND sql LIKE '%WHERE deleted_at IS NULL'",
                [],
                |r| r.get(0),
            )
            .map_err(super::map_err)
        })
        .await
        .unwrap();
    assert_eq!(live_indexes, 15);
    assert_eq!(
        titles(store, "search=phone&sort=price").await,
        (vec!["Old Phone".into(), "Headphones".into()], 2)
    );
    let added = store
        .insert(product(json!({"title": "New Phone", "price": 9}), 2))
        .await
        .unwrap();
    assert_eq!(titles(store, "search=phone").await.1, 3);
    drop(owned);
    // Opening again keeps the index as it is (no second fill, no duplicates).
    let owned = SqliteStore::open(&path).unwrap();
    let store: &dyn ProductRepository = &owned;
    assert_eq!(titles(store, "search=phone").await.1, 3);
    assert!(store.get(added.id, false).await.is_ok());
    let first_index_left: i64 = owned
        .pool
        .read(|conn| {
            conn.query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE name LIKE 'products_fts%'",
                [],
                |r| r.get(0),
            )
            .map_err(super::map_err)
        })
        .await
        .unwrap();
    assert_eq!(first_index_left, 0);
}

#[tokio::test]
async fn a_search_with_many_matches_pages_like_one_with_few() {
    let (_dir, owned) = store();
    let mut phones = Vec::new();
    for i in 0..40 {
        phones.push(product(
            json!({"title": format!("Phone {i:02}"), "price": 40 - i}),
            i,
        ));
    }
    phones.push(product(json!({"title": "Lamp", "price": 1}), 50));
    owned.insert_many(phones.clone()).await.unwrap();
    let store: &dyn ProductRepository = &owned;
    store
        .soft_delete(phones[0].id, Timestamp::from_millis(60))
        .await
        .unwrap();
    // 39 live matches of 41 rows: pages walk the price index (the plan chosen from the count).
    let mut seen = Vec::new();
    for page in 1..=4 {
        let (found, total) = titles(
            store,
            &format!("search=phone&sort=price&limit=10&page={page}"),
        )
        .await;
        assert_eq!(total, 39);
        seen.extend(found);
    }
    let expected: Vec<String> = (1..40).rev().map(|i| format!("Phone {i:02}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(
        titles(store, "search=phone&includeDeleted=true").await.1,
        40
    );
    assert_eq!(titles(store, "search=phone&maxPrice=5").await.1, 5);
    assert_eq!(titles(store, "search=lamp").await.0, ["Lamp"]);
}

#[tokio::test]
async fn a_bulk_insert_writes_like_single_inserts_or_not_at_all() {
    let (_dir, owned) = store();
    let phones: Vec<Product> = (0..3)
        .map(|i| {
            product(
                json!({"title": format!("Phone {i}"), "price": i, "tags": ["x"]}),
                i,
            )
        })
        .collect();
    owned.insert_many(phones.clone()).await.unwrap();
    let store: &dyn ProductRepository = &owned;
    assert_eq!(titles(store, "search=phone&tags=x").await.1, 3);
    assert_eq!(store.get(phones[1].id, false).await.unwrap(), phones[1]);
    // A batch with a product already stored fails whole.
    let lamp = product(json!({"title": "Lamp", "price": 1}), 5);
    let refused = owned.insert_many(vec![lamp, phones[0].clone()]).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(titles(store, "search=lamp").await.1, 0);
    assert_eq!(titles(store, "").await.1, 3);
}

#[tokio::test]
async fn pages_never_overlap_when_sort_keys_tie() {
    let (_dir, owned) = store();
    let store: &dyn ProductRepository = &owned;
    for i in 0..25 {
        store
            .insert(product(json!({"title": format!("p{i}"), "price": 5}), 7))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    for page in 1..=3 {
        let q = parse_products(Some(&format!("sort=price&limit=10&page={page}"))).unwrap();
        seen.extend(
            store
                .list(&q)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|p| p.id),
        );
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (25, 25));
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
    let other = crate::sqlite::open(&dir.path().join(super::DB_FILE)).unwrap();
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
    let other = crate::sqlite::open(&dir.path().join(super::DB_FILE)).unwrap();
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

/// Totals are remembered between lists of an unchanged catalogue; every kind of write, made by
/// this store, by another one on the same file (a second API instance) or by plain SQL in
/// another connection, is seen by the next list's `meta.total`.
#[tokio::test]
async fn a_remembered_total_follows_every_write_from_any_process() {
    let (dir, owned) = store();
    let other = SqliteStore::open_in(dir.path()).unwrap();
    let store: &dyn ProductRepository = &owned;
    let writer: &dyn ProductRepository = &other;
    let queries = [
        "search=phone",
        "search=phone&inStock=true",
        "category=phones&minPrice=10",
        "tags=sale",
        "search=ph",
        "",
    ];
    async fn totals(store: &dyn ProductRepository, queries: &[&str]) -> Vec<u64> {
        let mut out = Vec::new();
        for query in queries {
            out.push(titles(store, query).await.1);
        }
        out
    }
    let phone = store
        .insert(product(
            json!({"title": "Phone", "price": 50, "category": "phones", "stock": 1, "tags": ["sale"]}),
            1,
        ))
        .await
        .unwrap();
    assert_eq!(totals(store, &queries).await, [1, 1, 1, 1, 1, 1]);
    // Twice: the second lists come from the remembered totals, and agree.
    assert_eq!(totals(store, &queries).await, [1, 1, 1, 1, 1, 1]);

    writer
        .insert(product(
            json!({"title": "Headphones", "price": 5, "category": "phones"}),
            2,
        ))
        .await
        .unwrap();
    assert_eq!(totals(store, &queries).await, [2, 1, 1, 1, 2, 2]);
    let patch = ProductPatch::from_json(&json!({"stock": 0, "tags": ["new"]})).unwrap();
    writer
        .update(phone.id, patch, Timestamp::from_millis(3))
        .await
        .unwrap();
    assert_eq!(totals(store, &queries).await, [2, 0, 1, 0, 2, 2]);
    writer
        .soft_delete(phone.id, Timestamp::from_millis(4))
        .await
        .unwrap();
    assert_eq!(totals(store, &queries).await, [1, 0, 0, 0, 1, 1]);
    writer
        .restore(phone.id, Timestamp::from_millis(5))
        .await
        .unwrap();
    assert_eq!(totals(store, &queries).await, [2, 0, 1, 0, 2, 2]);
    other
        .insert_many(vec![
            product(
                json!({"title": "Phone case", "price": 12, "tags": ["sale"], "stock": 3}),
                6,
            ),
            product(json!({"title": "Lamp", "price": 12, "tags": ["sale"]}), 7),
        ])
        .await
        .unwrap();
    assert_eq!(totals(store, &queries).await, [3, 1, 1, 2, 3, 4]);

    // Another process's plain SQL: a price change, a tag removed, a row deleted.
    let conn = rusqlite::Connection::open(dir.path().join(super::DB_FILE)).unwrap();
    conn.execute("UPDATE products SET price = 1 WHERE title = 'Phone'", [])
        .unwrap();
    assert_eq!(totals(store, &queries).await, [3, 1, 0, 2, 3, 4]);
    conn.execute(
        "DELETE FROM product_tags WHERE product_id = (SELECT id FROM products WHERE title = 'Lamp')",
        [],
    )
    .unwrap();
    assert_eq!(totals(store, &queries).await, [3, 1, 0, 1, 3, 4]);
    conn.execute("DELETE FROM products WHERE title = 'Headphones'", [])
        .unwrap();
    assert_eq!(totals(store, &queries).await, [2, 1, 0, 1, 2, 3]);
}
