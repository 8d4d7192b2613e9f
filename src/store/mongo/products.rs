//! [`ProductRepository`] on MongoDB, and the translation of a [`ProductQuery`] into filter, sort,
//! skip, limit and projection documents.
//!
//! Every key of those documents is a fixed field name; every value taken from the request is a
//! typed BSON string or number, so a request can never smuggle an operator in (a string is never
//! read as `{"$ne": …}`). `search` is the only pattern: it becomes a regex over `searchText`
//! (title, description, brand and category, lowercased with Rust's Unicode rules, the same
//! text the embedded backend searches), and the user's text is escaped so every character
//! matches itself. One lowercased field means no `$or` and no `i` flag: the same answers as
//! the embedded store, on every server.

use async_trait::async_trait;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::options::ReturnDocument;

use super::page::{PageRequest, find_page};
use super::{Collections, MongoStore, corrupt, map_err, oid, stored_id};
use crate::domain::{ObjectId, Product, ProductField, ProductPatch, Timestamp};
use crate::query::{Direction, ProductFilter, ProductQuery, SortField, StockFilter};
use crate::store::search_text::search_text;
use crate::store::{Page, ProductRepository, StoreError};

/// How often an update that changes a searched field is retried when another update changed
/// those fields between its read and its write.
const UPDATE_TRIES: usize = 5;

#[async_trait]
impl ProductRepository for MongoStore {
    async fn insert(&self, product: Product) -> Result<Product, StoreError> {
        let document = to_document(&product);
        self.call(|c| async move {
            c.products.insert_one(document).await.map_err(map_err)?;
            Ok(product)
        })
        .await
    }

    async fn get(&self, id: ObjectId, include_deleted: bool) -> Result<Product, StoreError> {
        self.call(|c| async move {
            let product = load(&c, doc! {"_id": oid(id)})
                .await?
                .ok_or(StoreError::NotFound)?;
            if product.deleted_at.is_some() && !include_deleted {
                return Err(StoreError::NotFound);
            }
            Ok(product)
        })
        .await
    }

    async fn list(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        let request = PageRequest {
            filter: filter(&query.filter),
            sort: sort(query),
            skip: query.page.offset(),
            limit: i64::from(query.page.limit),
            projection: projection(query.fields.as_deref()),
        };
        let fields = query.fields.clone();
        let max_time = self.config().timeout;
        self.call(|c| async move {
            find_page(&c.products, request, max_time, |document| {
                from_document(document, fields.as_deref())
            })
            .await
        })
        .await
    }

    async fn update(
        &self,
        id: ObjectId,
        patch: ProductPatch,
        now: Timestamp,
    ) -> Result<Product, StoreError> {
        self.call(|c| async move {
            let live = doc! {"_id": oid(id), "deletedAt": Bson::Null};
            if !changes_search_text(&patch) {
                let set = patch_set(&patch, None, now);
                return find_and_set(&c, live, set)
                    .await?
                    .ok_or(StoreError::NotFound);
            }
            // searchText depends on all four text fields: compute it from the fields as read,
            // and write only if they are still the same (else another update won: read again).
            for _ in 0..UPDATE_TRIES {
                let current = load(&c, live.clone()).await?.ok_or(StoreError::NotFound)?;
                let mut guarded = live.clone();
                guarded.insert("title", current.title.as_str());
                guarded.insert("description", optional(current.description.as_deref()));
                guarded.insert("brand", optional(current.brand.as_deref()));
                guarded.insert("category", optional(current.category.as_deref()));
                let mut updated = current;
                updated.apply(patch.clone(), now);
                let set = patch_set(&patch, Some(&updated), now);
                if let Some(product) = find_and_set(&c, guarded, set).await? {
                    return Ok(product);
                }
            }
            Err(StoreError::Unavailable(
                format!("product {id} kept changing under {UPDATE_TRIES} updates").into(),
            ))
        })
        .await
    }

    async fn soft_delete(&self, id: ObjectId, now: Timestamp) -> Result<Product, StoreError> {
        self.call(|c| async move {
            let at = date(now);
            find_and_set(
                &c,
                doc! {"_id": oid(id), "deletedAt": Bson::Null},
                doc! {"deletedAt": at, "updatedAt": at},
            )
            .await?
            .ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn restore(&self, id: ObjectId, now: Timestamp) -> Result<Product, StoreError> {
        self.call(|c| async move {
            let restored = find_and_set(
                &c,
                doc! {"_id": oid(id), "deletedAt": {"$ne": Bson::Null}},
                doc! {"deletedAt": Bson::Null, "updatedAt": date(now)},
            )
            .await?;
            match restored {
                Some(product) => Ok(product),
                // Live already (returned unchanged), or no such product.
                None => load(&c, doc! {"_id": oid(id)})
                    .await?
                    .ok_or(StoreError::NotFound),
            }
        })
        .await
    }
}

/// The first product matching `filter`, whole.
async fn load(c: &Collections, filter: Document) -> Result<Option<Product>, StoreError> {
    let found = c
        .products
        .find_one(filter)
        .projection(doc! {"searchText": 0})
        .await
        .map_err(map_err)?;
    found.map(|d| from_document(&d, None)).transpose()
}

/// `$set`s `set` on the product matching `filter` and returns it as it is afterwards.
async fn find_and_set(
    c: &Collections,
    filter: Document,
    set: Document,
) -> Result<Option<Product>, StoreError> {
    let found = c
        .products
        .find_one_and_update(filter, doc! {"$set": set})
        .projection(doc! {"searchText": 0})
        .return_document(ReturnDocument::After)
        .await
        .map_err(map_err)?;
    found.map(|d| from_document(&d, None)).transpose()
}

fn changes_search_text(patch: &ProductPatch) -> bool {
    patch.title.is_some()
        || patch.description.is_some()
        || patch.brand.is_some()
        || patch.category.is_some()
}

/// The `$set` of a patch: the fields it names, `updatedAt`, and `searchText` of the product as
/// it will be (given when the patch changes a searched field).
fn patch_set(patch: &ProductPatch, updated: Option<&Product>, now: Timestamp) -> Document {
    let mut set = doc! {"updatedAt": date(now)};
    if let Some(title) = &patch.title {
        set.insert("title", title.as_str());
    }
    if let Some(description) = &patch.description {
        set.insert("description", optional(description.as_deref()));
    }
    if let Some(price) = patch.price {
        set.insert("price", price);
    }
    if let Some(brand) = &patch.brand {
        set.insert("brand", optional(brand.as_deref()));
    }
    if let Some(category) = &patch.category {
        set.insert("category", optional(category.as_deref()));
    }
    if let Some(tags) = &patch.tags {
        set.insert("tags", tags.clone());
    }
    if let Some(stock) = patch.stock {
        set.insert("stock", stock);
    }
    if let Some(product) = updated {
        set.insert("searchText", search_text(product));
    }
    set
}

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
pub(crate) fn escape_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn date(at: Timestamp) -> DateTime {
    DateTime::from_millis(at.millis())
}

fn optional(text: Option<&str>) -> Bson {
    text.map_or(Bson::Null, |t| Bson::String(t.to_owned()))
}

fn to_document(product: &Product) -> Document {
    doc! {
        "_id": oid(product.id),
        "title": product.title.as_str(),
        "description": optional(product.description.as_deref()),
        "price": product.price,
        "brand": optional(product.brand.as_deref()),
        "category": optional(product.category.as_deref()),
        "tags": product.tags.clone(),
        "stock": product.stock,
        "searchText": search_text(product),
        "createdAt": date(product.created_at),
        "updatedAt": date(product.updated_at),
        "deletedAt": product.deleted_at.map_or(Bson::Null, |at| Bson::DateTime(date(at))),
    }
}

/// Reads a product document. With a projection (`fields`), the fields left out take empty
/// values (the handler shows only the asked-for ones); a field that should be there and is not,
/// or has another type, is a corrupt document.
fn from_document(d: &Document, fields: Option<&[ProductField]>) -> Result<Product, StoreError> {
    let id = stored_id(d.get("_id").unwrap_or(&Bson::Null))?;
    let wanted = |field: ProductField| fields.is_none_or(|f| f.contains(&field));
    let bad = |name: &str| corrupt("product", &id.to_string(), format!("bad `{name}`"));
    let text = |name: &str| match d.get(name) {
        Some(Bson::String(s)) => Ok(s.clone()),
        _ => Err(bad(name)),
    };
    let optional_text = |name: &str| match d.get(name) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        _ => Err(bad(name)),
    };
    let time = |name: &str| match d.get(name) {
        Some(Bson::DateTime(t)) => Ok(Timestamp::from_millis(t.timestamp_millis())),
        _ => Err(bad(name)),
    };
    let optional_time = |name: &str| match d.get(name) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::DateTime(t)) => Ok(Some(Timestamp::from_millis(t.timestamp_millis()))),
        _ => Err(bad(name)),
    };
    let epoch = Timestamp::from_millis(0);
    Ok(Product {
        id,
        title: if wanted(ProductField::Title) {
            text("title")?
        } else {
            String::new()
        },
        description: if wanted(ProductField::Description) {
            optional_text("description")?
        } else {
            None
        },
        price: if wanted(ProductField::Price) {
            match d.get("price") {
                Some(Bson::Double(v)) => *v,
                Some(Bson::Int32(v)) => f64::from(*v),
                Some(Bson::Int64(v)) => *v as f64,
                _ => return Err(bad("price")),
            }
        } else {
            0.0
        },
        brand: if wanted(ProductField::Brand) {
            optional_text("brand")?
        } else {
            None
        },
        category: if wanted(ProductField::Category) {
            optional_text("category")?
        } else {
            None
        },
        tags: if wanted(ProductField::Tags) {
            match d.get("tags") {
                None | Some(Bson::Null) => Vec::new(),
                Some(Bson::Array(items)) => items
                    .iter()
                    .map(|t| match t {
                        Bson::String(s) => Ok(s.clone()),
                        _ => Err(bad("tags")),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(bad("tags")),
            }
        } else {
            Vec::new()
        },
        stock: if wanted(ProductField::Stock) {
            match d.get("stock") {
                Some(Bson::Int64(v)) => *v,
                Some(Bson::Int32(v)) => i64::from(*v),
                _ => return Err(bad("stock")),
            }
        } else {
            0
        },
        created_at: if wanted(ProductField::CreatedAt) {
            time("createdAt")?
        } else {
            epoch
        },
        updated_at: if wanted(ProductField::UpdatedAt) {
            time("updatedAt")?
        } else {
            epoch
        },
        deleted_at: if wanted(ProductField::DeletedAt) {
            optional_time("deletedAt")?
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::NewProduct;
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
        let q = query(
            "search=%24where&category=%7B%22%24ne%22%3A1%7D&brand=%24gt&tags=%24in,a&minPrice=1",
        );
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

    #[test]
    fn documents_round_trip() {
        let product = Product::create(
            NewProduct::from_json(
                &json!({"title": "Phone", "price": 5, "tags": ["a"], "brand": "Acme"}),
            )
            .unwrap(),
            Timestamp::from_millis(1_700_000_000_123),
        );
        let d = to_document(&product);
        assert_eq!(d.get_str("searchText").unwrap(), "phone\u{1f}acme");
        assert_eq!(from_document(&d, None).unwrap(), product);
        let partial = doc! {"_id": oid(product.id), "title": "Phone"};
        let read = from_document(&partial, Some(&[ProductField::Title])).unwrap();
        assert_eq!((read.id, read.title.as_str()), (product.id, "Phone"));
        assert!(
            from_document(&partial, None).is_err(),
            "a whole read needs every field"
        );
        let mut wrong = d.clone();
        wrong.insert("price", "5");
        assert!(from_document(&wrong, None).is_err());
    }
}
