//! The indexes, created (idempotently) before the first call of each process.
//!
//! `createIndexes` with a spec that exists already is a no-op, so every instance runs it at
//! start. Names are the server's defaults (`email_1`, …), the ones Mongoose would have made, so
//! an existing database with those indexes is accepted as it is. A conflicting index (same
//! name, other options) or duplicate emails in an existing `users` collection make this fail:
//! the store then stays unavailable (503, `/ready` down) with the reason in the log, rather than
//! serving without the unique index.

use mongodb::bson::{Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};

use crate::store::StoreError;

fn index(keys: Document) -> IndexModel {
    IndexModel::builder().keys(keys).build()
}

fn with(keys: Document, options: IndexOptions) -> IndexModel {
    IndexModel::builder().keys(keys).options(options).build()
}

/// The sort keys of a product list, each walked with `_id` (the tie-breaker).
const SORT_KEYS: [&str; 5] = ["createdAt", "updatedAt", "price", "title", "stock"];

/// `products`: every sort key with `_id` (the tie-breaker, so a sorted page is an index walk in
/// either direction), the exact-match filters, and `category` or `brand` followed by each sort
/// key (equality, then sort: a filtered page is one index walk in order, the price and stock
/// conditions checked on the way). Search is an unanchored regex over one lowercased field,
/// which no index can serve (docs/BENCHMARKS.md says what it costs); see `products.rs`.
fn products() -> Vec<IndexModel> {
    let mut models: Vec<IndexModel> = SORT_KEYS
        .iter()
        .map(|key| index(doc! {*key: 1, "_id": 1}))
        .collect();
    models.extend([
        index(doc! {"category": 1}),
        index(doc! {"brand": 1}),
        index(doc! {"tags": 1}),
    ]);
    for field in ["category", "brand"] {
        models.extend(
            SORT_KEYS
                .iter()
                .map(|key| index(doc! {field: 1, *key: 1, "_id": 1})),
        );
    }
    models
}

/// `users`: the unique email (what makes a duplicate sign-up a 409, also under a race), the
/// list order, and the due time of pending welcome emails (sparse: only users whose job has not
/// reached the queue yet are in it).
fn users() -> Vec<IndexModel> {
    vec![
        with(
            doc! {"email": 1},
            IndexOptions::builder().unique(true).build(),
        ),
        index(doc! {"createdAt": 1, "_id": 1}),
        with(
            doc! {"outbox.dueAt": 1},
            IndexOptions::builder().sparse(true).build(),
        ),
    ]
}

/// `api_rate_limits`: finished windows are deleted by their start.
fn rates() -> Vec<IndexModel> {
    vec![index(doc! {"windowStart": 1})]
}

/// `auth_sessions`: revoked all at once per user. `auth_refresh_tokens` (`_id` is the hash):
/// the tokens of a session, and expired ones swept by their expiry.
fn sessions() -> Vec<IndexModel> {
    vec![index(doc! {"userId": 1})]
}

fn refresh_tokens() -> Vec<IndexModel> {
    vec![index(doc! {"sessionId": 1}), index(doc! {"expiresAt": 1})]
}

/// Creates every index that is missing.
///
/// # Errors
/// [`StoreError::Unavailable`] when the server cannot be reached or refuses an index (a
/// conflicting definition, duplicates under a unique key): either way the API cannot serve.
pub(crate) async fn ensure(db: &Database) -> Result<(), StoreError> {
    for (collection, models) in [
        ("products", products()),
        ("users", users()),
        ("api_rate_limits", rates()),
        ("auth_sessions", sessions()),
        ("auth_refresh_tokens", refresh_tokens()),
    ] {
        db.collection::<Document>(collection)
            .create_indexes(models)
            .await
            .map_err(|e| {
                StoreError::unavailable(format!("cannot create the indexes of {collection}"), e)
            })?;
    }
    Ok(())
}
