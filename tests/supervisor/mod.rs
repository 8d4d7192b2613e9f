//! The supervisor daemon end to end: starting, stopping and restarting programs, live config,
//! restart triggers, users and privileges, systemd and metrics, the repository's own svc.toml, and
//! svc.toml of any shape.

mod config_input;
mod daemon;
mod e2e;
mod live_config;
mod operations;
mod privilege;
mod smoke;
mod triggers;
