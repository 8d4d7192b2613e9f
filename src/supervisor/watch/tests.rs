use super::*;
use crate::config::Watch;
use std::fs;

/// How long a test waits for a message that must come.
const COMES: Duration = Duration::from_secs(5);

/// The debounce delay of the tests.
const DELAY: Duration = Duration::from_millis(150);

/// A program watching `watch` (relative to `dir`, its cwd) with `ignore` globs.
fn program(dir: &Path, watch: &[&str], ignore: &[&str]) -> Program {
    let text = format!(
        "[programs.web]\ncommand = [\"x\"]\nwatch = {watch:?}\nwatch_ignore = {ignore:?}\nwatch_delay = \"{}ms\"\n",
        DELAY.as_millis()
    );
    fs::write(dir.join("svc.toml"), text).unwrap();
    let config = Config::load(&dir.join("svc.toml")).unwrap();
    config.program("web").unwrap().clone()
}

/// A folder with `src/main.rs` and `src/lib.rs`, watched at `src` by a program.
fn setup(ignore: &[&str]) -> (tempfile::TempDir, Program) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("src")).unwrap();
    fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    fs::write(dir.path().join("src/lib.rs"), "\n").unwrap();
    let program = program(dir.path(), &["src"], ignore);
    (dir, program)
}

/// The next burst; panics when none comes.
async fn next(bursts: &mut mpsc::Receiver<PathBuf>) -> PathBuf {
    tokio::time::timeout(COMES, bursts.recv())
        .await
        .expect("a burst within 5 s")
        .expect("the watch is running")
}

/// Asserts that no burst comes within a few debounce delays.
async fn none(bursts: &mut mpsc::Receiver<PathBuf>) {
    if let Ok(burst) = tokio::time::timeout(DELAY * 4, bursts.recv()).await {
        panic!("no burst expected, got {burst:?}");
    }
}

#[tokio::test]
async fn touching_a_file_is_one_burst() {
    let (dir, program) = setup(&[]);
    let (_watch, mut bursts) = start(&program, &[]).unwrap();
    let new = dir.path().join("src/new.rs");
    fs::write(&new, "").unwrap();
    assert_eq!(next(&mut bursts).await, new);
    none(&mut bursts).await;
    // An existing file's times or mode change too.
    let existing = dir.path().join("src/main.rs");
    fs::File::options()
        .write(true)
        .open(&existing)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    assert_eq!(next(&mut bursts).await, existing);
    none(&mut bursts).await;
}

#[tokio::test]
async fn an_editors_save_by_rename_is_one_burst() {
    let (dir, program) = setup(&[]);
    let (_watch, mut bursts) = start(&program, &[]).unwrap();
    let temp = dir.path().join("src/.main.rs.swp");
    fs::write(&temp, "fn main() { println!(\"saved\"); }\n").unwrap();
    fs::rename(&temp, dir.path().join("src/main.rs")).unwrap();
    assert_eq!(next(&mut bursts).await, temp);
    none(&mut bursts).await;
    assert_eq!(
        fs::read_to_string(dir.path().join("src/main.rs")).unwrap(),
        "fn main() { println!(\"saved\"); }\n"
    );
}

#[tokio::test]
async fn a_watched_file_survives_saves_by_rename_and_its_siblings_do_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    fs::write(&file, "{}").unwrap();
    let program = program(dir.path(), &["config.json"], &[]);
    let (_watch, mut bursts) = start(&program, &[]).unwrap();
    for save in ["{\"a\": 1}", "{\"a\": 2}"] {
        let temp = dir.path().join("config.json.new");
        fs::write(&temp, save).unwrap();
        fs::rename(&temp, &file).unwrap();
        assert_eq!(next(&mut bursts).await, file, "{save}");
    }
    fs::write(dir.path().join("other.json"), "{}").unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    none(&mut bursts).await;
    fs::write(&file, "{\"a\": 3}").unwrap();
    assert_eq!(next(&mut bursts).await, file);
}

#[tokio::test]
async fn fifty_writes_are_one_burst_sent_after_the_last() {
    let (dir, program) = setup(&[]);
    let (_watch, mut bursts) = start(&program, &[]).unwrap();
    let file = dir.path().join("src/lib.rs");
    let started = std::time::Instant::now();
    for i in 0..50 {
        fs::write(&file, format!("// {i}\n")).unwrap();
    }
    let written = started.elapsed();
    assert_eq!(next(&mut bursts).await, file);
    assert!(
        // Half the delay: the last event may be read a moment before `written` is taken.
        started.elapsed() >= written + DELAY / 2,
        "sent {:?} after the first write, the last was at {written:?}",
        started.elapsed()
    );
    none(&mut bursts).await;
}

#[tokio::test]
async fn ignored_paths_and_reads_are_no_change() {
    let (dir, program) = setup(&["*.tmp", "src/cache/**"]);
    let data = dir.path().join("src/data");
    let logs = dir.path().join("src/logs");
    for folder in [
        ".git",
        "node_modules/left-pad",
        "target/debug",
        "cache/deep",
    ] {
        fs::create_dir_all(dir.path().join("src").join(folder)).unwrap();
    }
    fs::create_dir(&data).unwrap();
    fs::create_dir(&logs).unwrap();
    let (_watch, mut bursts) = start(&program, &[data.clone(), logs.clone()]).unwrap();

    let src = dir.path().join("src");
    for ignored in [
        src.join(".git/index"),
        src.join("node_modules/left-pad/index.js"),
        src.join("target/debug/web"),
        src.join("cache/deep/entry"),
        src.join("notes.tmp"),
        data.join("svc.db"),
        logs.join("app.log"),
    ] {
        fs::write(&ignored, "x").unwrap();
    }
    // A read is no change either.
    assert_eq!(
        fs::read_to_string(src.join("main.rs")).unwrap(),
        "fn main() {}\n"
    );
    none(&mut bursts).await;

    // The watch still works, and none of the ignored paths joined the burst.
    fs::write(src.join("lib.rs"), "// changed\n").unwrap();
    assert_eq!(next(&mut bursts).await, src.join("lib.rs"));
}

#[tokio::test]
async fn dropping_the_watch_ends_its_bursts() {
    let (dir, program) = setup(&[]);
    let (watch, mut bursts) = start(&program, &[]).unwrap();
    drop(watch);
    fs::write(dir.path().join("src/new.rs"), "").unwrap();
    let end = tokio::time::timeout(COMES, bursts.recv()).await;
    assert_eq!(end, Ok(None), "the channel closes with the watch");
}

#[tokio::test]
async fn a_missing_path_or_no_watch_is_an_error() {
    let (dir, program) = setup(&[]);
    let mut missing = program.clone();
    missing.watch = Some(Watch {
        paths: vec![dir.path().join("nope")],
        ..program.watch.clone().unwrap()
    });
    let error = start(&missing, &[]).err().unwrap().to_string();
    assert_eq!(
        error,
        format!("cannot watch {}", dir.path().join("nope").display())
    );
    let mut unwatched = program;
    unwatched.watch = None;
    let error = start(&unwatched, &[]).err().unwrap().to_string();
    assert_eq!(error, "program web has no `watch`");
}

#[tokio::test]
async fn a_folder_made_after_the_start_is_watched() {
    let (dir, program) = setup(&[]);
    let (_watch, mut bursts) = start(&program, &[]).unwrap();
    let folder = dir.path().join("src/models");
    fs::create_dir(&folder).unwrap();
    assert_eq!(next(&mut bursts).await, folder);
    fs::write(folder.join("user.rs"), "").unwrap();
    assert_eq!(next(&mut bursts).await, folder.join("user.rs"));
    // A folder moved in is watched too.
    let outside = dir.path().join("views");
    fs::create_dir(&outside).unwrap();
    fs::rename(&outside, dir.path().join("src/views")).unwrap();
    assert_eq!(next(&mut bursts).await, dir.path().join("src/views"));
    fs::write(dir.path().join("src/views/index.html"), "").unwrap();
    assert_eq!(
        next(&mut bursts).await,
        dir.path().join("src/views/index.html")
    );
}

/// The folders an inotify descriptor of this process watches, from `/proc/self/fdinfo`:
/// their inode numbers.
fn watched_inodes() -> Vec<u64> {
    let mut inodes = Vec::new();
    for entry in fs::read_dir("/proc/self/fdinfo").unwrap().flatten() {
        let Ok(info) = fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in info.lines().filter(|l| l.starts_with("inotify wd:")) {
            let inode = line
                .split_whitespace()
                .find_map(|field| field.strip_prefix("ino:"))
                .and_then(|hex| u64::from_str_radix(hex, 16).ok());
            inodes.extend(inode);
        }
    }
    inodes
}

#[tokio::test]
async fn ignored_folders_get_no_watch() {
    use std::os::unix::fs::MetadataExt;
    let (dir, program) = setup(&[]);
    let src = dir.path().join("src");
    let data = src.join("data");
    for folder in [
        "target/debug/deps",
        "node_modules/a/b",
        ".git/objects",
        "data/x",
        "ui/forms",
    ] {
        fs::create_dir_all(src.join(folder)).unwrap();
    }
    let (_watch, _bursts) = start(&program, std::slice::from_ref(&data)).unwrap();
    let inode = |path: &Path| fs::metadata(path).unwrap().ino();
    let watched = watched_inodes();
    for kept in [src.clone(), src.join("ui"), src.join("ui/forms")] {
        assert!(watched.contains(&inode(&kept)), "{kept:?} is watched");
    }
    for pruned in [
        "target",
        "target/debug",
        "node_modules",
        "node_modules/a",
        ".git",
        "data",
        "data/x",
    ] {
        assert!(
            !watched.contains(&inode(&src.join(pruned))),
            "{pruned} is not watched"
        );
    }
}

#[test]
fn the_daemons_folders_and_the_data_dir_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[daemon]\nlog_dir = \"var/log\"\n\
                [programs.api]\ncommand = [\"svc\", \"api\"]\ncwd = \"app\"\n\
                [programs.own]\ncommand = [\"x\"]\ncwd = \"app\"\nenv = { DATA_DIR = \"/srv/own\" }\n\
                [programs.plain]\ncommand = [\"x\"]\n";
    fs::write(dir.path().join("svc.toml"), text).unwrap();
    let config = Config::load(&dir.path().join("svc.toml")).unwrap();
    let root = dir.path();
    let dirs = |name: &str| ignored_dirs(&config, config.program(name).unwrap());
    assert_eq!(
        dirs("api"),
        [
            root.join("var/log"),
            root.join("run"),
            root.join("app/data")
        ]
    );
    assert_eq!(
        dirs("own"),
        [
            root.join("var/log"),
            root.join("run"),
            PathBuf::from("/srv/own")
        ]
    );
    assert_eq!(dirs("plain"), [root.join("var/log"), root.join("run")]);
}
