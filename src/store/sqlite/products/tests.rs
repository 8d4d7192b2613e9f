use super::*;
use crate::query::parse_products;

#[test]
fn user_text_only_ever_reaches_sql_as_a_bound_argument() {
    let query = parse_products(Some(
        "search=%27%3B%20DROP%20TABLE%20products%3B--&category=%27%20OR%201%3D1&tags=a%27,b&brand=x%22",
    ))
    .unwrap();
    let (sql, args) = where_clause(&query.filter, SearchPlan::Index);
    assert!(
        !sql.contains("DROP") && !sql.contains("OR 1") && !sql.contains('"'),
        "{sql}"
    );
    assert_eq!(sql.matches('?').count(), args.len());
    assert_eq!(args[0], Sql::Text("\"'; drop table products;--\"".into()));
    assert_eq!(args[1], Sql::Text("%'; drop table products;--%".into()));
}

/// `EXPLAIN QUERY PLAN` of the count and of the page of `query`, one detail line each step.
fn plans(conn: &rusqlite::Connection, query: &str) -> Vec<String> {
    let query = parse_products(Some(query)).unwrap();
    let (where_sql, mut args) = where_clause(&query.filter, SearchPlan::Index);
    let mut lines = Vec::new();
    let mut explain = |sql: &str, args: &[Sql]| {
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = statement
            .query_map(params_from_iter(args.iter()), |r| r.get::<_, String>(3))
            .unwrap();
        lines.extend(rows.map(Result::unwrap));
    };
    match search_only(&query.filter) {
        Some(phrase) => explain(SEARCH_COUNT_SQL, &[Sql::Text(phrase)]),
        None => explain(&count_sql(&where_sql), &args),
    }
    args.extend([Sql::Integer(20), Sql::Integer(40)]);
    explain(&page_sql("products", &where_sql, &order_by(&query)), &args);
    if indexed_search(&query.filter).is_some() {
        // The page of a search with many matches: a walk of the sort key's index.
        let (where_sql, mut args) = where_clause(&query.filter, SearchPlan::Walk);
        args.extend([Sql::Integer(20), Sql::Integer(40)]);
        let fields: Vec<SortField> = query.sort.iter().map(|k| k.field).collect();
        let table = walked_index(&fields);
        explain(&page_sql(&table, &where_sql, &order_by(&query)), &args);
    }
    lines
}

/// Every filter and sort shape the query engine produces for live products is answered
/// from an index: no plan reads the whole table (`SCAN products` without an index), the
/// filters seek (`SEARCH`), and a category or brand with one sort key, or a sort key alone,
/// comes out of its index in order (no temporary B-tree to sort). A schema or query change
/// that loses an index fails here, not in production at a million rows. `SHOW_PLANS=1`
/// prints every plan.
#[test]
fn every_indexed_query_shape_is_planned_on_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).unwrap();
    drop(store);
    let conn = super::super::connect(&dir.path().join(super::super::DB_FILE)).unwrap();
    let sorts = [
        "",
        "sort=price",
        "sort=-price",
        "sort=title",
        "sort=-title",
        "sort=stock",
        "sort=-stock",
        "sort=createdAt",
        "sort=-createdAt",
        "sort=updatedAt",
        "sort=-updatedAt",
    ];
    // (filter, whether it and a single sort key come from one index walk in order)
    let filters = [
        ("", true),
        ("category=laptops", true),
        ("brand=Acme", true),
        // A seek on the category and the price range, then a sort of what is left unless the
        // order is the price's.
        (
            "category=laptops&minPrice=100&maxPrice=1500&inStock=true",
            false,
        ),
        ("brand=Acme&inStock=false", true),
        ("minPrice=100&maxPrice=1500", false),
        ("inStock=true", false),
        ("inStock=false", false),
        ("tags=sale", false),
        ("search=phone", false),
        ("search=phone&category=phones", false),
    ];
    for (filter, ordered) in filters {
        for sort in sorts {
            let parts: Vec<&str> = [filter, sort]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect();
            let query = parts.join("&");
            let lines = plans(&conn, &query);
            let context = format!("{query}: {lines:#?}");
            assert!(
                lines.iter().all(|l| l != "SCAN products"),
                "a full scan: {context}"
            );
            if !filter.is_empty() {
                assert!(
                    lines.iter().any(|l| l.starts_with("SEARCH products USING")
                        || l.starts_with("SCAN products_search VIRTUAL TABLE")),
                    "the filter does not seek: {context}"
                );
            }
            if std::env::var_os("SHOW_PLANS").is_some() {
                eprintln!("{context}");
            }
            if ordered {
                assert!(
                    lines.iter().all(|l| !l.contains("TEMP B-TREE")),
                    "sorted outside the index: {context}"
                );
            }
        }
    }
}

/// A page of many matches walks the first sort key's index and never sorts every live row,
/// also with keys in mixed directions.
#[test]
fn the_walk_of_many_matches_follows_the_first_sort_key() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open_in(dir.path()).unwrap());
    let conn = super::super::connect(&dir.path().join(super::super::DB_FILE)).unwrap();
    for sort in [
        "-price,title",
        "title,-stock",
        "",
        "updatedAt",
        "stock,price",
    ] {
        let query = parse_products(Some(&format!("search=phone&sort={sort}")))
            .or_else(|_| parse_products(Some("search=phone")))
            .unwrap();
        let (where_sql, mut args) = where_clause(&query.filter, SearchPlan::Walk);
        args.extend([Sql::Integer(20), Sql::Integer(40)]);
        let fields: Vec<SortField> = query.sort.iter().map(|k| k.field).collect();
        let sql = page_sql(&walked_index(&fields), &where_sql, &order_by(&query));
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let lines: Vec<String> = statement
            .query_map(params_from_iter(args.iter()), |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            lines[0].starts_with("SCAN products USING INDEX products_live_")
                && !lines.iter().any(|l| l == "USE TEMP B-TREE FOR ORDER BY"),
            "sort={sort}: {lines:?}"
        );
    }
}

#[test]
fn a_search_is_one_phrase_of_data_for_the_index() {
    assert_eq!(fts_phrase("phone"), "\"phone\"");
    assert_eq!(fts_phrase("say \"hi\" OR x*"), "\"say \"\"hi\"\" OR x*\"");
    // Short searches scan: no index condition, only the LIKE.
    let query = parse_products(Some("search=ab")).unwrap();
    let (sql, _) = where_clause(&query.filter, SearchPlan::Index);
    assert!(!sql.contains("MATCH"), "{sql}");
    let query = parse_products(Some("search=abc")).unwrap();
    let (sql, _) = where_clause(&query.filter, SearchPlan::Index);
    assert!(sql.contains("MATCH") && sql.contains("LIKE"), "{sql}");
    // The index holds live products only: a search of deleted ones scans.
    let query = parse_products(Some("search=abc&includeDeleted=true")).unwrap();
    let (sql, _) = where_clause(&query.filter, SearchPlan::Index);
    assert!(!sql.contains("MATCH"), "{sql}");
    assert!(search_only(&query.filter).is_none());
    let query = parse_products(Some("search=abc&sort=price")).unwrap();
    assert_eq!(search_only(&query.filter).as_deref(), Some("\"abc\""));
    let query = parse_products(Some("search=abc&inStock=true")).unwrap();
    assert!(search_only(&query.filter).is_none());
}

#[test]
fn many_matches_walk_the_sort_index_and_few_come_from_the_search_index() {
    // A fifth of a million match, page 3 of 20: a walk reads ~300 rows, not 200,000.
    assert_eq!(search_plan(200_000, 60, 1_000_000), SearchPlan::Walk);
    // One match in a million: the index.
    assert_eq!(search_plan(1, 20, 1_000_000), SearchPlan::Index);
    assert_eq!(search_plan(1_647, 60, 1_000_000), SearchPlan::Index);
    assert_eq!(search_plan(0, 20, 0), SearchPlan::Index);
}

#[test]
fn the_order_always_ends_with_the_id() {
    let query = parse_products(Some("sort=price:asc,-stock")).unwrap();
    assert_eq!(order_by(&query), "price ASC, stock DESC, id DESC");
    let query = parse_products(None).unwrap();
    assert_eq!(order_by(&query), "created_at DESC, id DESC");
}
