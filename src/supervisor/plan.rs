//! What a changed svc.toml means for a running daemon: programs to add, remove, change and
//! rescale, computed from the config it runs and the new one. Pure, so it is table-tested; the
//! daemon applies it (see `Supervisor::apply`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::config::{Config, Program};

/// Program keys whose change takes effect without replacing the running processes: the daemon
/// reads them when it next needs them (a restart, a stop, a readiness check, a scale).
const LIVE_KEYS: &[&str] = &[
    "autostart",
    "restart",
    "stop_signal",
    "stop_timeout",
    "ready",
    "logs",
    "instances",
    "watch",
    "max_memory",
    "cron_restart",
    "depends_on",
];

/// The difference between two configs.
#[derive(Debug, Default)]
pub struct Plan {
    /// New programs, in config order.
    pub added: Vec<Arc<Program>>,
    /// Programs no longer in the file.
    pub removed: Vec<String>,
    pub changed: Vec<Change>,
    /// `[logs]` keys that differ; the log files take them at their next rotation.
    pub logs: Vec<String>,
    /// `[daemon]` keys that differ but cannot change while the daemon runs.
    pub refused: Vec<&'static str>,
}

/// One program that is in both configs and differs (or runs another number of instances).
#[derive(Debug)]
pub struct Change {
    /// The new config.
    pub program: Arc<Program>,
    /// Dotted keys that differ, such as `env.PORT` (never values: they may be secrets).
    pub keys: Vec<String>,
    /// Instances running now → in the file, when they differ.
    pub instances: Option<(u32, u32)>,
    /// Whether the running processes must be replaced (command, env, cwd, listen, user...).
    pub replace: bool,
}

impl Plan {
    /// The plan from `old` (with `running[name]` instances each, which `svc scale` may have
    /// changed) to `new`.
    pub fn between(old: &Config, running: &BTreeMap<String, u32>, new: &Config) -> Plan {
        let mut plan = Plan {
            refused: refused(old, new),
            logs: changed_keys(&old.logs, &new.logs),
            ..Plan::default()
        };
        for program in &new.programs {
            let Some(before) = old.program(&program.name) else {
                plan.added.push(Arc::new(program.clone()));
                continue;
            };
            // A program that follows `[logs]` in both files changes with it: said once, below.
            let follows_logs = before.logs == old.logs && program.logs == new.logs;
            let keys: Vec<String> = changed_keys(before, program)
                .into_iter()
                .filter(|k| k != "instances")
                .filter(|k| !(follows_logs && top_level(k) == "logs"))
                .collect();
            let now = running
                .get(&program.name)
                .copied()
                .unwrap_or(before.instances);
            let instances = (now != program.instances).then_some((now, program.instances));
            if keys.is_empty() && instances.is_none() {
                continue;
            }
            let replace = keys.iter().any(|k| !LIVE_KEYS.contains(&top_level(k)));
            plan.changed.push(Change {
                program: Arc::new(program.clone()),
                keys,
                instances,
                replace,
            });
        }
        plan.removed = old
            .programs
            .iter()
            .filter(|p| new.program(&p.name).is_none())
            .map(|p| p.name.clone())
            .collect();
        plan
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.logs.is_empty()
    }

    /// One line per change: `+ name`, `- name`, `~ name: env.PORT, instances 2→3`.
    pub fn lines(&self) -> Vec<String> {
        let added = self.added.iter().map(|p| format!("+ {}", p.name));
        let removed = self.removed.iter().map(|name| format!("- {name}"));
        let changed = self.changed.iter().map(Change::line);
        let logs = (!self.logs.is_empty()).then(|| {
            format!(
                "~ [logs]: {} (from the next rotation)",
                self.logs.join(", ")
            )
        });
        added.chain(removed).chain(changed).chain(logs).collect()
    }
}

impl Change {
    fn line(&self) -> String {
        let mut parts = self.keys.clone();
        if let Some((from, to)) = self.instances {
            parts.push(format!("instances {from}→{to}"));
        }
        let note = if self.replace || self.keys.is_empty() {
            ""
        } else {
            " (no restart needed)"
        };
        format!("~ {}: {}{note}", self.program.name, parts.join(", "))
    }
}

/// The changed `[daemon]` settings, which only a new daemon can take.
fn refused(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut refused = Vec::new();
    let mut check = |differs: bool, key: &'static str| {
        if differs {
            refused.push(key);
        }
    };
    check(old.state_dir != new.state_dir, "state_dir");
    check(old.log_dir != new.log_dir, "log_dir");
    check(old.log_group != new.log_group, "log_group");
    check(old.metrics != new.metrics, "metrics");
    refused
}

/// Dotted paths of the keys whose resolved values differ.
fn changed_keys<T: serde::Serialize>(old: &T, new: &T) -> Vec<String> {
    let (Ok(old), Ok(new)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        // Serializing plain data cannot fail; should it, call everything changed.
        return vec!["command".into()];
    };
    let mut keys = Vec::new();
    diff("", &old, &new, &mut keys);
    keys
}

fn diff(path: &str, old: &Value, new: &Value, keys: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                match (a.get(name), b.get(name)) {
                    (Some(x), Some(y)) => diff(&child, x, y, keys),
                    _ => keys.push(child),
                }
            }
        }
        (a, b) if a != b => keys.push(path.to_owned()),
        _ => {}
    }
}

fn top_level(key: &str) -> &str {
    key.split('.').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(dir: &Path, text: &str) -> Config {
        let file = dir.join("svc.toml");
        std::fs::write(&file, text).unwrap();
        Config::load(&file).unwrap()
    }

    /// The plan from the config text `old` (running `running` instances) to `new`.
    fn plan_of(old: &str, new: &str, running: &BTreeMap<String, u32>) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let old = config(dir.path(), old);
        let new = config(dir.path(), new);
        Plan::between(&old, running, &new)
    }

    fn plan(old: &str, new: &str) -> Vec<String> {
        plan_of(old, new, &BTreeMap::new()).lines()
    }

    const BASE: &str = r#"
[programs.a]
command = ["sleep", "60"]
instances = 2
env = { PORT = "1" }

[programs.b]
command = ["sleep", "60"]
"#;

    #[test]
    fn the_same_file_changes_nothing() {
        assert!(plan(BASE, BASE).is_empty());
    }

    #[test]
    fn added_removed_and_changed_programs_are_each_one_line() {
        let new = r#"
[programs.a]
command = ["sleep", "60"]
instances = 3
env = { PORT = "2" }

[programs.c]
command = ["sleep", "60"]
"#;
        assert_eq!(
            plan(BASE, new),
            ["+ c", "- b", "~ a: env.PORT, instances 2→3"]
        );
    }

    #[test]
    fn a_change_of_policy_alone_needs_no_restart() {
        let new = BASE.replace("instances = 2", "instances = 2\nstop_timeout = \"9s\"");
        assert_eq!(plan(BASE, &new), ["~ a: stop_timeout (no restart needed)"]);
    }

    #[test]
    fn a_logs_change_is_named_and_taken_at_the_next_rotation() {
        let new = format!("[logs]\nmax_size = \"1MiB\"\nkeep = 3\n{BASE}");
        assert_eq!(
            plan(BASE, &new),
            ["~ [logs]: keep, max_size (from the next rotation)"]
        );
    }

    #[test]
    fn a_scaled_program_returns_to_the_file_number() {
        let running = BTreeMap::from([("a".to_owned(), 5)]);
        assert_eq!(
            plan_of(BASE, BASE, &running).lines(),
            ["~ a: instances 5→2"]
        );
    }

    #[test]
    fn daemon_settings_are_refused_by_name() {
        let new = format!("[daemon]\nstate_dir = \"elsewhere\"\n{BASE}");
        let plan = plan_of(BASE, &new, &BTreeMap::new());
        assert_eq!(plan.refused, ["state_dir"]);
    }
}
