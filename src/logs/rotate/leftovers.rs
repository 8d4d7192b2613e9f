//! What an earlier run left in a log folder, taken up when a log is opened: a plain file where
//! the symlink goes, half-written compressions, uncompressed finished files and a torn last line.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::RotatingFile;
use crate::logs::family::{Family, Forms, remove_quietly};
use crate::secure_fs::{self, OpenError};

impl RotatingFile {
    /// A finished file found at start-up: checked (a refused one is left alone), then the plain
    /// copy of a completed compression dropped, or the file compressed now.
    pub(super) fn finish_leftover(&mut self, seq: u64, forms: Forms) {
        if forms.gz {
            self.check_finished(self.family.gz_path(seq));
        }
        if !forms.plain || !self.check_finished(self.family.path(seq)) {
            return;
        }
        if forms.gz {
            remove_quietly(&self.family.path(seq));
        } else if self.policy.compress
            && let Some(compressor) = &self.compressor
        {
            compressor.compress(&self.family, seq);
        }
    }

    /// Whether a finished file found at start-up is a private file of ours (tightened to the
    /// rule if looser); a refused one is logged and left alone.
    fn check_finished(&mut self, path: PathBuf) -> bool {
        match secure_fs::inspect(&path, &self.rule) {
            Ok(()) => true,
            Err(OpenError::Refused(refusal)) => {
                self.refuse(refusal);
                false
            }
            Err(OpenError::Io(error)) => {
                tracing::warn!(%error, file = %path.display(), "cannot check an old log file");
                false
            }
        }
    }
}

/// An older layout (or a copy someone put there) may have a regular file where the symlink goes:
/// it becomes the newest numbered file, so nothing in it is lost.
pub(super) fn adopt_plain_link(
    family: &Family,
    files: &mut BTreeMap<u64, Forms>,
) -> io::Result<()> {
    let link = family.link();
    match std::fs::symlink_metadata(&link) {
        Ok(meta) if meta.file_type().is_file() => {
            let seq = files.keys().next_back().map_or(1, |last| last + 1);
            std::fs::rename(&link, family.path(seq))?;
            files.insert(
                seq,
                Forms {
                    plain: true,
                    gz: false,
                },
            );
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Removes the temporary files of compressions a crash cut short (`*.gz.tmp`).
pub(super) fn remove_stale_tmp(family: &Family) -> io::Result<()> {
    let entries = match std::fs::read_dir(&family.dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let name = entry?.file_name();
        if let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".tmp"))
            && family.parse(stem).is_some_and(|(_, gz)| gz)
        {
            remove_quietly(&family.dir.join(&name));
        }
    }
    Ok(())
}

/// Cuts a file (checked: regular, ours) back to its last newline (a daemon killed mid-write
/// leaves half a line), returning its length.
pub(super) fn trim_partial_line(file: &File, path: &Path) -> io::Result<u64> {
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() == 0 {
        return Ok(0);
    }
    let len = meta.len();
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    if last[0] == b'\n' {
        return Ok(len);
    }
    let mut block = vec![0u8; 64 * 1024];
    let mut end = len;
    let good = loop {
        let start = end.saturating_sub(block.len() as u64);
        let window = &mut block[..(end - start) as usize];
        file.read_exact_at(window, start)?;
        if let Some(p) = memchr::memrchr(b'\n', window) {
            break start + p as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    tracing::warn!(file = %path.display(), bytes = len - good, "cutting off an unfinished last line");
    file.set_len(good)?;
    Ok(good)
}
