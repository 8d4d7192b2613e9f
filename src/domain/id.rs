//! 24-hex ids shaped like MongoDB's ObjectId, so the same ids work on both storage backends and
//! sort roughly by creation time.
//!
//! Layout (12 bytes): a 4-byte big-endian Unix timestamp in seconds, 5 random bytes chosen once
//! per process, and a 3-byte big-endian counter that starts at a random value. Several API
//! processes share one database, so the per-process random part keeps their ids apart.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Serialize, Serializer};

/// A 12-byte id written as 24 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 12]);

/// Why a string is not an [`ObjectId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a 24-character hexadecimal id")]
pub struct IdError;

/// The per-process random part and the counter.
struct Generator {
    process: [u8; 5],
    counter: AtomicU32,
}

fn generator() -> &'static Generator {
    static GENERATOR: OnceLock<Generator> = OnceLock::new();
    GENERATOR.get_or_init(|| {
        let random = uuid::Uuid::new_v4().into_bytes();
        let mut process = [0u8; 5];
        process.copy_from_slice(&random[..5]);
        let start = u32::from_be_bytes([0, random[6], random[7], random[8]]);
        Generator {
            process,
            counter: AtomicU32::new(start),
        }
    })
}

impl ObjectId {
    /// A new id for the current time.
    pub fn new() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self::at(u32::try_from(secs).unwrap_or(u32::MAX))
    }

    /// A new id carrying `secs` (Unix seconds) as its timestamp.
    pub fn at(secs: u32) -> Self {
        let generator = generator();
        let count = generator.counter.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&secs.to_be_bytes());
        bytes[4..9].copy_from_slice(&generator.process);
        bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
        ObjectId(bytes)
    }

    /// The id from its 12 bytes (as a database stores it).
    pub fn from_bytes(bytes: [u8; 12]) -> Self {
        ObjectId(bytes)
    }

    /// The 12 bytes of the id.
    pub fn to_bytes(self) -> [u8; 12] {
        self.0
    }

    /// The Unix seconds stored in the id.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    /// Parses 24 hex digits (either case); anything else is an [`IdError`].
    ///
    /// # Errors
    /// [`IdError`] when `text` is not exactly 24 hex digits.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let raw = text.as_bytes();
        if raw.len() != 24 {
            return Err(IdError);
        }
        let mut bytes = [0u8; 12];
        for (i, pair) in raw.chunks_exact(2).enumerate() {
            bytes[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
        }
        Ok(ObjectId(bytes))
    }
}

impl Default for ObjectId {
    fn default() -> Self {
        Self::new()
    }
}

fn hex_value(digit: u8) -> Result<u8, IdError> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        b'A'..=b'F' => Ok(digit - b'A' + 10),
        _ => Err(IdError),
    }
}

impl FromStr for ObjectId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        Self::parse(text)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_lowercase_hex_and_round_trip() {
        let id = ObjectId::new();
        let text = id.to_string();
        assert_eq!(text.len(), 24);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(ObjectId::parse(&text), Ok(id));
        assert_eq!(ObjectId::parse(&text.to_uppercase()), Ok(id));
    }

    #[test]
    fn ids_carry_their_timestamp_and_are_unique() {
        let a = ObjectId::at(1_700_000_000);
        let b = ObjectId::at(1_700_000_000);
        assert_eq!(a.timestamp(), 1_700_000_000);
        assert_ne!(a, b);
        assert_eq!(a.0[4..9], b.0[4..9], "same process, same random part");
        let later = ObjectId::at(1_700_000_001);
        assert!(later > a, "a later second sorts after");
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "abc",
            "zzzzzzzzzzzzzzzzzzzzzzzz",
            "507f1f77bcf86cd79943901",
            "507f1f77bcf86cd7994390111",
            "507f1f77bcf86cd79943901'",
        ] {
            assert_eq!(ObjectId::parse(bad), Err(IdError), "{bad:?}");
        }
        assert!(ObjectId::parse("507f1f77bcf86cd799439011").is_ok());
    }
}
