//! Support shared by every area of the suite: the real binaries in temp folders, the servers they
//! talk to (Redis, MongoDB, SMTP), throw-away certificates, and the property-test plumbing.

// `#[macro_use]` makes `backend_tests!` visible to the areas declared after `common`.
#[macro_use]
pub mod api;
pub mod deploy;
pub mod faults;
pub mod fuzz;
pub mod harness;
pub mod logs;
pub mod redis_server;
pub mod tls;
pub mod wait;
pub mod worker;
