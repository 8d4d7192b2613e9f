//! Every integration test, in one test binary. Each folder under `tests/` is one area (a module
//! here, its files the modules below it); `common/` is the support they share. One binary links
//! the crate and its dependencies once (one ~100 MB binary instead of one per file: faster CI
//! builds and a fraction of the disk). Run one area with a filter:
//! `cargo nextest run -E 'binary(suite) & test(/^api::http::/)'`.

#![allow(clippy::unwrap_used)]

// Shared support first: `#[macro_use]` makes its macros visible to the areas below.
#[macro_use]
mod common;

mod api;
mod architecture;
mod deploy;
mod faults;
mod logs;
mod queue;
mod supervisor;
mod worker;
