//! The keys that restart a running program on their own: `watch` (with `watch_ignore` and
//! `watch_delay`), `max_memory` (with `memory_check`) and `cron_restart`. Each is checked at load,
//! so a typo is a config error and not a trigger that never fires.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Serialize, Serializer};
use toml::Spanned;

use super::cron::CronSchedule;
use super::human;
use super::problems::Problems;
use super::values::{ByteSize, HumanDuration};

/// Restart after files change this long after the last change, unless `watch_delay` says.
const DEFAULT_WATCH_DELAY: Duration = Duration::from_millis(500);

/// How often the group's memory is sampled, unless `memory_check` says.
const DEFAULT_MEMORY_CHECK: Duration = Duration::from_secs(5);

/// `watch`: the resolved paths to watch, what to ignore under them, and the quiet time that
/// ends a burst of changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Watch {
    /// Absolute; relative ones were resolved against the program's `cwd`.
    pub paths: Vec<PathBuf>,
    /// `watch_ignore`, matched against a changed path relative to the program's `cwd`.
    pub ignore: Globs,
    /// A burst ends once no change has come for this long; then the program restarts once.
    #[serde(serialize_with = "human")]
    pub delay: Duration,
}

/// `max_memory`: the most resident memory an instance's process group may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryLimit {
    pub bytes: u64,
    /// How often the group's memory is sampled (`memory_check`).
    #[serde(serialize_with = "human")]
    pub check: Duration,
}

/// Glob patterns compiled once; serializes as the patterns as written.
#[derive(Debug, Clone, Default)]
pub struct Globs {
    patterns: Vec<String>,
    set: GlobSet,
}

/// Why `watch_ignore` cannot be compiled: a pattern that is not a glob (found by its index in
/// the list), or the set of them.
#[derive(Debug, thiserror::Error)]
pub enum GlobError {
    #[error("an empty glob matches nothing; remove it")]
    Empty { index: usize },
    #[error("{pattern:?} is not a glob: {}", .source.kind())]
    Invalid {
        index: usize,
        pattern: String,
        #[source]
        source: globset::Error,
    },
    /// The patterns are globs, but the set of them cannot be built.
    #[error("the globs cannot be compiled: {source}")]
    Set {
        #[source]
        source: globset::Error,
    },
}

impl GlobError {
    /// The pattern's index in the list (the first for the set as a whole).
    pub fn index(&self) -> usize {
        match self {
            GlobError::Empty { index } | GlobError::Invalid { index, .. } => *index,
            GlobError::Set { .. } => 0,
        }
    }
}

impl Globs {
    /// Compiles `patterns`. `*` also matches across `/`, so `*.tmp` ignores such a file in any
    /// folder, and `cache/**` everything under `cache` and the folder itself.
    ///
    /// # Errors
    /// A [`GlobError`] for every pattern that is not a glob.
    pub fn new(patterns: Vec<String>) -> Result<Globs, Vec<GlobError>> {
        let mut builder = GlobSetBuilder::new();
        let mut errors = Vec::new();
        for (index, pattern) in patterns.iter().enumerate() {
            if pattern.is_empty() {
                errors.push(GlobError::Empty { index });
                continue;
            }
            match GlobBuilder::new(pattern).build() {
                Ok(glob) => {
                    builder.add(glob);
                    // Making or removing the folder itself is no change either.
                    if let Some(folder) = pattern.strip_suffix("/**")
                        && let Ok(glob) = GlobBuilder::new(folder).build()
                    {
                        builder.add(glob);
                    }
                }
                Err(source) => errors.push(GlobError::Invalid {
                    index,
                    pattern: pattern.clone(),
                    source,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let set = builder
            .build()
            .map_err(|source| vec![GlobError::Set { source }])?;
        Ok(Globs { patterns, set })
    }

    /// The patterns as written.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether `path` (relative to the program's `cwd`) matches one of the patterns.
    pub fn is_match(&self, path: &Path) -> bool {
        self.set.is_match(path)
    }
}

impl PartialEq for Globs {
    fn eq(&self, other: &Globs) -> bool {
        self.patterns == other.patterns
    }
}

impl Eq for Globs {}

impl Serialize for Globs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.patterns.serialize(s)
    }
}

/// The trigger keys of one `[programs.NAME]` table, as written.
pub(super) struct RawTriggers {
    pub watch: Option<Spanned<Vec<PathBuf>>>,
    pub watch_ignore: Option<Spanned<Vec<Spanned<String>>>>,
    pub watch_delay: Option<Spanned<HumanDuration>>,
    pub max_memory: Option<Spanned<ByteSize>>,
    pub memory_check: Option<Spanned<HumanDuration>>,
    pub cron_restart: Option<Spanned<String>>,
}

/// The trigger keys resolved; `None` where a key is absent or wrong (then `problems` says why).
pub(super) struct Triggers {
    pub watch: Option<Watch>,
    pub max_memory: Option<MemoryLimit>,
    pub cron_restart: Option<CronSchedule>,
}

/// Resolves the trigger keys of program `name`, whose `cwd` is `cwd`.
pub(super) fn resolve(
    problems: &mut Problems<'_>,
    name: &str,
    cwd: &Path,
    raw: RawTriggers,
) -> Triggers {
    let key = |field: &str| format!("programs.{name}.{field}");
    let cron_restart = raw.cron_restart.and_then(|text| {
        let message = match CronSchedule::parse(text.get_ref()) {
            Ok(schedule) if schedule.next_after(SystemTime::now()).is_some() => {
                return Some(schedule);
            }
            Ok(_) => format!("{:?} never runs: no date matches it", text.get_ref()),
            Err(error) => error.to_string(),
        };
        problems.add(text.span(), key("cron_restart"), message);
        None
    });
    Triggers {
        watch: resolve_watch(
            problems,
            &key,
            cwd,
            raw.watch,
            raw.watch_ignore,
            raw.watch_delay,
        ),
        max_memory: resolve_memory(problems, &key, raw.max_memory, raw.memory_check),
        cron_restart,
    }
}

fn resolve_watch(
    problems: &mut Problems<'_>,
    key: &dyn Fn(&str) -> String,
    cwd: &Path,
    paths: Option<Spanned<Vec<PathBuf>>>,
    ignore: Option<Spanned<Vec<Spanned<String>>>>,
    delay: Option<Spanned<HumanDuration>>,
) -> Option<Watch> {
    let Some(paths) = paths else {
        for (span, field) in [
            (ignore.map(|i| i.span()), "watch_ignore"),
            (delay.map(|d| d.span()), "watch_delay"),
        ] {
            if let Some(span) = span {
                let message = format!("`{field}` needs `watch`: name the paths to watch");
                problems.add(span, key(field), message);
            }
        }
        return None;
    };
    let mut valid = true;
    if paths.get_ref().is_empty() {
        let message = "name at least one path to watch, e.g. [\"src\"]";
        problems.add(paths.span(), key("watch"), message);
        valid = false;
    }
    let delay = delay.map_or(DEFAULT_WATCH_DELAY, |d| {
        positive(problems, key("watch_delay"), d).unwrap_or_else(|| {
            valid = false;
            DEFAULT_WATCH_DELAY
        })
    });
    let ignore = ignore.map_or(Vec::new(), |i| i.into_inner());
    let spans: Vec<_> = ignore.iter().map(Spanned::span).collect();
    let ignore = Globs::new(ignore.into_iter().map(Spanned::into_inner).collect())
        .map_err(|errors| {
            for error in errors {
                let span = spans.get(error.index()).cloned().unwrap_or(0..0);
                problems.add(span, key("watch_ignore"), error.to_string());
            }
        })
        .ok()?;
    let paths = paths
        .into_inner()
        .into_iter()
        .map(|path| {
            let joined = cwd.join(path);
            // `absolute` drops `.` components, so `cwd = "."` reads cleanly in `config check`.
            std::path::absolute(&joined).unwrap_or(joined)
        })
        .collect();
    valid.then_some(Watch {
        paths,
        ignore,
        delay,
    })
}

fn resolve_memory(
    problems: &mut Problems<'_>,
    key: &dyn Fn(&str) -> String,
    max_memory: Option<Spanned<ByteSize>>,
    check: Option<Spanned<HumanDuration>>,
) -> Option<MemoryLimit> {
    let Some(max_memory) = max_memory else {
        if let Some(check) = check {
            let message =
                "`memory_check` needs `max_memory`: name the size that restarts the program";
            problems.add(check.span(), key("memory_check"), message);
        }
        return None;
    };
    let check = match check {
        None => Some(DEFAULT_MEMORY_CHECK),
        Some(check) => positive(problems, key("memory_check"), check),
    };
    let bytes = max_memory.get_ref().0;
    if bytes == 0 {
        let message = "must be more than 0, e.g. \"300MiB\"";
        problems.add(max_memory.span(), key("max_memory"), message);
        return None;
    }
    Some(MemoryLimit {
        bytes,
        check: check?,
    })
}

/// A duration that must not be zero (a zero period would spin, a zero delay would split one
/// editor save into several restarts).
fn positive(
    problems: &mut Problems<'_>,
    key: String,
    duration: Spanned<HumanDuration>,
) -> Option<Duration> {
    let value = duration.get_ref().0;
    if value.is_zero() {
        problems.add(duration.span(), key, "must be more than 0, e.g. \"500ms\"");
        return None;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;
    use crate::config::resolve::tests::{load, problems};

    fn program(text: &str) -> super::super::Program {
        let config: Config = load(&format!(
            "[programs.web]\ncommand = [\"x\"]\ncwd = \"app\"\n{text}"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        config.program("web").unwrap().clone()
    }

    fn problems_of(text: &str) -> Vec<String> {
        problems(&format!("[programs.web]\ncommand = [\"x\"]\n{text}"))
    }

    #[test]
    fn no_trigger_by_default() {
        let web = program("");
        assert_eq!((web.watch, web.max_memory), (None, None));
        assert!(web.cron_restart.is_none());
    }

    #[test]
    fn watch_paths_resolve_against_cwd_with_defaults() {
        let web = program("watch = [\"src\", \"./config\", \"/etc/web\"]\n");
        let watch = web.watch.unwrap();
        assert_eq!(
            watch.paths,
            [
                PathBuf::from("/x/app/src"),
                PathBuf::from("/x/app/config"),
                PathBuf::from("/etc/web")
            ]
        );
        assert_eq!(watch.delay, Duration::from_millis(500));
        assert!(watch.ignore.patterns().is_empty());
    }

    #[test]
    fn watch_ignore_globs_match_relative_paths() {
        let web = program(
            "watch = [\"src\"]\nwatch_ignore = [\"*.tmp\", \"cache/**\"]\nwatch_delay = \"2s\"\n",
        );
        let watch = web.watch.unwrap();
        assert_eq!(watch.delay, Duration::from_secs(2));
        assert_eq!(watch.ignore.patterns(), ["*.tmp", "cache/**"]);
        for ignored in [
            "a.tmp",
            "src/deep/b.tmp",
            "cache",
            "cache/x",
            "cache/x/y.rs",
        ] {
            assert!(watch.ignore.is_match(Path::new(ignored)), "{ignored}");
        }
        for kept in ["src/main.rs", "tmp", "src/cache.rs", "a.tmp.rs", "cachet"] {
            assert!(!watch.ignore.is_match(Path::new(kept)), "{kept}");
        }
    }

    #[test]
    fn watch_problems_name_their_key_and_line() {
        let found = problems_of(
            "watch = []\nwatch_ignore = [\"ok/**\", \"[a-\", \"\"]\nwatch_delay = \"0s\"\n",
        );
        assert_eq!(
            found,
            [
                "/x/svc.toml:3:9: programs.web.watch: name at least one path to watch, e.g. [\"src\"]",
                "/x/svc.toml:5:15: programs.web.watch_delay: must be more than 0, e.g. \"500ms\"",
                "/x/svc.toml:4:26: programs.web.watch_ignore: \"[a-\" is not a glob: unclosed character class; missing ']'",
                "/x/svc.toml:4:33: programs.web.watch_ignore: an empty glob matches nothing; remove it",
            ]
        );
    }

    #[test]
    fn watch_ignore_and_watch_delay_need_watch() {
        let found = problems_of("watch_ignore = [\"*.tmp\"]\nwatch_delay = \"1s\"\n");
        assert_eq!(
            found,
            [
                "/x/svc.toml:3:16: programs.web.watch_ignore: `watch_ignore` needs `watch`: name the paths to watch",
                "/x/svc.toml:4:15: programs.web.watch_delay: `watch_delay` needs `watch`: name the paths to watch",
            ]
        );
    }

    #[test]
    fn max_memory_parses_sizes_like_logs_with_a_default_check() {
        let web = program("max_memory = \"300MiB\"\n");
        assert_eq!(
            web.max_memory,
            Some(MemoryLimit {
                bytes: 300 << 20,
                check: Duration::from_secs(5)
            })
        );
        let web = program("max_memory = 1000000\nmemory_check = \"250ms\"\n");
        assert_eq!(
            web.max_memory,
            Some(MemoryLimit {
                bytes: 1_000_000,
                check: Duration::from_millis(250)
            })
        );
    }

    #[test]
    fn memory_problems_name_their_key_and_line() {
        assert_eq!(
            problems_of("memory_check = \"5s\"\n"),
            [
                "/x/svc.toml:3:16: programs.web.memory_check: `memory_check` needs `max_memory`: name the size that restarts the program"
            ]
        );
        assert_eq!(
            problems_of("max_memory = \"0MiB\"\nmemory_check = \"0s\"\n"),
            [
                "/x/svc.toml:4:16: programs.web.memory_check: must be more than 0, e.g. \"500ms\"",
                "/x/svc.toml:3:14: programs.web.max_memory: must be more than 0, e.g. \"300MiB\"",
            ]
        );
        let found = problems_of("max_memory = \"300 furlongs\"\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "/x/svc.toml:3:14: programs.web.max_memory: invalid size \"300 furlongs\""
            ),
            "{}",
            found[0]
        );
    }

    #[test]
    fn cron_restart_parses_five_or_six_fields() {
        let web = program("cron_restart = \"0 3 * * *\"\n");
        assert_eq!(web.cron_restart.unwrap().expression(), "0 3 * * *");
        let web = program("cron_restart = \"*/2 * * * * *\"\n");
        assert_eq!(web.cron_restart.unwrap().expression(), "*/2 * * * * *");
        let found = problems_of("cron_restart = \"0 3 * *\"\n");
        assert_eq!(
            found,
            [
                "/x/svc.toml:3:16: programs.web.cron_restart: \"0 3 * *\" has 4 fields; write 5 fields (minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\") or 6 with seconds first (e.g. \"*/30 * * * * *\")"
            ]
        );
        assert_eq!(
            problems_of("cron_restart = \"0 0 30 2 *\"\n"),
            [
                "/x/svc.toml:3:16: programs.web.cron_restart: \"0 0 30 2 *\" never runs: no date matches it"
            ]
        );
        let found = problems_of("cron_restart = \"0 25 * * *\"\n");
        assert!(
            found[0].starts_with("/x/svc.toml:3:16: programs.web.cron_restart: \"0 25 * * *\" is not a cron expression ("),
            "{found:?}"
        );
    }

    #[test]
    fn the_triggers_show_in_the_resolved_file() {
        let web = program(
            "watch = [\"src\"]\nwatch_ignore = [\"*.tmp\"]\nmax_memory = \"1KiB\"\ncron_restart = \"0 3 * * *\"\n",
        );
        let json = serde_json::to_value(&web).unwrap();
        assert_eq!(
            json["watch"],
            serde_json::json!({"paths": ["/x/app/src"], "ignore": ["*.tmp"], "delay": "500ms"})
        );
        assert_eq!(
            json["max_memory"],
            serde_json::json!({"bytes": 1024, "check": "5s"})
        );
        assert_eq!(json["cron_restart"], "0 3 * * *");
        let toml = toml::to_string(&web).unwrap();
        assert!(toml.contains("cron_restart = \"0 3 * * *\""), "{toml}");
    }
}
