//! The process's Prometheus recorder, shared by `svc api` and `svc worker` (one exporter, one
//! set of histogram buckets, the same process gauges).
//!
//! The recorder is process-global (the `metrics` macros write to it from anywhere); it is
//! installed once and every [`Metrics`] handle renders it. Histogram buckets are chosen by the
//! metric's unit suffix, so a new `_seconds` or `_attempts` histogram needs no set-up here.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

/// Buckets of every `*_seconds` histogram: 1 ms to 10 s.
const SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Buckets of every `*_attempts` histogram (a job's attempts; BullMQ jobs rarely get more than
/// a handful).
const ATTEMPTS_BUCKETS: [f64; 7] = [1.0, 2.0, 3.0, 5.0, 10.0, 25.0, 100.0];

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often [`Metrics::upkeep`] runs.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

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
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_attempts".into()), &ATTEMPTS_BUCKETS)
                })
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

    /// Runs [`Metrics::upkeep`] every [`UPKEEP_EVERY`] until `stop`.
    pub async fn upkeep_until(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => self.upkeep(),
            }
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

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

    #[test]
    fn histograms_get_buckets_by_unit() {
        let metrics = Metrics::install().unwrap();
        metrics::histogram!("test_wait_seconds").record(0.003);
        metrics::histogram!("test_job_attempts").record(2.0);
        let text = metrics.render();
        assert!(
            text.contains("test_wait_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("test_job_attempts_bucket{le=\"2\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("test_job_attempts_bucket{le=\"1\"} 0"),
            "{text}"
        );
    }
}
