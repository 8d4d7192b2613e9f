//! Compression of rotated log files, on a thread of its own so the writer never waits for gzip.
//!
//! `file.N` is compressed to `file.N.gz.tmp`, renamed to `file.N.gz` once complete (so a `.gz`
//! is always whole, for readers and after a crash), and only then is `file.N` removed. The
//! thread runs at a lower priority: under load the programs and the writer come first, and the
//! compression catches up when they are quiet. The file compressed is opened without following a
//! link and checked like every log file, and the `.gz` is created exclusively with its mode and
//! group ([`crate::secure_fs`]), so a planted link is never read into a log nor truncated.

use std::io::{self, BufReader, BufWriter};
use std::os::unix::fs::MetadataExt;
use std::sync::mpsc;
use std::thread::JoinHandle;

use flate2::write::GzEncoder;

use super::family::{Family, remove_quietly};
use crate::secure_fs::{self, FileRule, OpenError};

/// gzip level of rotated files: the fastest. On JSON log lines it makes files ~9% larger than the
/// default level 6 (7.0x instead of 7.7x) for ~60% of the CPU, which the programs and the writer
/// need more (measured with zlib on 10 MiB of records like the daemon's).
const GZIP_LEVEL: u32 = 1;

/// The compression thread's nice value: it yields the CPU to the programs and the writer, and
/// catches up when they are quiet (retention bounds what waits meanwhile).
const GZIP_NICE: i32 = 10;

/// Compresses finished log files on its own thread, so the writer never waits for gzip.
#[derive(Clone)]
pub struct Compressor {
    tx: mpsc::Sender<(Family, u64)>,
}

impl Compressor {
    /// Starts the compression thread; it ends when every [`Compressor`] is dropped, after the
    /// files already queued.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start() -> io::Result<(Compressor, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel::<(Family, u64)>();
        let thread = std::thread::Builder::new()
            .name("svc-log-gzip".into())
            .spawn(move || {
                lower_priority();
                for (family, seq) in rx {
                    if let Err(error) = compress(&family, seq) {
                        tracing::warn!(%error, file = %family.path(seq).display(), "cannot compress a rotated log file; it stays uncompressed");
                    }
                }
            })?;
        Ok((Compressor { tx }, thread))
    }

    /// Queues file `seq` of `family` for compression.
    pub fn compress(&self, family: &Family, seq: u64) {
        let _ = self.tx.send((family.clone(), seq));
    }
}

/// Lowers the calling thread's priority to [`GZIP_NICE`] (on Linux, nice is per thread).
fn lower_priority() {
    let tid = nix::unistd::gettid().as_raw();
    // SAFETY: setpriority only reads its integer arguments; `tid` is this thread's own id.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, GZIP_NICE) };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the compression thread's priority");
    }
}

/// `file.N` → `file.N.gz.tmp` → `file.N.gz`, then removes `file.N`. A file that retention
/// deleted meanwhile is skipped, or its fresh `.gz` removed.
fn compress(family: &Family, seq: u64) -> io::Result<()> {
    let source_path = family.path(seq);
    let (source, meta) = match secure_fs::open_read(&source_path) {
        Ok(Some(opened)) => opened,
        Ok(None) => return Ok(()),
        Err(OpenError::Refused(refusal)) => return Err(io::Error::other(refusal.to_string())),
        Err(OpenError::Io(e)) => return Err(e),
    };
    let rule = FileRule {
        mode: meta.mode() & 0o777,
        group: Some(meta.gid()),
    };
    let tmp = family.gz_tmp_path(seq);
    remove_quietly(&tmp);
    let written = (|| {
        let out = BufWriter::with_capacity(256 * 1024, secure_fs::create_new(&tmp, &rule)?);
        let mut encoder = GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
        io::copy(
            &mut BufReader::with_capacity(256 * 1024, source),
            &mut encoder,
        )?;
        encoder
            .finish()?
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        std::fs::rename(&tmp, family.gz_path(seq))
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(error);
    }
    match std::fs::remove_file(&source_path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            remove_quietly(&family.gz_path(seq));
            Ok(())
        }
        Err(e) => Err(e),
    }
}
