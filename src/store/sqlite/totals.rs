//! Exact list totals remembered per catalogue generation, so the pages of one query do not each
//! recount every match (a count of 200,000 search matches is most of a page's cost at a million
//! products, and `meta.total` must stay exact).
//!
//! The generation is a counter row in the database that triggers bump in the transaction of
//! every write to `products` or `product_tags`, whichever process or statement makes it (see
//! [`GENERATION`]). A list reads it in the same read transaction as its count and page, so a
//! remembered total is used only when the snapshot holds exactly the catalogue it was counted
//! on: any write in between, here or in another API instance, changes the generation and the
//! next list counts again.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::types::Value as Sql;

/// The counter and its triggers; idempotent, run at each open. Row-level triggers: a bulk insert
/// bumps it once per row, a few microseconds each inside the writing transaction.
pub(super) const GENERATION: &str = "
CREATE TABLE IF NOT EXISTS catalogue_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT OR IGNORE INTO catalogue_generation (id, generation) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS products_generation_insert AFTER INSERT ON products BEGIN
    UPDATE catalogue_generation SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS products_generation_update AFTER UPDATE ON products BEGIN
    UPDATE catalogue_generation SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS products_generation_delete AFTER DELETE ON products BEGIN
    UPDATE catalogue_generation SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS product_tags_generation_insert AFTER INSERT ON product_tags BEGIN
    UPDATE catalogue_generation SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS product_tags_generation_delete AFTER DELETE ON product_tags BEGIN
    UPDATE catalogue_generation SET generation = generation + 1 WHERE id = 1;
END;
";

/// Reads the generation of the transaction's snapshot; `None` if the row is missing (then
/// nothing is remembered or reused).
pub(super) fn generation(conn: &rusqlite::Connection) -> rusqlite::Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached("SELECT generation FROM catalogue_generation WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()
}

/// Queries remembered at most; past it, totals of older generations are dropped first, then all.
/// A few hundred bytes each, so a bounded memory cost however many different queries arrive.
const CAPACITY: usize = 4096;

/// Totals by count query (its SQL and arguments), each with the generation it was counted at.
#[derive(Debug, Default)]
pub(super) struct Totals {
    entries: Mutex<HashMap<String, (i64, i64)>>,
}

impl Totals {
    /// The key of a count query: its SQL and its arguments, which together decide its answer.
    pub(super) fn key(sql: &str, args: &[Sql]) -> String {
        format!("{sql}\u{0}{args:?}")
    }

    /// The total of `key` counted at `generation`, if remembered.
    pub(super) fn get(&self, key: &str, generation: i64) -> Option<i64> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(at, _)| *at == generation)
            .map(|(_, total)| *total)
    }

    /// Remembers the total of `key` counted at `generation`.
    pub(super) fn put(&self, key: String, generation: i64, total: i64) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| *at == generation);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, (generation, total));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_total_is_reused_only_at_the_generation_it_was_counted_at() {
        let totals = Totals::default();
        let key = Totals::key(
            "SELECT COUNT(*) FROM products WHERE price > ?",
            &[Sql::Real(1.5)],
        );
        assert_eq!(totals.get(&key, 7), None);
        totals.put(key.clone(), 7, 42);
        assert_eq!(totals.get(&key, 7), Some(42));
        assert_eq!(totals.get(&key, 8), None);
        let other = Totals::key(
            "SELECT COUNT(*) FROM products WHERE price > ?",
            &[Sql::Real(1.25)],
        );
        assert_eq!(totals.get(&other, 7), None);
    }

    #[test]
    fn a_full_cache_drops_older_generations_first() {
        let totals = Totals::default();
        for i in 0..CAPACITY {
            totals.put(format!("old {i}"), 1, 1);
        }
        totals.put("current".into(), 2, 5);
        totals.put("current too".into(), 2, 6);
        let entries = totals.entries.lock().unwrap();
        assert_eq!(entries.len(), 2);
        drop(entries);
        assert_eq!(totals.get("current", 2), Some(5));
    }
}
