//! An error with every cause beneath it on one line, for logs.
//!
//! An error keeps the lower error it wraps as its `source()`. Some errors repeat that cause's
//! text in their own message, many (hyper's, the drivers') do not, so printing an error alone
//! can drop the cause that explains it. Whatever logs an error prints its [`chain`] instead:
//! every message from the outermost down, each said once.

use std::error::Error;
use std::fmt;

/// `error` and its sources joined by `": "`, outermost first.
pub fn chain<'a>(error: &'a (dyn Error + 'static)) -> Chain<'a> {
    Chain(error)
}

/// What [`chain`] returns: formats lazily, so it costs nothing unless the log line is written.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(&'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            // Some errors repeat their source's text in their own; say it once.
            if !text.is_empty() && !shown.contains(&text) {
                write!(f, ": {text}")?;
                shown = text;
            }
            next = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("read failed: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn every_cause_is_shown_outermost_first() {
        let error = Outer(Middle(std::io::Error::other("disk on fire")));
        assert_eq!(chain(&error).to_string(), "outer: middle: disk on fire");
    }

    #[test]
    fn a_cause_its_wrapper_already_shows_is_not_repeated() {
        let error = Repeats(std::io::Error::other("disk on fire"));
        assert_eq!(chain(&error).to_string(), "read failed: disk on fire");
    }

    #[test]
    fn an_error_without_a_source_is_itself() {
        let error = std::io::Error::other("alone");
        assert_eq!(chain(&error).to_string(), "alone");
    }
}
