//! The control socket: the daemon's server side, the CLI's client side, and the state folder.
//!
//! The socket (`run/svc.sock`, mode 0600, in a 0700 folder) is the daemon's only door; it checks
//! every peer's uid with `SO_PEERCRED`, and speaks only [`crate::protocol`].

pub mod client;
pub mod server;
pub mod state_dir;
