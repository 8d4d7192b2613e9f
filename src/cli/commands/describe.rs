//! `svc describe NAME`: one program in detail, from the daemon.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use super::{reach_daemon, runtime, send};
use crate::cli::{CliError, CliResult, DescribeArgs, GlobalArgs};
use crate::protocol::{DescribeRequest, Description, Request, Response};

pub fn run(global: &GlobalArgs, args: &DescribeArgs) -> CliResult {
    let config = reach_daemon(global)?;
    let request = Request::Describe(DescribeRequest {
        name: args.name.clone(),
    });
    let Response::Description(description) = runtime()?.block_on(send(&config, &request))? else {
        return Err(CliError::failure("the daemon answered with something else"));
    };
    if args.json {
        let json = serde_json::to_string_pretty(&description)
            .map_err(|e| CliError::failure(e.to_string()))?;
        println!("{json}");
    } else {
        print!("{}", render(&description));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(d: &Description) -> String {
    let mut out = String::new();
    let _ = write!(out, "{}: {} instance(s)", d.name, d.instances.len());
    if let Some(n) = d.scaled_to {
        let _ = write!(out, " (scaled to {n} until the next config reload)");
    }
    out.push_str("\n\ninstances:\n");
    for i in &d.instances {
        let s = &i.status;
        let _ = writeln!(
            out,
            "  [{}] {:<8} pid {:<8} up {:<8} restarts {} (policy), last restart: {}",
            s.instance,
            s.state.as_str(),
            s.pid.map_or("-".into(), |p| p.to_string()),
            s.uptime_secs
                .map_or("-".into(), |u| humantime::format_duration(
                    Duration::from_secs(u)
                )
                .to_string()),
            s.restarts,
            s.last_restart_reason.map_or("-", |r| r.as_str()),
        );
        if let Some(reason) = &s.reason {
            let _ = writeln!(out, "      why: {reason}");
        }
    }
    out.push_str("\nlatest restarts:\n");
    let mut history: Vec<(u32, &crate::protocol::RestartRecord)> = d
        .instances
        .iter()
        .flat_map(|i| i.history.iter().map(move |r| (i.status.instance, r)))
        .collect();
    history.sort_by_key(|(_, r)| r.at_ms);
    if history.is_empty() {
        out.push_str("  none\n");
    }
    for (index, record) in history {
        let at =
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(record.at_ms));
        let _ = writeln!(
            out,
            "  {at}  [{index}] {:<7} {}",
            record.reason.as_str(),
            record.detail
        );
    }
    let _ = writeln!(
        out,
        "\nreadiness: {}",
        d.config
            .get("ready")
            .map_or("-".into(), ToString::to_string)
    );
    if let Some(next) = &d.next_cron_restart {
        let _ = writeln!(out, "next cron restart: {next}");
    }
    out.push_str("log files:\n");
    for file in &d.log_files {
        let _ = writeln!(out, "  {file}");
    }
    let config = toml::to_string(&d.config)
        .or_else(|_| serde_json::to_string_pretty(&d.config))
        .unwrap_or_default();
    let _ = write!(out, "\nconfig (resolved, secrets masked):\n{config}");
    out
}
