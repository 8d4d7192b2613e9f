//! [`ProductRepository`] on MongoDB. The query's filter, sort and projection documents come
//! from [`super::product_query`], the documents themselves from [`super::product_document`].

use async_trait::async_trait;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;

use super::page::{PageRequest, find_page};
use super::product_document::{date, from_document, optional, patch_set, to_document};
use super::product_query::{filter, projection, sort};
use super::{Collections, MongoStore, map_err, oid};
use crate::domain::{ObjectId, Product, ProductPatch, Timestamp};
use crate::query::ProductQuery;
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
