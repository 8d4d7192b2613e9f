//! The translation of a [`ProductQuery`] into MongoDB's filter, sort and projection documents.
//!
//! Every key of those documents is a fixed field name; every value taken from the request is a
//! typed BSON string or number, so a request can never smuggle an operator in (a string is never
//! read as `{"$ne": …}`). `search` is the only pattern: it becomes a regex over `searchText`
//! (title, description, brand and category, lowercased with Rust's Unicode rules, the same
//! text the embedded backend searches), and the user's text is escaped so every character
//! matches itself. One lowercased field means no `$or` and no `i` flag: the same answers as
//! the embedded store, on every server.

use mongodb::bson::{Bson, Document, doc};

use crate::domain::ProductField;
use crate::query::{Direction, ProductFilter, ProductQuery, SortField, StockFilter};

/// The filter document of `filter`.
pub fn filter(filter: &ProductFilter) -> Document {
    let mut d = Document::new();
    if !filter.include_deleted {
        // Matches a null and a missing field alike.
        d.insert("deletedAt", Bson::Null);
    }
    if let Some(search) = &filter.search {
        d.insert(
            "searchText",
            doc! {"$regex": escape_regex(&search.to_lowercase())},
        );
    }
    if let Some(category) = &filter.category {
        d.insert("category", category.as_str());
    }
    if let Some(brand) = &filter.brand {
        d.insert("brand", brand.as_str());
    }
    if !filter.tags.is_empty() {
        d.insert("tags", doc! {"$in": filter.tags.clone()});
    }
    match filter.stock {
        Some(StockFilter::InStock) => {
            d.insert("stock", doc! {"$gt": 0_i64});
        }
        Some(StockFilter::OutOfStock) => {
            d.insert("stock", 0_i64);
        }
        None => {}
    }
    let mut price = Document::new();
    if let Some(lower) = filter.price.lower {
        price.insert(if lower.inclusive { "$gte" } else { "$gt" }, lower.value);
    }
    if let Some(upper) = filter.price.upper {
        price.insert(if upper.inclusive { "$lte" } else { "$lt" }, upper.value);
    }
    if !price.is_empty() {
        d.insert("price", price);
    }
    d
}

/// The sort document: the query's keys, then `_id` in the last key's direction, so the order is
/// total and consecutive pages never overlap or skip.
pub fn sort(query: &ProductQuery) -> Document {
    let dir = |d: Direction| match d {
        Direction::Asc => 1_i32,
        Direction::Desc => -1_i32,
    };
    let mut d = Document::new();
    for key in &query.sort {
        let field = match key.field {
            SortField::Price => "price",
            SortField::Title => "title",
            SortField::Stock => "stock",
            SortField::CreatedAt => "createdAt",
            SortField::UpdatedAt => "updatedAt",
        };
        d.insert(field, dir(key.direction));
    }
    let last = query.sort.last().map_or(Direction::Desc, |k| k.direction);
    d.insert("_id", dir(last));
    d
}

/// The projection: the asked-for fields and `_id`, or everything but `searchText`.
pub(crate) fn projection(fields: Option<&[ProductField]>) -> Document {
    let Some(fields) = fields else {
        return doc! {"searchText": 0};
    };
    let mut d = doc! {"_id": 1};
    for field in fields {
        if *field != ProductField::Id {
            d.insert(field.name(), 1);
        }
    }
    d
}

/// `text` as a regex that matches exactly it: every ASCII punctuation character (which covers
/// all of the regex syntax: `\ ^ $ . | ? * + ( ) [ ] { }` and the rest) is escaped with a
/// backslash, which in PCRE always means "this character itself". Letters, digits, spaces and
/// non-ASCII characters are literal already.
fn escape_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
