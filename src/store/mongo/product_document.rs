//! A product as a MongoDB document and back: the stored document, the `$set` of a patch, and
//! the reading of a (possibly projected) document, which refuses any field of the wrong type.

use mongodb::bson::{Bson, DateTime, Document, doc};

use super::{corrupt, oid, stored_id};
use crate::domain::{Product, ProductField, ProductPatch, Timestamp};
use crate::store::StoreError;
use crate::store::search_text::search_text;

/// A timestamp as a BSON date.
pub(super) fn date(at: Timestamp) -> DateTime {
    DateTime::from_millis(at.millis())
}

/// An optional text field: a string, or null.
pub(super) fn optional(text: Option<&str>) -> Bson {
    text.map_or(Bson::Null, |t| Bson::String(t.to_owned()))
}

/// The document a new product is stored as, with its `searchText`.
pub(super) fn to_document(product: &Product) -> Document {
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
pub(super) fn from_document(
    d: &Document,
    fields: Option<&[ProductField]>,
) -> Result<Product, StoreError> {
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

/// The `$set` of a patch: the fields it names, `updatedAt`, and `searchText` of the product as
/// it will be (given when the patch changes a searched field).
pub(super) fn patch_set(
    patch: &ProductPatch,
    updated: Option<&Product>,
    now: Timestamp,
) -> Document {
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

#[cfg(test)]
mod tests;
