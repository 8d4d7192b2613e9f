//! Problems in a config file, each located by line and column from its span in the text.

use std::ops::Range;
use std::path::Path;

use super::Problem;

/// Collects semantic problems, locating each by its span in the text.
pub(super) struct Problems<'a> {
    file: &'a Path,
    text: &'a str,
    found: Vec<Problem>,
}

impl<'a> Problems<'a> {
    /// None found yet in `text`, the contents of `file`.
    pub(super) fn new(file: &'a Path, text: &'a str) -> Self {
        Problems {
            file,
            text,
            found: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, span: Range<usize>, key: String, message: impl Into<String>) {
        let problem = located(self.file, self.text, span.start, key, message.into());
        self.found.push(problem);
    }

    /// Every problem added, in the order found.
    pub(super) fn into_found(self) -> Vec<Problem> {
        self.found
    }
}

/// A problem at byte `offset` of `text`, the contents of `file`.
pub(super) fn located(
    file: &Path,
    text: &str,
    offset: usize,
    key: String,
    message: String,
) -> Problem {
    let (line, column) = line_column(text, offset);
    Problem {
        file: file.to_path_buf(),
        line,
        column,
        key,
        message,
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}
