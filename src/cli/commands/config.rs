//! `svc config check`: validate svc.toml and print it resolved.

use std::process::ExitCode;

use super::load_config;
use crate::cli::{CliError, CliResult, GlobalArgs};

pub fn check(global: &GlobalArgs) -> CliResult {
    let config = load_config(global)?;
    let resolved = toml::to_string(&config).map_err(|e| CliError::failure(e.to_string()))?;
    let instances: u32 = config.programs.iter().map(|p| p.instances).sum();
    println!(
        "# {}: valid ({} programs, {instances} instances)\n{resolved}",
        config.file.display(),
        config.programs.len()
    );
    Ok(ExitCode::SUCCESS)
}
