//! The dependency rule stated in `src/lib.rs`, checked on the source itself.
//!
//! Every `src/**/*.rs` file (but `main.rs`, a crate of its own) is read; comments and string
//! literals are blanked out; every path that starts with `crate::`, `super::` or `self::` (in a
//! `use` or in code) is resolved to the file that defines the item it names. Re-exports are
//! followed to the file the item comes from, so importing `crate::logs::Source` counts as using
//! the file that defines `Source`, not `logs/mod.rs`. A module's items are assumed to be defined in
//! the module's own file unless the module imports them by that name. A parent reaching into its
//! own child by a bare path (`writer::Entry` in `logs/mod.rs`) is not counted: that is the module
//! tree's own direction, so a child's `super::…` back into its parent's file is no cycle here.
//!
//! Two checks: the forbidden module edges of [`RULES`] (the rule of `src/lib.rs`: keep the two in
//! step), and no cycle of files using items of each other (any length; test modules left out).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// One clause of the dependency rule: no module in `importers` may import one in `imported`.
struct Rule {
    importers: &'static [&'static str],
    imported: &'static [&'static str],
    says: &'static str,
}

/// The service half: what the daemon runs, which must run without the daemon's code.
const SERVICE: &[&str] = &["api", "auth", "domain", "query", "queue", "store", "worker"];

/// The rule of `src/lib.rs`, as forbidden edges between top-level modules.
const RULES: &[Rule] = &[
    Rule {
        importers: &["protocol"],
        imported: &["control", "cli"],
        says: "cli → control → protocol: the protocol imports neither its server nor the CLI",
    },
    Rule {
        importers: &["control"],
        imported: &["cli"],
        says: "cli → control → protocol: the control socket never imports the CLI",
    },
    Rule {
        importers: &["logs", "config"],
        imported: &["supervisor"],
        says: "supervisor → logs, config: logs and config never import the supervisor",
    },
    Rule {
        importers: &["redis"],
        imported: &["queue", "api"],
        says: "queue → redis and api → redis: redis imports neither",
    },
    Rule {
        importers: SERVICE,
        imported: &["supervisor"],
        says: "the service (api, auth, domain, query, queue, store, worker) never imports the \
               supervisor",
    },
];

#[test]
fn no_module_breaks_the_dependency_rule() {
    let broken = Crate::read().broken_rules();
    assert!(
        broken.is_empty(),
        "the dependency rule of src/lib.rs is broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_files_import_each_other_in_a_cycle() {
    let cycles = Crate::read().cycles();
    assert!(
        cycles.is_empty(),
        "{} import cycle(s) between files (move what they share into a file of its own):\n{}",
        cycles.len(),
        cycles.join("\n")
    );
}

/// Guards the two checks above against passing because the scanner sees nothing.
#[test]
fn the_scanner_finds_the_crates_imports() {
    let crate_ = Crate::read();
    assert!(
        crate_.files.len() > 100,
        "only {} files read",
        crate_.files.len()
    );
    let uses = crate_.uses();
    let edge = |from: &str, to: &str| uses.iter().any(|u| u.file.rel == from && u.target == to);
    // `use crate::secure_fs::{self, DirRule, …}`.
    assert!(
        edge("logs/mod.rs", "secure_fs.rs"),
        "logs/mod.rs → secure_fs.rs not seen"
    );
    // `crate::redis::Endpoint` and its kin are re-exported by `redis/mod.rs` from
    // `redis/config.rs`.
    assert!(
        uses.iter()
            .any(|u| u.file.rel.starts_with("queue/") && u.target == "redis/config.rs"),
        "queue → redis/config.rs through the re-export not seen"
    );
}

#[test]
fn a_forbidden_import_and_a_cycle_are_reported_where_they_are_written() {
    let crate_ = Crate::of([
        ("lib.rs", "pub mod api;\npub mod supervisor;\n"),
        (
            "api/mod.rs",
            "mod a;\nmod b;\nmod c;\nmod d;\npub use a::Thing;\n",
        ),
        (
            "api/a.rs",
            "//! Not [`crate::supervisor::run`], nor \"crate::supervisor::run\".\n\
             use super::b::Other;\n\
             pub struct Thing;\n\
             fn f() { crate::supervisor::run(); }\n",
        ),
        (
            "api/b.rs",
            "pub struct Other;\nfn g(_: super::c::More) {}\n",
        ),
        (
            "api/c.rs",
            "pub struct More;\nfn h(_: super::Thing) {}\n\
             #[cfg(test)]\nmod tests {\n    use crate::api::d::Dee;\n}\n",
        ),
        ("api/d.rs", "pub struct Dee;\nfn k(_: super::c::More) {}\n"),
        ("supervisor/mod.rs", "pub fn run() {}\n"),
    ]);
    let broken = crate_.broken_rules();
    assert_eq!(broken.len(), 1, "{broken:#?}");
    assert!(
        broken[0].starts_with("src/api/a.rs:4: `crate::supervisor::run` imports `supervisor`")
            && broken[0].ends_with("never imports the supervisor"),
        "{broken:#?}"
    );
    let cycles = crate_.cycles();
    assert_eq!(
        cycles,
        ["src/api/a.rs ↔ src/api/b.rs ↔ src/api/c.rs:\n    \
             src/api/a.rs:2 uses `super::b::Other` (src/api/b.rs)\n    \
             src/api/b.rs:2 uses `super::c::More` (src/api/c.rs)\n    \
             src/api/c.rs:2 uses `super::Thing` (src/api/a.rs)"],
        "the re-export of `Thing` leads to a.rs; c.rs's test module (using d.rs) is no cycle"
    );
}

/// Every module of the library, where it is written and what it imports by name.
struct Crate {
    /// By path relative to `src/`.
    files: BTreeMap<String, SourceFile>,
    /// Module path (`logs::writer`, `` for the root) → the file that holds it (inline modules
    /// included).
    modules: HashMap<String, String>,
    /// Module path → name → what the module's `use` binds to that name.
    imports: HashMap<String, HashMap<String, Vec<String>>>,
}

struct SourceFile {
    rel: String,
    module: Vec<String>,
    scan: Scan,
}

impl SourceFile {
    fn top_module(&self) -> Option<&str> {
        self.module.first().map(String::as_str)
    }
}

/// One use of another file's item, found in `file`.
struct Use<'a> {
    file: &'a SourceFile,
    line: usize,
    /// The path as written.
    written: String,
    /// The absolute path, without `crate`.
    named: Vec<String>,
    /// The file (relative to `src/`) that defines the item.
    target: String,
}

impl Crate {
    /// The library under `src/` (but `main.rs`, a crate of its own).
    fn read() -> Crate {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut sources = Vec::new();
        for path in rust_files(&src) {
            let rel = path
                .strip_prefix(&src)
                .expect("a file found under src/")
                .to_string_lossy()
                .into_owned();
            if rel != "main.rs" {
                sources.push((
                    rel,
                    fs::read_to_string(&path).expect("a source file is UTF-8"),
                ));
            }
        }
        Crate::of(sources)
    }

    /// The crate made of these files, by path relative to `src/`, and their text.
    fn of(sources: impl IntoIterator<Item = (impl Into<String>, impl AsRef<str>)>) -> Crate {
        let mut files = BTreeMap::new();
        for (rel, text) in sources {
            let rel: String = rel.into();
            let module = module_of(&rel);
            let scan = Scan::of(&lex(text.as_ref()), &module);
            files.insert(rel.clone(), SourceFile { rel, module, scan });
        }
        let mut modules = HashMap::new();
        let mut imports: HashMap<String, HashMap<String, Vec<String>>> = HashMap::new();
        for file in files.values() {
            modules.insert(file.module.join("::"), file.rel.clone());
            for inline in &file.scan.inline_modules {
                modules.insert(inline.join("::"), file.rel.clone());
            }
            for leaf in &file.scan.uses {
                if let Some(name) = leaf.binds() {
                    imports
                        .entry(leaf.path.scope.join("::"))
                        .or_default()
                        .insert(name, leaf.path.segments.clone());
                }
            }
        }
        Crate {
            files,
            modules,
            imports,
        }
    }

    /// Every use that breaks a clause of [`RULES`]: file, line, path, the clause.
    fn broken_rules(&self) -> Vec<String> {
        let mut broken = Vec::new();
        for use_ in self.uses() {
            let Some(from) = use_.file.top_module() else {
                continue;
            };
            // The module the path names, and the one that defines the item (after re-exports).
            let mut targets = BTreeSet::new();
            targets.extend(use_.named.first().map(String::as_str));
            targets.extend(self.files[&use_.target].top_module());
            for rule in RULES {
                if rule.importers.contains(&from)
                    && let Some(to) = targets.iter().find(|to| rule.imported.contains(to))
                {
                    broken.push(format!(
                        "src/{}:{}: `{}` imports `{to}` (src/{}): {}",
                        use_.file.rel, use_.line, use_.written, use_.target, rule.says
                    ));
                }
            }
        }
        broken
    }

    /// Every pair of files that use an item of each other, with each use.
    fn cycles(&self) -> Vec<String> {
        let uses = self.uses();
        let mut edges: BTreeMap<(&str, &str), Vec<&Use>> = BTreeMap::new();
        for use_ in &uses {
            edges
                .entry((use_.file.rel.as_str(), use_.target.as_str()))
                .or_default()
                .push(use_);
        }
        let mut cycles = Vec::new();
        for group in strongly_connected(edges.keys().copied()) {
            let mut found = group
                .iter()
                .map(|f| format!("src/{f}"))
                .collect::<Vec<_>>()
                .join(" ↔ ");
            found.push(':');
            for (&(a, b), a_uses_b) in &edges {
                if group.contains(&a) && group.contains(&b) {
                    for use_ in a_uses_b {
                        found.push_str(&format!(
                            "\n    src/{}:{} uses `{}` (src/{b})",
                            use_.file.rel, use_.line, use_.written
                        ));
                    }
                }
            }
            cycles.push(found);
        }
        cycles
    }

    /// Every use of an item of another file by the crate's own code, with the file that defines
    /// it. Test code is left out (modules named `tests`, inline or in a file: the crate's name for
    /// its `#[cfg(test)]` modules): a unit test may drive any layer, e.g. the whole loader.
    fn uses(&self) -> Vec<Use<'_>> {
        let mut found = Vec::new();
        for file in self.files.values() {
            let written = file.scan.uses.iter().map(|leaf| &leaf.path);
            for path in written.chain(&file.scan.paths) {
                if !matches!(path.segments[0].as_str(), "crate" | "super" | "self")
                    || path.scope.iter().any(|module| module == "tests")
                {
                    continue;
                }
                let Some(named) = self.absolute(&path.scope, &path.segments, 0) else {
                    continue;
                };
                let target = self.defining_file(&named, 0);
                if target != file.rel {
                    found.push(Use {
                        file,
                        line: path.line,
                        written: path.segments.join("::").replace("::self", ""),
                        named,
                        target,
                    });
                }
            }
        }
        found
    }

    fn is_module(&self, path: &[String]) -> bool {
        self.modules.contains_key(&path.join("::"))
    }

    /// `segments` as written in module `scope`, made absolute (without `crate`); `None` for a
    /// path into another crate.
    fn absolute(&self, scope: &[String], segments: &[String], depth: usize) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        let mut base = scope.to_vec();
        let rest = match first.as_str() {
            "crate" => {
                base.clear();
                rest
            }
            "self" => rest,
            "super" => {
                base.pop();
                let supers = rest.iter().take_while(|s| *s == "super").count();
                for _ in 0..supers {
                    base.pop();
                }
                &rest[supers..]
            }
            _ if self.is_module(&[scope, &segments[..1]].concat()) => segments,
            _ => {
                let imported = self.imports.get(&scope.join("::"))?.get(first)?;
                if depth > 8 {
                    return None;
                }
                base = self.absolute(scope, imported, depth + 1)?;
                rest
            }
        };
        base.extend(rest.iter().filter(|s| *s != "self").cloned());
        Some(base)
    }

    /// The file that defines what the absolute path `named` names, following imports.
    fn defining_file(&self, named: &[String], depth: usize) -> String {
        let mut module = 0;
        while module < named.len() && self.is_module(&named[..=module]) {
            module += 1;
        }
        let (scope, item) = (&named[..module], named.get(module));
        let reexported = item.and_then(|item| self.imports.get(&scope.join("::"))?.get(item));
        if let Some(imported) = reexported
            && depth < 8
            && let Some(source) = self.absolute(scope, imported, depth + 1)
        {
            return self.defining_file(&source, depth + 1);
        }
        self.modules[&scope.join("::")].clone()
    }
}

/// The groups of two or more files that reach each other through their imports (Tarjan's
/// strongly connected components), each sorted: every import cycle, however long, is in one.
fn strongly_connected<'a>(edges: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<Vec<&'a str>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
        next.entry(b).or_default();
    }
    struct Walk<'a> {
        next: BTreeMap<&'a str, Vec<&'a str>>,
        index: HashMap<&'a str, usize>,
        low: HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: std::collections::HashSet<&'a str>,
        groups: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(walk: &mut Walk<'a>, file: &'a str) {
        let order = walk.index.len();
        walk.index.insert(file, order);
        walk.low.insert(file, order);
        walk.stack.push(file);
        walk.on_stack.insert(file);
        for target in walk.next[file].clone() {
            if !walk.index.contains_key(target) {
                visit(walk, target);
                let low = walk.low[file].min(walk.low[target]);
                walk.low.insert(file, low);
            } else if walk.on_stack.contains(target) {
                let low = walk.low[file].min(walk.index[target]);
                walk.low.insert(file, low);
            }
        }
        if walk.low[file] == walk.index[file] {
            let mut group = Vec::new();
            while let Some(member) = walk.stack.pop() {
                walk.on_stack.remove(member);
                group.push(member);
                if member == file {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort_unstable();
                walk.groups.push(group);
            }
        }
    }
    let files: Vec<&str> = next.keys().copied().collect();
    let mut walk = Walk {
        next,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: std::collections::HashSet::new(),
        groups: Vec::new(),
    };
    for file in files {
        if !walk.index.contains_key(file) {
            visit(&mut walk, file);
        }
    }
    walk.groups
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            found.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
    found
}

/// `logs/writer.rs` → `[logs, writer]`; `logs/mod.rs` → `[logs]`; `lib.rs` → `[]`.
fn module_of(rel: &str) -> Vec<String> {
    let mut module: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
        module.pop();
    }
    module
}

/// A path as written, with the module it is written in and its line.
#[derive(Debug)]
struct WrittenPath {
    scope: Vec<String>,
    segments: Vec<String>,
    line: usize,
}

/// One leaf of a `use` tree.
#[derive(Debug)]
struct UseLeaf {
    path: WrittenPath,
    alias: Option<String>,
    glob: bool,
}

impl UseLeaf {
    /// The name this leaf brings into scope, if one.
    fn binds(&self) -> Option<String> {
        if self.glob {
            return None;
        }
        if let Some(alias) = &self.alias {
            return (alias != "_").then(|| alias.clone());
        }
        let segments = &self.path.segments;
        match segments.last()?.as_str() {
            "self" => segments.iter().rev().nth(1).cloned(),
            name => Some(name.to_owned()),
        }
    }
}

/// What one file writes: its `use` leaves, the other paths in its code, its inline modules.
#[derive(Default)]
struct Scan {
    uses: Vec<UseLeaf>,
    paths: Vec<WrittenPath>,
    inline_modules: Vec<Vec<String>>,
}

impl Scan {
    fn of(tokens: &[Token], module: &[String]) -> Scan {
        let mut scan = Scan::default();
        // The inline modules open at this point, with the brace depth inside each.
        let mut open: Vec<(Vec<String>, usize)> = vec![(module.to_vec(), 0)];
        let mut depth = 0;
        let mut at = 0;
        while at < tokens.len() {
            let scope = open
                .last()
                .expect("the file's own module stays open")
                .0
                .clone();
            match &tokens[at].kind {
                Kind::Punct('{') => depth += 1,
                Kind::Punct('}') => {
                    depth -= 1;
                    if open.len() > 1 && open.last().is_some_and(|(_, inside)| *inside > depth) {
                        open.pop();
                    }
                }
                Kind::Ident(word) if word == "mod" => {
                    if let (Some(Kind::Ident(name)), Some(Kind::Punct('{'))) =
                        (kind(tokens, at + 1), kind(tokens, at + 2))
                    {
                        let mut inline = scope.clone();
                        inline.push(name.clone());
                        scan.inline_modules.push(inline.clone());
                        open.push((inline, depth + 1));
                    }
                }
                Kind::Ident(word)
                    if word == "use" && kind(tokens, at + 1) != Some(&Kind::Punct('<')) =>
                {
                    at += 1;
                    use_tree(tokens, &mut at, &scope, Vec::new(), &mut scan.uses);
                    continue;
                }
                Kind::Ident(word)
                    if matches!(word.as_str(), "crate" | "super" | "self")
                        && kind(tokens, at + 1) == Some(&Kind::PathSep)
                        && !matches!(
                            at.checked_sub(1).map(|before| &tokens[before].kind),
                            Some(Kind::PathSep | Kind::Punct('$'))
                        ) =>
                {
                    let line = tokens[at].line;
                    let mut segments = vec![word.clone()];
                    at += 1;
                    while let (Some(Kind::PathSep), Some(Kind::Ident(segment))) =
                        (kind(tokens, at), kind(tokens, at + 1))
                    {
                        segments.push(segment.clone());
                        at += 2;
                    }
                    scan.paths.push(WrittenPath {
                        scope,
                        segments,
                        line,
                    });
                    continue;
                }
                _ => {}
            }
            at += 1;
        }
        scan
    }
}

fn kind(tokens: &[Token], at: usize) -> Option<&Kind> {
    tokens.get(at).map(|token| &token.kind)
}

/// Reads the `use` tree at `at` (after `use`) up to and including its `;`.
fn use_tree(
    tokens: &[Token],
    at: &mut usize,
    scope: &[String],
    prefix: Vec<String>,
    out: &mut Vec<UseLeaf>,
) {
    let mut path = prefix;
    while let Some(token) = tokens.get(*at) {
        *at += 1;
        match &token.kind {
            Kind::PathSep => {}
            Kind::Punct('*') => {
                let written = WrittenPath {
                    scope: scope.to_vec(),
                    segments: path,
                    line: token.line,
                };
                out.push(UseLeaf {
                    path: written,
                    alias: None,
                    glob: true,
                });
                return;
            }
            Kind::Punct('{') => {
                while tokens.get(*at).is_some_and(|t| t.kind != Kind::Punct('}')) {
                    use_tree(tokens, at, scope, path.clone(), out);
                    if tokens.get(*at).is_some_and(|t| t.kind == Kind::Punct(',')) {
                        *at += 1;
                    }
                }
                *at += 1;
                if tokens.get(*at).is_some_and(|t| t.kind == Kind::Punct(';')) {
                    *at += 1;
                }
                return;
            }
            Kind::Ident(segment) => {
                path.push(segment.clone());
                if tokens.get(*at).is_some_and(|t| t.kind == Kind::PathSep) {
                    continue;
                }
                let mut alias = None;
                if tokens
                    .get(*at)
                    .is_some_and(|t| t.kind == Kind::Ident("as".into()))
                {
                    if let Some(Kind::Ident(name)) = tokens.get(*at + 1).map(|t| &t.kind) {
                        alias = Some(name.clone());
                    }
                    *at += 2;
                }
                if tokens.get(*at).is_some_and(|t| t.kind == Kind::Punct(';')) {
                    *at += 1;
                }
                let written = WrittenPath {
                    scope: scope.to_vec(),
                    segments: path,
                    line: token.line,
                };
                out.push(UseLeaf {
                    path: written,
                    alias,
                    glob: false,
                });
                return;
            }
            _ => return,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
    /// Numbers, lifetimes, literals.
    Other,
}

#[derive(Debug)]
struct Token {
    kind: Kind,
    line: usize,
}

/// The tokens of a Rust file that paths are made of; comments and literals are skipped.
fn lex(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    // Moves `i` past `end`, counting lines.
    let skip_to = |i: &mut usize, line: &mut usize, end: &dyn Fn(usize) -> Option<usize>| {
        while *i < chars.len() {
            if let Some(len) = end(*i) {
                *i += len;
                return;
            }
            if chars[*i] == '\n' {
                *line += 1;
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let start_line = line;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            skip_to(&mut i, &mut line, &|j| (chars[j] == '\n').then_some(0));
        } else if c == '/' && at(i + 1) == '*' {
            let mut nesting = 0usize;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    nesting += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    nesting -= 1;
                    i += 2;
                    if nesting == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                line += usize::from(chars[i] == '\n');
                i += if chars[i] == '\\' && at(i + 1) != '\n' {
                    2
                } else {
                    1
                };
            }
            i += 1;
            tokens.push(Token {
                kind: Kind::Other,
                line: start_line,
            });
        } else if c == '\'' {
            i += if at(i + 1) == '\\' {
                3 + chars[i + 3..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map_or(0, |p| p + 1)
            } else if at(i + 2) == '\'' {
                3
            } else {
                1 + chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || **c == '_')
                    .count()
            };
            tokens.push(Token {
                kind: Kind::Other,
                line: start_line,
            });
        } else if c.is_alphabetic() || c == '_' {
            let len = chars[i..]
                .iter()
                .take_while(|c| c.is_alphanumeric() || **c == '_')
                .count();
            let word: String = chars[i..i + len].iter().collect();
            i += len;
            let raw = matches!(word.as_str(), "r" | "br" | "cr");
            if raw
                && matches!(at(i), '"' | '#')
                && (at(i) == '"' || at(i + 1) == '"' || at(i + 1) == '#')
            {
                let hashes = chars[i..].iter().take_while(|c| **c == '#').count();
                i += hashes + 1;
                skip_to(&mut i, &mut line, &|j| {
                    let closes = chars[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#');
                    closes.then_some(hashes + 1)
                });
                tokens.push(Token {
                    kind: Kind::Other,
                    line: start_line,
                });
            } else if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                // The next round reads the string itself.
            } else if word == "b" && at(i) == '\'' {
                // A byte literal: the next round reads it as a character.
            } else {
                tokens.push(Token {
                    kind: Kind::Ident(word),
                    line: start_line,
                });
            }
        } else if c.is_ascii_digit() {
            i += chars[i..]
                .iter()
                .take_while(|c| c.is_alphanumeric() || **c == '_')
                .count();
            tokens.push(Token {
                kind: Kind::Other,
                line: start_line,
            });
        } else if c == ':' && at(i + 1) == ':' {
            i += 2;
            tokens.push(Token {
                kind: Kind::PathSep,
                line: start_line,
            });
        } else {
            i += 1;
            tokens.push(Token {
                kind: Kind::Punct(c),
                line: start_line,
            });
        }
    }
    tokens
}
