//! Products: writes, lists, pages and remembered totals.

use super::*;

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
    let conn = rusqlite::Connection::open(dir.path().join(crate::store::sqlite::DB_FILE)).unwrap();
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
