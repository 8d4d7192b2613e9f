use super::*;

/// How a script's header comment (`-- KEYS: 1 wait, 2 active, …`) names each key.
fn label(name: KeyName) -> &'static str {
    match name {
        Wait => "wait",
        Active => "active",
        Paused => "paused",
        Prioritized => "prioritized",
        Pc => "pc",
        Delayed => "delayed",
        Completed => "completed",
        Failed => "failed",
        Marker => "marker",
        Stalled => "stalled",
        StalledCheck => "stalled-check",
        Meta => "meta",
        Id => "id counter",
        Events => "events",
        Limiter => "limiter",
        Job => "job",
        Lock => "lock",
    }
}

/// The key labels of a script's `-- KEYS:` header, which may continue on the next comment lines
/// until `-- ARGV:`.
fn header_keys(lua: &str) -> Vec<String> {
    let mut text = String::new();
    let mut inside = false;
    for line in lua.lines() {
        if let Some(rest) = line.strip_prefix("-- KEYS:") {
            inside = true;
            text.push_str(rest);
        } else if inside && line.starts_with("-- ARGV:") {
            break;
        } else if inside {
            text.push(',');
            text.push_str(line.trim_start_matches('-'));
        }
    }
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .enumerate()
        .map(|(n, item)| {
            let number = format!("{} ", n + 1);
            item.strip_prefix(&number)
                .unwrap_or_else(|| panic!("key {} is numbered wrong: {item}", n + 1))
                .to_owned()
        })
        .collect()
}

#[test]
fn every_scripts_declared_keys_match_its_lua_header() {
    let declared: [(&str, &str, &[KeyName]); 13] = [
        ("add", include_str!("../lua/add.lua"), ADD_KEYS),
        ("take", include_str!("../lua/take.lua"), TAKE_KEYS),
        (
            "extend_lock",
            include_str!("../lua/extend_lock.lua"),
            EXTEND_LOCK_KEYS,
        ),
        (
            "complete",
            include_str!("../lua/complete.lua"),
            COMPLETE_KEYS,
        ),
        ("retry", include_str!("../lua/retry.lua"), RETRY_KEYS),
        ("fail", include_str!("../lua/fail.lua"), FAIL_KEYS),
        ("release", include_str!("../lua/release.lua"), RELEASE_KEYS),
        ("stalled", include_str!("../lua/stalled.lua"), STALLED_KEYS),
        (
            "retry_failed",
            include_str!("../lua/retry_failed.lua"),
            RETRY_FAILED_KEYS,
        ),
        ("job", include_str!("../lua/job.lua"), JOB_KEYS),
        (
            "retry_job",
            include_str!("../lua/retry_job.lua"),
            RETRY_JOB_KEYS,
        ),
        ("remove", include_str!("../lua/remove.lua"), REMOVE_KEYS),
        ("pause", include_str!("../lua/pause.lua"), PAUSE_KEYS),
    ];
    for (script, lua, keys) in declared {
        let labels: Vec<&str> = keys.iter().map(|k| label(*k)).collect();
        assert_eq!(header_keys(lua), labels, "{script}.lua");
    }
    let clean = header_keys(include_str!("../lua/clean.lua"));
    assert_eq!(clean[0], "the state's list or zset");
    let labels: Vec<&str> = clean_keys(Failed)[1..].iter().map(|k| label(*k)).collect();
    assert_eq!(clean[1..], labels);
}
