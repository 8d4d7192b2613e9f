//! The single writer: the only code that writes the log files, on its own thread.
//!
//! It takes entries off the bounded channel, turns each line into its JSON record once (the
//! records of a chunk into one batch), and appends them to `app.log` (every record), `error.log`
//! (level error, and everything from stderr) and a program's own log when its `logs` policy
//! differs from `[logs]`. It writes in large batches: it keeps taking entries while the channel
//! holds some, and writes when the channel is empty or a batch is large (so a quiet log is on
//! disk at once and a busy one costs few system calls and no further copy).
//!
//! A record `app.log` could not take (disk full, file unwritable) is counted per instance for
//! `svc status`; the first loss is logged to the daemon's own log, and when writing works again
//! a warning record saying how many lines were lost goes into `app.log` itself.
//!
//! A file the rotating files refused (a planted link, a file of another user: see
//! [`crate::secure_fs`]) is listed for `svc status` after the batch that met it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use super::Layout;
use super::chunk::{Chunk, Source, Spares};
use super::record::{self, Frame, Level, Origin, Stream};
use super::rotate::{Dropped, Helpers, RotatingFile};

/// What the readers, the instance actors and the control server send the writer.
pub enum Entry {
    /// Lines of one pipe, read at `time`.
    Lines {
        source: Source,
        stream: Stream,
        time: SystemTime,
        chunk: Chunk,
    },
    /// A daemon lifecycle event of one instance.
    Event {
        program: Arc<str>,
        instance: u32,
        pid: Option<u32>,
        level: Level,
        msg: String,
        time: SystemTime,
    },
    /// Rotate every log now; the reply says what failed.
    Rotate(oneshot::Sender<Result<(), super::RotateError>>),
    /// Rotate by these policies from now on (a changed `[logs]`, or a program's `logs`).
    Relayout(Box<Layout>, oneshot::Sender<Result<(), super::RotateError>>),
}

/// The most refused files `svc status` lists (each is also in `svc.log`).
const MAX_REFUSED: usize = 20;

/// Lines the writer could not put into `app.log`, and the files it refused, shared with
/// `svc status`.
#[derive(Debug, Default)]
pub struct Stats {
    total: AtomicU64,
    per_instance: Mutex<HashMap<(String, u32), u64>>,
    refused: Mutex<Vec<String>>,
}

impl Stats {
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub fn of(&self, program: &str, instance: u32) -> u64 {
        let map = self
            .per_instance
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(&(program.to_owned(), instance))
            .copied()
            .unwrap_or(0)
    }

    pub fn refused(&self) -> Vec<String> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Lists a refused file (once, and at most [`MAX_REFUSED`] of them).
    pub fn refuse(&self, refusal: String) {
        let mut list = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if list.len() < MAX_REFUSED && !list.contains(&refusal) {
            list.push(refusal);
        }
    }

    fn add(&self, program: &str, instance: u32, lines: u64) {
        self.total.fetch_add(lines, Ordering::Relaxed);
        let mut map = self
            .per_instance
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *map.entry((program.to_owned(), instance)).or_default() += lines;
    }
}

/// The files being written.
pub struct Sinks {
    app: RotatingFile,
    error: RotatingFile,
    programs: HashMap<String, RotatingFile>,
    /// For the programs' logs opened later, by [`Sinks::relayout`].
    helpers: Helpers,
}

impl Sinks {
    /// Opens every log of `layout`.
    ///
    /// # Errors
    /// A log folder cannot be created or read.
    pub fn open(layout: &Layout, helpers: &Helpers) -> std::io::Result<Sinks> {
        let rule = layout.file_rule();
        let open = |family, policy| RotatingFile::open(family, policy, helpers.clone(), rule);
        let mut programs = HashMap::new();
        for (name, policy) in &layout.programs {
            if let Some(family) = layout.program(name) {
                programs.insert(name.clone(), open(family, *policy)?);
            }
        }
        Ok(Sinks {
            app: open(layout.app(), layout.policy)?,
            error: open(layout.error(), layout.policy)?,
            programs,
            helpers: helpers.clone(),
        })
    }

    /// Takes the policies of `layout`: `app.log` and `error.log` take `[logs]`, a program with a
    /// policy of its own gets (or keeps) its own log, one without it no longer has one.
    ///
    /// # Errors
    /// A program's new log cannot be opened (its folder cannot be created or read).
    pub fn relayout(&mut self, layout: &Layout) -> std::io::Result<()> {
        self.app.set_policy(layout.policy);
        self.error.set_policy(layout.policy);
        self.programs.retain(|name, log| {
            let kept = layout.programs.contains_key(name);
            if !kept {
                let _ = log.flush();
            }
            kept
        });
        for (name, policy) in &layout.programs {
            if let Some(log) = self.programs.get_mut(name) {
                log.set_policy(*policy);
            } else if let Some(family) = layout.program(name) {
                let log =
                    RotatingFile::open(family, *policy, self.helpers.clone(), layout.file_rule())?;
                self.programs.insert(name.clone(), log);
            }
        }
        Ok(())
    }
}

/// Records formatted before a batch is appended to the logs: enough for few, large writes, and
/// a bound on the batch's memory however short the lines.
const BATCH_BYTES: usize = 512 * 1024;

/// Records of one instance (its lines, or one event) laid back to back, as
/// [`RotatingFile::push_records`] takes them.
#[derive(Default)]
struct Batch {
    records: Vec<u8>,
    /// Where each record ends in `records`.
    ends: Vec<usize>,
    /// The records that also go to `error.log`, by index.
    to_error: Vec<usize>,
}

impl Batch {
    /// Ends the record just formatted into `records`.
    fn end_record(&mut self, to_error: bool) {
        if to_error {
            self.to_error.push(self.ends.len());
        }
        self.ends.push(self.records.len());
    }

    /// Record `i`, newline included.
    fn record(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.records[start..self.ends[i]]
    }

    fn clear(&mut self) {
        self.records.clear();
        self.ends.clear();
        self.to_error.clear();
    }
}

/// The writer's state on its thread.
pub struct Writer {
    sinks: Sinks,
    stats: Arc<Stats>,
    /// Where the chunks written go back to, for the readers to reuse.
    spares: Arc<Spares>,
    /// Instances by tag (the index), so a lost record can be counted against its instance.
    tags: Vec<(Arc<str>, u32)>,
    tag_of: HashMap<(Arc<str>, u32), u32>,
    /// The records being written (reused).
    batch: Batch,
    /// The last formatted time and the millisecond it stands for.
    clock: (u128, String),
    /// Lines lost since `app.log` last took a write, and the last error.
    losing: Option<(u64, String)>,
    /// Whether a secondary log (`error.log`, a program's log) is failing, to warn once.
    secondary_failing: bool,
}

impl Writer {
    pub fn new(sinks: Sinks, stats: Arc<Stats>, spares: Arc<Spares>) -> Writer {
        let mut writer = Writer {
            sinks,
            stats,
            spares,
            tags: Vec::new(),
            tag_of: HashMap::new(),
            batch: Batch::default(),
            clock: (u128::MAX, String::new()),
            losing: None,
            secondary_failing: false,
        };
        writer.collect_refusals();
        writer
    }

    /// Runs until every sender is gone, then writes what is left.
    pub fn run(mut self, mut rx: mpsc::Receiver<Entry>) {
        while let Some(entry) = rx.blocking_recv() {
            self.handle(entry);
            while let Ok(entry) = rx.try_recv() {
                self.handle(entry);
            }
            self.flush();
        }
        self.flush();
    }

    fn handle(&mut self, entry: Entry) {
        match entry {
            Entry::Lines {
                source,
                stream,
                time,
                chunk,
            } => {
                self.lines(&source, stream, time, &chunk);
                self.spares.give(chunk);
            }
            Entry::Event {
                program,
                instance,
                pid,
                level,
                msg,
                time,
            } => {
                let time = self.format_time(time);
                let tag = self.tag(&program, instance);
                let origin = Origin {
                    program: &program,
                    instance,
                    pid,
                };
                let own = self
                    .sinks
                    .programs
                    .contains_key(&*program)
                    .then_some(&*program);
                let mut batch = std::mem::take(&mut self.batch);
                record::format_event(&mut batch.records, &msg, level, origin, &time);
                batch.end_record(level >= Level::Error);
                self.write_batch(&mut batch, own, tag);
                self.batch = batch;
            }
            Entry::Rotate(reply) => {
                let _ = reply.send(self.rotate());
            }
            Entry::Relayout(layout, reply) => {
                let result = self.sinks.relayout(&layout);
                let _ =
                    reply.send(result.map_err(|source| super::RotateError::Relayout { source }));
            }
        }
    }

    fn lines(&mut self, source: &Source, stream: Stream, time: SystemTime, chunk: &Chunk) {
        let time = self.format_time(time);
        let tag = self.tag(&source.program, source.instance);
        let origin = Origin {
            program: &source.program,
            instance: source.instance,
            pid: Some(source.pid),
        };
        let frame = Frame::new(stream, origin, &time);
        let own = (self.sinks.programs)
            .contains_key(&*source.program)
            .then_some(&*source.program);
        let mut batch = std::mem::take(&mut self.batch);
        for piece in &chunk.lines {
            let line = &chunk.data[piece.range()];
            let level = frame.format(&mut batch.records, line, piece.part);
            batch.end_record(stream == Stream::Stderr || level >= Level::Error);
            if batch.records.len() >= BATCH_BYTES {
                self.write_batch(&mut batch, own, tag);
            }
        }
        self.write_batch(&mut batch, own, tag);
        self.batch = batch;
    }

    /// Appends the records of `batch` to the logs they belong in, and empties it.
    fn write_batch(&mut self, batch: &mut Batch, own: Option<&str>, tag: u32) {
        if let Err(dropped) = self
            .sinks
            .app
            .push_records(&batch.records, &batch.ends, tag)
        {
            self.lost(dropped);
        }
        let mut secondary = Ok(());
        if batch.to_error.len() == batch.ends.len() {
            secondary = (self.sinks.error).push_records(&batch.records, &batch.ends, tag);
        } else {
            for &i in &batch.to_error {
                let pushed = self.sinks.error.push(batch.record(i), tag);
                secondary = Dropped::merge(secondary, pushed);
            }
        }
        if let Some(own) = own.and_then(|program| self.sinks.programs.get_mut(program)) {
            let pushed = own.push_records(&batch.records, &batch.ends, tag);
            secondary = Dropped::merge(secondary, pushed);
        }
        self.secondary(&secondary);
        batch.clear();
    }

    fn flush(&mut self) {
        if let Err(dropped) = self.sinks.app.flush() {
            self.lost(dropped);
        }
        let mut secondary = self.sinks.error.flush();
        for own in self.sinks.programs.values_mut() {
            secondary = Dropped::merge(secondary, own.flush());
        }
        self.secondary(&secondary);
        if self.sinks.app.is_healthy()
            && let Some((lines, error)) = self.losing.take()
        {
            self.report_recovery(lines, &error);
        }
        self.collect_refusals();
    }

    /// Lists for `svc status` the files the logs refused since the last look (each logged when
    /// it was met).
    fn collect_refusals(&mut self) {
        let sinks = [&mut self.sinks.app, &mut self.sinks.error]
            .into_iter()
            .chain(self.sinks.programs.values_mut());
        for sink in sinks {
            for refusal in sink.take_refusals() {
                self.stats.refuse(refusal.to_string());
            }
        }
    }

    fn rotate(&mut self) -> Result<(), super::RotateError> {
        if let Err(dropped) = self.sinks.app.rotate() {
            self.lost(dropped);
        }
        let mut secondary = self.sinks.error.rotate();
        for own in self.sinks.programs.values_mut() {
            secondary = Dropped::merge(secondary, own.rotate());
        }
        self.secondary(&secondary);
        self.collect_refusals();
        if let Some((_, error)) = &self.losing {
            return Err(super::RotateError::AppLog(error.clone()));
        }
        secondary.map_err(|dropped| super::RotateError::Log {
            source: dropped.error,
        })
    }

    /// Counts records `app.log` lost against their instances.
    fn lost(&mut self, dropped: Dropped) {
        let error = dropped.error.to_string();
        if self.losing.is_none() {
            tracing::error!(
                %error,
                file = %self.sinks.app.current_path().display(),
                "cannot write the log; counting the lines lost until it works again (svc status)"
            );
        }
        for tag in &dropped.tags {
            if let Some((program, instance)) = self.tags.get(*tag as usize) {
                self.stats.add(program, *instance, 1);
            }
        }
        let lines = dropped.tags.len() as u64;
        let total = self.losing.as_ref().map_or(0, |(n, _)| *n) + lines;
        self.losing = Some((total, error));
    }

    /// Writing works again: say so in the daemon's log and in `app.log`.
    fn report_recovery(&mut self, lines: u64, error: &str) {
        let msg = format!("{lines} log lines could not be written ({error}); writing again");
        tracing::warn!(lines, %error, "the log is writable again");
        let time = self.format_time(SystemTime::now());
        let origin = Origin {
            program: "svc",
            instance: 0,
            pid: Some(std::process::id()),
        };
        let mut record = Vec::new();
        record::format_event(&mut record, &msg, Level::Warn, origin, &time);
        let tag = self.tag(&Arc::from("svc"), 0);
        if let Err(dropped) = self.sinks.app.push(&record, tag) {
            self.lost(dropped);
        }
    }

    /// `error.log` and programs' own logs: their losses are logged, not counted (the lines are
    /// in `app.log`, or counted there).
    fn secondary(&mut self, result: &Result<(), Dropped>) {
        match result {
            Err(dropped) if !self.secondary_failing => {
                self.secondary_failing = true;
                tracing::error!(error = %dropped.error, lines = dropped.tags.len(), "cannot write error.log or a program's log");
            }
            Err(_) => {}
            Ok(()) => self.secondary_failing = false,
        }
    }

    /// The small number standing for an instance in a buffered record.
    fn tag(&mut self, program: &Arc<str>, instance: u32) -> u32 {
        if let Some(tag) = self.tag_of.get(&(program.clone(), instance)) {
            return *tag;
        }
        let tag = self.tags.len() as u32;
        self.tags.push((program.clone(), instance));
        self.tag_of.insert((program.clone(), instance), tag);
        tag
    }

    /// `time` as RFC 3339 milliseconds, formatted once per millisecond.
    fn format_time(&mut self, time: SystemTime) -> String {
        let millis = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        if self.clock.0 != millis {
            self.clock = (millis, super::time::format(time));
        }
        self.clock.1.clone()
    }
}
