//! The arguments of `svc logs`.

use clap::Args;

pub(in crate::cli) const LOGS_EXAMPLES: &str = "\
Examples:
  svc logs                        the last 50 lines of every program
  svc logs api -n 200             the last 200 lines of the api
  svc logs --follow               keep printing new lines, across rotations (like tail -F)
  svc logs --request-id 3f2a...   every line of one request, API and worker, from every file
  svc logs --level error --since 10m
  svc logs --json | jq .msg       the records as stored: one JSON object per line
  svc logs --rotate               rotate app.log, error.log (and programs' own logs) now

Files: logs/app.log (every line), logs/error.log (errors and stderr), numbered and size-rotated
per [logs] in svc.toml; logs/programs/NAME.log for a program with its own `logs` policy.";

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Show only these programs (every program when none is named)
    #[arg(value_name = "PROGRAM")]
    pub names: Vec<String>,
    /// How many of the last matching lines to show [default: 50; all with --request-id or --since]
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,
    /// Keep printing lines as they are written, across rotations (Ctrl-C to end)
    #[arg(short, long)]
    pub follow: bool,
    /// Only the lines of this request (their `requestId`)
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    pub request_id: Option<String>,
    /// Only lines of this level or above
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<LevelArg>,
    /// Only lines since this long ago (10m, 2h, 1d) or this time (2026-11-29T10:00:00Z)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Print the records as stored, one JSON object per line
    #[arg(long)]
    pub json: bool,
    /// Colour the output: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,
    /// Ask the daemon to rotate every log file now, then exit
    #[arg(long, conflicts_with_all = ["names", "lines", "follow", "request_id", "level", "since", "json"])]
    pub rotate: bool,
}

/// `--level`: one of the five record levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LevelArg {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

fn non_empty(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(text.to_owned())
    }
}
