//! Which environment variables the code reads, found by reading `src/` (no build, no running).
//!
//! The rule is simple on purpose, and errs on the side of finding too much: an UPPER_CASE
//! string literal (or an UPPER_CASE `&str` constant) passed as the first argument of a named
//! call (`var("PORT")`, `env.number("WORKER_CONCURRENCY", …)`, `read("HOST", …)`,
//! `get("REDIS_PASSWORD")`), or given to clap as `env = "SVC_CONFIG"`, is a variable read.
//! Calls known to take other upper-case strings are excluded by name ([`NOT_ENV_CALLS`]);
//! tuples and macros (`("FAIL", …)`, `env!("CARGO_PKG_VERSION")`) have no callee and never
//! count. Test code is skipped: everything after a file's first `#[cfg(test)]` (inline test
//! modules sit at the end of a file) and the test-only files (`tests.rs`, or files in a `tests/`
//! folder, declared by a `#[cfg(test)] mod tests;`). A new reader helper is found without changing this file; a new kind of
//! call that takes upper-case strings which are not variables shows up as a false alarm naming
//! its callee, to be added to [`NOT_ENV_CALLS`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Callees whose upper-case string arguments are not variables the program reads.
pub const NOT_ENV_CALLS: &[&str] = &[
    // std::process::Command: sets or removes a child's variable, never reads one.
    "env",
    "env_remove",
    // Redis commands (the queue's Redis backend).
    "call",
    "cmd",
    "arg",
    // Signal names, string searches.
    "Signal",
    "starts_with",
    "ends_with",
    "contains",
    "strip_prefix",
    "strip_suffix",
    "find",
    "split",
    "replace",
    "push_str",
    // Vec::push: the capability names `svc startup systemd` writes into a unit.
    "push",
];

/// One place where the code reads a variable.
#[derive(Debug, Clone)]
pub struct EnvRead {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    /// The callee, or `env =` for a clap attribute.
    pub via: String,
}

/// Every variable read under `src`, with every place it is read.
pub fn reads(src: &Path) -> BTreeMap<String, Vec<EnvRead>> {
    let mut found: BTreeMap<String, Vec<EnvRead>> = BTreeMap::new();
    let files = rust_files(src);
    let texts: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            (file, code_part(&text).to_owned())
        })
        .collect();
    let consts: BTreeMap<String, String> = texts
        .iter()
        .flat_map(|(_, text)| str_consts(text))
        .collect();
    for (file, text) in &texts {
        for (pos, literal) in literals(text) {
            if is_env_name(&literal)
                && let Some(via) = reader_before(text, pos)
            {
                let read = EnvRead {
                    name: literal,
                    file: file.clone(),
                    line: line_of(text, pos),
                    via,
                };
                found.entry(read.name.clone()).or_default().push(read);
            }
        }
        for (name, value) in &consts {
            for pos in const_arguments(text, name) {
                if let Some(via) = reader_before(text, pos) {
                    let read = EnvRead {
                        name: value.clone(),
                        file: file.clone(),
                        line: line_of(text, pos),
                        via,
                    };
                    found.entry(value.clone()).or_default().push(read);
                }
            }
        }
    }
    found
}

fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("read a source folder")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !is_test_only(root, &path) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A file that holds only a parent's `#[cfg(test)] mod tests;`: `tests.rs` or anything in a
/// `tests/` folder.
fn is_test_only(root: &Path, path: &Path) -> bool {
    let inner = path.strip_prefix(root).unwrap_or(path);
    inner.file_stem().is_some_and(|s| s == "tests")
        || inner
            .parent()
            .is_some_and(|dir| dir.components().any(|c| c.as_os_str() == "tests"))
}

/// The text before the first `#[cfg(test)]` line.
fn code_part(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == "#[cfg(test)]" {
            return &text[..offset];
        }
        offset += line.len();
    }
    text
}

/// `PORT`, `DB_URL`, `QUEUE_KEEP_FAILED_AGE`: an upper-case identifier of 3+ characters.
pub fn is_env_name(text: &str) -> bool {
    text.len() >= 3
        && text.starts_with(|c: char| c.is_ascii_uppercase())
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Every string literal (its opening quote's byte offset and its contents), skipping comments,
/// char literals and raw strings (which never hold a variable name here).
fn literals(text: &str) -> Vec<(usize, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'\'' => {
                // 'x', '\n', '"' are chars; 'a in a lifetime is not.
                if bytes.get(i + 1) == Some(&b'\\') {
                    i += text[i + 2..].find('\'').map_or(bytes.len(), |n| n + 3);
                } else if bytes.get(i + 2) == Some(&b'\'') {
                    i += 3;
                } else {
                    i += 1;
                }
            }
            b'r' if is_raw_start(text, i) => {
                let hashes = bytes[i + 1..].iter().take_while(|&&b| b == b'#').count();
                let end = format!("\"{}", "#".repeat(hashes));
                let body = i + 2 + hashes;
                i = text[body..]
                    .find(&end)
                    .map_or(bytes.len(), |n| body + n + end.len());
            }
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                out.push((i, text[i + 1..j.min(bytes.len())].to_owned()));
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    out
}

fn is_raw_start(text: &str, i: usize) -> bool {
    let before_ok = i == 0
        || !text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
    let rest = &text[i + 1..];
    before_ok && rest.trim_start_matches('#').starts_with('"')
}

/// What reads the argument at `pos`: `Some(callee)` for `callee(` (not excluded), `Some("env =")`
/// for clap's attribute; `None` otherwise.
fn reader_before(text: &str, pos: usize) -> Option<String> {
    let before = text[..pos].trim_end();
    if let Some(call) = before.strip_suffix('(') {
        let callee = trailing_ident(call.trim_end());
        return (!callee.is_empty() && !NOT_ENV_CALLS.contains(&callee)).then(|| callee.to_owned());
    }
    if let Some(assign) = before.strip_suffix('=') {
        return (trailing_ident(assign.trim_end()) == "env").then(|| "env =".to_owned());
    }
    None
}

fn trailing_ident(text: &str) -> &str {
    let start = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(text.len(), |(i, _)| i);
    &text[start..]
}

/// `const NAME: &str = "VALUE";` with an upper-case VALUE.
fn str_consts(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let rest = line
                .trim()
                .trim_start_matches("pub ")
                .strip_prefix("const ")?;
            let (name, rest) = rest.split_once(':')?;
            let value = rest.trim().strip_prefix("&str")?.trim().strip_prefix('=')?;
            let value = value.trim().strip_prefix('"')?.strip_suffix("\";")?;
            is_env_name(value).then(|| (name.trim().to_owned(), value.to_owned()))
        })
        .collect()
}

/// Offsets where `name` (possibly as `path::to::name`) is the first argument of a call.
fn const_arguments(text: &str, name: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for (pos, _) in text.match_indices(name) {
        let starts_ident = !text[..pos]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let after = &text[pos + name.len()..];
        let ends_ident = !after.starts_with(|c: char| c.is_alphanumeric() || c == '_');
        if !starts_ident || !ends_ident || !after.trim_start().starts_with([')', ',']) {
            continue;
        }
        // Step back over a `path::` prefix to where the argument starts.
        let mut start = pos;
        while text[..start].ends_with("::") {
            let head = trailing_ident(&text[..start - 2]);
            start -= 2 + head.len();
        }
        if text[..start].trim_end().ends_with('(') {
            out.push(start);
        }
    }
    out
}

fn line_of(text: &str, pos: usize) -> usize {
    text[..pos].matches('\n').count() + 1
}

#[test]
fn the_scanner_finds_reads_and_ignores_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let code = r##"
        const LAUNCHED: &str = "SVC_LAUNCHED";
        fn f() {
            std::env::var("PORT").ok();
            let x = env.number(
                "WORKER_CONCURRENCY", 5, 1, 10);
            if std::env::var_os(LAUNCHED).is_none() {}
            if std::env::var_os(crate::supervisor::LAUNCHED).is_none() {}
            command.env("CHILD_ONLY", "1").env(LAUNCHED, "1");
            redis::cmd("HGETALL");
            let t = ("FAIL", env!("CARGO_PKG_VERSION"));
            // var("IN_A_COMMENT")
            let s = "var(\"ESCAPED\")";
            let r = r#"var("RAW")"#;
            let c = '"'; get("AFTER_CHAR");
        }
        #[arg(long, env = "SVC_CONFIG")]
        struct A;
        #[cfg(test)]
        mod tests { fn t() { std::env::var("TEST_ONLY"); } }
    "##;
    std::fs::write(dir.path().join("a.rs"), code).unwrap();
    let names: Vec<String> = reads(dir.path()).into_keys().collect();
    assert_eq!(
        names,
        [
            "AFTER_CHAR",
            "PORT",
            "SVC_CONFIG",
            "SVC_LAUNCHED",
            "WORKER_CONCURRENCY"
        ]
    );
    let all = reads(dir.path());
    assert_eq!(
        all["SVC_LAUNCHED"].len(),
        2,
        "both var_os calls, not the setter"
    );
    assert_eq!(all["PORT"][0].line, 4);
}
