//! What a pipe reader hands the writer, shared by both ends: the lines of one read ([`Chunk`],
//! each line a [`Piece`]), the instance they came from ([`Source`]), and the emptied chunks on
//! their way back for reuse ([`Spares`]). Kept apart from both ends so that capture depends on
//! the writer's channel and the writer on these types, never the other way round.

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

/// How much one read may take from a pipe: what [`PIPE_SIZE`](super::capture::PIPE_SIZE) holds.
pub const READ_SIZE: usize = 256 * 1024;

/// The longest line kept as one record; longer ones are split into pieces of at most this size.
pub const MAX_LINE: usize = 64 * 1024;

/// A chunk's data buffer: one read after the unfinished line kept from the previous one (at most
/// [`MAX_LINE`]), so a buffer never grows and every one can be reused.
pub const DATA_CAPACITY: usize = READ_SIZE + MAX_LINE;

/// The most lines a reused chunk keeps room for (one per 24 bytes of a read); a chunk of a
/// flood of shorter lines is not kept.
const LINES_CAPACITY: usize = READ_SIZE / 24;

/// Which program instance a pipe belongs to.
#[derive(Debug, Clone)]
pub struct Source {
    pub program: Arc<str>,
    pub instance: u32,
    pub pid: u32,
}

/// Lines read in one go from one pipe: `data` holds them back to back, `lines` where each is.
#[derive(Debug, Default)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub lines: Vec<Piece>,
}

/// One line (or one piece of a long line) inside a [`Chunk`], without its newline. Offsets are
/// `u32` (a chunk holds at most [`DATA_CAPACITY`] bytes), so a flood of short lines needs half the
/// memory for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    start: u32,
    end: u32,
    /// 0 for a whole line; 1, 2, ... for the pieces of a line longer than [`MAX_LINE`].
    pub part: u32,
}

const _: () = assert!(DATA_CAPACITY < u32::MAX as usize);

impl Piece {
    /// The piece at `range` of its chunk's data, which is shorter than 4 GiB.
    pub fn new(range: Range<usize>, part: u32) -> Piece {
        let offset = |at: usize| u32::try_from(at).expect("a chunk is smaller than 4 GiB");
        Piece {
            start: offset(range.start),
            end: offset(range.end),
            part,
        }
    }

    /// Where the piece is in its chunk's data.
    pub fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Emptied chunks on their way back from the writer to the readers, so a flood reuses the same
/// buffers instead of allocating (and page-faulting in, and unmapping again) a new one for every
/// read: as many as can be in flight, so that in a flood no read allocates.
#[derive(Debug)]
pub struct Spares {
    kept: Mutex<Vec<Chunk>>,
    most: usize,
}

impl Spares {
    /// Keeps at most `most` chunks (about 0.4 MiB each).
    pub fn new(most: usize) -> Spares {
        Spares {
            kept: Mutex::new(Vec::with_capacity(most)),
            most,
        }
    }

    /// An emptied chunk, if one came back.
    pub fn take(&self) -> Option<Chunk> {
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    /// Keeps `chunk`'s buffers for a later read, unless enough are kept already or a buffer grew
    /// beyond its usual size (an over-long line, a flood of very short ones).
    pub fn give(&self, mut chunk: Chunk) {
        if chunk.data.capacity() > DATA_CAPACITY || chunk.lines.capacity() > LINES_CAPACITY {
            return;
        }
        chunk.data.clear();
        chunk.lines.clear();
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < self.most {
            kept.push(chunk);
        }
    }
}
