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

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::types::Value as Sql;

/// The counter and its triggers; idempotent, run at each open. Row-level triggers: a bulk insert
/// bumps it once per row (one more update of a one-row table, in the writing transaction).
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

/// How long a list waits for another one counting the same query before counting itself (a
/// bound, in case the other is stuck; it normally answers in milliseconds).
const WAIT_FOR_OTHER: Duration = Duration::from_secs(2);

/// Totals by count query (its SQL and arguments), each with the generation it was counted at,
/// and the counts under way: after a write, the lists that arrive together for one query wait
/// for the first one's count instead of each counting the same rows at once.
#[derive(Debug, Default)]
pub(super) struct Totals {
    state: Mutex<State>,
    counted: Condvar,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, (i64, i64)>,
    counting: HashSet<(String, i64)>,
}

impl Totals {
    /// The key of a count query: its SQL and its arguments, which together decide its answer.
    pub(super) fn key(sql: &str, args: &[Sql]) -> String {
        format!("{sql}\u{0}{args:?}")
    }

    /// The total of `key` at `generation`: remembered, or counted by `count` (by this caller,
    /// or by another one counting it right now, which this caller waits for), then remembered.
    ///
    /// # Errors
    /// `count`'s error; nothing is remembered then.
    pub(super) fn get_or_count<E>(
        &self,
        key: &str,
        generation: i64,
        count: impl FnOnce() -> Result<i64, E>,
    ) -> Result<i64, E> {
        let mut state = self.lock();
        let deadline = Instant::now() + WAIT_FOR_OTHER;
        let flight = (key.to_owned(), generation);
        loop {
            if let Some(total) = state.get(key, generation) {
                return Ok(total);
            }
            let now = Instant::now();
            if !state.counting.contains(&flight) || now >= deadline {
                break;
            }
            state = self
                .counted
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        state.counting.insert(flight.clone());
        drop(state);
        let counted = count();
        let mut state = self.lock();
        state.counting.remove(&flight);
        if let Ok(total) = &counted {
            state.put(flight.0, generation, *total);
        }
        drop(state);
        self.counted.notify_all();
        counted
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    fn get(&self, key: &str, generation: i64) -> Option<i64> {
        self.entries
            .get(key)
            .filter(|(at, _)| *at == generation)
            .map(|(_, total)| *total)
    }

    fn put(&mut self, key: String, generation: i64, total: i64) {
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (at, _)| *at == generation);
            if self.entries.len() >= CAPACITY {
                self.entries.clear();
            }
        }
        self.entries.insert(key, (generation, total));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn count(total: i64) -> impl FnOnce() -> Result<i64, ()> {
        move || Ok(total)
    }

    #[test]
    fn a_total_is_reused_only_at_the_generation_it_was_counted_at() {
        let totals = Totals::default();
        let key = Totals::key(
            "SELECT COUNT(*) FROM products WHERE price > ?",
            &[Sql::Real(1.5)],
        );
        assert_eq!(totals.get_or_count(&key, 7, count(42)), Ok(42));
        assert_eq!(totals.get_or_count(&key, 7, || Err(())), Ok(42));
        assert_eq!(totals.get_or_count(&key, 8, count(43)), Ok(43));
        let other = Totals::key(
            "SELECT COUNT(*) FROM products WHERE price > ?",
            &[Sql::Real(1.25)],
        );
        assert_eq!(totals.get_or_count(&other, 8, count(5)), Ok(5));
        // A failed count is not remembered.
        assert_eq!(totals.get_or_count(&key, 9, || Err(())), Err(()));
        assert_eq!(totals.get_or_count(&key, 9, count(44)), Ok(44));
    }

    #[test]
    fn lists_arriving_together_wait_for_one_count() {
        let totals = Arc::new(Totals::default());
        let counts = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (totals, counts) = (totals.clone(), counts.clone());
                std::thread::spawn(move || {
                    totals.get_or_count("q", 1, || {
                        counts.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(200));
                        Ok::<_, ()>(7)
                    })
                })
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap(), Ok(7));
        }
        assert_eq!(counts.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_full_cache_drops_older_generations_first() {
        let totals = Totals::default();
        for i in 0..CAPACITY {
            assert_eq!(totals.get_or_count(&format!("old {i}"), 1, count(1)), Ok(1));
        }
        assert_eq!(totals.get_or_count("current", 2, count(5)), Ok(5));
        assert_eq!(totals.get_or_count("current too", 2, count(6)), Ok(6));
        assert_eq!(totals.lock().entries.len(), 2);
        assert_eq!(totals.get_or_count("current", 2, || Err(())), Ok(5));
    }
}
