//! Raw query-string handling: decoding, the one-value-per-parameter rule, and the bookkeeping
//! that lets every unknown parameter be reported by name.

use crate::domain::{FieldError, Invalid};

/// Longest parameter name echoed back in an error, so a huge name is not reflected whole.
const MAX_SHOWN: usize = 64;

/// Most parameters one query string may hold. The products query knows 16; a query with
/// thousands is an attack (each one costs a comparison against the others and an error line
/// in the response), so it is refused as a whole before any is decoded further.
pub const MAX_PARAMS: usize = 64;

/// The decoded parameters of one query string, consumed by name.
#[derive(Debug)]
pub struct Params {
    /// Parameters not yet taken, in order of appearance; each name once.
    values: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

impl Params {
    /// Decodes `raw` (`a=1&b=x%20y`, `+` as space). A name given twice is recorded as an error
    /// and then ignored, so its values are never used. More than [`MAX_PARAMS`] parameters are
    /// one error naming `query`, and none of them is used.
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = form_urlencoded::parse(raw.unwrap_or("").as_bytes());
        if pairs.clone().nth(MAX_PARAMS).is_some() {
            return Params {
                values: Vec::new(),
                errors: vec![FieldError::new(
                    "query",
                    format!("has more than {MAX_PARAMS} parameters"),
                )],
            };
        }
        let mut values: Vec<(String, String)> = Vec::new();
        let mut repeated: Vec<String> = Vec::new();
        for (name, value) in pairs {
            if values.iter().any(|(n, _)| *n == name) {
                if !repeated.iter().any(|n| *n == name) {
                    repeated.push(name.into_owned());
                }
            } else {
                values.push((name.into_owned(), value.into_owned()));
            }
        }
        values.retain(|(name, _)| !repeated.contains(name));
        let errors = repeated
            .into_iter()
            .map(|name| {
                FieldError::new(
                    shown(&name),
                    "is given more than once; give each parameter once (use commas for lists)",
                )
            })
            .collect();
        Params { values, errors }
    }

    /// Removes and returns the value of `name`.
    pub fn take(&mut self, name: &str) -> Option<String> {
        let at = self.values.iter().position(|(n, _)| n == name)?;
        Some(self.values.remove(at).1)
    }

    /// Removes and returns every parameter whose name starts with `prefix`.
    pub fn take_prefixed(&mut self, prefix: &str) -> Vec<(String, String)> {
        let (taken, kept) = std::mem::take(&mut self.values)
            .into_iter()
            .partition(|(n, _)| n.starts_with(prefix));
        self.values = kept;
        taken
    }

    /// Records a problem with parameter `name`.
    pub fn fail(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(shown(name), message));
    }

    /// Reports every parameter not taken as unknown, then all problems at once.
    ///
    /// # Errors
    /// [`Invalid`] when anything was wrong.
    pub fn finish(mut self, known: &str) -> Result<(), Invalid> {
        for (name, _) in std::mem::take(&mut self.values) {
            let message = match name.split_once('[') {
                Some((base, _)) => format!(
                    "is not a known parameter ({base:?} takes no operators; known parameters: {known})"
                ),
                None => format!("is not a known parameter (known parameters: {known})"),
            };
            self.fail(&name, message);
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Invalid(self.errors))
        }
    }
}

/// `name`, cut to [`MAX_SHOWN`] characters.
fn shown(name: &str) -> String {
    if name.chars().count() <= MAX_SHOWN {
        name.to_owned()
    } else {
        let cut: String = name.chars().take(MAX_SHOWN).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus() {
        let mut p = Params::parse(Some("search=red+phone&price%5Bgte%5D=5&x=%27%22"));
        assert_eq!(p.take("search").as_deref(), Some("red phone"));
        assert_eq!(
            p.take_prefixed("price["),
            vec![("price[gte]".to_owned(), "5".to_owned())]
        );
        assert_eq!(p.take("x").as_deref(), Some("'\""));
        assert!(p.finish("").is_ok());
    }

    #[test]
    fn repeated_parameters_are_refused_and_unused() {
        let mut p = Params::parse(Some("sort=a&sort=b&sort=c&page=1"));
        assert_eq!(p.take("sort"), None);
        assert_eq!(p.take("page").as_deref(), Some("1"));
        let err = p.finish("").unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].field, "sort");
    }

    #[test]
    fn leftovers_are_named() {
        let mut p = Params::parse(Some("color=red&stock[gte]=1"));
        p.take("nothing");
        let err = p.finish("page").unwrap_err();
        let names: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["color", "stock[gte]"]);
        assert!(err.0[1].message.contains("takes no operators"));
    }

    #[test]
    fn thousands_of_parameters_are_one_error() {
        let raw: Vec<String> = (0..10_000).map(|i| format!("p{i}=1")).collect();
        let mut p = Params::parse(Some(&raw.join("&")));
        assert_eq!(p.take("p0"), None);
        let err = p.finish("").unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].field, "query");
        let at_limit: Vec<String> = (0..MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        let mut p = Params::parse(Some(&at_limit.join("&")));
        assert_eq!(p.take("p0").as_deref(), Some("1"));
    }

    #[test]
    fn long_names_are_cut() {
        let name = "n".repeat(500);
        let err = Params::parse(Some(&format!("{name}=1")))
            .finish("")
            .unwrap_err();
        assert!(err.0[0].field.chars().count() <= MAX_SHOWN + 1);
    }
}
