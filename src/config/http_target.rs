//! The URL of an HTTP readiness check, parsed once when svc.toml is loaded.

/// A parsed `http://host:port/path` URL (plain HTTP: probes target loopback or a pod IP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// `host:port`
    pub authority: String,
    pub path: String,
}

/// Why a readiness URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpTargetError {
    #[error("http readiness needs an http:// URL, not {0:?}")]
    NotHttp(String),
    #[error("no usable host in {0:?}")]
    NoHost(String),
}

impl HttpTarget {
    /// Parses an `http://` URL.
    ///
    /// # Errors
    /// [`HttpTargetError`], naming what is wrong with the URL.
    pub fn parse(url: &str) -> Result<HttpTarget, HttpTargetError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| HttpTargetError::NotHttp(url.to_owned()))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() || authority.contains(['@', ' ']) {
            return Err(HttpTargetError::NoHost(url.to_owned()));
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let path = if path.is_empty() { "/" } else { path };
        Ok(HttpTarget {
            authority,
            path: path.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_port_and_path() {
        let t = HttpTarget::parse("http://127.0.0.1:3000/ready").unwrap();
        assert_eq!(t.authority, "127.0.0.1:3000");
        assert_eq!(t.path, "/ready");
        let t = HttpTarget::parse("http://localhost").unwrap();
        assert_eq!(t.authority, "localhost:80");
        assert_eq!(t.path, "/");
        assert!(HttpTarget::parse("https://x/").is_err());
        assert!(HttpTarget::parse("http:///x").is_err());
    }
}
