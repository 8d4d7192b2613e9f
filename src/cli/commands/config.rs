//! `svc config check`: validate svc.toml and print it resolved, secrets masked.

use std::process::ExitCode;

use super::load_daemon_config;
use crate::cli::{CliError, CliResult, ConfigCheckArgs, GlobalArgs};
use crate::config::Config;
use crate::config::secrets;

pub fn check(global: &GlobalArgs, args: &ConfigCheckArgs) -> CliResult {
    let mut config = load_daemon_config(global)?;
    if !args.show_secrets {
        hide_secrets(&mut config);
    }
    let resolved = toml::to_string(&config).map_err(|e| CliError::failure(e.to_string()))?;
    let instances: u32 = config.programs.iter().map(|p| p.instances).sum();
    println!(
        "# {}: valid ({} programs, {instances} instances)\n{resolved}",
        config.file.display(),
        config.programs.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Masks every value that looks secret: environment values, readiness URL passwords.
fn hide_secrets(config: &mut Config) {
    secrets::mask_env(&mut config.env);
    for program in &mut config.programs {
        secrets::mask_program(program);
    }
}
