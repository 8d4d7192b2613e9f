//! A list's page and the number of all its matches, asked for at once.

use std::time::Duration;

use mongodb::Collection;
use mongodb::bson::Document;

use super::map_err;
use crate::store::{Page, StoreError};

/// What a list asks a collection for.
pub(crate) struct PageRequest {
    pub filter: Document,
    pub sort: Document,
    pub skip: u64,
    pub limit: i64,
    pub projection: Document,
}

/// Counts the documents matching `request.filter` and reads the page it asks for, both at once
/// and each bounded by `max_time`; `decode` makes each document an item.
pub(crate) async fn find_page<T>(
    collection: &Collection<Document>,
    request: PageRequest,
    max_time: Duration,
    decode: impl Fn(&Document) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let PageRequest {
        filter,
        sort,
        skip,
        limit,
        projection,
    } = request;
    let count = async {
        collection
            .count_documents(filter.clone())
            .max_time(max_time)
            .await
            .map_err(map_err)
    };
    let page = async {
        let mut cursor = collection
            .find(filter.clone())
            .sort(sort)
            .skip(skip)
            .limit(limit)
            // The whole page in the first reply.
            .batch_size(u32::try_from(limit).unwrap_or(100))
            .projection(projection)
            .max_time(max_time)
            .await
            .map_err(map_err)?;
        let mut items = Vec::new();
        while cursor.advance().await.map_err(map_err)? {
            let document: Document = cursor.deserialize_current().map_err(map_err)?;
            items.push(decode(&document)?);
        }
        Ok(items)
    };
    let (total, items) = tokio::try_join!(count, page)?;
    Ok(Page { items, total })
}
