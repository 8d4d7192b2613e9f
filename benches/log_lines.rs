//! The CPU of a log flood's two steps apart from pipes, threads and files: cutting reads into
//! lines (`Splitter`, what each pipe reader does) and turning the lines into JSON records
//! (`Frame::format`, what the writer does). The input has the shape of
//! `benches/logs_supervisord.py`'s child: 200,000 numbered lines of 58 bytes, read 256 KiB at a
//! time as a flood is.
//!
//! Run: `cargo bench --bench log_lines` (release profile). Prints the median and the fastest of
//! 51 rounds for each step.

use std::hint::black_box;
use std::time::{Duration, Instant};

use svc::logs::capture::{Chunk, Splitter};
use svc::logs::record::{Frame, Origin, Stream};

const LINES: usize = 200_000;
const READ: usize = 256 * 1024;
const ROUNDS: usize = 51;

fn main() {
    let mut output = Vec::with_capacity(LINES * 58);
    for i in 1..=LINES {
        output.extend_from_slice(format!("{i:08} {}\n", "x".repeat(48)).as_bytes());
    }
    let chunks = split(&output);
    let lines: usize = chunks.iter().map(|c| c.lines.len()).sum();
    assert_eq!(lines, LINES, "every line is cut once");

    let cutting = rounds(|| cut(black_box(&output)));
    let mut records = Vec::with_capacity(LINES * 160);
    let formatting = rounds(|| {
        records.clear();
        let began = Instant::now();
        format(black_box(&chunks), &mut records);
        began.elapsed().as_secs_f64() * 1000.0
    });
    println!(
        "{LINES} lines of 58 bytes ({} MB), {} reads of {} KiB; median / fastest of {ROUNDS} rounds",
        output.len() / 1_000_000,
        chunks.len(),
        READ / 1024
    );
    println!("cut into lines (Splitter):          {cutting}");
    println!(
        "formatted as records (Frame::format): {formatting} ({} MB of records)",
        records.len() / 1_000_000
    );
}

/// The chunks a pipe reader sends for `output`, read `READ` bytes at a time (kept, for
/// formatting).
fn split(output: &[u8]) -> Vec<Chunk> {
    let mut splitter = Splitter::default();
    let mut chunks = Vec::new();
    for read in output.chunks(READ) {
        splitter.buffer().extend_from_slice(read);
        chunks.extend(splitter.take(false));
    }
    chunks.extend(splitter.take(true));
    chunks
}

/// Cuts `output` as a pipe reader in a flood does: each chunk's buffers come back for the next
/// read (the writer hands them back), so no read allocates. Only the cutting is timed, not the
/// copy standing for the read: milliseconds.
fn cut(output: &[u8]) -> f64 {
    let mut splitter = Splitter::default();
    let mut cutting = Duration::ZERO;
    for read in output.chunks(READ) {
        splitter.buffer().extend_from_slice(read);
        let began = Instant::now();
        let chunk = splitter.take(false);
        cutting += began.elapsed();
        if let Some(mut chunk) = chunk {
            chunk.data.clear();
            chunk.lines.clear();
            splitter.recycle(chunk);
        }
    }
    cutting.as_secs_f64() * 1000.0
}

/// Every line's record, as the writer formats a chunk.
fn format(chunks: &[Chunk], records: &mut Vec<u8>) {
    let origin = Origin {
        program: "writer",
        instance: 0,
        pid: Some(4242),
    };
    let frame = Frame::new(Stream::Stdout, origin, "2026-01-01T00:00:00.000Z");
    for chunk in chunks {
        for piece in &chunk.lines {
            frame.format(records, &chunk.data[piece.range()], piece.part);
        }
    }
}

/// Runs `step`, which returns the milliseconds it measured, [`ROUNDS`] times: "median /
/// fastest".
fn rounds(mut step: impl FnMut() -> f64) -> String {
    let mut times: Vec<f64> = (0..ROUNDS).map(|_| step()).collect();
    times.sort_by(f64::total_cmp);
    format!("{:.2} / {:.2} ms", times[ROUNDS / 2], times[0])
}
