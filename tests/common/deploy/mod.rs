//! Support for `tests/deploy/manifests.rs`: the manifests as JSON (through PyYAML in
//! `target/pyenv`, which `scripts/test.sh` fills with kubernetes-validate and its dependencies),
//! the Dockerfile's stages, `.env.example`'s entries, and the env-variable scanner ([`env_scan`]).

#![allow(dead_code)]

pub mod env_scan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The Kubernetes version the manifests are validated against (kubernetes-validate 1.31.0).
pub const KUBERNETES_VERSION: &str = "1.31.0";

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn k8s_dir() -> PathBuf {
    root().join("deploy/kubernetes")
}

/// `target/pyenv/bin/python`, with kubernetes-validate importable; fails the test otherwise.
pub fn python() -> PathBuf {
    let python = root().join("target/pyenv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import kubernetes_validate, yaml"])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        ok,
        "kubernetes-validate is not installed in target/pyenv: run scripts/test.sh, or \
         `python3 -m venv target/pyenv && target/pyenv/bin/python -m pip install kubernetes-validate==1.31.0`"
    );
    python
}

/// Every `*.yaml` in `deploy/kubernetes`, sorted.
pub fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(k8s_dir())
        .expect("deploy/kubernetes exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// The file name of `path`.
pub fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Every YAML document of `files`, as JSON, keyed by file name.
pub fn load_yaml(files: &[PathBuf]) -> BTreeMap<String, Vec<Value>> {
    let script = "import json, sys, yaml\n\
                  out = {}\n\
                  for p in sys.argv[1:]:\n    \
                      with open(p) as f:\n        \
                          out[p] = [d for d in yaml.safe_load_all(f) if d is not None]\n\
                  print(json.dumps(out))";
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(files)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "YAML does not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let by_path: BTreeMap<String, Vec<Value>> =
        serde_json::from_slice(&out.stdout).expect("python printed JSON");
    by_path
        .into_iter()
        .map(|(path, docs)| (name(Path::new(&path)), docs))
        .collect()
}

/// Runs kubernetes-validate in strict mode (unknown fields are errors) on `files`.
pub fn kubernetes_validate(files: &[PathBuf]) -> Output {
    Command::new(python())
        .args([
            "-m",
            "kubernetes_validate",
            "--strict",
            "-k",
            KUBERNETES_VERSION,
        ])
        .args(files)
        .output()
        .expect("run kubernetes-validate")
}

/// The manifests that describe cluster objects (every file but the kustomization), loaded.
pub struct Cluster {
    pub docs: Vec<(String, Value)>,
}

impl Cluster {
    pub fn load() -> Cluster {
        let files: Vec<PathBuf> = manifest_files()
            .into_iter()
            .filter(|p| name(p) != "kustomization.yaml")
            .collect();
        let docs = load_yaml(&files)
            .into_iter()
            .flat_map(|(file, docs)| docs.into_iter().map(move |d| (file.clone(), d)))
            .collect();
        Cluster { docs }
    }

    /// The object of `kind` named `name`.
    pub fn get(&self, kind: &str, name: &str) -> &Value {
        self.all(kind)
            .into_iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} named {name} in deploy/kubernetes"))
    }

    pub fn all(&self, kind: &str) -> Vec<&Value> {
        self.docs
            .iter()
            .map(|(_, d)| d)
            .filter(|d| d["kind"] == kind)
            .collect()
    }

    /// The ConfigMap's data as a map.
    pub fn config(&self) -> BTreeMap<String, String> {
        strings(&self.get("ConfigMap", "svc-config")["data"])
    }

    /// The example Secret's values as a map.
    pub fn secret(&self) -> BTreeMap<String, String> {
        strings(&self.get("Secret", "svc-secrets")["stringData"])
    }
}

/// A JSON object of strings as a map.
pub fn strings(object: &Value) -> BTreeMap<String, String> {
    object
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("a string value").to_owned()))
        .collect()
}

/// The one container of a Deployment's pod.
pub fn container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container per pod");
    &containers[0]
}

/// A Kubernetes quantity in base units (cores or bytes): `100m`, `1`, `128Mi`, `1G`.
pub fn quantity(value: &Value) -> f64 {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor = match unit {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unknown quantity unit {other:?} in {text}"),
    };
    number.parse::<f64>().expect("a number") * factor
}

/// One `FROM` stage of the Dockerfile.
#[derive(Debug, Clone)]
pub struct Stage {
    pub base: String,
    pub name: Option<String>,
    /// (INSTRUCTION, arguments), continuation lines joined.
    pub steps: Vec<(String, String)>,
}

impl Stage {
    pub fn args_of(&self, instruction: &str) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|(i, _)| i == instruction)
            .map(|(_, a)| a.as_str())
            .collect()
    }
}

/// The Dockerfile: the `ARG`s before the first `FROM` (name → default) and the stages.
pub fn dockerfile() -> (BTreeMap<String, String>, Vec<Stage>) {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("a Dockerfile");
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else if !trimmed.starts_with('#') {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    let mut global_args = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (instruction, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let instruction = instruction.to_ascii_uppercase();
        let args = args.trim().to_owned();
        if instruction == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let (base, name) = match words.as_slice() {
                [base] => (*base, None),
                [base, as_, name] if as_.eq_ignore_ascii_case("as") => (*base, Some(*name)),
                _ => panic!("FROM {args}: expected `FROM image [AS name]`"),
            };
            stages.push(Stage {
                base: base.to_owned(),
                name: name.map(str::to_owned),
                steps: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.steps.push((instruction, args));
        } else if instruction == "ARG" {
            let (name, default) = args.split_once('=').unwrap_or((&args, ""));
            global_args.insert(name.to_owned(), default.to_owned());
        } else {
            panic!("{instruction} before the first FROM");
        }
    }
    (global_args, stages)
}

/// A JSON array in exec form (`["/usr/local/bin/svc", "api"]`).
pub fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args)
        .unwrap_or_else(|_| panic!("{args} is not exec form (a JSON array of strings)"))
}

/// One variable of `.env.example`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub value: String,
    /// `# NAME=…`: unset by default.
    pub commented: bool,
    /// The comment line just above, if any.
    pub explanation: Option<String>,
    pub line: usize,
}

/// The entries of `.env.example`: `NAME=value` or `# NAME=value` lines.
pub fn env_example() -> Vec<Entry> {
    let text = std::fs::read_to_string(root().join(".env.example")).expect(".env.example");
    let mut entries = Vec::new();
    let mut previous: Option<&str> = None;
    for (index, line) in text.lines().enumerate() {
        let (body, commented) = match line.strip_prefix('#') {
            Some(rest) => (rest.trim_start(), true),
            None => (line, false),
        };
        let entry = body
            .split_once('=')
            .filter(|(name, _)| env_scan::is_env_name(name));
        if let Some((name, value)) = entry {
            let explanation = previous
                .filter(|p| p.starts_with("# ") && !p.starts_with("##"))
                .filter(|p| {
                    p[2..]
                        .split_once('=')
                        .is_none_or(|(n, _)| !env_scan::is_env_name(n))
                })
                .map(|p| p[2..].to_owned());
            entries.push(Entry {
                name: name.to_owned(),
                value: value.to_owned(),
                commented,
                explanation,
                line: index + 1,
            });
        }
        previous = Some(line);
    }
    entries
}
