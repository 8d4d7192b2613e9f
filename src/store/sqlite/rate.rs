//! [`RateCounter`] on SQLite: one row per client key and window, incremented with an upsert, so
//! every API instance sharing the file counts into the same row.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, map_err};
use crate::store::{MAX_RATE_WINDOW_MS, RateCounter, StoreError};

#[async_trait]
impl RateCounter for SqliteStore {
    async fn hit(&self, key: &str, window_start: i64) -> Result<u64, StoreError> {
        let key = key.to_owned();
        // The first hit of a new window (per process) also deletes the windows finished for
        // sure (see MAX_RATE_WINDOW_MS).
        let prune = self.rate_window.fetch_max(window_start, Ordering::Relaxed) < window_start;
        self.pool
            .write(move |tx| {
                if prune {
                    tx.execute(
                        "DELETE FROM api_rate_limits WHERE window_start < ?1",
                        [window_start - MAX_RATE_WINDOW_MS],
                    )
                    .map_err(map_err)?;
                }
                let hits: i64 = tx
                    .query_row(
                        "INSERT INTO api_rate_limits (key, window_start, hits) VALUES (?1, ?2, 1) \
                         ON CONFLICT (key, window_start) DO UPDATE SET hits = hits + 1 RETURNING hits",
                        params![key, window_start],
                        |r| r.get(0),
                    )
                    .map_err(map_err)?;
                Ok(u64::try_from(hits).unwrap_or(0))
            })
            .await
    }

    async fn count(&self, key: &str, window_start: i64) -> Result<u64, StoreError> {
        let key = key.to_owned();
        self.pool
            .read(move |conn| {
                let hits: Option<i64> = conn
                    .prepare_cached(
                        "SELECT hits FROM api_rate_limits WHERE key = ?1 AND window_start = ?2",
                    )
                    .and_then(|mut s| s.query_row(params![key, window_start], |r| r.get(0)))
                    .optional()
                    .map_err(map_err)?;
                Ok(hits.map_or(0, |h| u64::try_from(h).unwrap_or(0)))
            })
            .await
    }
}
