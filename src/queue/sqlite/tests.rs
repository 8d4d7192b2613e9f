use rusqlite::params;
use serde_json::json;

use super::keep::{STACK_LIMIT, stack_with};
use super::schema::SCHEMA;
use super::*;
use crate::queue::{Backoff, JobOptions};

fn queue(dir: &tempfile::TempDir) -> SqliteQueue {
    SqliteQueue::open_in(dir.path()).unwrap()
}

fn welcome(id: Option<&str>) -> NewJob {
    NewJob {
        name: "welcome-email".into(),
        data: json!({"userId": "1", "email": "a@example.com", "name": "A"}),
        opts: JobOptions {
            job_id: id.map(Into::into),
            attempts: 3,
            backoff: Backoff::exponential(Duration::from_secs(1)),
            ..JobOptions::default()
        },
    }
}

#[tokio::test]
async fn add_is_idempotent_for_a_custom_id() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(&dir);
    assert_eq!(
        q.add(welcome(Some("welcome-1"))).await.unwrap(),
        Added::New("welcome-1".into())
    );
    assert_eq!(
        q.add(welcome(Some("welcome-1"))).await.unwrap(),
        Added::Duplicate("welcome-1".into())
    );
    assert_eq!(q.counts().await.unwrap().waiting, 1);
}

#[tokio::test]
async fn generated_ids_are_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(&dir);
    let Added::New(a) = q.add(welcome(None)).await.unwrap() else {
        panic!("not new")
    };
    let Added::New(b) = q.add(welcome(None)).await.unwrap() else {
        panic!("not new")
    };
    assert!(a.parse::<u64>().unwrap() < b.parse::<u64>().unwrap());
    assert_eq!(q.job(&b).await.unwrap().unwrap().state, JobState::Waiting);
}

#[tokio::test]
async fn counts_split_by_state() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(&dir);
    q.add(welcome(None)).await.unwrap();
    let mut delayed = welcome(None);
    delayed.opts.delay = Duration::from_secs(60);
    q.add(delayed).await.unwrap();
    let mut prio = welcome(None);
    prio.opts.priority = 3;
    q.add(prio).await.unwrap();
    let counts = q.counts().await.unwrap();
    assert_eq!(
        counts,
        JobCounts {
            waiting: 1,
            delayed: 1,
            prioritized: 1,
            ..JobCounts::default()
        }
    );
}

#[tokio::test]
async fn ping_answers_and_invalid_jobs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(&dir);
    q.ping().await.unwrap();
    let mut bad = welcome(Some("12"));
    assert!(matches!(
        q.add(bad.clone()).await,
        Err(QueueError::Invalid(_))
    ));
    bad.opts.job_id = None;
    bad.name = String::new();
    assert!(matches!(q.add(bad).await, Err(QueueError::Invalid(_))));
}

#[tokio::test]
async fn two_handles_on_one_file_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (queue(&dir), queue(&dir));
    a.add(welcome(Some("welcome-2"))).await.unwrap();
    assert_eq!(
        b.add(welcome(Some("welcome-2"))).await.unwrap(),
        Added::Duplicate("welcome-2".into())
    );
    assert_eq!(b.counts().await.unwrap().waiting, 1);
}

#[tokio::test]
async fn a_table_from_before_the_stack_of_failures_gets_its_column_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    {
        let conn = Connection::open(&path).unwrap();
        // SCHEMA is the first release's table; the stack's column comes from ADDED_COLUMNS.
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute(
            "INSERT INTO queue_jobs (queue, id, name, data, opts, state, run_at, timestamp) \
             VALUES ('email-queue', 'old-1', 'welcome-email', '{}', '{}', 'waiting', 0, 0)",
            [],
        )
        .unwrap();
        let has: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('queue_jobs') WHERE name = 'stacktrace'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(has, 0, "the old table has no stacktrace column");
    }
    let q = queue(&dir);
    assert!(q.job("old-1").await.unwrap().unwrap().stacktrace.is_empty());
    let Fetch::Job(job) = q.take("t", Duration::from_secs(30)).await.unwrap() else {
        panic!("no job")
    };
    q.fail(&job, "boom", Retry::Never, KeepPolicy::ALL)
        .await
        .unwrap();
    assert_eq!(
        q.job("old-1").await.unwrap().unwrap().stacktrace,
        ["Error: boom"]
    );
    // A second open finds the column there.
    queue(&dir);
}

#[test]
fn the_stack_keeps_the_newest_failures() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(&dir);
    let mut conn = crate::sqlite::open(q.path()).unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute(
        "INSERT INTO queue_jobs (queue, id, name, data, opts, state, run_at, timestamp) \
         VALUES ('email-queue', 'j', 'n', '{}', '{}', 'waiting', 0, 0)",
        [],
    )
    .unwrap();
    for n in 0..12 {
        let stack = stack_with(&tx, EMAIL_QUEUE, "j", &format!("r{n}")).unwrap();
        tx.execute(
            "UPDATE queue_jobs SET stacktrace = ?1 WHERE id = 'j'",
            params![stack],
        )
        .unwrap();
    }
    let stack: String = tx
        .query_row(
            "SELECT stacktrace FROM queue_jobs WHERE id = 'j'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let stack: Vec<String> = serde_json::from_str(&stack).unwrap();
    assert_eq!(stack.len(), STACK_LIMIT);
    assert_eq!(
        (stack[0].as_str(), stack[9].as_str()),
        ("Error: r2", "Error: r11")
    );
}

#[test]
fn an_unopenable_path_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = SqliteQueue::open_in(&file).unwrap_err();
    assert!(matches!(err, QueueError::Unavailable(_)), "{err}");
}
