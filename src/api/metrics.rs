//! The API's metrics: requests by route and status, a latency histogram, requests in flight,
//! the queue's depth by state, the outbox backlog, and this process's memory and CPU.
//!
//! The recorder and the process gauges are the shared ones of [`crate::prometheus`] (re-exported
//! here). Request metrics are recorded by the request middleware; gauges that describe other
//! systems (queue, process) are refreshed when `/metrics` is scraped, so they cost nothing
//! between scrapes.

pub use crate::prometheus::{Metrics, MetricsError, UPKEEP_EVERY, record_process};

pub const REQUESTS: &str = "http_requests_total";
/// A `_seconds` histogram: its buckets are [`crate::prometheus`]'s, 1 ms to 10 s.
pub const LATENCY: &str = "http_request_duration_seconds";
pub const IN_FLIGHT: &str = "http_requests_in_flight";
