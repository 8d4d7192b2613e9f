//! `svc reload` without names (apply a changed svc.toml) and `svc scale`: both print what
//! changed, one line each, then the status table.

use std::process::ExitCode;

use super::{load_config, runtime, send, status};
use crate::cli::{CliError, CliResult, GlobalArgs, ScaleArgs};
use crate::protocol::{ApplyReport, ApplyRequest, Request, Response, ScaleRequest};

pub fn apply(global: &GlobalArgs, dry_run: bool) -> CliResult {
    report(global, &Request::Apply(ApplyRequest { dry_run }))
}

pub fn scale(global: &GlobalArgs, args: &ScaleArgs) -> CliResult {
    report(
        global,
        &Request::Scale(ScaleRequest {
            name: args.name.clone(),
            instances: args.instances,
        }),
    )
}

/// Sends the request and prints the daemon's report; fails when a change failed.
fn report(global: &GlobalArgs, request: &Request) -> CliResult {
    let config = load_config(global).map_err(|e| {
        e.hint("nothing was changed: the daemon runs on as before; fix the file and run `svc reload` again")
    })?;
    let response = runtime()?.block_on(send(&config, request))?;
    let Response::Applied(report) = response else {
        return Err(CliError::failure("the daemon answered with something else"));
    };
    print!("{}", render(&report));
    if report.failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(CliError::failure(report.failures.join("\n       "))
            .hint("the old processes keep running; see why with `svc logs`"))
    }
}

fn render(report: &ApplyReport) -> String {
    let mut out = String::new();
    if report.changes.is_empty() {
        out.push_str("svc.toml: nothing changed\n");
    } else if report.dry_run {
        out.push_str("would apply (dry run, nothing changed):\n");
    }
    for line in &report.changes {
        out.push_str(line);
        out.push('\n');
    }
    if !report.dry_run {
        out.push_str(&status::render(&report.status));
    }
    out
}
