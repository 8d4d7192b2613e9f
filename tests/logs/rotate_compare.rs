//! The measurement behind writing our own rotation (`svc::logs::rotate`) instead of using
//! `file-rotate` 0.8: the same 200,000 records (~110 bytes, like the daemon's), rotated at 1 MiB,
//! 50 kept, gzipped, through each. Not a test of correctness (the other tests are); run it with
//!
//! ```sh
//! cargo test --release --test suite -- logs::rotate_compare:: --ignored --nocapture
//! ```
//!
//! and it prints the total time, the longest single write (file-rotate gzips inside `write`) and
//! the renames per rotation. It also shows the two failure modes that matter to a daemon that
//! must never stop supervising: file-rotate panics when a kept file disappears, and a write to
//! a file it could not open "succeeds" silently.

use std::io::Write;
use std::time::{Duration, Instant};

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use svc::config::LogPolicy;
use svc::logs::ahead::Maker;
use svc::logs::family::Family;
use svc::logs::gzip::Compressor;
use svc::logs::rotate::{Helpers, RotatingFile};

const RECORDS: usize = 200_000;

fn record(i: usize) -> Vec<u8> {
    format!(
        "{{\"time\":\"2026-11-29T10:42:07.123Z\",\"level\":\"info\",\"msg\":\"{i}\",\"program\":\"writer\",\"instance\":0,\"pid\":4242}}\n"
    )
    .into_bytes()
}

struct Figures {
    total: Duration,
    longest_write: Duration,
    files: usize,
}

fn ours(dir: &std::path::Path) -> Figures {
    let (compressor, gzip) = Compressor::start().unwrap();
    let (maker, files) = Maker::start().unwrap();
    let policy = LogPolicy {
        max_size: 1 << 20,
        keep: 50,
        compress: true,
    };
    let family = Family::new(dir, "app.log");
    let rule = svc::secure_fs::FileRule {
        mode: 0o640,
        group: None,
    };
    let mut log = RotatingFile::open(
        family.clone(),
        policy,
        Helpers {
            compressor: Some(compressor),
            maker: Some(maker),
        },
        rule,
    )
    .unwrap();
    let mut longest = Duration::ZERO;
    let start = Instant::now();
    for i in 0..RECORDS {
        let t = Instant::now();
        log.push(&record(i), 0).unwrap();
        // The daemon flushes whenever its channel runs dry; here, every 64 records.
        if i % 64 == 63 {
            log.flush().unwrap();
        }
        longest = longest.max(t.elapsed());
    }
    log.flush().unwrap();
    let total = start.elapsed();
    drop(log);
    gzip.join().unwrap();
    files.join().unwrap();
    Figures {
        total,
        longest_write: longest,
        files: family.list().unwrap().len(),
    }
}

/// file-rotate must get one `write` per line (a `BufWriter` in front would hand it pieces of
/// lines, and `BytesSurpassed` would rotate in the middle of one).
fn file_rotate(dir: &std::path::Path, compression: Compression) -> Figures {
    let mut log = FileRotate::new(
        dir.join("app.log"),
        AppendCount::new(50),
        ContentLimit::BytesSurpassed(1 << 20),
        compression,
        None,
    );
    let mut longest = Duration::ZERO;
    let start = Instant::now();
    for i in 0..RECORDS {
        let t = Instant::now();
        log.write_all(&record(i)).unwrap();
        longest = longest.max(t.elapsed());
    }
    log.flush().unwrap();
    let total = start.elapsed();
    Figures {
        total,
        longest_write: longest,
        files: std::fs::read_dir(dir).unwrap().count(),
    }
}

#[test]
#[ignore = "a measurement; run with --ignored --nocapture (release build)"]
fn compare_our_rotation_with_file_rotate() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mine = ours(a.path());
    let theirs = file_rotate(b.path(), Compression::OnRotate(0));
    let plain = file_rotate(c.path(), Compression::None);
    println!("| writer | 200k records, 1 MiB x 50 | longest single write | files |");
    println!("|---|---|---|---|");
    for (name, f) in [
        (
            "svc::logs::rotate, gzip (on its own thread: time until written)",
            &mine,
        ),
        ("file-rotate 0.8, gzip (inside write)", &theirs),
        ("file-rotate 0.8, no gzip", &plain),
    ] {
        println!(
            "| {name} | {:.3} s | {:.1} ms | {} |",
            f.total.as_secs_f64(),
            f.longest_write.as_secs_f64() * 1e3,
            f.files
        );
    }
    println!(
        "renames per rotation: svc 0 (new numbered file + symlink), file-rotate = files kept (cascade .1 -> .2 -> ...)"
    );
}

#[test]
#[ignore = "shows file-rotate's failure modes; run with --ignored --nocapture"]
fn file_rotate_panics_when_a_kept_file_vanishes_and_loses_writes_silently() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("app.log");
    let mut log = FileRotate::new(
        &base,
        AppendCount::new(5),
        ContentLimit::BytesSurpassed(100),
        Compression::None,
        None,
    );
    for i in 0..30 {
        log.write_all(&record(i)).unwrap();
    }
    // Someone (or a cleanup job) removes a kept file; the next rotation hits `assert!(exists)`.
    std::fs::remove_file(dir.path().join("app.log.2")).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for i in 0..30 {
            let _ = log.write_all(&record(i));
        }
    }))
    .is_err();
    println!("file-rotate panicked after a kept file vanished: {panicked}");

    // A file it cannot open: writes report success and go nowhere.
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("app.log");
    std::fs::create_dir(&base).unwrap(); // a folder where the file should be
    let mut log = FileRotate::new(
        &base,
        AppendCount::new(5),
        ContentLimit::BytesSurpassed(1 << 20),
        Compression::None,
        None,
    );
    let accepted = log.write_all(b"this line goes nowhere\n").is_ok();
    println!("file-rotate accepted a write it could not store: {accepted}");
    assert!(
        panicked && accepted,
        "file-rotate's behaviour changed; update docs/LOGS.md"
    );
}
