//! The job queue: one backend-neutral contract run on SQLite and on Redis, the bytes BullMQ
//! readers depend on, a real Node BullMQ peer, TLS to Redis, and `svc queue`.

// First: `contract` defines `queue_contract!`, which the two contract runs expand.
#[macro_use]
mod contract;
mod bullmq_format;
mod bullmq_interop;
mod cli;
mod redis_contract;
mod redis_tls;
mod sqlite_contract;
