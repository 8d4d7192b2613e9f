//! `svc config check`: validate svc.toml and print it resolved, secrets masked.

use std::collections::BTreeMap;
use std::process::ExitCode;

use super::load_daemon_config;
use crate::cli::{CliError, CliResult, ConfigCheckArgs, GlobalArgs};
use crate::config::secrets;
use crate::config::{Config, Ready};

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

/// Masks every environment value that looks secret (see [`secrets::mask`]), and the password
/// of an HTTP readiness URL.
fn hide_secrets(config: &mut Config) {
    mask_env(&mut config.env);
    for program in &mut config.programs {
        mask_env(&mut program.env);
        if let Ready::Http { url, .. } = &mut program.ready {
            *url = secrets::mask_url(url).into_owned();
        }
    }
}

fn mask_env(env: &mut BTreeMap<String, String>) {
    for (key, value) in env.iter_mut() {
        *value = secrets::mask(key, value).into_owned();
    }
}
