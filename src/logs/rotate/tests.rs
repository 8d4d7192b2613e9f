use std::io::Read;
use std::path::Path;

use flate2::write::GzEncoder;

use super::*;
use crate::logs::ahead::Maker;
use crate::logs::family::Forms;

const RULE: FileRule = FileRule {
    mode: 0o640,
    group: None,
};

fn policy(max_size: u64, keep: u32, compress: bool) -> LogPolicy {
    LogPolicy {
        max_size,
        keep,
        compress,
    }
}

/// The log `app.log` in `dir`, opened with no helper threads.
fn open(dir: &Path, policy: LogPolicy) -> (Family, RotatingFile) {
    let family = Family::new(dir, "app.log");
    let log = RotatingFile::open(family.clone(), policy, Helpers::default(), RULE).unwrap();
    (family, log)
}

fn read_all(family: &Family) -> Vec<String> {
    let mut lines = Vec::new();
    for seq in family.list().unwrap().keys() {
        let mut text = String::new();
        family
            .open(*seq)
            .unwrap()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        lines.extend(text.lines().map(str::to_owned));
    }
    lines
}

#[test]
fn rotates_before_the_record_that_would_overflow_and_keeps_n_files() {
    let dir = tempfile::tempdir().unwrap();
    let (family, mut log) = open(dir.path(), policy(100, 3, false));
    for i in 0..100 {
        log.push(format!("line {i:04} of the test\n").as_bytes(), 0)
            .unwrap();
    }
    log.flush().unwrap();
    let files = family.list().unwrap();
    assert_eq!(files.len(), 4, "3 kept + current: {files:?}");
    for seq in files.keys() {
        let len = std::fs::metadata(family.path(*seq)).unwrap().len();
        assert!(
            len <= 100 && len.is_multiple_of(22),
            "file {seq} has {len} bytes"
        );
    }
    let lines = read_all(&family);
    let first: usize = lines[0][5..9].parse().unwrap();
    let want: Vec<String> = (first..100)
        .map(|i| format!("line {i:04} of the test"))
        .collect();
    assert_eq!(lines, want);
    let link = std::fs::read_link(family.link()).unwrap();
    assert_eq!(dir.path().join(link), log.current_path());
}

#[test]
fn rotated_files_are_compressed_off_thread_and_read_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let family = Family::new(dir.path(), "app.log");
    let (compressor, thread) = Compressor::start().unwrap();
    let mut log = RotatingFile::open(
        family.clone(),
        policy(1000, 50, true),
        Helpers {
            compressor: Some(compressor),
            maker: None,
        },
        RULE,
    )
    .unwrap();
    for i in 0..1000 {
        log.push(format!("{i}\n").as_bytes(), 0).unwrap();
    }
    log.flush().unwrap();
    drop(log);
    thread.join().unwrap();
    let files = family.list().unwrap();
    let (last, finished) = files
        .iter()
        .next_back()
        .map(|(s, _)| (*s, files.len() - 1))
        .unwrap();
    assert!(finished >= 3);
    for (seq, forms) in &files {
        let want = if *seq == last {
            Forms {
                plain: true,
                gz: false,
            }
        } else {
            Forms {
                plain: false,
                gz: true,
            }
        };
        assert_eq!(*forms, want, "file {seq}");
    }
    let want: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    assert_eq!(read_all(&family), want);
}

#[test]
fn reopening_continues_the_newest_file_and_cuts_a_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let family = Family::new(dir.path(), "app.log");
    std::fs::write(family.path(4), "whole\ntorn li").unwrap();
    let mut log = open(&family.dir, policy(1 << 20, 5, false)).1;
    log.push(b"next\n", 0).unwrap();
    log.flush().unwrap();
    assert_eq!(
        std::fs::read_to_string(family.path(4)).unwrap(),
        "whole\nnext\n"
    );
}

#[test]
fn a_plain_file_where_the_link_goes_is_kept_as_the_newest_file() {
    let dir = tempfile::tempdir().unwrap();
    let family = Family::new(dir.path(), "app.log");
    std::fs::write(family.link(), "from an older layout\n").unwrap();
    let mut log = open(&family.dir, policy(1 << 20, 5, false)).1;
    log.push(b"new\n", 0).unwrap();
    log.flush().unwrap();
    assert_eq!(read_all(&family), vec!["from an older layout", "new"]);
    assert!(
        std::fs::symlink_metadata(family.link())
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// A tmpfs of `size` bytes on a fresh folder, unmounted on drop; `None` when this process
/// may not mount (not root).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk { dir })
    }

    /// Fills the disk with one file, whose removal is space coming back.
    fn fill(&self) -> PathBuf {
        let filler = self.dir.path().join("filler");
        let mut file = File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_hands_back_the_lost_lines_and_writing_resumes() {
    let Some(disk) = SmallDisk::mount(64 * 1024) else {
        eprintln!("cannot mount a tmpfs (not root?): the full disk is tested by the daemon's test");
        return;
    };
    let family = Family::new(disk.dir.path(), "app.log");
    let filler = disk.fill();
    let mut log = open(&family.dir, policy(1 << 20, 5, false)).1;
    log.push(b"a\n", 1).unwrap();
    log.push(b"b\n", 2).unwrap();
    let dropped = log.flush().unwrap_err();
    assert_eq!(dropped.tags, vec![1, 2]);
    assert_eq!(dropped.error.raw_os_error(), Some(libc::ENOSPC));
    assert!(!log.is_healthy());
    std::fs::remove_file(filler).unwrap();
    log.push(b"c\n", 3).unwrap();
    log.flush().unwrap();
    assert!(log.is_healthy());
    assert_eq!(std::fs::read_to_string(family.path(1)).unwrap(), "c\n");
}

#[test]
fn a_planted_link_is_refused_left_alone_and_writing_goes_on_in_the_next_file() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("secret");
    std::fs::write(&target, "first\nlast line without newline").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let family = Family::new(dir.path(), "app.log");
    std::fs::write(family.path(1), "an old file\n").unwrap();
    std::fs::set_permissions(family.path(1), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&target, family.path(2)).unwrap();

    let mut log = open(&family.dir, policy(1 << 20, 5, false)).1;
    log.push(b"new\n", 0).unwrap();
    log.flush().unwrap();
    assert!(log.is_healthy());
    let refused = log.take_refusals();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].path, family.path(2));
    assert_eq!(refused[0].why, secure_fs::Why::Symlink);
    assert!(
        log.take_refusals().is_empty(),
        "each refusal is handed over once"
    );

    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "first\nlast line without newline"
    );
    assert_eq!(std::fs::read_to_string(family.path(3)).unwrap(), "new\n");
    assert_eq!(log.current_path(), family.path(3));
    assert_eq!(
        std::fs::read_link(family.link()).unwrap(),
        Path::new("app.log.000003")
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!(mode(&family.path(3)), 0o640);
    assert_eq!(
        mode(&family.path(1)),
        0o640,
        "an old file of ours is tightened"
    );

    // Rotation skips a planted next file too.
    std::os::unix::fs::symlink(&target, family.path(4)).unwrap();
    log.rotate().unwrap();
    log.push(b"after\n", 0).unwrap();
    log.flush().unwrap();
    assert_eq!(log.current_path(), family.path(5));
    assert_eq!(log.take_refusals()[0].path, family.path(4));
    assert_eq!(std::fs::read_to_string(family.path(5)).unwrap(), "after\n");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "first\nlast line without newline"
    );
}

#[test]
fn stale_compressions_and_finished_copies_are_cleaned_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let family = Family::new(dir.path(), "app.log");
    std::fs::write(family.gz_tmp_path(1), "half").unwrap();
    std::fs::write(family.path(1), "one\n").unwrap();
    std::fs::write(family.path(2), "two\n").unwrap();
    let mut gz = GzEncoder::new(
        File::create(family.gz_path(2)).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(b"two\n").unwrap();
    gz.finish().unwrap();
    std::fs::write(family.path(3), "three\n").unwrap();
    let (compressor, thread) = Compressor::start().unwrap();
    let log = RotatingFile::open(
        family.clone(),
        policy(1 << 20, 5, true),
        Helpers {
            compressor: Some(compressor),
            maker: None,
        },
        RULE,
    )
    .unwrap();
    drop(log);
    thread.join().unwrap();
    let files: Vec<(u64, Forms)> = family.list().unwrap().into_iter().collect();
    let gz = Forms {
        plain: false,
        gz: true,
    };
    assert_eq!(
        files,
        vec![
            (1, gz),
            (2, gz),
            (
                3,
                Forms {
                    plain: true,
                    gz: false
                }
            )
        ]
    );
    assert!(!family.gz_tmp_path(1).exists());
    assert_eq!(read_all(&family), vec!["one", "two", "three"]);
}

/// `n` records of `len` bytes each, numbered from `first`, back to back, and where each ends.
fn records(first: usize, n: usize, len: usize) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    for i in first..first + n {
        bytes.extend_from_slice(format!("{i:08} {}\n", "x".repeat(len - 10)).as_bytes());
        ends.push(bytes.len());
    }
    (bytes, ends)
}

#[test]
fn records_pushed_together_rotate_between_records_and_stay_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (family, mut log) = open(dir.path(), policy(1 << 20, 50, false));
    // 3.5 MB in runs of 700 KB, as the writer hands over a flood.
    for run in 0..5 {
        let (bytes, ends) = records(run * 7000, 7000, 100);
        log.push_records(&bytes, &ends, 0).unwrap();
    }
    log.flush().unwrap();
    let files = family.list().unwrap();
    assert_eq!(files.len(), 4, "{files:?}");
    for seq in files.keys() {
        let len = std::fs::metadata(family.path(*seq)).unwrap().len();
        assert!(
            len <= 1 << 20 && len.is_multiple_of(100),
            "file {seq} has {len} bytes"
        );
    }
    let numbers: Vec<usize> = read_all(&family)
        .iter()
        .map(|line| line[..8].parse().unwrap())
        .collect();
    assert_eq!(numbers, (0..35_000).collect::<Vec<_>>());
}

#[test]
fn large_writes_hold_no_space_beyond_what_they_wrote() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let (family, mut log) = open(dir.path(), policy(1 << 30, 5, false));
    for run in 0..4 {
        let (bytes, ends) = records(run * 7000 + 1, 7000, 100);
        log.push_records(&bytes, &ends, 0).unwrap();
    }
    log.flush().unwrap();
    let meta = std::fs::metadata(family.path(1)).unwrap();
    assert_eq!(meta.len(), 28_000 * 100);
    let held = meta.blocks() * 512;
    assert!(
        held < meta.len() + 64 * 1024,
        "{held} bytes held for {} written",
        meta.len()
    );
}

#[test]
fn a_record_larger_than_a_file_gets_a_file_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (family, mut log) = open(dir.path(), policy(100, 5, false));
    let (mut bytes, mut ends) = records(0, 1, 30);
    let (big, _) = records(1, 1, 250);
    bytes.extend_from_slice(&big);
    ends.push(bytes.len());
    let (last, _) = records(2, 1, 30);
    bytes.extend_from_slice(&last);
    ends.push(bytes.len());
    log.push_records(&bytes, &ends, 0).unwrap();
    log.flush().unwrap();
    let sizes: Vec<u64> = (1..=3)
        .map(|seq| std::fs::metadata(family.path(seq)).unwrap().len())
        .collect();
    assert_eq!(sizes, vec![30, 250, 30]);
}

#[test]
fn a_disk_filling_during_a_large_write_keeps_whole_lines_and_hands_back_the_rest() {
    let Some(disk) = SmallDisk::mount(256 * 1024) else {
        eprintln!("cannot mount a tmpfs (not root?): the full disk is tested by the daemon's test");
        return;
    };
    let family = Family::new(disk.dir.path(), "app.log");
    let mut log = open(&family.dir, policy(1 << 30, 5, false)).1;
    let (bytes, ends) = records(0, 10_000, 100);
    let dropped = log.push_records(&bytes, &ends, 7).unwrap_err();
    assert_eq!(dropped.error.raw_os_error(), Some(libc::ENOSPC));
    assert!(dropped.tags.iter().all(|&tag| tag == 7));
    assert!(!log.is_healthy());
    let kept = std::fs::read(family.path(1)).unwrap();
    assert!(kept.len() > 100_000, "{} bytes written", kept.len());
    assert_eq!(
        kept[..],
        bytes[..kept.len()],
        "whole records, the first ones"
    );
    assert_eq!(kept.len() / 100 + dropped.tags.len(), 10_000);
}

/// The inode and birth time of the file made ahead for `dir` (open in this process, with no
/// name yet): an inode number alone can be reused at once.
fn made_ahead(dir: &Path) -> Option<(u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir("/proc/self/fd").ok()?.find_map(|fd| {
        let fd = fd.ok()?.path();
        let target = std::fs::read_link(&fd).ok()?;
        let unnamed = target.starts_with(dir) && target.to_string_lossy().ends_with("(deleted)");
        let meta = std::fs::metadata(&fd).ok().filter(|_| unnamed)?;
        Some((meta.ino(), meta.created().ok()?))
    })
}

fn wait_made_ahead(dir: &Path) -> (u64, std::time::SystemTime) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(ino) = made_ahead(dir) {
            return ino;
        }
        assert!(std::time::Instant::now() < deadline, "no file made ahead");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn the_next_file_is_made_ahead_and_never_replaces_a_file_there() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("secret");
    std::fs::write(&target, "secret\n").unwrap();
    let family = Family::new(dir.path(), "app.log");
    let (maker, thread) = Maker::start().unwrap();
    let helpers = Helpers {
        compressor: None,
        maker: Some(maker),
    };
    let mut log =
        RotatingFile::open(family.clone(), policy(100, 50, false), helpers, RULE).unwrap();
    let (bytes, ends) = records(0, 12, 30);
    let push = |log: &mut RotatingFile, i: usize| {
        let start = if i == 0 { 0 } else { ends[i - 1] };
        log.push(&bytes[start..ends[i]], 0).unwrap();
    };
    for i in 0..4 {
        push(&mut log, i);
    }
    // The rotation to file 2 ordered file 3; a link planted there is not replaced by it.
    wait_made_ahead(dir.path());
    std::os::unix::fs::symlink(&target, family.path(3)).unwrap();
    for i in 4..7 {
        push(&mut log, i);
    }
    assert_eq!(log.current_path(), family.path(4));
    let ahead = wait_made_ahead(dir.path());
    for i in 7..10 {
        push(&mut log, i);
    }
    assert_eq!(log.current_path(), family.path(5));
    log.flush().unwrap();
    let five = std::fs::metadata(family.path(5)).unwrap();
    assert_eq!(
        (five.ino(), five.created().unwrap()),
        ahead,
        "file 5 is the one made ahead"
    );
    assert_eq!(five.permissions().mode() & 0o777, 0o640);

    assert_eq!(std::fs::read_link(family.path(3)).unwrap(), target);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret\n");
    let numbers: Vec<usize> = [1, 2, 4, 5]
        .into_iter()
        .flat_map(|seq| {
            std::fs::read_to_string(family.path(seq))
                .unwrap()
                .lines()
                .map(|line| line[..8].parse().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(numbers, (0..10).collect::<Vec<_>>());
    drop(log);
    thread.join().unwrap();
    assert_eq!(made_ahead(dir.path()), None, "nothing is left behind");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let want: Vec<String> = [
        "app.log",
        "app.log.000001",
        "app.log.000002",
        "app.log.000003",
    ]
    .into_iter()
    .chain(["app.log.000004", "app.log.000005"])
    .map(String::from)
    .collect();
    assert_eq!(names, want);
}

#[test]
fn in_a_flood_the_link_catches_up_within_its_lag_without_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let (family, mut log) = open(dir.path(), policy(100, 50, false));
    for i in 0..7 {
        log.push(format!("{i:08} a record of thirty\n").as_bytes(), 0)
            .unwrap();
    }
    assert_eq!(log.current_path(), family.path(3));
    std::thread::sleep(LINK_LAG + std::time::Duration::from_millis(20));
    log.push(b"00000007 one more, no rotation\n", 0).unwrap();
    assert_eq!(log.current_path(), family.path(3));
    assert_eq!(
        dir.path().join(std::fs::read_link(family.link()).unwrap()),
        family.path(3),
        "the writer is still busy (no flush), yet the link has moved"
    );
}
