//! Who may read `/metrics`: the scrape shows routes, error rates and queue depths, which are
//! nobody else's business. Answered to loopback clients, to the networks in `METRICS_ALLOW`
//! (the Kubernetes manifests list the pod network, where Prometheus scrapes from), or to any
//! client sending `Authorization: Bearer $METRICS_TOKEN`; everyone else gets 403. Each instance
//! checks on its own, so instances sharing a port are all scrapeable alike.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::client_ip::{IpNet, client_ip};
use super::error::{ApiError, ErrorCode};
use super::settings::{Secret, Settings};

/// The scrape's access rules. Cheap to clone.
#[derive(Clone)]
pub struct ScrapeAccess {
    allow: Arc<[IpNet]>,
    token: Option<Secret>,
    trusted_proxies: Arc<[IpNet]>,
}

impl ScrapeAccess {
    pub fn new(settings: &Settings) -> Self {
        ScrapeAccess {
            allow: settings.metrics_allow.clone().into(),
            token: settings.metrics_token.clone(),
            trusted_proxies: settings.trusted_proxies.clone().into(),
        }
    }

    /// Whether a client at `peer` sending `authorization` may scrape.
    pub fn permits(&self, peer: Option<IpAddr>, request: &Request) -> bool {
        let by_address = peer.is_some_and(|peer| {
            let client = client_ip(peer, request.headers(), &self.trusted_proxies);
            client.is_loopback() || self.allow.iter().any(|net| net.contains(client))
        });
        by_address
            || self.token.as_ref().is_some_and(|token| {
                request
                    .headers()
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .is_some_and(|given| same(given.trim(), token.expose()))
            })
    }
}

/// Compares two secrets in time independent of where they differ (through their digests, so
/// their lengths do not show either).
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The middleware of the `/metrics` route.
pub async fn guard(State(access): State<ScrapeAccess>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    if access.permits(peer, &request) {
        return next.run(request).await;
    }
    tracing::info!(client = ?peer, "metrics scrape refused");
    ApiError::new(
        ErrorCode::Forbidden,
        "Metrics are served to loopback, to METRICS_ALLOW networks, or with the METRICS_TOKEN bearer token",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(allow: &str, token: Option<&str>) -> ScrapeAccess {
        let mut vars = vec![("METRICS_ALLOW", allow.to_owned())];
        if let Some(token) = token {
            vars.push(("METRICS_TOKEN", token.to_owned()));
        }
        let settings = Settings::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap();
        ScrapeAccess::new(&settings)
    }

    fn request(authorization: Option<&str>) -> Request {
        let mut builder = Request::get("/metrics");
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn loopback_allowed_networks_and_the_token_may_scrape() {
        let access = access("10.0.0.0/8", Some("a-long-enough-token"));
        let ip = |text: &str| Some(text.parse::<IpAddr>().unwrap());
        assert!(access.permits(ip("127.0.0.1"), &request(None)));
        assert!(access.permits(ip("::1"), &request(None)));
        assert!(access.permits(ip("10.1.2.3"), &request(None)));
        assert!(!access.permits(ip("203.0.113.9"), &request(None)));
        assert!(!access.permits(None, &request(None)));
        assert!(access.permits(
            ip("203.0.113.9"),
            &request(Some("Bearer a-long-enough-token"))
        ));
        assert!(!access.permits(ip("203.0.113.9"), &request(Some("Bearer wrong"))));
        assert!(!access.permits(ip("203.0.113.9"), &request(Some("a-long-enough-token"))));
    }
}
