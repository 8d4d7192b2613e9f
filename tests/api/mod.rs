//! `svc api` as a real process: the HTTP surface, users and products on both stores, sign-in,
//! abuse, Redis shared between instances, and the parsers of query strings, bodies and settings.

mod abuse;
mod auth;
mod body_input;
mod env_input;
mod http;
mod mongo;
mod products;
mod query_input;
mod shared_redis;
mod users;
