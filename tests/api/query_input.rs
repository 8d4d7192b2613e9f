//! Query strings of any shape through the API's query parser: no panic, no hang, every error
//! names a parameter the query holds; page and limit accept exactly their documented ranges.
//! Plumbing and properties: `common::fuzz`.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::common::fuzz::{hostile_text, run, within};

const QUERY_NAMES: &[&str] = &[
    "search",
    "category",
    "brand",
    "tags",
    "inStock",
    "minPrice",
    "maxPrice",
    "price[gt]",
    "price[gte]",
    "price[lt]",
    "price[lte]",
    "sort",
    "page",
    "limit",
    "fields",
    "includeDeleted",
    "price[ne]",
    "price[$ne]",
    "price[$gt]",
    "price[regex]",
    "price[]",
    "price[",
    "price]",
    "category[$ne]",
    "search[$regex]",
    "stock[gte]",
    "page[$gt]",
    "__proto__",
    "",
    "%5B",
    "a[b][c]",
];

fn query_name() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => prop::sample::select(QUERY_NAMES).prop_map(str::to_owned),
        1 => "[a-zA-Z$\\[\\]._%-]{0,12}",
        1 => hostile_text(),
    ]
}

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[0-9]{1,40}",
        2 => "-?[0-9]{1,7}(\\.[0-9]{0,4})?",
        2 => prop::sample::select(vec![
            "1", "10", "100", "1000000", "1000001", "0", "true", "false", "1e309", "1e3",
            "9223372036854775808", "4294967296", "NaN", "inf", "Infinity", "-0", "0x10", "+1",
            "1.", ".5", "price:asc,-createdAt,title", "-price", "price:up", "price,-price",
            "title,price", "id", "passwordHash", "a,,b", "phone", "50%", "_", "%_", ".*", "(a|b)*",
            "^$", "[a-z]+", "\\", "%00", "a%0Ab", "%E2%80%AE", "%ff%fe", "%zz", "%",
        ])
        .prop_map(str::to_owned),
        2 => hostile_text(),
    ]
}

/// Raw query strings: pairs joined with every separator mistake, some percent-encoded whole.
fn query_string() -> impl Strategy<Value = String> {
    let pair =
        (query_name(), query_value(), 0usize..5).prop_map(|(name, value, style)| match style {
            0 => form_urlencoded::Serializer::new(String::new())
                .append_pair(&name, &value)
                .finish(),
            1 => name,
            2 => format!("{name}=={value}"),
            _ => format!("{name}={value}"),
        });
    prop_oneof![
        6 => (prop::collection::vec(pair, 0..24), prop::sample::select(vec!["&", "&&", ";", "&amp;"]))
            .prop_map(|(pairs, sep)| pairs.join(sep)),
        1 => "[ -~]{0,300}",
        1 => (1usize..3000).prop_map(|n| (0..n).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join("&")),
        1 => (1usize..3000).prop_map(|n| "page=1&".repeat(n)),
    ]
}

/// The decoded parameter names of `raw`, as the parser sees them.
fn decoded_names(raw: &str) -> Vec<String> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(name, _)| name.into_owned())
        .collect()
}

/// Every error names a parameter the query holds (cut to 64 characters plus `…`).
fn errors_name_parameters(
    raw: &str,
    errors: &[svc::domain::FieldError],
) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty(), "an empty rejection for {raw:?}");
    let names = decoded_names(raw);
    for error in errors {
        prop_assert!(
            !error.message.is_empty(),
            "no message for {:?}",
            error.field
        );
        let shown = error.field.strip_suffix('…').unwrap_or(&error.field);
        prop_assert!(shown.chars().count() <= 64, "a long name reflected whole");
        prop_assert!(
            names.iter().any(|n| n.starts_with(shown)) || (shown == "query" && names.len() > 64),
            "error {:?} ({}) names no parameter of {raw:?}",
            error.field,
            error.message
        );
    }
    Ok(())
}

#[test]
fn query_strings_never_panic_or_hang_and_every_error_names_a_parameter() {
    run("query strings", 3000, query_string(), |raw| {
        let input = raw.clone();
        let (products, users, item, none) = within("query", move || {
            (
                svc::query::parse_products(Some(&input)),
                svc::query::parse_users(Some(&input)),
                svc::query::parse_item(Some(&input)),
                svc::query::parse_none(Some(&input)),
            )
        })?;
        match products {
            Ok(q) => {
                prop_assert!((1..=1_000_000).contains(&q.page.page));
                prop_assert!((1..=100).contains(&q.page.limit));
                prop_assert!(!q.sort.is_empty());
                if let Some(search) = &q.filter.search {
                    prop_assert!(!search.is_empty() && search.chars().count() <= 100);
                    prop_assert!(!search.chars().any(char::is_control));
                }
                prop_assert!(q.filter.tags.len() <= 20);
                let bounds = [q.filter.price.lower, q.filter.price.upper];
                for bound in bounds.iter().flatten() {
                    prop_assert!(bound.value.is_finite() && bound.value >= 0.0);
                }
                if let (Some(low), Some(high)) = (q.filter.price.lower, q.filter.price.upper) {
                    prop_assert!(low.value <= high.value);
                }
            }
            Err(invalid) => errors_name_parameters(&raw, &invalid.0)?,
        }
        match users {
            Ok(q) => prop_assert!((1..=1_000_000).contains(&q.page.page)),
            Err(invalid) => errors_name_parameters(&raw, &invalid.0)?,
        }
        if let Err(invalid) = item {
            errors_name_parameters(&raw, &invalid.0)?;
        }
        match none {
            Ok(()) => prop_assert!(decoded_names(&raw).is_empty(), "{raw:?} taken by a write"),
            Err(invalid) => errors_name_parameters(&raw, &invalid.0)?,
        }
        Ok(())
    });
}

#[test]
fn page_and_limit_accept_exactly_the_documented_ranges() {
    let number = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..1_000_002).prop_map(|n| n.to_string()),
        "[0-9]{0,25}",
        query_value(),
    ];
    run(
        "page/limit oracle",
        2000,
        (number.clone(), number),
        |(page, limit)| {
            let raw = form_urlencoded::Serializer::new(String::new())
                .append_pair("page", &page)
                .append_pair("limit", &limit)
                .finish();
            let input = raw.clone();
            let parsed = within("page/limit", move || {
                svc::query::parse_products(Some(&input))
            })?;
            let in_range = |text: &str, max: u64| {
                !text.is_empty()
                    && text.bytes().all(|b| b.is_ascii_digit())
                    && text.parse::<u64>().is_ok_and(|n| (1..=max).contains(&n))
            };
            let (page_ok, limit_ok) = (in_range(&page, 1_000_000), in_range(&limit, 100));
            match parsed {
                Ok(q) => {
                    prop_assert!(page_ok && limit_ok, "{raw:?} accepted");
                    prop_assert_eq!(q.page.page.to_string(), page.trim_start_matches('0'));
                    prop_assert_eq!(q.page.limit.to_string(), limit.trim_start_matches('0'));
                }
                Err(invalid) => {
                    let mut named: Vec<&str> = invalid.0.iter().map(|e| e.field.as_str()).collect();
                    named.sort_unstable();
                    let mut expected = Vec::new();
                    if !limit_ok {
                        expected.push("limit");
                    }
                    if !page_ok {
                        expected.push("page");
                    }
                    prop_assert_eq!(named, expected, "for {:?}", raw);
                }
            }
            Ok(())
        },
    );
}
