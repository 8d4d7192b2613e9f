//! The deployment files against the schema and against the code: `deploy/kubernetes/` (schema
//! validation with kubernetes-validate, then cross-references: the image's subcommands exist,
//! every variable set is one svc reads and accepts, probes answer on the real binary, grace
//! periods cover the drains, pods are locked down), the `Dockerfile` (no Docker engine here: its
//! stages are parsed and checked), and `.env.example` (lists every variable the code reads, with
//! the code's defaults).
//!
//! kubernetes-validate and PyYAML come from `target/pyenv` (`scripts/test.sh` installs them).

use crate::common::deploy as support;
use crate::common::wait::wait_until;

use crate::common::harness;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::env_scan;
use support::{Cluster, container, dockerfile, env_example, exec_form, name, quantity, root};
use svc::api::Settings;
use svc::worker::config::WorkerConfig;

/// Time the drains get on top of their own timeouts before Kubernetes would SIGKILL: the
/// process's exit after the drain (runtime shutdown, the queue's release) and scheduling noise.
const MARGIN: Duration = Duration::from_secs(2);

fn api() -> (Cluster, Value) {
    let cluster = Cluster::load();
    let api = cluster.get("Deployment", "svc-api").clone();
    (cluster, api)
}

fn lookup(map: &BTreeMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    |name| map.get(name).cloned()
}

fn seconds(value: &Value) -> Duration {
    Duration::from_secs(value.as_u64().expect("a number of seconds"))
}

// ---------------------------------------------------------------- schema

#[test]
fn every_manifest_passes_the_kubernetes_schema_in_strict_mode() {
    let files: Vec<PathBuf> = support::manifest_files()
        .into_iter()
        .filter(|p| name(p) != "kustomization.yaml")
        .collect();
    assert!(files.len() >= 5, "manifests: {files:?}");
    let out = support::kubernetes_validate(&files);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubernetes-validate failed:\n{text}");
    // Every document was checked against a schema (none skipped as unknown).
    let documents = Cluster::load().docs.len();
    assert_eq!(
        text.matches(" passed for resource ").count(),
        documents,
        "{text}"
    );
}

#[test]
fn the_validator_rejects_a_broken_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let api = std::fs::read_to_string(support::k8s_dir().join("api.yaml")).unwrap();
    let typo = dir.path().join("typo.yaml");
    std::fs::write(&typo, api.replace("readinessProbe:", "readinesProbe:")).unwrap();
    let out = support::kubernetes_validate(&[typo]);
    assert!(!out.status.success(), "a misspelt field must fail");
    assert!(String::from_utf8_lossy(&out.stdout).contains("readinesProbe"));
}

#[test]
fn the_kustomization_applies_every_manifest_but_the_secret_example() {
    let file = support::k8s_dir().join("kustomization.yaml");
    let kustomization = support::load_yaml(std::slice::from_ref(&file))
        .into_values()
        .next()
        .unwrap()
        .remove(0);
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = support::manifest_files()
        .iter()
        .map(|p| name(p))
        .filter(|n| n != "kustomization.yaml" && n != "secret.example.yaml")
        .collect();
    assert_eq!(listed, expected);

    // The image it sets is the Deployments' image, at the crate's version.
    let cluster = Cluster::load();
    let image = container(cluster.get("Deployment", "svc-api"))["image"]
        .as_str()
        .unwrap()
        .to_owned();
    let (image_name, tag) = image.rsplit_once(':').unwrap();
    assert_eq!(
        tag,
        env!("CARGO_PKG_VERSION"),
        "the image tag is the crate's version"
    );
    let images = kustomization["images"].as_array().unwrap();
    assert!(
        images
            .iter()
            .any(|i| i["name"] == image_name && i["newTag"] == tag),
        "{images:?}"
    );

    // kubectl is optional here; when it is installed, the kustomization must render.
    match Command::new("kubectl")
        .args(["kustomize"])
        .arg(support::k8s_dir())
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "kubectl kustomize: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let rendered = String::from_utf8_lossy(&out.stdout);
            assert!(rendered.contains("name: svc-api") && rendered.contains("name: svc-worker"));
            assert!(
                !rendered.contains("change-me"),
                "the example Secret is not applied"
            );
        }
        Err(_) => eprintln!("note: kubectl not installed; `kubectl kustomize` not tried"),
    }
}

// ---------------------------------------------------------------- the image and its commands

#[test]
fn both_deployments_run_the_same_image_with_real_subcommands() {
    let cluster = Cluster::load();
    let (_, stages) = dockerfile();
    let entrypoint = exec_form(stages.last().unwrap().args_of("ENTRYPOINT")[0]);
    let mut images = BTreeSet::new();
    for (deployment, subcommand) in [("svc-api", "api"), ("svc-worker", "worker")] {
        let c = container(cluster.get("Deployment", deployment));
        images.insert(c["image"].as_str().unwrap().to_owned());
        let args: Vec<String> = serde_json::from_value(c["args"].clone()).unwrap();
        assert_eq!(args, [subcommand], "{deployment}");
        if let Some(command) = c["command"].as_array() {
            let command: Vec<String> = serde_json::from_value(command.clone().into()).unwrap();
            assert_eq!(
                command, entrypoint,
                "{deployment}: command must be the entrypoint"
            );
        }
        // The subcommand exists in the CLI and the real binary accepts it.
        assert!(
            svc::cli::command().find_subcommand(subcommand).is_some(),
            "svc has no `{subcommand}` subcommand"
        );
        let out = Command::new(harness::SVC)
            .args(&args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "svc {args:?} --help failed");
    }
    assert_eq!(images.len(), 1, "one image for both: {images:?}");
}

// ---------------------------------------------------------------- variables

#[test]
fn every_variable_the_manifests_set_is_one_svc_reads() {
    let cluster = Cluster::load();
    let read = env_scan::reads(&root().join("src"));
    let listed: BTreeSet<String> = env_example().into_iter().map(|e| e.name).collect();
    let mut set: BTreeSet<String> = BTreeSet::new();
    set.extend(cluster.config().into_keys());
    set.extend(cluster.secret().into_keys());
    for deployment in cluster.all("Deployment") {
        let c = container(deployment);
        for env in c["env"].as_array().into_iter().flatten() {
            set.insert(env["name"].as_str().unwrap().to_owned());
        }
        // envFrom names the ConfigMap and the Secret that exist.
        let refs: Vec<&Value> = c["envFrom"].as_array().unwrap().iter().collect();
        assert!(
            refs.iter()
                .any(|r| r["configMapRef"]["name"] == "svc-config")
        );
        assert!(refs.iter().any(|r| r["secretRef"]["name"] == "svc-secrets"));
    }
    let unknown: Vec<&String> = set.iter().filter(|v| !read.contains_key(*v)).collect();
    assert!(unknown.is_empty(), "set but never read by svc: {unknown:?}");
    let unlisted: Vec<&String> = set.iter().filter(|v| !listed.contains(*v)).collect();
    assert!(unlisted.is_empty(), "not in .env.example: {unlisted:?}");
    for secret in ["DB_URL", "REDIS_URL", "SMTP_URL"] {
        assert!(
            cluster.secret().contains_key(secret),
            "{secret} belongs in the Secret"
        );
        assert!(
            !cluster.config().contains_key(secret),
            "{secret} must not be in the ConfigMap"
        );
    }
}

#[test]
fn svc_accepts_the_configmap_and_the_secret_points_at_the_external_services() {
    let cluster = Cluster::load();
    let config = cluster.config();
    let settings = Settings::from_lookup(lookup(&config)).expect("svc api accepts the ConfigMap");
    assert!(
        settings.addr.ip().is_unspecified(),
        "the API binds every interface"
    );
    let mut worker_env = config.clone();
    worker_env.insert("SMTP_URL".into(), cluster.secret()["SMTP_URL"].clone());
    WorkerConfig::from_lookup(lookup(&worker_env)).expect("svc worker accepts the ConfigMap");

    // The stores are reached through the ExternalName Services, by URL scheme.
    let external: BTreeSet<String> = cluster
        .all("Service")
        .into_iter()
        .filter(|s| s["spec"]["type"] == "ExternalName")
        .map(|s| s["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let secret = cluster.secret();
    for (var, schemes) in [
        ("DB_URL", &["mongodb://", "mongodb+srv://"][..]),
        ("REDIS_URL", &["redis://", "rediss://"]),
    ] {
        let url = &secret[var];
        let rest = schemes
            .iter()
            .find_map(|s| url.strip_prefix(s))
            .unwrap_or_else(|| panic!("{var}={url} must start with one of {schemes:?}"));
        let host = rest
            .rsplit_once('@')
            .map_or(rest, |(_, h)| h)
            .split([':', '/', '?'])
            .next()
            .unwrap();
        assert!(
            external.contains(host),
            "{var} points at {host}, not an ExternalName Service {external:?}"
        );
    }
}

// ---------------------------------------------------------------- probes, ports, stopping

/// `svc api` run with the ConfigMap's environment (on loopback, in a temp DATA_DIR); killed on drop.
struct ApiProcess {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl ApiProcess {
    fn start(config: &BTreeMap<String, String>) -> ApiProcess {
        let dir = tempfile::tempdir().unwrap();
        let port = harness::free_port();
        let child = Command::new(harness::SVC)
            .arg("api")
            .env_clear()
            .envs(config)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATA_DIR", dir.path().join("data"))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut api = ApiProcess {
            child,
            port,
            _dir: dir,
        };
        wait_until("svc api to answer with the ConfigMap's settings", || {
            harness::http(port, "GET", "/health", &[], "").is_ok()
        });
        assert!(api.child.try_wait().unwrap().is_none());
        api
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_api_probes_answer_200_on_the_real_binary_at_the_configured_port() {
    let (cluster, api) = api();
    let config = cluster.config();
    let c = container(&api);
    let ports = c["ports"].as_array().unwrap();
    let http_port = ports
        .iter()
        .find(|p| p["name"] == "http")
        .expect("a port named http");
    let container_port = http_port["containerPort"].as_u64().unwrap();
    assert_eq!(
        container_port.to_string(),
        config["PORT"],
        "containerPort = PORT"
    );
    let (_, stages) = dockerfile();
    assert_eq!(
        stages.last().unwrap().args_of("EXPOSE"),
        [container_port.to_string().as_str()],
        "the image exposes the same port"
    );

    let process = ApiProcess::start(&config);
    let mut probed = BTreeSet::new();
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let get = &c[probe]["httpGet"];
        let path = get["path"]
            .as_str()
            .unwrap_or_else(|| panic!("{probe} is an httpGet"));
        assert!(
            get["port"] == "http" || get["port"] == container_port,
            "{probe} targets the API's port"
        );
        let (status, body) = harness::http(process.port, "GET", path, &[], "").unwrap();
        assert_eq!(status, 200, "{probe} {path}: {body}");
        probed.insert(path.to_owned());
    }
    assert_eq!(
        probed,
        BTreeSet::from(["/health".to_owned(), "/ready".to_owned()])
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
    // An unknown path is 404, so the 200s above prove the routes exist.
    let (status, _) = harness::http(process.port, "GET", "/healthz", &[], "").unwrap();
    assert_eq!(status, 404);

    // The Service sends its traffic to that port, on the API's pods only.
    let service = cluster.get("Service", "svc-api");
    let target = &service["spec"]["ports"][0]["targetPort"];
    assert!(target == "http" || *target == container_port);
    let pod_labels = &api["spec"]["template"]["metadata"]["labels"];
    let worker_labels =
        &cluster.get("Deployment", "svc-worker")["spec"]["template"]["metadata"]["labels"];
    let selects = |selector: &Value, labels: &Value| {
        selector
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| labels[k] == *v)
    };
    assert!(selects(&service["spec"]["selector"], pod_labels));
    assert!(!selects(&service["spec"]["selector"], worker_labels));
}

#[test]
fn the_worker_has_no_probe_and_no_port_but_its_metrics() {
    let cluster = Cluster::load();
    let c = container(cluster.get("Deployment", "svc-worker"));
    for field in ["livenessProbe", "readinessProbe", "startupProbe"] {
        assert!(
            c[field].is_null(),
            "the worker has no {field} (see worker.yaml)"
        );
    }
    // WORKER_METRICS_ADDR's port, for Prometheus (tests/deploy/monitoring.rs checks it).
    let ports: Vec<&Value> = c["ports"].as_array().into_iter().flatten().collect();
    assert!(
        ports.iter().all(|p| p["name"] == "metrics"),
        "the worker's only port is metrics: {ports:?}"
    );
}

#[test]
fn grace_periods_cover_the_drain_timeouts() {
    let (cluster, api) = api();
    let config = cluster.config();

    let api_drain = Settings::from_lookup(lookup(&config))
        .unwrap()
        .drain_timeout;
    let pre_stop = seconds(&container(&api)["lifecycle"]["preStop"]["sleep"]["seconds"]);
    let api_grace = seconds(&api["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]);
    assert!(
        pre_stop >= Duration::from_secs(3),
        "preStop must outlast endpoint propagation"
    );
    assert!(
        api_grace >= pre_stop + api_drain + MARGIN,
        "svc-api: grace {api_grace:?} < preStop {pre_stop:?} + drain {api_drain:?} + {MARGIN:?}"
    );

    let worker = cluster.get("Deployment", "svc-worker");
    let worker_drain = WorkerConfig::from_lookup(lookup(&config))
        .unwrap()
        .drain_timeout;
    let worker_grace =
        seconds(&worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]);
    assert!(
        worker_grace >= worker_drain + MARGIN,
        "svc-worker: grace {worker_grace:?} < WORKER_DRAIN_TIMEOUT {worker_drain:?} + {MARGIN:?}"
    );
}

#[test]
fn the_api_keeps_serving_through_rollouts_and_disruptions() {
    let (cluster, api) = api();
    let replicas = api["spec"]["replicas"].as_u64().unwrap();
    assert!(replicas >= 2, "one replica cannot survive a node drain");
    assert_eq!(
        api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );
    let pdb = cluster.get("PodDisruptionBudget", "svc-api");
    let pod_labels = &api["spec"]["template"]["metadata"]["labels"];
    for (k, v) in pdb["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(pod_labels[k], *v, "the PDB selects the API's pods");
    }
    let allowed_down = match (&pdb["spec"]["maxUnavailable"], &pdb["spec"]["minAvailable"]) {
        (Value::Number(n), _) => n.as_u64().unwrap(),
        (_, Value::Number(n)) => replicas - n.as_u64().unwrap(),
        other => panic!("the PDB needs a number: {other:?}"),
    };
    assert!(
        (1..replicas).contains(&allowed_down),
        "a drain may take 1..{replicas} pods"
    );
}

// ---------------------------------------------------------------- lockdown

#[test]
fn pods_run_non_root_read_only_without_capabilities_and_with_limits() {
    let cluster = Cluster::load();
    let (_, stages) = dockerfile();
    let image_user = stages.last().unwrap().args_of("USER")[0].to_owned();
    let image_uid: u64 = image_user.split(':').next().unwrap().parse().unwrap();
    let data_dir = cluster.config()["DATA_DIR"].clone();
    for deployment in cluster.all("Deployment") {
        let name = deployment["metadata"]["name"].as_str().unwrap();
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["automountServiceAccountToken"], false, "{name}");
        assert_eq!(pod["enableServiceLinks"], false, "{name}: see api.yaml");
        let pod_security = &pod["securityContext"];
        assert_eq!(pod_security["runAsNonRoot"], true, "{name}");
        assert_eq!(
            pod_security["runAsUser"], image_uid,
            "{name}: the image's user"
        );
        assert_eq!(
            pod_security["seccompProfile"]["type"], "RuntimeDefault",
            "{name}"
        );

        let c = container(deployment);
        let security = &c["securityContext"];
        assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(
            security["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{name}"
        );
        assert!(security["capabilities"]["add"].is_null(), "{name}");
        assert_ne!(security["privileged"], true, "{name}");

        for resource in ["cpu", "memory"] {
            let request = quantity(&c["resources"]["requests"][resource]);
            let limit = quantity(&c["resources"]["limits"][resource]);
            assert!(
                request > 0.0 && request <= limit,
                "{name}: {resource} request {request} / limit {limit}"
            );
        }

        // The root filesystem is read-only: DATA_DIR must be in a mounted emptyDir.
        let mount = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| {
                m["mountPath"]
                    .as_str()
                    .is_some_and(|mount| std::path::Path::new(&data_dir).starts_with(mount))
            })
            .unwrap_or_else(|| panic!("{name}: DATA_DIR {data_dir} is not mounted"));
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        assert!(volume["emptyDir"].is_object(), "{name}: {volume}");
    }
}

// ---------------------------------------------------------------- Dockerfile

#[test]
fn the_dockerfile_builds_in_a_rust_stage_and_runs_svc_as_non_root_from_a_slim_one() {
    let (args, stages) = dockerfile();
    assert!(stages.len() >= 2, "multi-stage: {stages:?}");
    let builder = &stages[0];
    let runtime = stages.last().unwrap();

    // The builder: the official Rust image at least at the crate's rust-version, --locked.
    assert!(builder.base.starts_with("rust:"), "{}", builder.base);
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let msrv = manifest["package"]["rust-version"].as_str().unwrap();
    let rust = if builder.base.contains("${RUST_VERSION}") {
        args.get("RUST_VERSION")
            .expect("ARG RUST_VERSION=…")
            .clone()
    } else {
        builder.base["rust:".len()..]
            .split('-')
            .next()
            .unwrap()
            .to_owned()
    };
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap()).collect() };
    assert!(
        version(&rust) >= version(msrv),
        "Rust {rust} < rust-version {msrv}"
    );
    let build = builder.args_of("RUN").join(" ");
    assert!(build.contains("cargo build --release --locked"), "{build}");

    // The runtime: slim, pinned, non-root, svc as the entrypoint.
    assert!(
        runtime.base.starts_with("gcr.io/distroless/cc")
            || (runtime.base.starts_with("debian:") && runtime.base.contains("slim")),
        "runtime base {}",
        runtime.base
    );
    for stage in &stages {
        assert!(
            !stage.base.ends_with(":latest") && stage.base.contains(':'),
            "pin {}",
            stage.base
        );
    }
    let user = runtime.args_of("USER");
    assert_eq!(user.len(), 1, "one USER in the runtime stage");
    let uid = user[0].split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u != 0),
        "USER {} must be a numeric non-root uid (runAsNonRoot needs a number)",
        user[0]
    );
    let entrypoint = exec_form(runtime.args_of("ENTRYPOINT")[0]);
    assert_eq!(entrypoint.len(), 1, "{entrypoint:?}");
    let binary = &entrypoint[0];
    let cmd = exec_form(runtime.args_of("CMD")[0]);
    assert!(
        svc::cli::command().find_subcommand(&cmd[0]).is_some(),
        "CMD {cmd:?}"
    );

    // The entrypoint is the binary copied from the builder, which the builder produced.
    let builder_name = builder.name.as_deref().expect("the builder stage is named");
    let copy = runtime
        .args_of("COPY")
        .into_iter()
        .find(|c| c.ends_with(&format!(" {binary}")))
        .unwrap_or_else(|| panic!("no COPY to {binary} in the runtime stage"));
    assert!(copy.contains(&format!("--from={builder_name}")), "{copy}");
    let source = copy.split_whitespace().rev().nth(1).unwrap();
    assert!(build.contains(source), "the builder never writes {source}");

    // The image's environment is one svc reads, and binds every interface.
    let read = env_scan::reads(&root().join("src"));
    for env in runtime.args_of("ENV") {
        for pair in env.split_whitespace() {
            let (name, _) = pair.split_once('=').expect("ENV NAME=value");
            assert!(read.contains_key(name), "ENV {name} is not read by svc");
        }
    }
    assert!(runtime.args_of("ENV").join(" ").contains("HOST=0.0.0.0"));
}

#[test]
fn the_dockerfile_copies_every_file_cargo_needs_and_the_context_is_small() {
    let (_, stages) = dockerfile();
    let builder = &stages[0];
    let copied: Vec<String> = builder
        .args_of("COPY")
        .into_iter()
        .filter(|c| !c.starts_with("--from"))
        .flat_map(|c| {
            let words: Vec<&str> = c.split_whitespace().collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| w.trim_end_matches('/').trim_start_matches("./").to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    // Every target Cargo.toml declares (and its lock file) is inside what is copied.
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let mut needed = vec!["Cargo.toml".to_owned(), "Cargo.lock".to_owned()];
    needed.push(manifest["lib"]["path"].as_str().unwrap().to_owned());
    for section in ["bin", "bench"] {
        for target in manifest
            .get(section)
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            let name = target["name"].as_str().unwrap();
            let path = match (target.get("path"), section) {
                (Some(path), _) => path.as_str().unwrap().to_owned(),
                (None, "bench") => format!("benches/{name}.rs"),
                (None, _) => format!("src/bin/{name}.rs"),
            };
            needed.push(path);
        }
    }
    for path in &needed {
        assert!(root().join(path).exists(), "{path} does not exist");
        assert!(
            copied
                .iter()
                .any(|c| path == c || path.starts_with(&format!("{c}/"))),
            "the builder does not COPY {path} (copies {copied:?})"
        );
    }

    // .dockerignore keeps target/ (gigabytes) and the local state out of the build context.
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).expect(".dockerignore");
    let lines: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        lines.first(),
        Some(&"*"),
        "ignore everything, then re-include"
    );
    for path in &copied {
        assert!(
            lines.contains(&format!("!{path}").as_str())
                || lines.contains(&format!("!{path}/").as_str()),
            ".dockerignore must re-include {path}"
        );
    }
    assert!(!lines.iter().any(|l| l.starts_with("!target")));
}

// ---------------------------------------------------------------- .env.example

#[test]
fn env_example_lists_every_variable_the_code_reads() {
    let read = env_scan::reads(&root().join("src"));
    assert!(
        read.len() >= 20,
        "the scanner found too little: {:?}",
        read.keys()
    );
    let listed: BTreeSet<String> = env_example().into_iter().map(|e| e.name).collect();
    let missing: Vec<String> = read
        .iter()
        .filter(|(name, _)| !listed.contains(*name))
        .map(|(name, places)| {
            let place = &places[0];
            format!(
                "{name} ({}:{} via `{}`)",
                place
                    .file
                    .strip_prefix(root())
                    .unwrap_or(&place.file)
                    .display(),
                place.line,
                place.via
            )
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the code reads variables .env.example does not list: {missing:?}\n(if one is not an \
         environment variable, add its callee to NOT_ENV_CALLS in tests/common/deploy/env_scan.rs)"
    );
}

#[test]
fn env_example_lists_only_variables_the_code_reads() {
    let read = env_scan::reads(&root().join("src"));
    let stale: Vec<String> = env_example()
        .into_iter()
        .filter(|e| !read.contains_key(&e.name))
        .map(|e| format!("{} (line {})", e.name, e.line))
        .collect();
    assert!(
        stale.is_empty(),
        "listed but never read (a typo?): {stale:?}"
    );
}

#[test]
fn env_example_explains_every_variable_once_and_parses_as_a_dotenv_file() {
    let entries = env_example();
    let mut seen = BTreeSet::new();
    for entry in &entries {
        assert!(
            seen.insert(entry.name.clone()),
            "{} listed twice",
            entry.name
        );
        let explanation = entry.explanation.as_deref().unwrap_or("");
        assert!(
            explanation.len() >= 10,
            "line {}: {} needs a `# explanation` line just above it",
            entry.line,
            entry.name
        );
    }
    // dotenvy (what svc uses to read .env) reads exactly the uncommented entries.
    let parsed: BTreeMap<String, String> = dotenvy::from_path_iter(root().join(".env.example"))
        .unwrap()
        .map(|item| item.unwrap())
        .collect();
    let uncommented: BTreeSet<String> = entries
        .iter()
        .filter(|e| !e.commented)
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(parsed.keys().cloned().collect::<BTreeSet<_>>(), uncommented);
}

#[test]
fn env_example_defaults_are_the_code_defaults() {
    let values: BTreeMap<String, String> = dotenvy::from_path_iter(root().join(".env.example"))
        .unwrap()
        .map(|item| item.unwrap())
        .collect();
    let empty = BTreeMap::new();
    let listed = Settings::from_lookup(lookup(&values)).expect("svc api accepts .env.example");
    let defaults = Settings::from_lookup(lookup(&empty)).unwrap();
    assert_eq!(format!("{listed:?}"), format!("{defaults:?}"), "svc api");
    let listed = WorkerConfig::from_lookup(lookup(&values)).expect("svc worker accepts it");
    assert_eq!(
        listed,
        WorkerConfig::from_lookup(lookup(&empty)).unwrap(),
        "svc worker"
    );
    // A commented-out example value must be accepted too, once uncommented.
    let mut examples = values.clone();
    for entry in env_example().into_iter().filter(|e| e.commented) {
        if ["SMTP_URL", "MAIL_FROM"].contains(&entry.name.as_str()) {
            examples.insert(entry.name, entry.value);
        }
    }
    WorkerConfig::from_lookup(lookup(&examples)).expect("the example SMTP_URL is usable");
}
