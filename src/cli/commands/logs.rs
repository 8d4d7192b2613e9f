//! `svc logs`: the programs' logs, read straight from the files (the daemon need not run), and
//! `svc logs --rotate`, the one part that asks the daemon.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use super::{last_valid, request, runtime};
use crate::cli::{CliError, CliResult, ColorWhen, GlobalArgs, LevelArg, LogsArgs};
use crate::config::Config;
use crate::logs::read::render::Renderer;
use crate::logs::read::{self, Filter, Output};
use crate::logs::{Layout, Level};
use crate::protocol::Request;

/// Lines shown when neither `-n` nor a filter that asks for everything is given.
const DEFAULT_LINES: usize = 50;

pub fn run(global: &GlobalArgs, args: &LogsArgs) -> CliResult {
    let (config, fallback) = last_valid(global, |config| config.log_dir.exists())?;
    if args.rotate {
        return rotate(&config);
    }
    // The fallback names no programs: the filter alone decides.
    if !fallback {
        check_names(&config, &args.names)?;
    }
    let filter = Filter {
        programs: args.names.clone(),
        min_level: args.level.map(level),
        request_id: args.request_id.clone(),
        since: args.since.as_deref().map(since).transpose()?,
    };
    let layout = Layout::from_config(&config);
    let family = match args.names.as_slice() {
        [one] => layout.program(one).unwrap_or_else(|| layout.app()),
        _ => layout.app(),
    };
    let last = args
        .lines
        .or(if filter.request_id.is_some() || filter.since.is_some() {
            None
        } else {
            Some(DEFAULT_LINES)
        });
    let mut out = Printer::new(Renderer {
        json: args.json,
        color: use_color(args.color),
    });

    let read_failed = |e: io::Error| {
        CliError::failure(format!(
            "cannot read the logs in {}: {e}",
            family.dir.display()
        ))
    };
    let position = match read::history(&family, &filter, last, &mut out) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other.map_err(read_failed)?,
    };
    if position.is_none() && !args.follow {
        eprintln!(
            "no logs yet in {} (the daemon writes them once programs run)",
            family.dir.display()
        );
    }
    let result = if args.follow {
        read::follow(&family, position, &filter, &mut out)
    } else {
        out.flush()
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => other.map(|()| ExitCode::SUCCESS).map_err(read_failed),
    }
}

/// `svc logs --rotate`: the daemon is the only writer, so it does the rotating.
fn rotate(config: &Config) -> CliResult {
    runtime()?.block_on(request(config, &Request::RotateLogs))?;
    println!("rotated the logs in {}", config.log_dir.display());
    Ok(ExitCode::SUCCESS)
}

fn check_names(config: &Config, names: &[String]) -> Result<(), CliError> {
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| config.program(n).is_none())
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let known: Vec<&str> = config.programs.iter().map(|p| p.name.as_str()).collect();
    Err(CliError::usage(format!(
        "unknown program {}; {} has {}",
        unknown.join(", "),
        config.file.display(),
        known.join(", ")
    )))
}

fn level(arg: LevelArg) -> Level {
    match arg {
        LevelArg::Trace => Level::Trace,
        LevelArg::Debug => Level::Debug,
        LevelArg::Info => Level::Info,
        LevelArg::Warn => Level::Warn,
        LevelArg::Error => Level::Error,
    }
}

/// `--since`: a duration ago (`10m`) or a time (`2026-11-29T10:00:00Z`), as the writer's
/// `time` format so records compare as strings.
fn since(text: &str) -> Result<String, CliError> {
    let time = match humantime::parse_duration(text) {
        Ok(ago) => SystemTime::now().checked_sub(ago),
        Err(_) => crate::logs::time::parse(text),
    };
    time.map(crate::logs::time::format).ok_or_else(|| {
        CliError::usage(format!(
            "--since {text:?}: write a duration like 10m, 2h, 1d or a time like 2026-11-29T10:00:00Z"
        ))
    })
}

fn use_color(when: ColorWhen) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    }
}

/// Renders records to stdout, buffered; a closed stdout ends the command quietly.
struct Printer {
    renderer: Renderer,
    line: Vec<u8>,
    stdout: io::BufWriter<io::Stdout>,
}

impl Printer {
    fn new(renderer: Renderer) -> Printer {
        Printer {
            renderer,
            line: Vec::with_capacity(1024),
            stdout: io::BufWriter::with_capacity(256 * 1024, io::stdout()),
        }
    }
}

impl Output for Printer {
    fn line(&mut self, record: &[u8]) -> io::Result<()> {
        self.line.clear();
        self.renderer.render(record, &mut self.line);
        self.stdout.write_all(&self.line)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stdout.flush()
    }

    fn notice(&mut self, text: &str) {
        let _ = self.stdout.flush();
        eprintln!("svc logs: {text}");
    }
}
