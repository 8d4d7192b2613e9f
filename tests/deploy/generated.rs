//! The committed completions and man pages match what the current CLI generates.
//! Regenerate them with `UPDATE_GENERATED=1 cargo test --test suite deploy::generated::`.

use std::path::Path;

#[test]
fn completions_and_man_pages_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("UPDATE_GENERATED").is_some();
    let mut stale = Vec::new();
    for (path, contents) in svc::cli::generated::files() {
        let full = root.join(&path);
        if update {
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, &contents).unwrap();
        } else if std::fs::read(&full).ok().as_deref() != Some(contents.as_slice()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "out of date: {stale:?}; run `UPDATE_GENERATED=1 cargo test --test suite deploy::generated::` and commit"
    );
}

#[test]
fn completions_command_prints_the_committed_script() {
    let out = std::process::Command::new(crate::common::harness::SVC)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let committed =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/svc.bash")).unwrap();
    assert_eq!(out.stdout, committed);
}
