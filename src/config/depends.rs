//! `depends_on`: which programs start before which. Checked at load (every name exists, no
//! cycle), so the daemon can order starts without meeting either; the order itself is
//! [`dependency_order`].

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::{Deserialize, Deserializer, Serialize};

use super::Program;
use super::problems::Problems;

/// How far a dependency must have got before its dependants start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    /// Its instances have been forked.
    Started,
    /// Its instances are online (their readiness check passed): the default.
    Ready,
}

impl Condition {
    /// The name svc.toml uses for it: `started` or `ready`.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "started",
            Condition::Ready => "ready",
        }
    }
}

/// `depends_on = ["db"]` (each `ready`) or `depends_on = { db = "ready", cache = "started" }`.
pub(super) struct RawDependsOn {
    pub names: BTreeMap<String, Condition>,
    /// Names a list gives more than once.
    pub repeated: Vec<String>,
}

impl<'de> Deserialize<'de> for RawDependsOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawDependsOn;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    r#"a list of program names like ["db"], or a table like { db = "ready", cache = "started" }"#,
                )
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawDependsOn, A::Error> {
                let mut raw = RawDependsOn {
                    names: BTreeMap::new(),
                    repeated: Vec::new(),
                };
                while let Some(name) = seq.next_element::<String>()? {
                    if raw.names.insert(name.clone(), Condition::Ready).is_some() {
                        raw.repeated.push(name);
                    }
                }
                Ok(raw)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawDependsOn, A::Error> {
                let names =
                    BTreeMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawDependsOn {
                    names,
                    repeated: Vec::new(),
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Reports, at the `depends_on` of the program at fault, each name that is no program of the
/// file and each cycle (once, at its first program by name). `spans` locates each program's
/// `depends_on`.
pub(super) fn check(
    problems: &mut Problems<'_>,
    programs: &[Program],
    spans: &BTreeMap<String, Range<usize>>,
) {
    let known: BTreeSet<&str> = programs.iter().map(|p| p.name.as_str()).collect();
    let span = |name: &str| spans.get(name).cloned().unwrap_or(0..0);
    let key = |name: &str| format!("programs.{name}.depends_on");
    for program in programs {
        for dependency in program.depends_on.keys() {
            if !known.contains(dependency.as_str()) {
                let names = known.iter().copied().collect::<Vec<_>>().join(", ");
                let message = format!("no program {dependency:?} in this file (programs: {names})");
                problems.add(span(&program.name), key(&program.name), message);
            }
        }
    }
    for cycle in cycles(programs) {
        let path = cycle
            .iter()
            .chain(cycle.first())
            .copied()
            .collect::<Vec<_>>()
            .join(" → ");
        let message = format!("a cycle: {path}; a program cannot wait for itself");
        problems.add(span(cycle[0]), key(cycle[0]), message);
    }
}

/// Every cycle of the graph, each once, rotated to start at its first name.
fn cycles(programs: &[Program]) -> BTreeSet<Vec<&str>> {
    #[derive(PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    struct Walk<'a> {
        edges: BTreeMap<&'a str, Vec<&'a str>>,
        marks: BTreeMap<&'a str, Mark>,
        path: Vec<&'a str>,
        found: BTreeSet<Vec<&'a str>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, name: &'a str) {
            match self.marks.get(name) {
                Some(Mark::Done) => return,
                Some(Mark::OnPath) => {
                    let at = self.path.iter().position(|n| *n == name).unwrap_or(0);
                    let mut cycle = self.path[at..].to_vec();
                    let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
                    cycle.rotate_left(first);
                    self.found.insert(cycle);
                    return;
                }
                None => {}
            }
            self.marks.insert(name, Mark::OnPath);
            self.path.push(name);
            let next = self.edges.get(name).cloned().unwrap_or_default();
            for dependency in next {
                self.visit(dependency);
            }
            self.path.pop();
            self.marks.insert(name, Mark::Done);
        }
    }
    let edges: BTreeMap<&str, Vec<&str>> = programs
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.depends_on.keys().map(String::as_str).collect(),
            )
        })
        .collect();
    let mut walk = Walk {
        marks: BTreeMap::new(),
        path: Vec::new(),
        found: BTreeSet::new(),
        edges,
    };
    let names: Vec<&str> = walk.edges.keys().copied().collect();
    for name in names {
        walk.visit(name);
    }
    walk.found
}

/// Every program, each after the programs it depends on (ties in name order).
pub fn dependency_order(programs: &[Program]) -> Vec<String> {
    let names: Vec<String> = programs.iter().map(|p| p.name.clone()).collect();
    dependency_closure(programs, &names)
}

/// `names` and every program they depend on, directly or not, each after its dependencies:
/// what `svc start NAME` must start, in order. Names that are no program are left out.
pub fn dependency_closure(programs: &[Program], names: &[String]) -> Vec<String> {
    fn visit<'a>(
        name: &'a str,
        by_name: &BTreeMap<&str, &'a Program>,
        seen: &mut BTreeSet<&'a str>,
        order: &mut Vec<String>,
    ) {
        let Some(program) = by_name.get(name) else {
            return;
        };
        // Marked before its dependencies: a cycle (which load refuses) cannot loop forever.
        if !seen.insert(name) {
            return;
        }
        for dependency in program.depends_on.keys() {
            visit(dependency, by_name, seen, order);
        }
        order.push(name.to_owned());
    }
    let by_name: BTreeMap<&str, &Program> = programs.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for name in names {
        visit(name, &by_name, &mut seen, &mut order);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::tests::{load, problems};

    /// A file with one program per `(name, depends_on)`.
    fn file(programs: &[(&str, &str)]) -> String {
        programs
            .iter()
            .map(|(name, depends)| {
                let depends = if depends.is_empty() {
                    String::new()
                } else {
                    format!("depends_on = {depends}\n")
                };
                format!("[programs.{name}]\ncommand = [\"x\"]\n{depends}")
            })
            .collect()
    }

    #[test]
    fn a_list_waits_for_ready_and_a_table_names_each_condition() {
        let config = load(&file(&[
            ("api", r#"["db"]"#),
            ("cache", ""),
            ("db", ""),
            ("worker", r#"{ db = "ready", cache = "started" }"#),
        ]))
        .unwrap();
        let depends = |name: &str| config.program(name).unwrap().depends_on.clone();
        assert_eq!(
            depends("api"),
            BTreeMap::from([("db".into(), Condition::Ready)])
        );
        assert_eq!(
            depends("worker"),
            BTreeMap::from([
                ("cache".into(), Condition::Started),
                ("db".into(), Condition::Ready)
            ])
        );
        assert!(depends("db").is_empty(), "no dependency by default");
        let json = serde_json::to_value(config.program("worker").unwrap()).unwrap();
        assert_eq!(
            json["depends_on"],
            serde_json::json!({"cache": "started", "db": "ready"})
        );
    }

    #[test]
    fn an_unknown_program_is_named_at_the_key() {
        let found = problems(&file(&[("api", r#"["db", "dbb"]"#), ("db", "")]));
        assert_eq!(
            found,
            [
                "/x/svc.toml:3:14: programs.api.depends_on: no program \"dbb\" in this file (programs: api, db)"
            ]
        );
    }

    #[test]
    fn cycles_are_named_once_each() {
        let found = problems(&file(&[
            ("a", r#"["b"]"#),
            ("b", r#"{ c = "started" }"#),
            ("c", r#"["a"]"#),
            ("d", r#"["d"]"#),
            ("e", r#"["a"]"#),
        ]));
        assert_eq!(
            found,
            [
                "/x/svc.toml:3:14: programs.a.depends_on: a cycle: a → b → c → a; a program cannot wait for itself",
                "/x/svc.toml:12:14: programs.d.depends_on: a cycle: d → d; a program cannot wait for itself",
            ]
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let found = problems(&file(&[("api", r#"{ db = "online" }"#), ("db", "")]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("/x/svc.toml:3:")
                && found[0].contains("programs.api.depends_on")
                && found[0].contains("unknown variant `online`, expected `started` or `ready`"),
            "{}",
            found[0]
        );
        let found = problems(&file(&[("api", r#""db""#), ("db", "")]));
        assert!(
            found[0].contains("programs.api.depends_on")
                && found[0].contains(r#"a list of program names like ["db"]"#),
            "{}",
            found[0]
        );
        let found = problems(&file(&[("api", r#"["db", "db"]"#), ("db", "")]));
        assert_eq!(
            found,
            ["/x/svc.toml:3:14: programs.api.depends_on: lists \"db\" twice"]
        );
    }

    #[test]
    fn the_order_puts_dependencies_first() {
        let config = load(&file(&[
            ("api", r#"["db", "cache"]"#),
            ("cache", r#"["db"]"#),
            ("db", ""),
            ("lone", ""),
            ("worker", r#"["api"]"#),
        ]))
        .unwrap();
        assert_eq!(
            dependency_order(&config.programs),
            ["db", "cache", "api", "lone", "worker"]
        );
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            dependency_closure(&config.programs, &names(&["worker"])),
            ["db", "cache", "api", "worker"]
        );
        assert_eq!(
            dependency_closure(&config.programs, &names(&["lone", "cache", "nope"])),
            ["lone", "db", "cache"]
        );
        assert!(dependency_order(&[]).is_empty());
    }
}
