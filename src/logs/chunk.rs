//! What a pipe reader hands the writer, shared by both ends: the lines of one read ([`Chunk`],
//! each line a [`Piece`]), the instance they came from ([`Source`]), and the emptied chunks on
//! their way back for reuse ([`Spares`]). Kept apart from both ends so that capture depends on
//! the writer's channel and the writer on these types, never the other way round.

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

/// How much one read may take from a pipe: what [`PIPE_SIZE`](super::capture::PIPE_SIZE) holds.
pub const READ_SIZE: usize = 256 * 1024;

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

/// One line (or one piece of a long line) inside a [`Chunk`], without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub range: Range<usize>,
    /// 0 for a whole line; 1, 2, ... for the pieces of a line longer than
    /// [`MAX_LINE`](super::capture::MAX_LINE).
    pub part: u32,
}

/// Emptied chunks on their way back from the writer to the readers, so a flood reuses a few
/// buffers instead of allocating (and page-faulting in) a new 256 KiB one for every read.
#[derive(Debug, Default)]
pub struct Spares(Mutex<Vec<Chunk>>);

/// The most chunks [`Spares`] keeps (about 1.3 MiB once a flood has passed).
const SPARES: usize = 4;

impl Spares {
    /// An emptied chunk, if one came back.
    pub fn take(&self) -> Option<Chunk> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    /// Keeps `chunk`'s buffers for a later read, unless [`SPARES`] are kept already or its data
    /// buffer grew beyond two reads (an over-long line).
    pub fn give(&self, mut chunk: Chunk) {
        if chunk.data.capacity() > 2 * READ_SIZE {
            return;
        }
        chunk.data.clear();
        chunk.lines.clear();
        let mut spares = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if spares.len() < SPARES {
            spares.push(chunk);
        }
    }
}
