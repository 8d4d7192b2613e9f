//! Readiness probes for programs that do not speak the notify protocol: an HTTP GET that must
//! answer 2xx, or a TCP connect. Each attempt is bounded; the caller retries until its timeout.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::HttpTarget;

/// Pause between two failed probe attempts.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(50);

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// One HTTP attempt: true when the status is 2xx.
pub async fn http_once(target: &HttpTarget) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(&target.authority).await.ok()?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: svc-probe\r\nConnection: close\r\n\r\n",
            target.path, target.authority
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        // "HTTP/1.1 200"
        Some(head.starts_with(b"HTTP/1.") && head[9] == b'2')
    };
    tokio::time::timeout(ATTEMPT_TIMEOUT, attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// One TCP attempt: true when the connection is accepted.
pub async fn tcp_once(addr: &str) -> bool {
    matches!(
        tokio::time::timeout(ATTEMPT_TIMEOUT, TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn http_probe_sees_a_real_2xx_and_not_a_503() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for status in ["200 OK", "503 Service Unavailable"] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let target = HttpTarget::parse(&format!("http://{addr}/ready")).unwrap();
        assert!(http_once(&target).await);
        assert!(!http_once(&target).await);
        assert!(!http_once(&target).await, "nobody listening any more");
    }
}
