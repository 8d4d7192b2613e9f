//! The backend-neutral queue suite, run against the embedded SQLite backend.

use crate::queue::contract;

use std::time::Duration;

use contract::Fixture;
use svc::queue::sqlite::SqliteQueue;

fn sqlite_fixture() -> Fixture<SqliteQueue> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_owned();
    let open = move || {
        SqliteQueue::open_in(&path)
            .expect("open queue")
            .with_poll_interval(Duration::from_millis(50))
    };
    Fixture {
        queue: open(),
        open: Box::new(open),
        _guard: Box::new(dir),
    }
}

queue_contract!(sqlite_fixture());
