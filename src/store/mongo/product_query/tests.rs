use super::*;
use crate::query::parse_products;

fn query(raw: &str) -> ProductQuery {
    parse_products(Some(raw)).unwrap()
}

#[test]
fn regex_metacharacters_match_themselves() {
    assert_eq!(escape_regex(".*"), "\\.\\*");
    assert_eq!(escape_regex("50% off_(x)"), "50\\% off\\_\\(x\\)");
    assert_eq!(
        escape_regex("a|b^$[]{}?+\\/-#"),
        "a\\|b\\^\\$\\[\\]\\{\\}\\?\\+\\\\\\/\\-\\#"
    );
    assert_eq!(escape_regex("plain täxt 1"), "plain täxt 1");
}

#[test]
fn user_text_only_ever_becomes_typed_values() {
    let q =
        query("search=%24where&category=%7B%22%24ne%22%3A1%7D&brand=%24gt&tags=%24in,a&minPrice=1");
    let f = filter(&q.filter);
    assert_eq!(
        f,
        doc! {
            "deletedAt": Bson::Null,
            "searchText": {"$regex": "\\$where"},
            "category": "{\"$ne\":1}",
            "brand": "$gt",
            "tags": {"$in": ["$in", "a"]},
            "price": {"$gte": 1.0},
        }
    );
    // Every key is a field or an operator this module wrote, whatever the request held.
    fn keys(d: &Document, out: &mut Vec<String>) {
        for (key, value) in d {
            out.push(key.clone());
            if let Bson::Document(inner) = value {
                keys(inner, out);
            }
        }
    }
    let mut found = Vec::new();
    keys(&f, &mut found);
    found.sort();
    assert_eq!(
        found,
        [
            "$gte",
            "$in",
            "$regex",
            "brand",
            "category",
            "deletedAt",
            "price",
            "searchText",
            "tags"
        ]
    );
}

#[test]
fn every_filter_translates() {
    let f = filter(
        &query("search=Phone&inStock=true&price[gt]=1&price[lt]=2&includeDeleted=true").filter,
    );
    assert_eq!(
        f,
        doc! {"searchText": {"$regex": "phone"}, "stock": {"$gt": 0_i64}, "price": {"$gt": 1.0, "$lt": 2.0}}
    );
    assert_eq!(
        filter(&query("inStock=false").filter).get("stock"),
        Some(&Bson::Int64(0))
    );
    assert_eq!(filter(&query("").filter), doc! {"deletedAt": Bson::Null});
}

#[test]
fn the_sort_always_ends_with_the_id() {
    assert_eq!(
        sort(&query("sort=price:asc,-stock")),
        doc! {"price": 1, "stock": -1, "_id": -1}
    );
    assert_eq!(sort(&query("")), doc! {"createdAt": -1, "_id": -1});
}

#[test]
fn projections_keep_the_id_and_hide_the_search_text() {
    let q = query("fields=title,price,id");
    assert_eq!(
        projection(q.fields.as_deref()),
        doc! {"_id": 1, "title": 1, "price": 1}
    );
    assert_eq!(projection(None), doc! {"searchText": 0});
}
