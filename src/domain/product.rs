//! The product aggregate: what a client may send to create or change one, and what is stored.

use serde::Serialize;
use serde_json::Value;

use super::id::ObjectId;
use super::time::Timestamp;
use super::validate::{self, Invalid, Reader};

/// Upper bound on `price`, so sums and sorts stay exact in an `f64`.
pub const MAX_PRICE: f64 = 1e12;
/// Upper bound on `stock`.
pub const MAX_STOCK: i64 = 1_000_000_000_000;
pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 2000;
pub const MAX_LABEL: usize = 100;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG: usize = 30;

/// The fields a client may send; everything else (id, timestamps) is set by the server.
const WRITABLE: &[&str] = &[
    "title",
    "description",
    "price",
    "brand",
    "category",
    "tags",
    "stock",
];

/// A stored product.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: ObjectId,
    pub title: String,
    pub description: Option<String>,
    pub price: f64,
    pub brand: Option<String>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub stock: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Set by a soft delete; a deleted product is hidden unless asked for.
    pub deleted_at: Option<Timestamp>,
}

/// A validated create request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProduct {
    pub title: String,
    pub description: Option<String>,
    pub price: f64,
    pub brand: Option<String>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub stock: i64,
}

/// A validated partial update: `None` leaves a field alone; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductPatch {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub price: Option<f64>,
    pub brand: Option<Option<String>>,
    pub category: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub stock: Option<i64>,
}

fn title(v: &Value) -> Result<String, String> {
    validate::text(v, 1, MAX_TITLE)
}
fn description(v: &Value) -> Result<Option<String>, String> {
    validate::optional_text(v, MAX_DESCRIPTION)
}
fn label(v: &Value) -> Result<Option<String>, String> {
    validate::optional_text(v, MAX_LABEL)
}
fn price(v: &Value) -> Result<f64, String> {
    validate::non_negative_number(v, MAX_PRICE)
}
fn stock(v: &Value) -> Result<i64, String> {
    validate::non_negative_integer(v, MAX_STOCK)
}
fn tags(v: &Value) -> Result<Vec<String>, String> {
    validate::string_list(v, MAX_TAGS, MAX_TAG)
}

impl NewProduct {
    /// Validates a create body: `title` and `price` are required.
    ///
    /// # Errors
    /// [`Invalid`] naming every bad, missing or unknown field.
    pub fn from_json(body: &Value) -> Result<Self, Invalid> {
        let mut r = Reader::new(body, WRITABLE)?;
        let title = r.required("title", title);
        let price = r.required("price", price);
        let product = NewProduct {
            title: title.unwrap_or_default(),
            description: r.field("description", description).flatten(),
            price: price.unwrap_or_default(),
            brand: r.field("brand", label).flatten(),
            category: r.field("category", label).flatten(),
            tags: r.field("tags", tags).unwrap_or_default(),
            stock: r.field("stock", stock).unwrap_or(0),
        };
        r.finish()?;
        Ok(product)
    }
}

impl ProductPatch {
    /// Validates a PATCH body: any non-empty subset of the writable fields.
    ///
    /// # Errors
    /// [`Invalid`] naming every bad or unknown field, or the body when it changes nothing.
    pub fn from_json(body: &Value) -> Result<Self, Invalid> {
        let mut r = Reader::new(body, WRITABLE)?;
        if r.is_empty() {
            return Err(Invalid::one("body", "must change at least one field"));
        }
        let patch = ProductPatch {
            title: r.field("title", title),
            description: r.field("description", description),
            price: r.field("price", price),
            brand: r.field("brand", label),
            category: r.field("category", label),
            tags: r.field("tags", tags),
            stock: r.field("stock", stock),
        };
        r.finish()?;
        Ok(patch)
    }
}

impl Product {
    /// A new product with a fresh id, created at `now`.
    pub fn create(new: NewProduct, now: Timestamp) -> Self {
        Product {
            id: ObjectId::new(),
            title: new.title,
            description: new.description,
            price: new.price,
            brand: new.brand,
            category: new.category,
            tags: new.tags,
            stock: new.stock,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    /// Applies `patch` and stamps `updated_at`.
    pub fn apply(&mut self, patch: ProductPatch, now: Timestamp) {
        let ProductPatch {
            title,
            description,
            price,
            brand,
            category,
            tags,
            stock,
        } = patch;
        if let Some(v) = title {
            self.title = v;
        }
        if let Some(v) = description {
            self.description = v;
        }
        if let Some(v) = price {
            self.price = v;
        }
        if let Some(v) = brand {
            self.brand = v;
        }
        if let Some(v) = category {
            self.category = v;
        }
        if let Some(v) = tags {
            self.tags = v;
        }
        if let Some(v) = stock {
            self.stock = v;
        }
        self.updated_at = now;
    }
}

/// The fields of a product as the API names them, for `fields=` projections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductField {
    Id,
    Title,
    Description,
    Price,
    Brand,
    Category,
    Tags,
    Stock,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

impl ProductField {
    pub const ALL: [ProductField; 11] = [
        ProductField::Id,
        ProductField::Title,
        ProductField::Description,
        ProductField::Price,
        ProductField::Brand,
        ProductField::Category,
        ProductField::Tags,
        ProductField::Stock,
        ProductField::CreatedAt,
        ProductField::UpdatedAt,
        ProductField::DeletedAt,
    ];

    /// The JSON name of the field.
    pub fn name(self) -> &'static str {
        match self {
            ProductField::Id => "id",
            ProductField::Title => "title",
            ProductField::Description => "description",
            ProductField::Price => "price",
            ProductField::Brand => "brand",
            ProductField::Category => "category",
            ProductField::Tags => "tags",
            ProductField::Stock => "stock",
            ProductField::CreatedAt => "createdAt",
            ProductField::UpdatedAt => "updatedAt",
            ProductField::DeletedAt => "deletedAt",
        }
    }

    /// The field called `name` (exact, case-sensitive), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(err: Invalid) -> Vec<String> {
        err.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_full_product_is_read_and_trimmed() {
        let new = NewProduct::from_json(&json!({
            "title": "  Phone X ", "description": "A phone", "price": 499.5, "brand": "Acme",
            "category": "phones", "tags": ["apple", "5g"], "stock": 3
        }))
        .unwrap();
        assert_eq!(new.title, "Phone X");
        assert_eq!(new.price, 499.5);
        assert_eq!(new.tags, vec!["apple", "5g"]);
        let product = Product::create(new, Timestamp::from_millis(5));
        assert_eq!(product.created_at, product.updated_at);
        let shown = serde_json::to_value(&product).unwrap();
        assert_eq!(shown["createdAt"], "1970-01-01T00:00:00.005Z");
        assert_eq!(shown["deletedAt"], Value::Null);
        assert_eq!(shown["id"].as_str().unwrap().len(), 24);
    }

    #[test]
    fn defaults_apply_to_optional_fields() {
        let new = NewProduct::from_json(&json!({"title": "t", "price": 0})).unwrap();
        assert_eq!((new.stock, new.tags.len(), new.brand), (0, 0, None));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let err = NewProduct::from_json(&json!({
            "title": "", "price": "10", "stock": -1, "tags": [1], "id": "x", "createdAt": 1
        }))
        .unwrap_err();
        let mut named = fields(err);
        named.sort();
        assert_eq!(
            named,
            ["createdAt", "id", "price", "stock", "tags", "title"]
        );
        let err = NewProduct::from_json(&json!({})).unwrap_err();
        assert_eq!(fields(err), ["title", "price"]);
    }

    #[test]
    fn bounds_are_enforced() {
        let long = "x".repeat(201);
        assert!(NewProduct::from_json(&json!({"title": long, "price": 1})).is_err());
        let tags: Vec<String> = (0..21).map(|i| i.to_string()).collect();
        assert!(NewProduct::from_json(&json!({"title": "t", "price": 1, "tags": tags})).is_err());
        let tag = "x".repeat(31);
        assert!(NewProduct::from_json(&json!({"title": "t", "price": 1, "tags": [tag]})).is_err());
        assert!(
            NewProduct::from_json(&json!({"title": "t", "price": 1, "brand": "b".repeat(101)}))
                .is_err()
        );
        assert!(
            NewProduct::from_json(
                &json!({"title": "t", "price": 1, "description": "d".repeat(2001)})
            )
            .is_err()
        );
    }

    #[test]
    fn patches_change_only_what_they_name() {
        assert!(ProductPatch::from_json(&json!({})).is_err());
        assert!(ProductPatch::from_json(&json!({"deletedAt": null})).is_err());
        assert!(ProductPatch::from_json(&json!({"title": null})).is_err());
        let patch = ProductPatch::from_json(&json!({"price": 7, "brand": null})).unwrap();
        let mut product = Product::create(
            NewProduct::from_json(&json!({"title": "t", "price": 1, "brand": "b"})).unwrap(),
            Timestamp::from_millis(1),
        );
        product.apply(patch, Timestamp::from_millis(2));
        assert_eq!(
            (
                product.price,
                product.brand.as_deref(),
                product.title.as_str()
            ),
            (7.0, None, "t")
        );
        assert_eq!(product.updated_at, Timestamp::from_millis(2));
    }

    #[test]
    fn field_names_round_trip() {
        for field in ProductField::ALL {
            assert_eq!(ProductField::from_name(field.name()), Some(field));
        }
        assert_eq!(ProductField::from_name("password"), None);
    }
}
