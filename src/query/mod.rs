//! The query engine: a request's query string becomes one typed, validated, backend-neutral
//! query, which each store backend translates (SQL here, a MongoDB filter later).
//!
//! Parsing is strict because the query string is attacker-controlled: every parameter must be
//! known, given at most once (a repeated parameter is refused as parameter pollution rather
//! than silently picking one), and well-formed; all problems are reported together, each naming
//! its parameter. Nothing here builds SQL or knows about HTTP.

mod params;
mod products;

use crate::domain::ProductField;

pub use params::Params;
pub use products::{parse_item, parse_none, parse_products, parse_users};

/// A validated `GET /api/products` query.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductQuery {
    pub filter: ProductFilter,
    /// Never empty: the default is `createdAt` descending. Backends append the id tie-breaker.
    pub sort: Vec<SortKey>,
    pub page: PageRequest,
    /// `fields=`: the fields to return (`id` is always returned); `None` returns all.
    pub fields: Option<Vec<ProductField>>,
}

/// Which products match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductFilter {
    /// Case-insensitive substring of title, description, brand or category. Plain text: backends
    /// must escape it (never a pattern or a regex).
    pub search: Option<String>,
    /// Exact category.
    pub category: Option<String>,
    /// Exact brand.
    pub brand: Option<String>,
    /// Any of these tags; empty means no tag filter.
    pub tags: Vec<String>,
    pub stock: Option<StockFilter>,
    pub price: PriceRange,
    /// Include soft-deleted products.
    pub include_deleted: bool,
}

/// `inStock=true` / `inStock=false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockFilter {
    /// stock > 0
    InStock,
    /// stock = 0
    OutOfStock,
}

/// Bounds on the price; both optional.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PriceRange {
    pub lower: Option<Bound>,
    pub upper: Option<Bound>,
}

/// One end of a range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub value: f64,
    /// `gte`/`lte` (and `minPrice`/`maxPrice`) include the value; `gt`/`lt` do not.
    pub inclusive: bool,
}

/// A field products can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Price,
    Title,
    Stock,
    CreatedAt,
    UpdatedAt,
}

impl SortField {
    const ALL: [SortField; 5] = [
        SortField::Price,
        SortField::Title,
        SortField::Stock,
        SortField::CreatedAt,
        SortField::UpdatedAt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortField::Price => "price",
            SortField::Title => "title",
            SortField::Stock => "stock",
            SortField::CreatedAt => "createdAt",
            SortField::UpdatedAt => "updatedAt",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// One sort criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub field: SortField,
    pub direction: Direction,
}

/// `page` (1-based) and `limit` (page size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub limit: u32,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 10;
    pub const MAX_LIMIT: u32 = 100;
    /// Bounded so `offset()` can never overflow a backend's integer.
    pub const MAX_PAGE: u32 = 1_000_000;

    /// Items to skip.
    pub fn offset(self) -> u64 {
        u64::from(self.page.saturating_sub(1)) * u64::from(self.limit)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            page: 1,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// A validated `GET /api/users` query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserQuery {
    pub page: PageRequest,
    pub include_deleted: bool,
}

/// The `meta` of a list response, computed from a page request and the total match count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageMeta {
    pub page: u32,
    pub limit: u32,
    pub total: u64,
    pub total_pages: u64,
    pub has_next: bool,
    pub has_prev: bool,
}

impl PageMeta {
    pub fn new(request: PageRequest, total: u64) -> Self {
        let limit = u64::from(request.limit.max(1));
        let total_pages = total.div_ceil(limit);
        PageMeta {
            page: request.page,
            limit: request.limit,
            total,
            total_pages,
            has_next: u64::from(request.page) < total_pages,
            has_prev: request.page > 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_meta_counts_pages() {
        let meta = PageMeta::new(PageRequest { page: 2, limit: 10 }, 25);
        assert_eq!(
            (meta.total_pages, meta.has_next, meta.has_prev),
            (3, true, true)
        );
        let last = PageMeta::new(PageRequest { page: 3, limit: 10 }, 25);
        assert!(!last.has_next);
        let empty = PageMeta::new(PageRequest::default(), 0);
        assert_eq!(
            (empty.total_pages, empty.has_next, empty.has_prev),
            (0, false, false)
        );
        assert_eq!(PageRequest { page: 3, limit: 10 }.offset(), 20);
    }
}
