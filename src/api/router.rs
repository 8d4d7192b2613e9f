//! The HTTP surface: every route and the middleware around it ([`router`]), and what is served
//! while the store cannot be opened ([`unavailable_router`]).

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::error::{ApiError, ErrorCode};
use super::scrape_access::{self, ScrapeAccess};
use super::settings::CorsOrigins;
use super::state::AppState;
use super::{metrics, rate_limit, request, routes};

/// Every route and middleware of the API.
pub fn router(state: AppState, scrape: ScrapeAccess) -> Router {
    let cors = cors_layer(&state.cors);
    Router::new()
        .route("/health", get(routes::health::health))
        .route("/api/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready))
        .route(
            "/metrics",
            get(routes::health::metrics).route_layer(axum::middleware::from_fn_with_state(
                scrape,
                scrape_access::guard,
            )),
        )
        .route(
            "/api/products",
            get(routes::products::list).post(routes::products::create),
        )
        .route(
            "/api/products/{id}",
            get(routes::products::get)
                .patch(routes::products::update)
                .delete(routes::products::delete),
        )
        .route(
            "/api/products/{id}/restore",
            post(routes::products::restore),
        )
        .route(
            "/api/users",
            get(routes::users::list).post(routes::users::create),
        )
        .route(
            "/api/users/me",
            get(routes::me::get)
                .patch(routes::me::update)
                .delete(routes::me::delete),
        )
        .route(
            "/api/users/{id}",
            get(routes::users::get).delete(routes::users::delete),
        )
        .route("/api/auth/login", post(routes::auth::login))
        .route("/api/auth/refresh", post(routes::auth::refresh))
        .route("/api/auth/logout", post(routes::auth::logout))
        .route(
            "/api/users/{id}/welcome-email",
            get(routes::welcome_email::status),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit,
        ))
        .layer(cors)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(&HandlerPanicked).into_response()
        }))
        .layer(axum::middleware::from_fn(request::context))
        .with_state(state)
}

/// A handler's panic, as the cause its 500 logs.
#[derive(Debug, thiserror::Error)]
#[error("a handler panicked")]
struct HandlerPanicked;

/// What the API serves while its store cannot be opened: liveness, the scrape, `/ready` and
/// every other route as 503 at once (with `Retry-After`), in the API's error shape.
pub fn unavailable_router(metrics: metrics::Metrics, scrape: ScrapeAccess) -> Router {
    Router::new()
        .route("/health", get(routes::health::health))
        .route("/api/health", get(routes::health::health))
        .route("/ready", get(routes::health::not_open))
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { routes::health::scrape(&metrics) }
            })
            .route_layer(axum::middleware::from_fn_with_state(
                scrape,
                scrape_access::guard,
            )),
        )
        .fallback(routes::health::not_open)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(&HandlerPanicked).into_response()
        }))
        .layer(axum::middleware::from_fn(request::context))
}

/// Unknown paths and methods: 404 in the API's shape (as the Express app answered).
async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!(
            "Route {} {} not found",
            request.method(),
            request.uri().path()
        ),
    )
}

/// CORS from `CORS_ORIGINS`: only listed origins get `Access-Control-Allow-Origin`; preflights
/// are answered here, before the rate limit.
fn cors_layer(origins: &CorsOrigins) -> CorsLayer {
    let allow = match origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => {
            AllowOrigin::list(list.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        }
    };
    let ratelimit = |name: &'static str| HeaderName::from_static(name);
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            request::REQUEST_ID,
        ])
        .expose_headers([
            request::REQUEST_ID,
            header::RETRY_AFTER,
            ratelimit("ratelimit-limit"),
            ratelimit("ratelimit-remaining"),
            ratelimit("ratelimit-reset"),
        ])
        .max_age(Duration::from_secs(600))
}
