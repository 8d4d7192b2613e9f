use std::fs::Permissions;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::*;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

const LOG_DIR: DirRule = DirRule {
    what: "log_dir",
    mode: 0o750,
    refuse_writable: true,
    follow_symlink: false,
    group: None,
};

const LOG_FILE: FileRule = FileRule {
    mode: 0o640,
    group: None,
};

#[test]
fn a_folder_is_made_with_the_rule_mode_and_a_looser_one_tightened_or_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    prepare_dir(&dir, &LOG_DIR).unwrap();
    assert_eq!(mode(&dir), 0o750);
    std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
    prepare_dir(&dir, &LOG_DIR).unwrap();
    assert_eq!(mode(&dir), 0o750);
    std::fs::set_permissions(&dir, Permissions::from_mode(0o700)).unwrap();
    prepare_dir(&dir, &LOG_DIR).unwrap();
    assert_eq!(mode(&dir), 0o700, "a stricter mode stays");
    for loose in [0o770, 0o757, 0o1777] {
        std::fs::set_permissions(&dir, Permissions::from_mode(loose)).unwrap();
        let error = prepare_dir(&dir, &LOG_DIR).unwrap_err();
        assert!(
            matches!(error, GuardError::Writable { mode, .. } if mode == loose),
            "{error}"
        );
        assert!(error.to_string().contains("chmod go-w"), "{error}");
        assert_eq!(mode(&dir), loose, "a refused folder is not touched");
    }
    let tightened = DirRule {
        refuse_writable: false,
        ..LOG_DIR
    };
    prepare_dir(&dir, &tightened).unwrap();
    assert_eq!(mode(&dir), 0o1750);
}

#[test]
fn a_symlinked_folder_is_refused_unless_the_rule_follows_it() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let error = prepare_dir(&link, &LOG_DIR).unwrap_err();
    assert!(matches!(error, GuardError::Symlink { .. }), "{error}");
    let follow = DirRule {
        follow_symlink: true,
        ..LOG_DIR
    };
    prepare_dir(&link, &follow).unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let error = prepare_dir(&file, &LOG_DIR).unwrap_err();
    assert!(matches!(error, GuardError::NotDir { .. }), "{error}");
}

#[test]
fn appending_never_goes_through_a_link_and_makes_new_files_0640() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("secret");
    std::fs::write(&target, "root only\n").unwrap();
    std::fs::set_permissions(&target, Permissions::from_mode(0o600)).unwrap();

    let link = tmp.path().join("app.log.000001");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    match open_append(&link, &LOG_FILE) {
        Err(OpenError::Refused(r)) => assert_eq!(r.why, Why::Symlink),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let hard = tmp.path().join("app.log.000002");
    std::fs::hard_link(&target, &hard).unwrap();
    match open_append(&hard, &LOG_FILE) {
        Err(OpenError::Refused(r)) => assert_eq!(r.why, Why::Links(2)),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let dangling = tmp.path().join("app.log.000003");
    std::os::unix::fs::symlink(tmp.path().join("nothing"), &dangling).unwrap();
    assert!(matches!(
        open_append(&dangling, &LOG_FILE),
        Err(OpenError::Refused(_))
    ));
    assert!(!tmp.path().join("nothing").exists());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "root only\n");
    assert_eq!(mode(&target), 0o600);

    let fresh = tmp.path().join("app.log.000004");
    open_append(&fresh, &LOG_FILE).unwrap();
    assert_eq!(mode(&fresh), 0o640);
    std::fs::set_permissions(&fresh, Permissions::from_mode(0o666)).unwrap();
    open_append(&fresh, &LOG_FILE).unwrap();
    assert_eq!(mode(&fresh), 0o640, "a looser file of ours is tightened");
}

#[test]
fn tightening_leaves_links_alone_and_takes_bits_off_files() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("svc.db");
    std::fs::write(&db, "").unwrap();
    std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
    tighten_file(&db, 0o600, "the database").unwrap();
    assert_eq!(mode(&db), 0o600);
    let outside = tmp.path().join("outside");
    std::fs::write(&outside, "").unwrap();
    std::fs::set_permissions(&outside, Permissions::from_mode(0o644)).unwrap();
    let link = tmp.path().join("svc.db-wal");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    tighten_file(&link, 0o600, "the database").unwrap();
    assert_eq!(mode(&outside), 0o644);
    tighten_file(&tmp.path().join("absent"), 0o600, "the database").unwrap();
}
