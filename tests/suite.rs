//! Every integration test, in one test binary. Each file under `tests/` is a module here, so the
//! crate and its dependencies are linked once (one ~100 MB binary instead of one per file: faster
//! CI builds and a fraction of the disk). Run one area with a filter: `cargo nextest run api_http::`.

// Shared support first: `#[macro_use]` makes their macros visible to the modules below.
#[macro_use]
mod api_support;
#[macro_use]
#[path = "queue_support/contract.rs"]
mod contract;
mod deploy_support;
mod faults_support;
mod harness;
mod logs_support;
mod redis_support;
mod tls_support;
mod worker_support;

mod abuse;
mod api_http;
mod api_mongo;
mod api_products;
mod api_redis;
mod api_users;
mod architecture;
mod auth;
mod bad_input;
mod deploy;
mod e2e;
mod faults;
mod faults_redis;
mod faults_service;
mod generated;
mod live_config;
mod logs_backpressure;
mod logs_cli;
mod logs_content;
mod logs_disk_full;
mod logs_follow;
mod logs_rotate_compare;
mod logs_rotation;
mod monitoring;
mod operations;
mod private_files;
mod privilege;
mod queue_cli;
mod queue_contract;
mod queue_contract_redis;
mod redis_interop;
mod redis_queue;
mod redis_tls;
mod redis_worker;
mod secrets;
mod smoke;
mod supervisor;
mod triggers;
mod worker;
mod worker_smtp;
