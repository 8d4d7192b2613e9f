//! `svc status` (and the table every state-changing command prints afterwards).

use std::process::ExitCode;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

use super::{reach_daemon, request, runtime};
use crate::cli::{CliError, CliResult, GlobalArgs, StatusArgs};
use crate::protocol::{InstanceStatus, Request, State, StatusReport};

pub fn run(global: &GlobalArgs, args: &StatusArgs) -> CliResult {
    let config = reach_daemon(global)?;
    if args.watch {
        return watch(&config);
    }
    let report = runtime()?.block_on(request(&config, &Request::Status))?;
    if args.json {
        let json = serde_json::to_string_pretty(&report.instances)
            .map_err(|e| CliError::failure(e.to_string()))?;
        println!("{json}");
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// Redraws the table in place every second until Ctrl-C.
fn watch(config: &crate::config::Config) -> CliResult {
    use std::io::Write;
    runtime()?.block_on(async {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
                _ = tick.tick() => {}
            }
            let report = request(config, &Request::Status).await?;
            let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
            // Home the cursor and clear the screen, then draw: no scrolling, no flicker of old rows.
            print!(
                "\x1b[H\x1b[2Jsvc {} · daemon pid {} · {now} · Ctrl-C to quit\n{}",
                config.file.display(),
                report.daemon_pid,
                render(&report)
            );
            let _ = std::io::stdout().flush();
        }
    })
}

/// Sends a state-changing request, prints the table, and fails when any instance it named is
/// not online (`check_online`).
pub fn run_request(global: &GlobalArgs, req: Request, check_online: bool) -> CliResult {
    let config = reach_daemon(global)?;
    let report = runtime()?.block_on(request(&config, &req))?;
    print!("{}", render(&report));
    if check_online {
        let names = match &req {
            Request::Start(n) | Request::Restart(n) | Request::Reload(n) => n.names.clone(),
            _ => Vec::new(),
        };
        let autostart_only = matches!(req, Request::Start(_));
        return check(&report, |i| {
            if names.is_empty() {
                !autostart_only || config.program(&i.name).is_some_and(|p| p.autostart)
            } else {
                names.contains(&i.name)
            }
        });
    }
    Ok(ExitCode::SUCCESS)
}

/// Fails, naming each instance and why, when a selected instance did not come up.
pub fn check(report: &StatusReport, selected: impl Fn(&InstanceStatus) -> bool) -> CliResult {
    let failed: Vec<String> = report
        .instances
        .iter()
        .filter(|i| selected(i))
        .filter(|i| !came_up(i))
        .map(|i| {
            let why = i
                .reason
                .clone()
                .or_else(|| i.last_exit.as_ref().map(|e| format!("exited with {e}")))
                .unwrap_or_else(|| i.state.as_str().to_owned());
            format!("{}[{}] is {}: {why}", i.name, i.instance, i.state.as_str())
        })
        .collect();
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(CliError::failure(failed.join("\n       "))
            .hint("see why with `svc logs` (or logs/svc.log)"))
    }
}

/// Online, or a one-shot program that finished cleanly.
fn came_up(i: &InstanceStatus) -> bool {
    i.state == State::Online
        || (i.state == State::Exited && i.last_exit.as_ref().is_some_and(|e| e.is_success()))
}

/// The status table, one row per instance.
pub fn render(report: &StatusReport) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "name",
            "id",
            "pid",
            "state",
            "uptime",
            "restarts",
            "cpu",
            "memory",
            "last exit",
        ]);
    for i in &report.instances {
        table.add_row(vec![
            Cell::new(&i.name),
            Cell::new(i.instance),
            Cell::new(i.pid.map_or("-".into(), |p| p.to_string())),
            Cell::new(i.state.as_str()).fg(state_color(i.state)),
            Cell::new(i.uptime_secs.map_or("-".into(), uptime)),
            Cell::new(i.restarts),
            Cell::new(i.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%"))),
            Cell::new(i.memory_bytes.map_or("-".into(), memory)),
            Cell::new(i.last_exit.as_ref().map_or("-".into(), ToString::to_string)),
        ]);
    }
    let mut out = format!("{table}\n");
    for i in report.instances.iter().filter(|i| i.state != State::Online) {
        if let Some(reason) = &i.reason {
            out.push_str(&format!("{}[{}]: {reason}\n", i.name, i.instance));
        }
    }
    if report.log_lines_dropped > 0 {
        out.push_str(&format!(
            "{} log lines could not be written (disk full?); see the daemon's svc.log\n",
            report.log_lines_dropped
        ));
    }
    for refused in &report.log_refused {
        out.push_str(&format!("log file refused: {refused}\n"));
    }
    out
}

fn state_color(state: State) -> Color {
    match state {
        State::Online => Color::Green,
        State::Starting | State::Stopping | State::Backoff => Color::Yellow,
        State::Errored => Color::Red,
        State::Stopped | State::Exited => Color::Grey,
    }
}

fn uptime(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

fn memory(bytes: u64) -> String {
    const MIB: f64 = (1 << 20) as f64;
    format!("{:.1} MiB", bytes as f64 / MIB)
}
