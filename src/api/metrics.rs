//! Prometheus metrics: requests by route and status, a latency histogram, requests in flight,
//! the queue's depth by state, the outbox backlog, and this process's memory and CPU.
//!
//! The recorder is process-global (the `metrics` macros write to it from anywhere); it is
//! installed once and every [`Metrics`] handle renders it. Request metrics are recorded by the
//! request middleware; gauges that describe other systems (queue, process) are refreshed when
//! `/metrics` is scraped, so they cost nothing between scrapes.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: 1 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

pub const REQUESTS: &str = "http_requests_total";
pub const LATENCY: &str = "http_request_duration_seconds";
pub const IN_FLIGHT: &str = "http_requests_in_flight";

/// A handle on the process's Prometheus recorder.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct MetricsError(String);

impl Metrics {
    /// Installs the recorder on first use; later calls share it.
    ///
    /// # Errors
    /// [`MetricsError`] when another recorder was installed first.
    pub fn install() -> Result<Self, MetricsError> {
        static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
        let handle = HANDLE.get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(LATENCY.into()), &LATENCY_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|e| e.to_string())
        });
        match handle {
            Ok(handle) => Ok(Metrics {
                handle: handle.clone(),
            }),
            Err(e) => Err(MetricsError(e.clone())),
        }
    }

    /// Folds recorded histogram samples into their buckets; run it every few seconds.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// How often [`Metrics::upkeep`] runs.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Sets the process gauges from `/proc/self`.
pub fn record_process() {
    if let Some(rss) = rss_bytes() {
        metrics::gauge!("process_resident_memory_bytes").set(rss as f64);
    }
    if let Some(cpu) = cpu_seconds() {
        metrics::gauge!("process_cpu_seconds_total").set(cpu);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!("process_open_fds").set(fds.count() as f64);
    }
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()?;
    Some(pages * u64::try_from(page).ok()?)
}

/// User + system CPU time of this process.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()?;
    Some((utime + stime) / ticks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_stats_are_readable() {
        assert!(rss_bytes().unwrap() > 100_000);
        assert!(cpu_seconds().unwrap() >= 0.0);
    }
}
