//! JSON bodies of any shape through the API's body reader and validators: no panic, no hang,
//! every bad field named, broken JSON refused with its position. Plumbing and properties:
//! `common::fuzz`.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value};

use crate::common::fuzz::{PER_INPUT, hostile_text, json_leaf, run, within};

const BODY_KEYS: &[&str] = &[
    "title",
    "description",
    "price",
    "brand",
    "category",
    "tags",
    "stock",
    "name",
    "email",
    "password",
    "id",
    "_id",
    "createdAt",
    "deletedAt",
    "isAdmin",
    "role",
    "$ne",
    "$gt",
    "$where",
    "__proto__",
    "constructor",
    "price.$gt",
    "",
    " title",
    "TITLE",
    "🙂",
];

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(body_key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(BODY_KEYS).prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

/// A sign-up whose fields are each valid-looking or hostile, so the user validator's
/// acceptance is exercised too (random objects rarely hold three valid fields at once).
fn sign_up() -> impl Strategy<Value = Value> {
    let valid_or = |valid: &'static str| {
        prop_oneof![
            2 => Just(Value::String(valid.to_owned())),
            1 => hostile_text().prop_map(Value::String),
            1 => hostile_text().prop_map(move |h| Value::String(format!("{valid}{h}"))),
        ]
    };
    (valid_or("Ann"), valid_or("ann@example.com"), valid_or("correct horse"))
        .prop_map(|(name, email, password)| {
            serde_json::json!({"name": name, "email": email, "password": password})
        })
}

/// Mostly objects with the known fields (values valid-looking or hostile), some anything.
fn json_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => sign_up(),
        4 => prop::collection::btree_map(body_key(), json_value(), 0..8)
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        1 => json_value(),
        1 => (1usize..120).prop_map(|depth| {
            let mut v = Value::String("deep".into());
            for _ in 0..depth {
                v = Value::Array(vec![v]);
            }
            serde_json::json!({"title": v, "price": 1})
        }),
    ]
}

/// Every error names a key of the body, or the body itself.
fn errors_name_fields(
    body: &Value,
    errors: &[svc::domain::FieldError],
) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty());
    for error in errors {
        prop_assert!(!error.message.is_empty());
        let known = error.field == "body"
            || ["title", "price", "name", "email", "password"].contains(&error.field.as_str())
            || body
                .as_object()
                .is_some_and(|m| m.contains_key(&error.field));
        prop_assert!(
            known,
            "error names {:?}, not a field of {body}",
            error.field
        );
    }
    Ok(())
}

#[test]
fn body_validators_never_panic_or_hang_and_name_every_bad_field() {
    use svc::domain::product::{MAX_PRICE, MAX_STOCK};
    use svc::domain::{NewProduct, NewUser, ProductPatch};
    run("JSON body validators", 3000, json_body(), |body| {
        let input = body.clone();
        let (new, patch, user) = within("validators", move || {
            (
                NewProduct::from_json(&input),
                ProductPatch::from_json(&input),
                NewUser::from_json(&input),
            )
        })?;
        match new {
            Ok(p) => {
                let len = p.title.chars().count();
                prop_assert!((1..=200).contains(&len) && p.title.trim() == p.title);
                prop_assert!(p.price.is_finite() && (0.0..=MAX_PRICE).contains(&p.price));
                prop_assert!((0..=MAX_STOCK).contains(&p.stock));
                prop_assert!(p.tags.len() <= 20);
                prop_assert!(p.tags.iter().all(|t| (1..=30).contains(&t.chars().count())));
            }
            Err(invalid) => errors_name_fields(&body, &invalid.0)?,
        }
        match patch {
            Ok(p) => {
                prop_assert!(body.as_object().is_some_and(|m| !m.is_empty()));
                if let Some(price) = p.price {
                    prop_assert!(price.is_finite() && price >= 0.0);
                }
            }
            Err(invalid) => errors_name_fields(&body, &invalid.0)?,
        }
        match user {
            Ok(u) => {
                let email = u.email.as_str();
                prop_assert_eq!(email, email.trim().to_lowercase());
                prop_assert!(email.contains('@'));
                prop_assert!((1..=100).contains(&u.name.chars().count()));
                prop_assert!(
                    !u.name.chars().any(char::is_control),
                    "a name with control characters would fail its welcome email: {:?}",
                    u.name
                );
                prop_assert!((8..=128).contains(&u.password.expose().chars().count()));
            }
            Err(invalid) => errors_name_fields(&body, &invalid.0)?,
        }
        Ok(())
    });
}

/// Raw request bodies: JSON text cut, spliced and broken, deep nesting, numbers past `f64`,
/// `NaN`/`Infinity`, invalid UTF-8, a BOM, and bodies right at the size limit.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    let text = || json_body().prop_map(|v| v.to_string().into_bytes());
    prop_oneof![
        3 => (text(), any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 0..6))
            .prop_map(|(mut bytes, at, junk)| {
                let at = at.index(bytes.len() + 1);
                bytes.splice(at..at, junk);
                bytes
            }),
        2 => (text(), any::<prop::sample::Index>()).prop_map(|(mut bytes, at)| {
            bytes.truncate(at.index(bytes.len() + 1));
            bytes
        }),
        1 => text(),
        2 => prop::sample::select(vec![
            "{\"title\":\"t\",\"price\":1e309}", "{\"title\":\"t\",\"price\":-1e309}",
            "{\"title\":\"t\",\"price\":NaN}", "{\"title\":\"t\",\"price\":Infinity}",
            "{\"title\":\"t\",\"price\":123456789012345678901234567890}",
            "{\"title\":\"t\",\"stock\":9223372036854775808,\"price\":1}",
            "{\"title\":\"t\",\"price\":1,\"price\":2}", "\u{FEFF}{}", "{\"a\":\"\\ud800\"}",
            "{\"title\":\"\\u0000\",\"price\":1}", "[]", "null", "\"s\"", "1", "", " ", "{",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => (1usize..10_000, prop::sample::select(vec![b'[', b'{'])).prop_map(|(n, open)| {
            if open == b'{' {
                "{\"a\":".repeat(n / 5).into_bytes()
            } else {
                vec![b'['; n]
            }
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => (9_990usize..10_010).prop_map(|n| {
            let mut body = br#"{"title":"padded","price":1}"#.to_vec();
            body.resize(n, b' ');
            body
        }),
    ]
}

/// The body limits the JSON extractor reads from the router's state: the API's defaults.
#[derive(Clone)]
struct Limits;

const LIMIT: usize = 10_000;

impl axum::extract::FromRef<Limits> for svc::api::extract::BodyLimit {
    fn from_ref(_: &Limits) -> Self {
        svc::api::extract::BodyLimit(LIMIT)
    }
}

impl axum::extract::FromRef<Limits> for svc::api::extract::BodyTimeout {
    fn from_ref(_: &Limits) -> Self {
        svc::api::extract::BodyTimeout(Duration::from_secs(10))
    }
}

#[test]
fn json_bodies_are_read_or_refused_with_the_position_and_never_hang() {
    use axum::extract::FromRequest;
    use svc::api::error::ErrorCode;
    use svc::api::extract::JsonBody;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    run("JSON body reader", 3000, body_bytes(), |bytes| {
        let len = bytes.len();
        let request = axum::http::Request::post("/api/products")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(bytes.clone()))
            .unwrap();
        let read = runtime
            .block_on(async {
                tokio::time::timeout(PER_INPUT, JsonBody::from_request(request, &Limits)).await
            })
            .map_err(|_| TestCaseError::fail("the body reader hung"))?;
        match read {
            Ok(JsonBody(value)) => {
                prop_assert!(len <= LIMIT);
                prop_assert_eq!(serde_json::from_slice::<Value>(&bytes).ok(), Some(value));
            }
            Err(error) if len > LIMIT => prop_assert_eq!(error.code, ErrorCode::PayloadTooLarge),
            Err(error) => {
                prop_assert_eq!(error.code, ErrorCode::ValidationError, "{:?}", error);
                prop_assert_eq!(error.details.len(), 1);
                prop_assert_eq!(error.details[0].field.as_str(), "body");
                let position: usize = error
                    .message
                    .split("position ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| {
                        TestCaseError::fail(format!("no position: {}", error.message))
                    })?;
                prop_assert!(position <= len, "position {position} past {len} bytes");
            }
        }
        Ok(())
    });
}
