//! [`RateCounter`] on MongoDB: one document per client key and window in `api_rate_limits`,
//! incremented with an upserting `findOneAndUpdate`, so every API instance on the same database
//! counts into the same document.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use mongodb::bson::{Bson, doc};
use mongodb::options::ReturnDocument;

use super::{DUPLICATE_KEY, MongoStore, error_code, map_err};
use crate::store::{MAX_RATE_WINDOW_MS, RateCounter, StoreError};

/// Two first hits of a window racing on the upsert: the loser's insert hits the `_id` index
/// (E11000) and is retried as an update.
const UPSERT_TRIES: usize = 3;

#[async_trait]
impl RateCounter for MongoStore {
    async fn hit(&self, key: &str, window_start: i64) -> Result<u64, StoreError> {
        let id = format!("{window_start}:{key}");
        let key = key.to_owned();
        // The first hit of a new window (per process) also deletes the windows finished for
        // sure (see MAX_RATE_WINDOW_MS).
        let prune = self
            .inner
            .rate_window
            .fetch_max(window_start, Ordering::Relaxed)
            < window_start;
        self.call(|c| async move {
            if prune {
                c.rates
                    .delete_many(doc! {"windowStart": {"$lt": window_start - MAX_RATE_WINDOW_MS}})
                    .await
                    .map_err(map_err)?;
            }
            let mut last = None;
            for _ in 0..UPSERT_TRIES {
                let counted = c
                    .rates
                    .find_one_and_update(
                        doc! {"_id": id.as_str()},
                        doc! {
                            "$inc": {"hits": 1_i64},
                            "$setOnInsert": {"key": key.as_str(), "windowStart": window_start},
                        },
                    )
                    .upsert(true)
                    .return_document(ReturnDocument::After)
                    .projection(doc! {"hits": 1})
                    .await;
                match counted {
                    Ok(Some(counter)) => {
                        return match counter.get("hits") {
                            Some(Bson::Int64(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
                            Some(Bson::Int32(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
                            _ => Err(StoreError::Internal(
                                format!("corrupt rate counter {id}").into(),
                            )),
                        };
                    }
                    Ok(None) => {
                        return Err(StoreError::Internal("the upsert returned nothing".into()));
                    }
                    Err(e) if error_code(&e) == Some(DUPLICATE_KEY) => last = Some(e),
                    Err(e) => return Err(map_err(e)),
                }
            }
            Err(last.map_or_else(|| StoreError::Internal("rate counter".into()), map_err))
        })
        .await
    }

    async fn count(&self, key: &str, window_start: i64) -> Result<u64, StoreError> {
        let id = format!("{window_start}:{key}");
        self.call(|c| async move {
            let found = c
                .rates
                .find_one(doc! {"_id": id.as_str()})
                .projection(doc! {"hits": 1})
                .await
                .map_err(map_err)?;
            Ok(match found.as_ref().and_then(|d| d.get("hits")) {
                Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
                Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
                _ => 0,
            })
        })
        .await
    }
}
