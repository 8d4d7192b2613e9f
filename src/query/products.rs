//! `GET /api/products` and `GET /api/users` query strings → [`ProductQuery`] / [`UserQuery`].

use super::{
    Bound, Direction, PageRequest, Params, PriceRange, ProductFilter, ProductQuery, SortField,
    SortKey, StockFilter, UserQuery,
};
use crate::domain::product::{MAX_LABEL, MAX_TAG, MAX_TAGS};
use crate::domain::{Invalid, ProductField};

/// Longest accepted `search` text.
pub const MAX_SEARCH: usize = 100;

const PRODUCT_PARAMS: &str = "search, category, brand, tags, inStock, minPrice, maxPrice, \
price[gt], price[gte], price[lt], price[lte], sort, page, limit, fields, includeDeleted";
const USER_PARAMS: &str = "page, limit, includeDeleted";

/// Parses a products query string (without the leading `?`).
///
/// # Errors
/// [`Invalid`] naming every unknown, repeated or malformed parameter, unknown operator or field.
pub fn parse_products(raw: Option<&str>) -> Result<ProductQuery, Invalid> {
    let mut p = Params::parse(raw);
    let search = read(&mut p, "search", search);
    let category = read(&mut p, "category", label);
    let brand = read(&mut p, "brand", label);
    let tags = read(&mut p, "tags", tags).unwrap_or_default();
    let stock = read(&mut p, "inStock", boolean).map(|b| {
        if b {
            StockFilter::InStock
        } else {
            StockFilter::OutOfStock
        }
    });
    let include_deleted = read(&mut p, "includeDeleted", boolean).unwrap_or(false);
    let price = price_range(&mut p);
    let sort = read(&mut p, "sort", sort).unwrap_or_else(default_sort);
    let page = page_request(&mut p);
    let fields = read(&mut p, "fields", fields);
    p.finish(PRODUCT_PARAMS)?;
    Ok(ProductQuery {
        filter: ProductFilter {
            search,
            category,
            brand,
            tags,
            stock,
            price,
            include_deleted,
        },
        sort,
        page,
        fields,
    })
}

/// Parses a users query string: `page`, `limit`, `includeDeleted`.
///
/// # Errors
/// [`Invalid`] naming every unknown, repeated or malformed parameter.
pub fn parse_users(raw: Option<&str>) -> Result<UserQuery, Invalid> {
    let mut p = Params::parse(raw);
    let include_deleted = read(&mut p, "includeDeleted", boolean).unwrap_or(false);
    let page = page_request(&mut p);
    p.finish(USER_PARAMS)?;
    Ok(UserQuery {
        page,
        include_deleted,
    })
}

/// Parses the query string of a single-record read: only `includeDeleted`.
///
/// # Errors
/// [`Invalid`] naming every unknown, repeated or malformed parameter.
pub fn parse_item(raw: Option<&str>) -> Result<bool, Invalid> {
    let mut p = Params::parse(raw);
    let include_deleted = read(&mut p, "includeDeleted", boolean).unwrap_or(false);
    p.finish("includeDeleted")?;
    Ok(include_deleted)
}

/// Parses a query string that must be empty (writes).
///
/// # Errors
/// [`Invalid`] naming every parameter given.
pub fn parse_none(raw: Option<&str>) -> Result<(), Invalid> {
    Params::parse(raw).finish("none")
}

/// Takes `name` and checks it with `check`; a failure is recorded against `name`.
fn read<T>(p: &mut Params, name: &str, check: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
    let value = p.take(name)?;
    match check(&value) {
        Ok(v) => Some(v),
        Err(message) => {
            p.fail(name, message);
            None
        }
    }
}

fn default_sort() -> Vec<SortKey> {
    vec![SortKey {
        field: SortField::CreatedAt,
        direction: Direction::Desc,
    }]
}

fn page_request(p: &mut Params) -> PageRequest {
    let page = read(p, "page", |v| integer_in(v, 1, PageRequest::MAX_PAGE)).unwrap_or(1);
    let limit = read(p, "limit", |v| integer_in(v, 1, PageRequest::MAX_LIMIT))
        .unwrap_or(PageRequest::DEFAULT_LIMIT);
    PageRequest { page, limit }
}

fn search(value: &str) -> Result<String, String> {
    let text = value.trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > MAX_SEARCH {
        return Err(format!("must be at most {MAX_SEARCH} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(text.to_owned())
}

fn label(value: &str) -> Result<String, String> {
    let text = value.trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > MAX_LABEL {
        return Err(format!("must be at most {MAX_LABEL} characters"));
    }
    Ok(text.to_owned())
}

fn tags(value: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for tag in value.split(',').map(str::trim) {
        if tag.is_empty() {
            return Err("must be a comma-separated list of tags without empty items".into());
        }
        if tag.chars().count() > MAX_TAG {
            return Err(format!("each tag must be at most {MAX_TAG} characters"));
        }
        if !out.iter().any(|t| t == tag) {
            out.push(tag.to_owned());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(format!("must list at most {MAX_TAGS} tags"));
    }
    Ok(out)
}

fn boolean(value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

fn integer_in(value: &str, min: u32, max: u32) -> Result<u32, String> {
    let message = || format!("must be an integer from {min} to {max}");
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(if value.starts_with('-') {
            format!("must not be negative ({})", message())
        } else {
            message()
        });
    }
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(message)
}

/// A non-negative decimal written plainly (`12`, `12.5`); no exponents, signs, `NaN` or `inf`.
fn price(value: &str) -> Result<f64, String> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = digits.len() <= 32
        && match digits.split_once('.') {
            Some((whole, fraction)) => plain(whole) && plain(fraction),
            None => plain(digits),
        };
    if !well_formed {
        return Err("must be a number".into());
    }
    if negative {
        return Err("must not be negative".into());
    }
    digits
        .parse::<f64>()
        .map_err(|_| "must be a number".to_owned())
}

/// Reads `minPrice`/`maxPrice` and `price[op]`: at most one lower and one upper bound, and the
/// lower not above the upper.
fn price_range(p: &mut Params) -> PriceRange {
    let mut lower: Option<(String, Bound)> = None;
    let mut upper: Option<(String, Bound)> = None;
    let mut sources: Vec<(String, String)> = Vec::new();
    for name in ["minPrice", "maxPrice"] {
        if let Some(value) = p.take(name) {
            sources.push((name.to_owned(), value));
        }
    }
    sources.extend(p.take_prefixed("price["));
    for (name, value) in sources {
        let (is_lower, inclusive) = match name.as_str() {
            "minPrice" | "price[gte]" => (true, true),
            "price[gt]" => (true, false),
            "maxPrice" | "price[lte]" => (false, true),
            "price[lt]" => (false, false),
            other => {
                let op = other.trim_start_matches("price[").trim_end_matches(']');
                p.fail(
                    other,
                    format!("has an unknown operator {op:?} (known operators: gt, gte, lt, lte)"),
                );
                continue;
            }
        };
        let value = match price(&value) {
            Ok(v) => v,
            Err(message) => {
                p.fail(&name, message);
                continue;
            }
        };
        let slot = if is_lower { &mut lower } else { &mut upper };
        if let Some((first, _)) = slot {
            let which = if is_lower { "lower" } else { "upper" };
            let message = format!("conflicts with {first}: give one {which} price bound");
            p.fail(&name, message);
            continue;
        }
        *slot = Some((name, Bound { value, inclusive }));
    }
    if let (Some((low_name, low)), Some((high_name, high))) = (&lower, &upper)
        && low.value > high.value
    {
        p.fail(low_name, format!("must not be greater than {high_name}"));
    }
    PriceRange {
        lower: lower.map(|(_, b)| b),
        upper: upper.map(|(_, b)| b),
    }
}

fn sort(value: &str) -> Result<Vec<SortKey>, String> {
    let mut keys: Vec<SortKey> = Vec::new();
    for item in value.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(
                "must be a comma-separated list like price:asc,-createdAt without empty items"
                    .into(),
            );
        }
        let (name, direction) = if let Some(name) = item.strip_prefix('-') {
            (name, Direction::Desc)
        } else if let Some((name, dir)) = item.split_once(':') {
            let direction = match dir {
                "asc" => Direction::Asc,
                "desc" => Direction::Desc,
                other => {
                    return Err(format!(
                        "has an unknown direction {other:?} (use asc or desc)"
                    ));
                }
            };
            (name, direction)
        } else {
            (item, Direction::Asc)
        };
        let Some(field) = SortField::from_name(name) else {
            return Err(format!(
                "has an unknown field {name:?} (sortable fields: price, title, stock, createdAt, updatedAt)"
            ));
        };
        if keys.iter().any(|k| k.field == field) {
            return Err(format!("names {name:?} twice"));
        }
        keys.push(SortKey { field, direction });
    }
    Ok(keys)
}

fn fields(value: &str) -> Result<Vec<ProductField>, String> {
    let mut out: Vec<ProductField> = Vec::new();
    for name in value.split(',').map(str::trim) {
        let Some(field) = ProductField::from_name(name) else {
            let known: Vec<&str> = ProductField::ALL.iter().map(|f| f.name()).collect();
            return Err(format!(
                "has an unknown field {name:?} (known fields: {})",
                known.join(", ")
            ));
        };
        if !out.contains(&field) {
            out.push(field);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> ProductQuery {
        parse_products(Some(raw)).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    /// The parameter names the errors of `raw` point at.
    fn bad(raw: &str) -> Vec<String> {
        parse_products(Some(raw))
            .expect_err(raw)
            .0
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn an_empty_query_has_the_defaults() {
        let q = parse_products(None).unwrap();
        assert_eq!(q.filter, ProductFilter::default());
        assert_eq!(q.sort, default_sort());
        assert_eq!(q.page, PageRequest { page: 1, limit: 10 });
        assert_eq!(q.fields, None);
    }

    #[test]
    fn every_parameter_is_read() {
        let q = ok(
            "search=%20Phone%20&category=phones&brand=Acme&tags=apple,%20samsung,apple&inStock=true\
            &minPrice=100&maxPrice=500.5&sort=price:asc,-createdAt,title&page=3&limit=25&fields=title,price&includeDeleted=true",
        );
        assert_eq!(q.filter.search.as_deref(), Some("Phone"));
        assert_eq!(q.filter.category.as_deref(), Some("phones"));
        assert_eq!(q.filter.brand.as_deref(), Some("Acme"));
        assert_eq!(q.filter.tags, vec!["apple", "samsung"]);
        assert_eq!(q.filter.stock, Some(StockFilter::InStock));
        assert_eq!(
            q.filter.price.lower,
            Some(Bound {
                value: 100.0,
                inclusive: true
            })
        );
        assert_eq!(
            q.filter.price.upper,
            Some(Bound {
                value: 500.5,
                inclusive: true
            })
        );
        assert!(q.filter.include_deleted);
        assert_eq!(
            q.sort,
            vec![
                SortKey {
                    field: SortField::Price,
                    direction: Direction::Asc
                },
                SortKey {
                    field: SortField::CreatedAt,
                    direction: Direction::Desc
                },
                SortKey {
                    field: SortField::Title,
                    direction: Direction::Asc
                },
            ]
        );
        assert_eq!(q.page, PageRequest { page: 3, limit: 25 });
        assert_eq!(
            q.fields,
            Some(vec![ProductField::Title, ProductField::Price])
        );
    }

    #[test]
    fn bracket_operators_set_bounds() {
        let q = ok("price%5Bgt%5D=1&price%5Blt%5D=2");
        assert_eq!(
            q.filter.price.lower,
            Some(Bound {
                value: 1.0,
                inclusive: false
            })
        );
        assert_eq!(
            q.filter.price.upper,
            Some(Bound {
                value: 2.0,
                inclusive: false
            })
        );
        let q = ok("price[gte]=1&price[lte]=1");
        assert_eq!(q.filter.price.lower.map(|b| b.inclusive), Some(true));
        assert_eq!(
            ok("inStock=false").filter.stock,
            Some(StockFilter::OutOfStock)
        );
    }

    #[test]
    fn malformed_values_are_named() {
        assert_eq!(bad("minPrice=-1"), ["minPrice"]);
        assert_eq!(bad("maxPrice=abc"), ["maxPrice"]);
        for number in ["NaN", "inf", "1e3", "+1", "1.", ".5", "0x10", ""] {
            assert_eq!(
                bad(&format!("price[gte]={number}")),
                ["price[gte]"],
                "{number}"
            );
        }
        assert_eq!(bad("minPrice=500&maxPrice=100"), ["minPrice"]);
        assert_eq!(bad("price[gte]=500&price[lt]=100"), ["price[gte]"]);
        assert_eq!(bad("minPrice=1&price[gte]=2"), ["price[gte]"]);
        assert_eq!(bad("page=0"), ["page"]);
        assert_eq!(bad("page=-1"), ["page"]);
        assert_eq!(bad("page=1.5"), ["page"]);
        assert_eq!(bad("page=99999999999"), ["page"]);
        assert_eq!(bad("limit=0"), ["limit"]);
        assert_eq!(bad("limit=101"), ["limit"]);
        assert_eq!(bad("inStock=yes"), ["inStock"]);
        assert_eq!(bad("includeDeleted=1"), ["includeDeleted"]);
        assert_eq!(bad("search="), ["search"]);
        assert_eq!(bad(&format!("search={}", "x".repeat(101))), ["search"]);
        assert_eq!(bad("search=a%00b"), ["search"]);
        assert_eq!(bad("category="), ["category"]);
        assert_eq!(bad("tags=a,,b"), ["tags"]);
    }

    #[test]
    fn unknown_names_operators_and_fields_are_named() {
        assert_eq!(bad("color=red"), ["color"]);
        assert_eq!(bad("price[regex]=1"), ["price[regex]"]);
        assert_eq!(bad("price[$ne]=1"), ["price[$ne]"]);
        assert_eq!(bad("stock[gte]=1"), ["stock[gte]"]);
        assert_eq!(bad("search[$regex]=.*"), ["search[$regex]"]);
        assert_eq!(bad("sort=password"), ["sort"]);
        assert_eq!(bad("sort=price:up"), ["sort"]);
        assert_eq!(bad("sort=price,-price"), ["sort"]);
        assert_eq!(bad("sort=price,"), ["sort"]);
        assert_eq!(bad("fields=title,passwordHash"), ["fields"]);
        let err = parse_products(Some("fields=secret")).unwrap_err();
        assert!(
            err.0[0].message.contains("\"secret\""),
            "{}",
            err.0[0].message
        );
    }

    #[test]
    fn repeated_parameters_are_pollution() {
        assert_eq!(bad("sort=price&sort=title"), ["sort"]);
        assert_eq!(bad("minPrice=1&minPrice=2"), ["minPrice"]);
        assert_eq!(bad("price[gte]=1&price[gte]=2"), ["price[gte]"]);
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let mut names = bad("color=red&page=0&sort=nope&minPrice=x");
        names.sort();
        assert_eq!(names, ["color", "minPrice", "page", "sort"]);
    }

    #[test]
    fn user_queries_take_only_paging() {
        let q = parse_users(Some("page=2&limit=5&includeDeleted=true")).unwrap();
        assert_eq!(
            q,
            UserQuery {
                page: PageRequest { page: 2, limit: 5 },
                include_deleted: true
            }
        );
        assert!(parse_users(Some("search=a")).is_err());
    }
}
