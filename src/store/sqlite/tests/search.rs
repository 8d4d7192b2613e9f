//! The search index: same answers as a scan, kept by every write, built when an older
//! database is opened.

use super::*;

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
                .map_err(crate::store::sqlite::map_err)
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
            .map_err(crate::store::sqlite::map_err)
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
    let path = dir.path().join(crate::store::sqlite::DB_FILE);
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
            .map_err(crate::store::sqlite::map_err)
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
            .map_err(crate::store::sqlite::map_err)
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
