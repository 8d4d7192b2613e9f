//! The `ready` key: how the daemon learns that an instance is up, as written and as resolved.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::http_target::HttpTargetError;
use super::values::HumanDuration;
use super::{HttpTarget, Ready};

/// How long a readiness check may take before the start counts as failed.
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Without a readiness check, a program is online once it has stayed up this long.
pub(super) const DEFAULT_READY_UPTIME: Duration = Duration::from_secs(1);

/// `ready = "notify"`, or a table `{ http = URL | tcp = ADDR | notify = true | uptime = "1s", timeout = "30s" }`.
pub(super) struct RawReady(ReadyTable);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReadyTable {
    http: Option<String>,
    tcp: Option<String>,
    notify: Option<bool>,
    uptime: Option<HumanDuration>,
    timeout: Option<HumanDuration>,
}

impl<'de> Deserialize<'de> for RawReady {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawReady;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#""notify" or a table like { http = "http://127.0.0.1:3000/ready" }"#)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawReady, E> {
                match v {
                    "notify" => Ok(RawReady(ReadyTable {
                        notify: Some(true),
                        ..ReadyTable::default()
                    })),
                    other => Err(E::custom(format!(
                        "unknown readiness {other:?}; use \"notify\", {{ http = URL }} or {{ tcp = ADDR }}"
                    ))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawReady, A::Error> {
                ReadyTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawReady)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Why `ready` was refused; the caller locates it at the key.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadyError {
    #[error("name one readiness check: http, tcp, notify or uptime")]
    NoneNamed,
    #[error("name only one readiness check: http, tcp, notify or uptime")]
    MoreThanOne,
    #[error("tcp readiness needs HOST:PORT, not {0:?}")]
    TcpAddress(String),
    #[error(transparent)]
    HttpUrl(#[from] HttpTargetError),
}

/// The check `ready` names.
///
/// # Errors
/// [`ReadyError`]: it names none, more than one, or an address that cannot be probed.
pub(super) fn resolve(RawReady(table): RawReady) -> Result<Ready, ReadyError> {
    let timeout = table.timeout.map_or(DEFAULT_READY_TIMEOUT, |t| t.0);
    if let Some(after) = table.uptime {
        if table.http.is_some() || table.tcp.is_some() || table.notify.is_some() {
            return Err(ReadyError::MoreThanOne);
        }
        return Ok(Ready::Uptime { after: after.0 });
    }
    match (table.http, table.tcp, table.notify.unwrap_or(false)) {
        (Some(url), None, false) => {
            let target = HttpTarget::parse(&url)?;
            Ok(Ready::Http {
                url,
                target,
                timeout,
            })
        }
        (None, Some(addr), false) => {
            if addr
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(ReadyError::TcpAddress(addr));
            }
            Ok(Ready::Tcp { addr, timeout })
        }
        (None, None, true) => Ok(Ready::Notify { timeout }),
        (None, None, false) => Err(ReadyError::NoneNamed),
        _ => Err(ReadyError::MoreThanOne),
    }
}
