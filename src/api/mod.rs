//! `svc api`: the HTTP service.
//!
//! [`Settings`] come from the environment; [`Application::build`] opens the store and the queue
//! and binds the port; [`Application::run_until`] serves until SIGTERM and drains; [`router()`]
//! is the whole HTTP surface, testable without a socket.
//!
//! # Layout
//! - [`settings`]: env variables, validated all at once.
//! - [`app`]: building, binding (`SO_REUSEPORT`), serving, draining; [`serve`]: the accept
//!   loop with a header timeout (slow loris).
//! - [`mod@router`]: the routes and the middleware around them, in order.
//! - [`routes`]: one file per resource (`health`, `products`, `users`, `me`, `auth`,
//!   `welcome_email`).
//! - [`auth`]: the [`auth::Caller`] extractor and the two authorization rules (admin only; the
//!   user itself or an admin), the login lockout.
//! - [`request`]: the outermost middleware (request id, error body, security headers, metrics,
//!   access log); [`rate_limit`] and [`client_ip`]: the shared per-client limit (counted in the
//!   store, or in Redis when Redis is configured).
//! - [`gate`]: requests fail fast with 503 while the store is down, and recover by themselves.
//! - [`error`]: the one error shape; [`extract`]: JSON body and id extractors that fail in it.
//! - [`relay`]: the outbox relay that puts welcome emails on the queue.
//! - [`metrics`]: the Prometheus recorder and process gauges; [`scrape_access`]: who may read
//!   them.

pub mod app;
pub mod auth;
pub mod client_ip;
pub mod error;
pub mod extract;
pub mod gate;
pub mod metrics;
pub mod rate_limit;
pub mod relay;
pub mod request;
pub mod router;
pub mod routes;
pub mod scrape_access;
pub mod serve;
pub mod settings;
pub mod state;

use std::process::ExitCode;
use std::time::Duration;

pub use app::{Application, BuildError, RunError};
pub use router::{router, unavailable_router};
pub use scrape_access::ScrapeAccess;
pub use settings::{Settings, SettingsError};
pub use state::AppState;

use crate::error_chain::chain;

/// `svc api`: reads the settings, builds, serves until SIGTERM (reporting ready once its
/// database and queue answer), drains, exits.
/// Exit codes: 0 after a clean drain, 1 on a runtime failure, 2 on invalid settings.
pub fn main() -> ExitCode {
    // A .env in the working folder (not its parents) fills variables the environment lacks.
    let dotenv = dotenvy::from_path(".env");
    crate::telemetry::init_json(crate::telemetry::stdout_lines());
    if let Some(error) = dotenv.as_ref().err().filter(|e| !e.not_found()) {
        tracing::warn!(%error, "ignoring .env");
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            tracing::error!(error = %chain(&error), "refusing to start");
            eprintln!("svc api: {error}");
            return ExitCode::from(2);
        }
    };
    if uses_data_dir(&settings)
        && let Err(error) = crate::data_dir::prepare(&settings.data_dir)
    {
        tracing::error!(error = %chain(&error), "refusing to start");
        eprintln!("svc api: {error}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(settings));
    // Requests cut off by the drain timeout may still hold blocking tasks: do not wait forever.
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}

/// Whether the API keeps anything in `DATA_DIR`: the embedded store or queue, or the key file.
/// With MongoDB, Redis and `AUTH_SECRET` it does not, and the folder is not checked.
fn uses_data_dir(settings: &Settings) -> bool {
    matches!(settings.database, settings::Database::Embedded)
        || matches!(settings.queue, crate::queue::Backend::Sqlite { .. })
        || settings.auth.secret.is_none()
}

async fn serve(settings: Settings) -> ExitCode {
    let shutdown = match crate::shutdown::on_terminate() {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(error = %chain(&error), "cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(error = %chain(&error), "cannot start");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %chain(&error), "server failed");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::queue::sqlite::SqliteQueue;
    use crate::store::sqlite::SqliteStore;

    fn state(dir: &std::path::Path) -> AppState {
        let settings = Settings::from_lookup(|_| None).unwrap();
        let store = Arc::new(SqliteStore::open_in(dir).unwrap());
        let queue = Arc::new(SqliteQueue::open_in(dir).unwrap());
        AppState::new(
            store,
            queue,
            None,
            crate::auth::token::Keys::new(vec![7; 32], None),
            &settings,
            metrics::Metrics::install().unwrap(),
        )
    }

    async fn body(response: axum::response::Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn the_router_answers_without_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::from_lookup(|_| None).unwrap();
        let app = router(state(dir.path()), ScrapeAccess::new(&settings));
        let response = app
            .clone()
            .oneshot(Request::get("/health").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(body(response).await, serde_json::json!({"status": "ok"}));

        let request = Request::get("/api/products/nope")
            .header("x-request-id", "r-1")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()["x-request-id"], "r-1");
        let error = body(response).await;
        assert_eq!(error["code"], "INVALID_ID");
        assert_eq!(error["path"], "/api/products/nope");
        assert_eq!(error["requestId"], "r-1");
        assert_eq!(error["success"], false);
        assert!(error["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(error["details"][0]["field"], "id");
    }
}
