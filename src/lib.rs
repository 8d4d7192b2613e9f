//! `svc`: a process manager (daemon + CLI) and the service it supervises, in one crate.
//!
//! # Layout
//! - [`cli`]: clap definitions (they also generate `completions/` and `man/`) and one file per
//!   client command in `cli/commands/`.
//! - [`config`]: `svc.toml` schema, loading, validation (file:line:key errors), `.env`.
//! - [`protocol`]: the control protocol's request/response types and frame codec.
//! - [`control`]: the Unix-socket server and client, the state folder and pid-file lock.
//! - [`supervisor`]: the daemon: one actor per instance, restart policy, reaping, readiness.
//! - [`logs`]: capture of the children's output and the single log writer.
//! - [`api`], [`worker`], [`queue`]: the service the daemon runs by default; [`data_dir`]: its
//!   private folder; [`redis`]: the Redis settings and connections the queue and the API's rate
//!   limiter share.
//! - [`domain`] (validated products, users, ids), [`query`] (query string → typed query) and
//!   [`store`] (repository traits + the SQLite and MongoDB backends): the API's layers below HTTP;
//!   [`auth`]: accounts' secrets (password hashes, access and refresh tokens), without HTTP.
//! - [`telemetry`], [`prometheus`], [`shutdown`], [`sd_notify`], [`sqlite`], [`clock`]
//!   (milliseconds, converted one way everywhere): shared plumbing;
//!   [`secure_fs`]: the checks behind private folders and files never written through a planted
//!   link.
//!
//! # The dependency rule
//! Dependencies flow one way (`tests/architecture.rs` checks it, with the same clauses):
//! - `cli → control → protocol`: the protocol imports neither the control socket nor the CLI,
//!   and the control socket does not import the CLI;
//! - `supervisor → logs, config`: neither logs nor config imports the supervisor;
//! - `queue → redis` and `api → redis` (the rate limiter): `redis` imports neither;
//! - the service ([`api`], [`auth`], [`domain`], [`query`], [`queue`], [`store`], [`worker`])
//!   never imports the supervisor: it runs without the daemon's code.
//!
//! And no files import each other in a cycle, however long: what they share lives in a file of
//! its own. (Test modules may use any layer.)

pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod data_dir;
pub mod domain;
pub mod error_chain;
pub mod logs;
pub mod prometheus;
pub mod protocol;
pub mod query;
pub mod queue;
pub mod redis;
pub mod sd_notify;
pub mod secure_fs;
pub mod shutdown;
pub mod sqlite;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod worker;
