//! [`ProductRepository`] on SQLite, and the translation of a [`ProductQuery`] into SQL.

use async_trait::async_trait;
use rusqlite::types::Value as Sql;
use rusqlite::{OptionalExtension, Row, Transaction, params, params_from_iter};

use super::totals::{self, Totals};
use super::{SqliteStore, escape_like, map_err, stored_id};
use crate::domain::{ObjectId, Product, ProductPatch, Timestamp};
use crate::query::{Direction, ProductFilter, ProductQuery, SortField, StockFilter};
use crate::store::search_text::search_text;
use crate::store::{Page, ProductRepository, StoreError};

const COLUMNS: &str = "id, title, description, price, brand, category, tags, stock, created_at, updated_at, deleted_at";

#[async_trait]
impl ProductRepository for SqliteStore {
    async fn insert(&self, product: Product) -> Result<Product, StoreError> {
        self.pool
            .write(move |tx| {
                insert_row(tx, &product)?;
                Ok(product)
            })
            .await
    }

    async fn get(&self, id: ObjectId, include_deleted: bool) -> Result<Product, StoreError> {
        self.pool
            .read(move |conn| {
                let product = load(conn, id)?.ok_or(StoreError::NotFound)?;
                if product.deleted_at.is_some() && !include_deleted {
                    return Err(StoreError::NotFound);
                }
                Ok(product)
            })
            .await
    }

    async fn list(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        let filter = query.filter.clone();
        let sort_fields: Vec<SortField> = query.sort.iter().map(|k| k.field).collect();
        let order = order_by(query);
        let limit = i64::from(query.page.limit);
        let offset = i64::try_from(query.page.offset()).unwrap_or(i64::MAX);
        let totals = self.totals.clone();
        self.pool
            .read(move |conn| {
                // One read transaction: the count and the page see the same snapshot.
                let tx = conn.transaction().map_err(map_err)?;
                let total = count(&tx, &totals, &filter)?;
                let plan = if indexed_search(&filter).is_some() {
                    let rows: i64 = tx
                        .query_row("SELECT COALESCE(MAX(rowid), 0) FROM products", [], |r| {
                            r.get(0)
                        })
                        .map_err(map_err)?;
                    search_plan(total, offset.saturating_add(limit), rows)
                } else {
                    SearchPlan::Index
                };
                let (where_sql, mut page_args) = where_clause(&filter, plan);
                page_args.push(Sql::Integer(limit));
                page_args.push(Sql::Integer(offset));
                let table = match plan {
                    SearchPlan::Walk => walked_index(&sort_fields),
                    SearchPlan::Index => "products".to_owned(),
                };
                let mut statement = tx
                    .prepare_cached(&page_sql(&table, &where_sql, &order))
                    .map_err(map_err)?;
                let rows = statement
                    .query_map(params_from_iter(page_args.iter()), raw_row)
                    .map_err(map_err)?;
                let mut items = Vec::new();
                for row in rows {
                    items.push(row.map_err(map_err)?.into_product()?);
                }
                Ok(Page {
                    items,
                    total: u64::try_from(total).unwrap_or(0),
                })
            })
            .await
    }

    async fn update(
        &self,
        id: ObjectId,
        patch: ProductPatch,
        now: Timestamp,
    ) -> Result<Product, StoreError> {
        self.pool
            .write(move |tx| {
                let mut product = load(tx, id)?
                    .filter(|p| p.deleted_at.is_none())
                    .ok_or(StoreError::NotFound)?;
                let tags_changed = patch.tags.is_some();
                product.apply(patch, now);
                tx.execute(
                    "UPDATE products SET title = ?2, description = ?3, price = ?4, brand = ?5, category = ?6, \
                     tags = ?7, stock = ?8, updated_at = ?9, search_text = ?10 WHERE id = ?1",
                    params![
                        product.id.to_string(),
                        product.title,
                        product.description,
                        product.price,
                        product.brand,
                        product.category,
                        tags_json(&product.tags)?,
                        product.stock,
                        product.updated_at.millis(),
                        search_text(&product),
                    ],
                )
                .map_err(map_err)?;
                if tags_changed {
                    tx.execute("DELETE FROM product_tags WHERE product_id = ?1", [product.id.to_string()])
                        .map_err(map_err)?;
                    write_tags(tx, &product)?;
                }
                Ok(product)
            })
            .await
    }

    async fn soft_delete(&self, id: ObjectId, now: Timestamp) -> Result<Product, StoreError> {
        self.pool
            .write(move |tx| {
                let mut product = load(tx, id)?
                    .filter(|p| p.deleted_at.is_none())
                    .ok_or(StoreError::NotFound)?;
                product.deleted_at = Some(now);
                product.updated_at = now;
                tx.execute(
                    "UPDATE products SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1",
                    params![product.id.to_string(), now.millis()],
                )
                .map_err(map_err)?;
                Ok(product)
            })
            .await
    }

    async fn restore(&self, id: ObjectId, now: Timestamp) -> Result<Product, StoreError> {
        self.pool
            .write(move |tx| {
                let mut product = load(tx, id)?.ok_or(StoreError::NotFound)?;
                if product.deleted_at.is_none() {
                    return Ok(product);
                }
                product.deleted_at = None;
                product.updated_at = now;
                tx.execute(
                    "UPDATE products SET deleted_at = NULL, updated_at = ?2 WHERE id = ?1",
                    params![product.id.to_string(), now.millis()],
                )
                .map_err(map_err)?;
                Ok(product)
            })
            .await
    }
}

impl SqliteStore {
    /// Inserts `products` in one transaction, each as [`ProductRepository::insert`] does (the
    /// same statements, so the same indexes and triggers): for bulk loads such as the
    /// benchmark's catalogue, where a transaction per product would be most of the time.
    ///
    /// # Errors
    /// As [`ProductRepository::insert`]; nothing is written then.
    pub async fn insert_many(&self, products: Vec<Product>) -> Result<(), StoreError> {
        self.pool
            .write(move |tx| products.iter().try_for_each(|p| insert_row(tx, p)))
            .await
    }
}

/// Writes a new product's row and tags.
fn insert_row(tx: &Transaction<'_>, product: &Product) -> Result<(), StoreError> {
    let tags = tags_json(&product.tags)?;
    let mut statement = tx
        .prepare_cached(&format!(
            "INSERT INTO products ({COLUMNS}, search_text) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ))
        .map_err(map_err)?;
    statement
        .execute(params![
            product.id.to_string(),
            product.title,
            product.description,
            product.price,
            product.brand,
            product.category,
            tags,
            product.stock,
            product.created_at.millis(),
            product.updated_at.millis(),
            product.deleted_at.map(Timestamp::millis),
            search_text(product),
        ])
        .map_err(map_err)?;
    write_tags(tx, product)
}

/// The exact number of products `filter` selects: remembered from an earlier list of the same
/// query if the catalogue has not changed since (see [`Totals`]), else counted.
fn count(tx: &Transaction<'_>, totals: &Totals, filter: &ProductFilter) -> Result<i64, StoreError> {
    let (sql, args) = match search_only(filter) {
        Some(phrase) => (SEARCH_COUNT_SQL.to_owned(), vec![Sql::Text(phrase)]),
        None => {
            let (where_sql, args) = where_clause(filter, SearchPlan::Index);
            (count_sql(&where_sql), args)
        }
    };
    let counted = || {
        tx.prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params_from_iter(args.iter()), |r| r.get(0)))
            .map_err(map_err)
    };
    match totals::generation(tx).map_err(map_err)? {
        Some(generation) => totals.get_or_count(&Totals::key(&sql, &args), generation, counted),
        None => counted(),
    }
}

/// The query behind `meta.total`.
fn count_sql(where_sql: &str) -> String {
    format!("SELECT COUNT(*) FROM products WHERE {where_sql}")
}

/// The query of one page from `table` (`products`, or it with an index named); its last two
/// arguments are the limit and the offset.
fn page_sql(table: &str, where_sql: &str, order: &str) -> String {
    format!("SELECT {COLUMNS} FROM {table} WHERE {where_sql} ORDER BY {order} LIMIT ? OFFSET ?")
}

/// The table of a [`SearchPlan::Walk`] page: the live index of the first sort key, named, since
/// with keys in mixed directions (`-price,title`) SQLite's planner would otherwise sort every
/// live row rather than walk the first key's index and sort each run of equal keys.
fn walked_index(sort: &[SortField]) -> String {
    let index = match sort.first() {
        Some(SortField::Price) => "products_live_price",
        Some(SortField::Title) => "products_live_title",
        Some(SortField::Stock) => "products_live_stock",
        Some(SortField::UpdatedAt) => "products_live_updated",
        Some(SortField::CreatedAt) | None => "products_live_created",
    };
    format!("products INDEXED BY {index}")
}

/// How the page of a search the index can answer finds its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SearchPlan {
    /// From the index's matches, then sorted: few matches.
    Index,
    /// By walking the sort key's index and testing each row with the `LIKE`: many matches, so
    /// a page's worth comes up soon, where fetching and sorting every match would not.
    Walk,
}

/// The cheaper way to a page of `total` matches among about `rows` products, ending `end`
/// matches in: a walk reads about `end × rows / total` rows, the index fetches `total`.
fn search_plan(total: i64, end: i64, rows: i64) -> SearchPlan {
    let total = i128::from(total);
    if total * total > i128::from(end) * i128::from(rows) {
        SearchPlan::Walk
    } else {
        SearchPlan::Index
    }
}

/// The count of a query that is a search the index answers and nothing else.
const SEARCH_COUNT_SQL: &str = "SELECT COUNT(*) FROM products_search WHERE products_search MATCH ?";

/// The phrase of a search the index answers: 3 characters or more, of live products (the
/// index holds no deleted ones).
fn indexed_search(filter: &ProductFilter) -> Option<String> {
    let search = filter.search.as_ref()?.to_lowercase();
    (search.chars().count() >= INDEXED_SEARCH && !filter.include_deleted)
        .then(|| fts_phrase(&search))
}

/// The phrase, when `filter` is an indexed search and nothing else: its count is then the
/// index's alone, no row read. Exact: the trigrams of the text at consecutive positions are
/// found exactly in the texts holding it (the tests compare the two answers).
fn search_only(filter: &ProductFilter) -> Option<String> {
    let alone = filter.category.is_none()
        && filter.brand.is_none()
        && filter.tags.is_empty()
        && filter.stock.is_none()
        && filter.price.lower.is_none()
        && filter.price.upper.is_none();
    indexed_search(filter).filter(|_| alone)
}

/// The `WHERE` condition of `filter` and its bound arguments, in order.
fn where_clause(filter: &ProductFilter, plan: SearchPlan) -> (String, Vec<Sql>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut args: Vec<Sql> = Vec::new();
    if !filter.include_deleted {
        conditions.push("deleted_at IS NULL".into());
    }
    if let Some(search) = &filter.search {
        let search = search.to_lowercase();
        if let (Some(phrase), SearchPlan::Index) = (indexed_search(filter), plan) {
            // The index finds the rows holding every trigram of the text in a row (the phrase);
            // the `LIKE` below then decides on those, so the answer is the scan's by
            // construction.
            conditions.push(
                "rowid IN (SELECT rowid FROM products_search WHERE products_search MATCH ?)".into(),
            );
            args.push(Sql::Text(phrase));
        }
        conditions.push("search_text LIKE ? ESCAPE '\\'".into());
        args.push(Sql::Text(format!("%{}%", escape_like(&search))));
    }
    if let Some(category) = &filter.category {
        conditions.push("category = ?".into());
        args.push(Sql::Text(category.clone()));
    }
    if let Some(brand) = &filter.brand {
        conditions.push("brand = ?".into());
        args.push(Sql::Text(brand.clone()));
    }
    if !filter.tags.is_empty() {
        let marks = vec!["?"; filter.tags.len()].join(", ");
        conditions.push(format!(
            "id IN (SELECT product_id FROM product_tags WHERE tag IN ({marks}))"
        ));
        args.extend(filter.tags.iter().cloned().map(Sql::Text));
    }
    match filter.stock {
        Some(StockFilter::InStock) => conditions.push("stock > 0".into()),
        Some(StockFilter::OutOfStock) => conditions.push("stock = 0".into()),
        None => {}
    }
    if let Some(lower) = filter.price.lower {
        conditions.push(
            if lower.inclusive {
                "price >= ?"
            } else {
                "price > ?"
            }
            .into(),
        );
        args.push(Sql::Real(lower.value));
    }
    if let Some(upper) = filter.price.upper {
        conditions.push(
            if upper.inclusive {
                "price <= ?"
            } else {
                "price < ?"
            }
            .into(),
        );
        args.push(Sql::Real(upper.value));
    }
    if conditions.is_empty() {
        conditions.push("1".into());
    }
    (conditions.join(" AND "), args)
}

/// The `ORDER BY` list: the query's keys, then `id` in the last key's direction, so the order
/// is total and consecutive pages never overlap or skip.
fn order_by(query: &ProductQuery) -> String {
    let dir = |d: Direction| match d {
        Direction::Asc => "ASC",
        Direction::Desc => "DESC",
    };
    let mut parts: Vec<String> = query
        .sort
        .iter()
        .map(|key| {
            let column = match key.field {
                SortField::Price => "price",
                SortField::Title => "title",
                SortField::Stock => "stock",
                SortField::CreatedAt => "created_at",
                SortField::UpdatedAt => "updated_at",
            };
            format!("{column} {}", dir(key.direction))
        })
        .collect();
    let last = query.sort.last().map_or(Direction::Desc, |k| k.direction);
    parts.push(format!("id {}", dir(last)));
    parts.join(", ")
}

/// The shortest search the trigram index can answer (in characters); a shorter one scans.
const INDEXED_SEARCH: usize = 3;

/// `text` as one FTS5 phrase: quoted, its quotes doubled, so every character is data (FTS5's
/// operators, `*`, `^`, `:` and parentheses included).
fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn tags_json(tags: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(tags).map_err(|e| StoreError::internal("cannot encode the tags", e))
}

fn write_tags(tx: &Transaction<'_>, product: &Product) -> Result<(), StoreError> {
    let mut insert = tx
        .prepare_cached("INSERT OR IGNORE INTO product_tags (tag, product_id) VALUES (?1, ?2)")
        .map_err(map_err)?;
    let id = product.id.to_string();
    for tag in &product.tags {
        insert.execute(params![tag, id]).map_err(map_err)?;
    }
    Ok(())
}

fn load(conn: &rusqlite::Connection, id: ObjectId) -> Result<Option<Product>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM products WHERE id = ?1"),
        [id.to_string()],
        raw_row,
    )
    .optional()
    .map_err(map_err)?
    .map(RawProduct::into_product)
    .transpose()
}

/// A row as SQLite returns it, before the id and tags are checked.
struct RawProduct {
    id: String,
    title: String,
    description: Option<String>,
    price: f64,
    brand: Option<String>,
    category: Option<String>,
    tags: String,
    stock: i64,
    created_at: i64,
    updated_at: i64,
    deleted_at: Option<i64>,
}

fn raw_row(row: &Row<'_>) -> rusqlite::Result<RawProduct> {
    Ok(RawProduct {
        id: row.get(0)?,
        title: row.get(1)?,
        description: row.get(2)?,
        price: row.get(3)?,
        brand: row.get(4)?,
        category: row.get(5)?,
        tags: row.get(6)?,
        stock: row.get(7)?,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
        deleted_at: row.get(10)?,
    })
}

impl RawProduct {
    fn into_product(self) -> Result<Product, StoreError> {
        Ok(Product {
            id: stored_id(&self.id)?,
            title: self.title,
            description: self.description,
            price: self.price,
            brand: self.brand,
            category: self.category,
            tags: serde_json::from_str(&self.tags).map_err(|e| {
                StoreError::internal(format!("corrupt tags of product {}", self.id), e)
            })?,
            stock: self.stock,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
            deleted_at: self.deleted_at.map(Timestamp::from_millis),
        })
    }
}

#[cfg(test)]
mod tests;
