//! `svc api` products over real HTTP: every route, and the query engine against a seeded
//! catalogue whose answers are known. Every test runs on both store backends.

use crate::common::api;

use api::{App, Backend};
use serde_json::{Value, json};

/// (title, description, price, brand, category, tags, stock)
type Row = (
    &'static str,
    &'static str,
    f64,
    &'static str,
    &'static str,
    &'static [&'static str],
    i64,
);

/// The catalogue, created in this order.
fn catalogue() -> Vec<Value> {
    let rows: [Row; 10] = [
        (
            "iPhone 15",
            "Apple smartphone",
            999.0,
            "Apple",
            "phones",
            &["apple", "5g"],
            5,
        ),
        (
            "Galaxy S24",
            "Samsung flagship phone",
            899.0,
            "Samsung",
            "phones",
            &["samsung", "5g", "android"],
            0,
        ),
        (
            "Pixel 8",
            "Google phone with a great camera",
            699.0,
            "Google",
            "phones",
            &["android", "5g"],
            12,
        ),
        (
            "Phone Case",
            "Protective case for phones",
            19.99,
            "Generic",
            "accessories",
            &["case"],
            100,
        ),
        (
            "USB-C Cable",
            "1m braided cable",
            9.5,
            "Anker",
            "accessories",
            &["cable"],
            0,
        ),
        (
            "MacBook Air",
            "Light laptop",
            1199.0,
            "Apple",
            "laptops",
            &["apple", "laptop"],
            3,
        ),
        (
            "ThinkPad X1",
            "Business laptop",
            1499.0,
            "Lenovo",
            "laptops",
            &["laptop"],
            7,
        ),
        (
            "AirPods Pro",
            "Noise cancelling earbuds",
            249.0,
            "Apple",
            "audio",
            &["apple", "audio"],
            0,
        ),
        (
            "50% Off Sticker",
            "Sticker pack_of 10",
            2.0,
            "Generic",
            "accessories",
            &[],
            1000,
        ),
        (
            "Galaxy Tab",
            "Samsung tablet",
            499.0,
            "Samsung",
            "tablets",
            &["samsung", "android"],
            8,
        ),
    ];
    rows.iter()
        .map(
            |(title, description, price, brand, category, tags, stock)| {
                json!({"title": title, "description": description, "price": price, "brand": brand,
                   "category": category, "tags": tags, "stock": stock})
            },
        )
        .collect()
}

/// Seeds the catalogue; returns the ids in creation order.
async fn seed(app: &App) -> Vec<String> {
    let mut ids = Vec::new();
    for product in catalogue() {
        let resp = app.post("/api/products", &product).await;
        assert_eq!(resp.status, 201, "{}", resp.text);
        ids.push(resp.json()["data"]["id"].as_str().unwrap().to_owned());
    }
    ids
}

fn titles(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn query(app: &App, q: &str) -> Value {
    let resp = app.get(&format!("/api/products?{q}")).await;
    assert_eq!(resp.status, 200, "{q}: {}", resp.text);
    resp.json()
}

backend_tests!(
    every_parameter_alone_and_combined_gives_the_known_answer,
    products_are_created_read_patched_deleted_and_restored,
    bad_bodies_are_refused_naming_each_field,
    bad_queries_are_refused_naming_each_parameter,
    injection_attempts_are_inert,
);

async fn every_parameter_alone_and_combined_gives_the_known_answer(backend: Backend) {
    let app = backend.spawn().start().await;
    app.act_as_admin().await;
    seed(&app).await;
    let all_by_price = [
        "50% Off Sticker",
        "USB-C Cable",
        "Phone Case",
        "AirPods Pro",
        "Galaxy Tab",
        "Pixel 8",
        "Galaxy S24",
        "iPhone 15",
        "MacBook Air",
        "ThinkPad X1",
    ];
    let cases: Vec<(&str, Vec<&str>)> = vec![
        // the default order: newest first
        (
            "",
            vec![
                "Galaxy Tab",
                "50% Off Sticker",
                "AirPods Pro",
                "ThinkPad X1",
                "MacBook Air",
                "USB-C Cable",
                "Phone Case",
                "Pixel 8",
                "Galaxy S24",
                "iPhone 15",
            ],
        ),
        // search: case-insensitive substring of title, description, brand, category
        (
            "search=phone&sort=title",
            vec!["Galaxy S24", "Phone Case", "Pixel 8", "iPhone 15"],
        ),
        (
            "search=PHONE&sort=title",
            vec!["Galaxy S24", "Phone Case", "Pixel 8", "iPhone 15"],
        ),
        (
            "search=%20samsung%20&sort=title",
            vec!["Galaxy S24", "Galaxy Tab"],
        ),
        (
            "search=laptops&sort=title",
            vec!["MacBook Air", "ThinkPad X1"],
        ),
        ("search=%25", vec!["50% Off Sticker"]),
        ("search=_", vec!["50% Off Sticker"]),
        ("search=.*", vec![]),
        ("search=nothing-like-this", vec![]),
        // exact matches
        (
            "category=phones&sort=title",
            vec!["Galaxy S24", "Pixel 8", "iPhone 15"],
        ),
        ("category=Phones", vec![]),
        (
            "brand=Apple&sort=title",
            vec!["AirPods Pro", "MacBook Air", "iPhone 15"],
        ),
        ("brand=apple", vec![]),
        // tags: any of
        (
            "tags=apple&sort=title",
            vec!["AirPods Pro", "MacBook Air", "iPhone 15"],
        ),
        (
            "tags=samsung,laptop&sort=title",
            vec!["Galaxy S24", "Galaxy Tab", "MacBook Air", "ThinkPad X1"],
        ),
        ("tags=nope", vec![]),
        // stock
        (
            "inStock=true&sort=title",
            vec![
                "50% Off Sticker",
                "Galaxy Tab",
                "MacBook Air",
                "Phone Case",
                "Pixel 8",
                "ThinkPad X1",
                "iPhone 15",
            ],
        ),
        (
            "inStock=false&sort=title",
            vec!["AirPods Pro", "Galaxy S24", "USB-C Cable"],
        ),
        // price, both forms
        (
            "minPrice=1000&sort=price",
            vec!["MacBook Air", "ThinkPad X1"],
        ),
        (
            "maxPrice=10&sort=price",
            vec!["50% Off Sticker", "USB-C Cable"],
        ),
        (
            "minPrice=100&maxPrice=500&sort=price",
            vec!["AirPods Pro", "Galaxy Tab"],
        ),
        ("minPrice=499&maxPrice=499", vec!["Galaxy Tab"]),
        (
            "price%5Bgte%5D=499&price%5Blte%5D=999&sort=price",
            vec!["Galaxy Tab", "Pixel 8", "Galaxy S24", "iPhone 15"],
        ),
        (
            "price[gt]=499&price[lt]=999&sort=price",
            vec!["Pixel 8", "Galaxy S24"],
        ),
        ("price[gte]=19.99&price[lt]=20", vec!["Phone Case"]),
        // sort
        ("sort=price:asc", all_by_price[..10].to_vec()),
        (
            "sort=price:desc&limit=3",
            vec!["ThinkPad X1", "MacBook Air", "iPhone 15"],
        ),
        (
            "sort=-price&limit=3",
            vec!["ThinkPad X1", "MacBook Air", "iPhone 15"],
        ),
        (
            "sort=title&limit=4",
            vec!["50% Off Sticker", "AirPods Pro", "Galaxy S24", "Galaxy Tab"],
        ),
        (
            "sort=stock:desc,title:asc",
            vec![
                "50% Off Sticker",
                "Phone Case",
                "Pixel 8",
                "Galaxy Tab",
                "ThinkPad X1",
                "iPhone 15",
                "MacBook Air",
                "AirPods Pro",
                "Galaxy S24",
                "USB-C Cable",
            ],
        ),
        ("sort=createdAt&limit=2", vec!["iPhone 15", "Galaxy S24"]),
        (
            "sort=-createdAt&limit=2",
            vec!["Galaxy Tab", "50% Off Sticker"],
        ),
        // pages
        (
            "sort=price&limit=3&page=2",
            vec!["AirPods Pro", "Galaxy Tab", "Pixel 8"],
        ),
        ("sort=price&limit=3&page=4", vec!["ThinkPad X1"]),
        ("sort=price&limit=3&page=5", vec![]),
        ("sort=price&limit=100", all_by_price.to_vec()),
        // combined
        (
            "search=phone&category=phones&inStock=true&sort=-price",
            vec!["iPhone 15", "Pixel 8"],
        ),
        (
            "tags=5g&minPrice=700&sort=price:asc",
            vec!["Galaxy S24", "iPhone 15"],
        ),
        ("brand=Samsung&inStock=false", vec!["Galaxy S24"]),
        (
            "category=accessories&maxPrice=20&sort=-price&limit=2&page=1",
            vec!["Phone Case", "USB-C Cable"],
        ),
        (
            "tags=apple,android&price[lt]=1000&inStock=true&sort=stock:desc&limit=2&page=2",
            vec!["iPhone 15"],
        ),
    ];
    let mut failures = Vec::new();
    for (q, expected) in &cases {
        let got = titles(&query(&app, q).await);
        if got != *expected {
            failures.push(format!("{q}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // meta
    let body = query(&app, "sort=price&limit=3&page=2").await;
    assert_eq!(body["success"], true);
    assert_eq!(
        body["meta"],
        json!({"page": 2, "limit": 3, "total": 10, "totalPages": 4, "hasNext": true, "hasPrev": true})
    );
    let body = query(&app, "").await;
    assert_eq!(
        body["meta"],
        json!({"page": 1, "limit": 10, "total": 10, "totalPages": 1, "hasNext": false, "hasPrev": false})
    );
    let body = query(&app, "category=accessories&maxPrice=20&sort=-price&limit=2").await;
    assert_eq!(
        (
            body["meta"]["total"].as_u64(),
            body["meta"]["hasNext"].as_bool()
        ),
        (Some(3), Some(true))
    );
    let body = query(&app, "sort=price&limit=3&page=5").await;
    assert_eq!(
        (
            body["meta"]["total"].as_u64(),
            body["meta"]["hasNext"].as_bool()
        ),
        (Some(10), Some(false))
    );

    // projection: only the named fields, plus id
    let body = query(&app, "fields=title,price&sort=price&limit=1").await;
    assert_eq!(
        body["data"][0],
        json!({"id": body["data"][0]["id"], "title": "50% Off Sticker", "price": 2.0})
    );
    let body = query(&app, "fields=tags&search=pixel").await;
    let keys: Vec<&String> = body["data"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "tags"]);

    // pages of a tied sort key never overlap: stock 0 three times, sorted by stock
    let mut seen = Vec::new();
    for page in 1..=4 {
        let body = query(
            &app,
            &format!("sort=stock&limit=3&page={page}&fields=title"),
        )
        .await;
        seen.extend(titles(&body));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 10);
}

async fn products_are_created_read_patched_deleted_and_restored(backend: Backend) {
    let app = backend.spawn().start().await;
    app.act_as_admin().await;
    let created = app
        .post("/api/products", &json!({"title": "  Lamp ", "price": 30, "tags": ["home", "home"], "description": "Desk lamp"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let product = created.json()["data"].clone();
    let id = product["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 24);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(product["title"], "Lamp", "trimmed");
    assert_eq!(product["tags"], json!(["home"]));
    assert_eq!(product["stock"], 0);
    assert_eq!(product["deletedAt"], Value::Null);
    assert_eq!(product["createdAt"], product["updatedAt"]);

    let read = app.get(&format!("/api/products/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json()["data"], product);

    let patched = app
        .patch(
            &format!("/api/products/{id}"),
            &json!({"price": 35.5, "brand": "Lumo", "description": null}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let patched = patched.json()["data"].clone();
    assert_eq!(
        (
            patched["price"].as_f64(),
            patched["brand"].as_str(),
            patched["title"].as_str()
        ),
        (Some(35.5), Some("Lumo"), Some("Lamp"))
    );
    assert_eq!(patched["description"], Value::Null);
    assert!(patched["updatedAt"].as_str() >= product["updatedAt"].as_str());
    assert_eq!(patched["createdAt"], product["createdAt"]);
    let sorted = query(&app, "sort=-updatedAt&fields=title").await;
    assert_eq!(titles(&sorted), ["Lamp"]);

    let deleted = app.delete(&format!("/api/products/{id}")).await;
    assert_eq!(deleted.status, 200);
    assert!(deleted.json()["data"]["deletedAt"].is_string());
    app.get(&format!("/api/products/{id}"))
        .await
        .error(404, "NOT_FOUND");
    app.delete(&format!("/api/products/{id}"))
        .await
        .error(404, "NOT_FOUND");
    app.patch(&format!("/api/products/{id}"), &json!({"price": 1}))
        .await
        .error(404, "NOT_FOUND");
    let hidden = app
        .get(&format!("/api/products/{id}?includeDeleted=true"))
        .await;
    assert_eq!(hidden.status, 200);
    assert!(hidden.json()["data"]["deletedAt"].is_string());
    assert_eq!(query(&app, "").await["meta"]["total"], 0);
    assert_eq!(query(&app, "includeDeleted=true").await["meta"]["total"], 1);
    assert_eq!(
        query(&app, "includeDeleted=false").await["meta"]["total"],
        0
    );

    let restored = app
        .post(&format!("/api/products/{id}/restore"), &json!({}))
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(restored.json()["data"]["deletedAt"], Value::Null);
    assert_eq!(app.get(&format!("/api/products/{id}")).await.status, 200);

    let unknown = "0123456789abcdef01234567";
    app.get(&format!("/api/products/{unknown}"))
        .await
        .error(404, "NOT_FOUND");
    app.post(&format!("/api/products/{unknown}/restore"), &json!({}))
        .await
        .error(404, "NOT_FOUND");
    for bad in [
        "123",
        "zzzzzzzzzzzzzzzzzzzzzzzz",
        "0123456789abcdef012345678",
        "%27%20OR%201%3D1",
    ] {
        let resp = app.get(&format!("/api/products/{bad}")).await;
        resp.error(400, "INVALID_ID");
        assert_eq!(resp.detail_fields(), ["id"]);
    }
    app.patch("/api/products/123", &json!({"price": 1}))
        .await
        .error(400, "INVALID_ID");
    app.delete("/api/products/123")
        .await
        .error(400, "INVALID_ID");
    app.post("/api/products/123/restore", &json!({}))
        .await
        .error(400, "INVALID_ID");
}

async fn bad_bodies_are_refused_naming_each_field(backend: Backend) {
    let app = backend.spawn().start().await;
    app.act_as_admin().await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["title", "price"]),
        (json!({"title": "", "price": 1}), vec!["title"]),
        (json!({"title": "x".repeat(201), "price": 1}), vec!["title"]),
        (json!({"title": "t", "price": "10"}), vec!["price"]),
        (json!({"title": "t", "price": -1}), vec!["price"]),
        (
            json!({"title": "t", "price": 1, "stock": 1.5}),
            vec!["stock"],
        ),
        (
            json!({"title": "t", "price": 1, "stock": -2}),
            vec!["stock"],
        ),
        (
            json!({"title": "t", "price": 1, "tags": "a,b"}),
            vec!["tags"],
        ),
        (
            json!({"title": "t", "price": 1, "tags": ["x".repeat(31)]}),
            vec!["tags"],
        ),
        (
            json!({"title": "t", "price": 1, "brand": "b".repeat(101)}),
            vec!["brand"],
        ),
        (
            json!({"title": "t", "price": 1, "description": "d".repeat(2001)}),
            vec!["description"],
        ),
        (
            json!({"title": "t", "price": 1, "id": "0123456789abcdef01234567"}),
            vec!["id"],
        ),
        (
            json!({"title": "t", "price": 1, "deletedAt": null, "createdAt": "2020-01-01"}),
            vec!["deletedAt", "createdAt"],
        ),
        (json!([{"title": "t", "price": 1}]), vec!["body"]),
        (json!("text"), vec!["body"]),
    ];
    for (body, fields) in cases {
        let resp = app.post("/api/products", &body).await;
        resp.error(400, "VALIDATION_ERROR");
        let mut got = resp.detail_fields();
        got.sort();
        let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        want.sort();
        assert_eq!(got, want, "{body}");
    }
    let id = app
        .post("/api/products", &json!({"title": "t", "price": 1}))
        .await
        .json()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.patch(&format!("/api/products/{id}"), &json!({}))
        .await
        .error(400, "VALIDATION_ERROR");
    let resp = app
        .patch(
            &format!("/api/products/{id}"),
            &json!({"title": null, "stock": "5"}),
        )
        .await;
    resp.error(400, "VALIDATION_ERROR");
    assert_eq!(resp.detail_fields(), ["title", "stock"]);
    assert_eq!(
        app.get(&format!("/api/products/{id}")).await.json()["data"]["title"],
        "t",
        "a refused patch changes nothing"
    );
}

async fn bad_queries_are_refused_naming_each_parameter(backend: Backend) {
    let app = backend.spawn().start().await;
    app.act_as_admin().await;
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("color=red", vec!["color"]),
        ("sort=price&sort=title", vec!["sort"]),
        ("page=1&page=2", vec!["page"]),
        ("minPrice=-5", vec!["minPrice"]),
        ("maxPrice=ten", vec!["maxPrice"]),
        ("minPrice=500&maxPrice=100", vec!["minPrice"]),
        ("price[gte]=500&price[lte]=100", vec!["price[gte]"]),
        ("price[gte]=-1", vec!["price[gte]"]),
        ("price[gte]=abc", vec!["price[gte]"]),
        ("price[between]=1", vec!["price[between]"]),
        ("price%5Bne%5D=1", vec!["price[ne]"]),
        ("stock[gt]=1", vec!["stock[gt]"]),
        ("sort=password", vec!["sort"]),
        ("sort=price:sideways", vec!["sort"]),
        ("fields=title,password", vec!["fields"]),
        ("page=0", vec!["page"]),
        ("page=-1", vec!["page"]),
        ("page=two", vec!["page"]),
        ("limit=0", vec!["limit"]),
        ("limit=101", vec!["limit"]),
        ("inStock=yes", vec!["inStock"]),
        ("includeDeleted=1", vec!["includeDeleted"]),
        ("search=", vec!["search"]),
        ("tags=a,,b", vec!["tags"]),
        ("color=red&page=0&sort=nope", vec!["color", "page", "sort"]),
    ];
    for (q, fields) in cases {
        let resp = app.get(&format!("/api/products?{q}")).await;
        resp.error(400, "VALIDATION_ERROR");
        let mut got = resp.detail_fields();
        got.sort();
        let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        want.sort();
        assert_eq!(got, want, "{q}: {}", resp.text);
    }
    let long = "x".repeat(101);
    app.get(&format!("/api/products?search={long}"))
        .await
        .error(400, "VALIDATION_ERROR");
    let resp = app.get("/api/products?fields=secret").await;
    assert!(
        resp.text.contains("secret"),
        "the unknown field is named: {}",
        resp.text
    );
    app.get("/api/products/0123456789abcdef01234567?foo=1")
        .await
        .error(400, "VALIDATION_ERROR");
    app.post(
        "/api/products?isAdmin=true",
        &json!({"title": "t", "price": 1}),
    )
    .await
    .error(400, "VALIDATION_ERROR");
}

async fn injection_attempts_are_inert(backend: Backend) {
    let app = backend.spawn().start().await;
    app.act_as_admin().await;
    seed(&app).await;
    // SQL in the query string: bound as plain text, never run.
    for q in [
        "search=%27%20OR%201%3D1%20--",
        "search=%27%3B%20DROP%20TABLE%20products%3B%20--",
        "category=phones%27%20OR%20%271%27%3D%271",
        "brand=%22%20OR%20%22%22%3D%22",
        "tags=apple%27)%20OR%20(%271%27%3D%271",
    ] {
        let body = query(&app, q).await;
        assert_eq!(body["meta"]["total"], 0, "{q}");
    }
    // MongoDB operators, JSON and regex syntax as values: plain text, matching nothing here.
    for q in [
        "category=%7B%22%24ne%22%3Anull%7D",
        "brand=%24ne",
        "tags=%24in,%24exists",
        "search=%24where",
        "search=%5E",
        "search=.%2B",
        "search=%5BA-Z%5D",
        "search=a%7Cp",
        "search=(%3Fi)PHONE%24",
        "search=%5C",
    ] {
        let body = query(&app, q).await;
        assert_eq!(body["meta"]["total"], 0, "{q}");
    }
    // Operator objects and regexes in the query string: refused or literal.
    for q in [
        "category[$ne]=x",
        "search[$regex]=.*",
        "price[$gt]=0",
        "brand[$where]=1",
        "sort=price;DROP%20TABLE%20products",
    ] {
        app.get(&format!("/api/products?{q}"))
            .await
            .error(400, "VALIDATION_ERROR");
    }
    // Operators and prototype tricks in bodies: refused, no coercion, no mass assignment.
    let resp = app
        .post("/api/products", &json!({"title": {"$gt": ""}, "price": 1}))
        .await;
    resp.error(400, "VALIDATION_ERROR");
    assert!(resp.text.contains("must be a string"), "{}", resp.text);
    app.post("/api/products", &json!({"title": "t", "price": {"$gt": 0}}))
        .await
        .error(400, "VALIDATION_ERROR");
    app.post(
        "/api/products",
        &json!({"title": "t", "price": 1, "__proto__": {"admin": true}}),
    )
    .await
    .error(400, "VALIDATION_ERROR");
    app.post(
        "/api/products",
        &json!({"title": "t", "price": 1, "constructor": {"prototype": {}}}),
    )
    .await
    .error(400, "VALIDATION_ERROR");
    // SQL in a body is stored as text, exactly.
    let evil = "Robert'); DROP TABLE products;--";
    let created = app
        .post(
            "/api/products",
            &json!({"title": evil, "price": 1, "tags": ["x' OR '1'='1"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let found = query(&app, "search=robert%27)%3B%20drop").await;
    assert_eq!(titles(&found), [evil]);
    let found = query(&app, "tags=x%27%20OR%20%271%27%3D%271").await;
    assert_eq!(titles(&found), [evil]);
    // Regex and operator syntax in a body is stored as text and found literally.
    let pattern = "^.*$ (a|b)+ [x] {\"$gt\": 1} \\d";
    let created = app
        .post(
            "/api/products",
            &json!({"title": pattern, "price": 1, "brand": "$where"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    for q in [
        "search=%5E.*%24%20(a%7Cb)%2B",
        "search=%7B%22%24GT%22%3A%201%7D%20%5Cd",
        "brand=%24where",
    ] {
        assert_eq!(titles(&query(&app, q).await), [pattern], "{q}");
    }
    assert_eq!(
        query(&app, "").await["meta"]["total"],
        12,
        "the catalogue is intact"
    );
}

/// A database written by the embedded store's schema before the search index and the indexes of
/// live products (`tests/fixtures/svc-db-before-search-index.sql`: that schema's SQL and rows as
/// that version wrote them) is brought up to date when `svc api` opens it, and searched as
/// before: substrings of every field, `%`, `_` and `.*` as themselves, deleted products left
/// out unless asked for, exact totals; later writes are found too.
#[tokio::test]
async fn a_database_of_the_schema_before_the_search_index_is_searched_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("svc.db")).unwrap();
    conn.execute_batch(include_str!("../fixtures/svc-db-before-search-index.sql"))
        .unwrap();
    drop(conn);
    let app = Backend::Sqlite.spawn().data_dir(dir.path()).start().await;
    // An administrator: `includeDeleted` and the writes below need one.
    app.act_as_admin().await;
    async fn expect(app: &App, q: &str, expected: &[&str]) {
        let body = query(app, q).await;
        assert_eq!(titles(&body), expected, "{q}");
        assert_eq!(body["meta"]["total"], expected.len(), "{q}");
    }
    expect(&app, "search=phone", &["Headphones", "Old Phone"]).await;
    expect(
        &app,
        "search=PHONE&sort=price",
        &["Headphones", "Old Phone"],
    )
    .await;
    expect(&app, "search=before%20the", &["Old Phone"]).await;
    expect(&app, "search=acme", &["Lamp", "Old Phone"]).await;
    expect(&app, "search=home", &["Lamp"]).await;
    expect(&app, "search=100%25", &["Headphones"]).await;
    expect(&app, "search=0%25%20n", &["Headphones"]).await;
    expect(&app, "search=noise_free", &["Headphones"]).await;
    expect(&app, "search=noise_fre", &["Headphones"]).await;
    expect(&app, "search=oise%20free", &[]).await;
    expect(&app, "search=.*", &[]).await;
    expect(&app, "search=ph", &["Headphones", "Old Phone"]).await;
    expect(&app, "search=phone&inStock=true", &["Old Phone"]).await;
    expect(
        &app,
        "search=phone&includeDeleted=true",
        &["Deleted Phone", "Headphones", "Old Phone"],
    )
    .await;
    expect(&app, "category=phones&sort=-price", &["Old Phone"]).await;

    let created = app
        .post("/api/products", &json!({"title": "New Phone", "price": 5}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    expect(
        &app,
        "search=phone&sort=price",
        &["New Phone", "Headphones", "Old Phone"],
    )
    .await;
    let resp = app.delete("/api/products/65a1b2c3d4e5f60718293a01").await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    expect(
        &app,
        "search=phone&sort=price",
        &["New Phone", "Headphones"],
    )
    .await;
    let resp = app
        .patch(
            "/api/products/65a1b2c3d4e5f60718293a03",
            &json!({"title": "Phone Lamp"}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    expect(&app, "search=phone%20lamp", &["Phone Lamp"]).await;
}
