//! Monitoring: the worker's Prometheus endpoint (`WORKER_METRICS_ADDR`) counted against real jobs
//! on both queue backends; the shipped rules (`deploy/monitoring/alerts.yaml`, checked and
//! unit-tested by promtool) and dashboard, whose every metric must be one that running svc
//! processes (daemon, API, worker) really export; the worker's Kubernetes scrape settings.
//!
//! promtool comes from Debian's `prometheus` package (`scripts/test.sh` installs it); without it
//! these tests fail, they do not skip.

use crate::common::deploy;
use crate::common::harness;
use crate::common::redis_server::RedisServer;
use crate::common::wait::{PATIENCE, wait_until};
use crate::common::worker::{DataDir, Proc, runtime, welcome_data};

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use svc::queue::redis::{RedisConfig, RedisQueue};
use svc::queue::sqlite::SqliteQueue;
use svc::queue::{Fetch, Queue};

fn monitoring_dir() -> PathBuf {
    deploy::root().join("deploy/monitoring")
}

// ---------------------------------------------------------------- reading a scrape

/// One sample of a scrape: its name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a Prometheus text exposition (comments skipped).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                    (k.to_owned(), v.trim_end_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The value of `name` with (at least) `labels`; panics naming it when absent.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text)
        .into_iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
        .unwrap_or_else(|| panic!("no {name}{labels:?} in the scrape:\n{text}"))
        .value
}

fn scrape(port: u16) -> String {
    let (status, body) = harness::http(port, "GET", "/metrics", &[], "").expect("scrape");
    assert_eq!(status, 200, "{body}");
    body
}

// ---------------------------------------------------------------- the worker's metrics

/// A queue for the worker: the embedded one in a temp `DATA_DIR`, or a Redis of its own.
struct Setup {
    dir: DataDir,
    redis: Option<RedisServer>,
}

impl Setup {
    fn new(redis: bool) -> Self {
        Setup {
            dir: DataDir::new(),
            redis: redis.then(RedisServer::start),
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("DATA_DIR", self.dir.path().display().to_string())];
        if let Some(redis) = &self.redis {
            env.push(("REDIS_URL", redis.url()));
        }
        env
    }

    /// The queue through the library, as another process (a worker that will crash) sees it.
    fn queue(&self) -> Arc<dyn Queue> {
        match &self.redis {
            Some(redis) => Arc::new(RedisQueue::new(RedisConfig::for_url(&redis.url())).unwrap()),
            None => Arc::new(SqliteQueue::open_in(self.dir.path()).unwrap()),
        }
    }

    fn svc_queue(&self, args: &[&str]) -> Output {
        let out = Command::new(harness::SVC)
            .arg("queue")
            .args(args)
            .envs(self.env())
            .output()
            .expect("run svc queue");
        harness::assert_ok(&out, &format!("svc queue {args:?}"));
        out
    }

    fn add(&self, id: &str, extra: &[&str]) {
        let data = welcome_data(id, &format!("req-{id}"));
        let job_id = format!("welcome-{id}");
        let mut args = vec!["add", "welcome-email", "--data", &data, "--job-id", &job_id];
        args.extend_from_slice(extra);
        self.svc_queue(&args);
    }

    /// `svc queue status --json`.
    fn status(&self) -> Value {
        serde_json::from_slice(&self.svc_queue(&["status", "--json"]).stdout).unwrap()
    }

    fn worker(&self, metrics_port: u16) -> Proc {
        let addr = format!("127.0.0.1:{metrics_port}");
        let mut env: Vec<(&str, &str)> = vec![
            ("WORKER_METRICS_ADDR", &addr),
            ("QUEUE_STALLED_INTERVAL_MS", "200"),
        ];
        let owned = self.env();
        env.extend(owned.iter().map(|(k, v)| (*k, v.as_str())));
        Proc::spawn(&["worker"], self.dir.path(), &env)
    }

    /// A folder where the job's outbox file should be: the worker cannot rename its email onto
    /// it, a transient failure (retried while attempts remain).
    fn block_outbox(&self, id: &str) -> PathBuf {
        let blocker = self.dir.outbox().join(format!("welcome-{id}.eml"));
        std::fs::create_dir_all(blocker.join("in-the-way")).unwrap();
        blocker
    }
}

/// What the worker counted after: 5 plain jobs; a "flaky" one whose first attempt fails and the
/// second completes; a "doomed" one whose both attempts fail; a "stalled" one held by a worker
/// that died (the test takes it with a short lease and never finishes it). Then, paused, two
/// waiting jobs and a delayed one: the queue gauges must equal `svc queue status`.
fn worker_metrics_follow_real_jobs(redis: bool) {
    let mut setup = Setup::new(redis);
    setup.add("stalled", &[]);
    let queue = setup.queue();
    let taken = runtime()
        .block_on(queue.take("dead-worker:1", Duration::from_millis(300)))
        .unwrap();
    assert!(matches!(taken, Fetch::Job(job) if job.job.id == "welcome-stalled"));
    for user in 1..=5 {
        setup.add(&user.to_string(), &[]);
    }
    let flaky = setup.block_outbox("flaky");
    setup.block_outbox("doomed");
    setup.add("flaky", &["--attempts", "3", "--backoff", "fixed:3s"]);
    setup.add("doomed", &["--attempts", "2", "--backoff", "fixed:100ms"]);

    let port = harness::free_port();
    let worker = setup.worker(port);
    wait_until("the flaky job's first attempt failed", || {
        let job = runtime().block_on(queue.job("welcome-flaky")).unwrap();
        job.is_some_and(|j| j.attempts_made >= 1)
    });
    std::fs::remove_dir_all(&flaky).unwrap();
    wait_until("7 jobs completed and 1 failed", || {
        let status = setup.status();
        status["completed"] == 7 && status["failed"] == 1
    });

    let text = scrape(port);
    let job = [("name", "welcome-email")];
    assert_eq!(
        value(&text, "svc_worker_jobs_completed_total", &job),
        7.0,
        "{}",
        worker.dump()
    );
    assert_eq!(value(&text, "svc_worker_jobs_failed_total", &job), 1.0);
    // doomed's first attempt and flaky's first attempt.
    assert_eq!(value(&text, "svc_worker_jobs_retried_total", &job), 2.0);
    assert_eq!(
        value(&text, "svc_worker_stalled_jobs_recovered_total", &[]),
        1.0
    );
    assert_eq!(
        value(&text, "svc_worker_stalled_jobs_failed_total", &[]),
        0.0
    );
    // Every attempt that ran: 7 completions, 3 failures; each sent (or tried to send) a mail.
    assert_eq!(
        value(&text, "svc_worker_job_duration_seconds_count", &job),
        10.0
    );
    let sends = value(
        &text,
        "svc_worker_send_duration_seconds_count",
        &[("transport", "file")],
    );
    assert_eq!(sends, 10.0);
    // Attempts until success, against the queue's own record of each completed job.
    let completed = runtime()
        .block_on(queue.list(svc::queue::JobState::Completed, 100))
        .unwrap();
    let attempts: u32 = completed.iter().map(|j| j.attempts_made).sum();
    let flaky_job = completed.iter().find(|j| j.id == "welcome-flaky").unwrap();
    assert_eq!(flaky_job.attempts_made, 2);
    assert_eq!(value(&text, "svc_worker_job_attempts_count", &job), 7.0);
    assert_eq!(
        value(&text, "svc_worker_job_attempts_sum", &job),
        f64::from(attempts)
    );
    let first_try = value(
        &text,
        "svc_worker_job_attempts_bucket",
        &[("name", "welcome-email"), ("le", "1")],
    );
    assert_eq!(first_try, 6.0, "all but the flaky job completed at once");
    assert_eq!(value(&text, "svc_worker_up", &[]), 1.0);
    assert_eq!(value(&text, "svc_queue_up", &[]), 1.0);

    // Redis gone: the worker is not taking jobs and the queue does not answer; back, both are 1.
    if let Some(server) = setup.redis.as_mut() {
        server.kill();
        wait_until("svc_worker_up 0 while Redis is down", || {
            let text = scrape(port);
            value(&text, "svc_worker_up", &[]) == 0.0 && value(&text, "svc_queue_up", &[]) == 0.0
        });
        server.restart();
        wait_until("svc_worker_up 1 once Redis is back", || {
            let text = scrape(port);
            value(&text, "svc_worker_up", &[]) == 1.0 && value(&text, "svc_queue_up", &[]) == 1.0
        });
    }

    // Paused, with jobs waiting and one delayed: the gauges are `svc queue status`.
    setup.svc_queue(&["pause"]);
    setup.add("6", &[]);
    setup.add("7", &[]);
    setup.add("later", &["--delay", "1h"]);
    let text = scrape(port);
    let status = setup.status();
    assert_eq!(status["waiting"], 2, "{status}");
    assert_eq!(status["delayed"], 1, "{status}");
    for state in [
        "waiting",
        "active",
        "delayed",
        "prioritized",
        "completed",
        "failed",
    ] {
        let gauge = value(&text, "svc_queue_jobs", &[("state", state)]);
        assert_eq!(Some(gauge), status[state].as_f64(), "{state}: {status}");
    }
    assert_eq!(status["paused"], true);
    assert_eq!(value(&text, "svc_queue_paused", &[]), 1.0);

    worker.signal(nix::sys::signal::Signal::SIGTERM);
    let mut worker = worker;
    assert!(worker.wait_exit(PATIENCE).success(), "{}", worker.dump());
}

#[test]
fn worker_metrics_count_real_jobs_on_the_embedded_queue() {
    worker_metrics_follow_real_jobs(false);
}

#[test]
fn worker_metrics_count_real_jobs_on_redis() {
    worker_metrics_follow_real_jobs(true);
}

#[test]
fn the_send_latency_is_the_smtp_servers() {
    use crate::common::worker::smtp::{Mode, TestSmtp};
    let slow = Duration::from_millis(300);
    let smtp = TestSmtp::start(Mode::SlowAccept(slow));
    let setup = Setup::new(false);
    setup.add("1", &[]);
    let port = harness::free_port();
    let addr = format!("127.0.0.1:{port}");
    let env = [
        ("WORKER_METRICS_ADDR", addr.as_str()),
        ("SMTP_URL", &smtp.url()),
    ];
    let worker = Proc::spawn(&["worker"], setup.dir.path(), &env);
    wait_until("the job completed", || setup.status()["completed"] == 1);
    let text = scrape(port);
    let smtp_label = ("transport", "smtp");
    assert_eq!(
        value(
            &text,
            "svc_worker_send_duration_seconds_count",
            &[smtp_label]
        ),
        1.0,
        "{}",
        worker.dump()
    );
    let took = value(&text, "svc_worker_send_duration_seconds_sum", &[smtp_label]);
    assert!(
        took >= slow.as_secs_f64(),
        "the server took {slow:?}, measured {took}s"
    );
    let under = value(
        &text,
        "svc_worker_send_duration_seconds_bucket",
        &[smtp_label, ("le", "0.25")],
    );
    assert_eq!(under, 0.0, "a 300 ms send is not under 250 ms");
    let job_took = value(
        &text,
        "svc_worker_job_duration_seconds_sum",
        &[("name", "welcome-email")],
    );
    assert!(
        job_took >= took,
        "the job ({job_took}s) includes its send ({took}s)"
    );
}

#[test]
fn a_bad_worker_metrics_addr_stops_the_start_and_none_opens_no_port() {
    let dir = DataDir::new();
    for bad in ["localhost:9465", "9465", "127.0.0.1"] {
        let mut worker = dir.worker(&[("WORKER_METRICS_ADDR", bad)]);
        let status = worker.wait_exit(PATIENCE);
        assert_eq!(status.code(), Some(2), "{bad}: {}", worker.dump());
        assert!(
            worker.stderr().contains("WORKER_METRICS_ADDR") && worker.stderr().contains(bad),
            "{bad}: {}",
            worker.stderr()
        );
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut worker = dir.worker(&[("WORKER_METRICS_ADDR", &addr)]);
    assert_eq!(
        worker.wait_exit(PATIENCE).code(),
        Some(2),
        "{}",
        worker.dump()
    );
    let stderr = worker.stderr();
    assert!(
        stderr.contains(&format!("WORKER_METRICS_ADDR={addr}: cannot listen there")),
        "{stderr}"
    );

    // Unset: the worker listens on no TCP port at all.
    let worker = dir.worker(&[]);
    worker.wait_for_log("worker ready", None, 1, PATIENCE);
    assert!(
        listening_ports(worker.pid()).is_empty(),
        "the worker opened a TCP port without WORKER_METRICS_ADDR"
    );
}

/// The TCP sockets process `pid` listens on (their inodes).
fn listening_ports(pid: i32) -> Vec<String> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap()
        + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    tcp.lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]))
        .map(|f| f[9].to_owned())
        .collect()
}

// ---------------------------------------------------------------- the rules

/// `promtool ARGS` in `deploy/monitoring`; a missing promtool fails the test.
fn promtool(args: &[&str]) -> Output {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(monitoring_dir())
        .output();
    match out {
        Ok(out) => out,
        Err(e) => panic!(
            "promtool cannot run ({e}): scripts/test.sh installs it (Debian's `prometheus` package)"
        ),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every alerting rule of alerts.yaml.
fn alert_rules() -> Vec<Value> {
    let docs = deploy::load_yaml(&[monitoring_dir().join("alerts.yaml")]);
    docs["alerts.yaml"][0]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .filter(|r| r["alert"].is_string())
        .collect()
}

#[test]
fn the_alert_rules_pass_promtool_and_each_alert_has_a_firing_and_a_quiet_unit_test() {
    let check = promtool(&["check", "rules", "alerts.yaml"]);
    assert!(check.status.success(), "{}", text(&check));
    let test = promtool(&["test", "rules", "alerts.test.yaml"]);
    assert!(test.status.success(), "{}", text(&test));
    assert!(text(&test).contains("SUCCESS"), "{}", text(&test));

    let tests = deploy::load_yaml(&[monitoring_dir().join("alerts.test.yaml")]);
    let cases: Vec<&Value> = tests["alerts.test.yaml"][0]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().unwrap())
        .collect();
    let names: Vec<String> = alert_rules()
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_owned())
        .collect();
    for wanted in [
        "SvcQueueBacklogGrowing",
        "SvcJobFailureRatio",
        "SvcNoJobCompleted",
        "SvcWorkerDown",
        "SvcApiErrorRatio",
        "SvcApiLatencyP99",
        "SvcApiNotReady",
        "SvcInstanceErrored",
        "SvcRestartLoop",
    ] {
        assert!(names.iter().any(|n| n == wanted), "no alert {wanted}");
    }
    for name in &names {
        let of_alert: Vec<&&Value> = cases.iter().filter(|c| c["alertname"] == **name).collect();
        let fires = of_alert
            .iter()
            .any(|c| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()));
        let quiet = of_alert
            .iter()
            .any(|c| c["exp_alerts"].as_array().is_some_and(Vec::is_empty));
        assert!(
            fires && quiet,
            "{name}: needs a test where it fires and one where it does not"
        );
    }
}

#[test]
fn every_alert_explains_itself_and_its_runbook_names_real_svc_commands() {
    for rule in alert_rules() {
        let name = rule["alert"].as_str().unwrap();
        let annotations = &rule["annotations"];
        for key in ["summary", "description", "runbook"] {
            let text = annotations[key].as_str().unwrap_or_default();
            assert!(
                text.len() >= 20,
                "{name}: annotation {key} is missing or too short"
            );
        }
        let runbook = annotations["runbook"].as_str().unwrap();
        let commands: Vec<&str> = runbook
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|c| c.starts_with("svc "))
            .collect();
        assert!(
            !commands.is_empty(),
            "{name}: the runbook names no svc command"
        );
        for command in commands {
            check_command(command).unwrap_or_else(|e| panic!("{name}: `{command}`: {e}"));
        }
    }
}

/// Whether `svc WORDS...` names real subcommands, down to the first argument or option.
fn check_command(command: &str) -> Result<(), String> {
    let mut cli = svc::cli::command();
    let mut words = command.split_whitespace().skip(1);
    loop {
        let subcommands: Vec<String> = cli
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .filter(|n| n != "help")
            .collect();
        if subcommands.is_empty() {
            return Ok(());
        }
        let Some(word) = words.next() else {
            return Ok(());
        };
        if word.starts_with('-') {
            return Ok(());
        }
        match cli.find_subcommand(word) {
            Some(sub) => cli = sub.clone(),
            None => {
                return Err(format!(
                    "no subcommand {word:?} (there are {subcommands:?})"
                ));
            }
        }
    }
}

// ---------------------------------------------------------------- rules and dashboard vs reality

/// The dashboard's queries.
fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(monitoring_dir().join("dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("dashboard.json is JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    exprs
}

/// The metric names a PromQL expression reads: identifiers that are not functions, keywords,
/// label names (inside `{}`, `by ()`, `without ()`, ...), strings or durations.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset", "inf", "nan"];
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |from: usize, close: char| {
        let mut j = from;
        let mut in_string = false;
        while j < chars.len() {
            match chars[j] {
                '"' => in_string = !in_string,
                '\\' if in_string => j += 1,
                c if c == close && !in_string => return j + 1,
                _ => {}
            }
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_to(i + 1, '}');
        } else if c == '[' {
            i = skip_to(i + 1, ']');
        } else if c == '"' {
            i = skip_to(i + 1, '"');
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let rest: String = chars[next..].iter().take(8).collect();
            // `f(...)`, or an aggregation whose grouping comes first: `sum by (le) (...)`.
            let call = chars.get(next) == Some(&'(')
                || ["by", "without"].iter().any(|g| {
                    rest.strip_prefix(g)
                        .is_some_and(|r| r.starts_with([' ', '(']))
                });
            if GROUPING.contains(&word.as_str()) && call {
                i = skip_to(next + 1, ')');
            } else if !call && !KEYWORDS.contains(&word.to_lowercase().as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn the_name_reader_finds_metrics_and_nothing_else() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route!~"/x|y"}[5m])))
           / on (job) group_left (x) b_total offset 1h and bool c or vector(0) > 1e3"#,
    );
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(names, ["a_bucket", "b_total", "c"]);
}

/// A daemon with `[daemon] metrics` running `svc api` and `svc worker` with
/// `WORKER_METRICS_ADDR`; one sign-up goes through both. Returns the names in the three scrapes.
fn exported_names() -> BTreeSet<String> {
    let (daemon, api, worker) = (
        harness::free_port(),
        harness::free_port(),
        harness::free_port(),
    );
    let project = harness::Project::new(&format!(
        "[daemon]\nmetrics = \"127.0.0.1:{daemon}\"\n\
         [programs.api]\ncommand = [\"svc\", \"api\"]\nenv = {{ PORT = \"{api}\" }}\nready = \"notify\"\n\
         [programs.worker]\ncommand = [\"svc\", \"worker\"]\n\
         env = {{ WORKER_METRICS_ADDR = \"127.0.0.1:{worker}\" }}\nready = \"notify\"\n"
    ));
    project.start();
    let body =
        r#"{"name":"Ann Example","email":"ann@example.com","password":"correct horse battery"}"#;
    let headers = [("Content-Type", "application/json")];
    let (status, reply) = harness::http(api, "POST", "/api/users", &headers, body).unwrap();
    assert_eq!(status, 201, "{reply}");
    harness::http(api, "GET", "/api/products", &[], "").unwrap();
    harness::http(api, "GET", "/ready", &[], "").unwrap();
    wait_until("the worker completed the welcome email", || {
        samples(&scrape(worker))
            .iter()
            .any(|s| s.name == "svc_worker_jobs_completed_total" && s.value == 1.0)
    });
    [scrape(daemon), scrape(api), scrape(worker)]
        .iter()
        .flat_map(|text| samples(text).into_iter().map(|s| s.name))
        .collect()
}

#[test]
fn every_metric_the_alerts_and_the_dashboard_read_is_exported_by_a_running_svc() {
    let exported = exported_names();
    let mut used: BTreeMap<String, String> = BTreeMap::new();
    for rule in alert_rules() {
        for name in metric_names(rule["expr"].as_str().unwrap()) {
            used.insert(name, format!("alert {}", rule["alert"]));
        }
    }
    for expr in dashboard_exprs() {
        for name in metric_names(&expr) {
            used.insert(name, format!("dashboard: {expr}"));
        }
    }
    assert!(used.len() >= 15, "the reader found too little: {used:?}");
    let unknown: Vec<String> = used
        .iter()
        .filter(|(name, _)| !exported.contains(*name))
        .map(|(name, place)| format!("{name} ({place})"))
        .collect();
    assert!(
        unknown.is_empty(),
        "read but exported by neither the daemon, the API nor the worker: {unknown:?}\nexported: {exported:?}"
    );
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    // promtool checks PromQL offline only inside rules: each query becomes a recording rule.
    let rules: Vec<Value> = dashboard_exprs()
        .into_iter()
        .enumerate()
        .map(
            |(i, expr)| serde_json::json!({"record": format!("dashboard:query_{i}"), "expr": expr}),
        )
        .collect();
    assert!(rules.len() >= 15, "{} queries", rules.len());
    let file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    let groups = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(file.path(), groups.to_string()).unwrap();
    let out = promtool(&["check", "rules", &file.path().display().to_string()]);
    assert!(out.status.success(), "{}", text(&out));
}

// ---------------------------------------------------------------- Kubernetes

/// The pod template's `prometheus.io` annotations name `port` and `/metrics`.
fn assert_scraped_at(deployment: &Value, port: u16) {
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true", "{annotations}");
    assert_eq!(annotations["prometheus.io/port"], port.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
}

#[test]
fn the_api_pod_is_scraped_on_its_http_port() {
    let cluster = deploy::Cluster::load();
    let api = cluster.get("Deployment", "svc-api");
    let ports = deploy::container(api)["ports"].as_array().unwrap().clone();
    let http = ports
        .iter()
        .find(|p| p["name"] == "http")
        .expect("the http port");
    let port = u16::try_from(http["containerPort"].as_u64().unwrap()).unwrap();
    assert_scraped_at(api, port);
    // The scrape is let in: the ConfigMap allows the pod network.
    assert!(!cluster.config()["METRICS_ALLOW"].is_empty());
}

#[test]
fn the_worker_pod_exposes_its_metrics_port_to_prometheus() {
    let cluster = deploy::Cluster::load();
    let worker = cluster.get("Deployment", "svc-worker");
    let container = deploy::container(worker);
    let env: BTreeMap<String, String> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .chain(cluster.config())
        .collect();
    let config = svc::worker::config::WorkerConfig::from_lookup(|n| env.get(n).cloned()).unwrap();
    let addr = config
        .metrics_addr
        .expect("WORKER_METRICS_ADDR is set for the worker");
    assert!(
        addr.ip().is_unspecified(),
        "bind every interface so Prometheus can reach it"
    );
    let ports = container["ports"]
        .as_array()
        .expect("the worker declares its port");
    let metrics = ports
        .iter()
        .find(|p| p["name"] == "metrics")
        .expect("a port named metrics");
    assert_eq!(
        metrics["containerPort"].as_u64(),
        Some(u64::from(addr.port()))
    );
    assert_scraped_at(worker, addr.port());
    // The pod's only network surface is that port: still no probe (see worker.yaml).
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        assert!(container[probe].is_null(), "the worker has no {probe}");
    }
}
