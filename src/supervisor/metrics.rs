//! The daemon's Prometheus endpoint (`[daemon] metrics = "IP:PORT"`, off by default): one gauge
//! family per figure of `svc status`, labelled by program and instance.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::protocol::{ExitInfo, RestartReason, State, StatusReport};

const STATES: [State; 7] = [
    State::Starting,
    State::Online,
    State::Stopping,
    State::Stopped,
    State::Backoff,
    State::Errored,
    State::Exited,
];

/// Serves `GET /metrics` on `addr` until `shutdown`, rendering `report()` on each scrape.
///
/// # Errors
/// Fails when `addr` cannot be bound.
pub async fn serve(
    addr: SocketAddr,
    report: Arc<dyn Fn() -> StatusReport + Send + Sync>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for [daemon] metrics"))?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let report = report.clone();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    render(&report()),
                )
            }
        }),
    );
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(error) = server.await {
            tracing::error!(%error, "metrics endpoint failed");
        }
    });
    Ok(())
}

/// The Prometheus text exposition of a status report.
pub fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    let families: [(&str, &str, &str); 5] = [
        ("svc_up", "gauge", "1 when the instance is online"),
        (
            "svc_memory_bytes",
            "gauge",
            "resident memory of the instance's process",
        ),
        (
            "svc_cpu_percent",
            "gauge",
            "CPU use of one core since the previous scrape",
        ),
        (
            "svc_last_exit_code",
            "gauge",
            "exit code of the last run (128+N for signal N)",
        ),
        (
            "svc_uptime_seconds",
            "gauge",
            "seconds since the current process started",
        ),
    ];
    for (name, kind, help) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for i in &report.instances {
            let value = match name {
                "svc_up" => Some(f64::from(u8::from(i.state == State::Online))),
                "svc_memory_bytes" => i.memory_bytes.map(|b| b as f64),
                "svc_cpu_percent" => i.cpu_percent,
                "svc_last_exit_code" => i.last_exit.as_ref().map(exit_code),
                _ => i.uptime_secs.map(|s| s as f64),
            };
            if let Some(value) = value {
                let _ = writeln!(
                    out,
                    "{name}{{program=\"{}\",instance=\"{}\"}} {value}",
                    i.name, i.instance
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP svc_restarts_total restarts of the instance since the daemon started, by cause\n# TYPE svc_restarts_total counter"
    );
    for i in &report.instances {
        for reason in RestartReason::ALL {
            let count = i.restarts_by_reason.get(&reason).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "svc_restarts_total{{program=\"{}\",instance=\"{}\",reason=\"{}\"}} {count}",
                i.name,
                i.instance,
                reason.as_str()
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP svc_state 1 for the instance's current state\n# TYPE svc_state gauge"
    );
    for i in &report.instances {
        for state in STATES {
            let _ = writeln!(
                out,
                "svc_state{{program=\"{}\",instance=\"{}\",state=\"{}\"}} {}",
                i.name,
                i.instance,
                state.as_str(),
                u8::from(i.state == state)
            );
        }
    }
    out
}

fn exit_code(exit: &ExitInfo) -> f64 {
    match exit {
        ExitInfo::Code(code) => f64::from(*code),
        ExitInfo::Unknown => f64::from(crate::protocol::UNKNOWN_EXIT_CODE),
        ExitInfo::Signal(name) => name
            .parse::<nix::sys::signal::Signal>()
            .map_or(-1.0, |s| f64::from(128 + s as i32)),
    }
}
