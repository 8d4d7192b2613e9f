//! The strict JSON reading shared by the product and user inputs: one [`FieldError`] per bad
//! field, all of them collected, never a coercion.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

/// One problem with one input field (a body field or a query parameter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field or parameter as the client wrote it.
    pub field: String,
    /// What is wrong, in words a client developer can act on.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every problem found in one input; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid(pub Vec<FieldError>);

impl Invalid {
    /// A single problem.
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid(vec![FieldError::new(field, message)])
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for problem in &self.0 {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{} {}", problem.field, problem.message)?;
        }
        Ok(())
    }
}

/// Reads the fields of one JSON object, collecting problems instead of stopping at the first.
pub(crate) struct Reader<'a> {
    map: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Reader<'a> {
    /// Starts reading `body`, which must be an object whose keys are all in `allowed`.
    pub(crate) fn new(body: &'a Value, allowed: &[&str]) -> Result<Self, Invalid> {
        let Value::Object(map) = body else {
            return Err(Invalid::one("body", "must be a JSON object"));
        };
        let errors = map
            .keys()
            .filter(|key| !allowed.contains(&key.as_str()))
            .map(|key| FieldError::new(key.clone(), "is not an allowed field"))
            .collect();
        Ok(Reader { map, errors })
    }

    /// The raw value of `field`, if present (a JSON `null` counts as present).
    pub(crate) fn raw(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field)
    }

    /// Records a problem.
    pub(crate) fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Runs `check` on the value of `field` when present; a failure is recorded.
    pub(crate) fn field<T>(
        &mut self,
        field: &str,
        check: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.raw(field)?;
        match check(value) {
            Ok(v) => Some(v),
            Err(message) => {
                self.fail(field, message);
                None
            }
        }
    }

    /// Like [`Reader::field`] but a missing field is a problem too.
    pub(crate) fn required<T>(
        &mut self,
        field: &str,
        check: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        if self.raw(field).is_none() {
            self.fail(field, "is required");
            return None;
        }
        self.field(field, check)
    }

    /// Whether the object has no keys at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// `Ok(())` when nothing was recorded.
    pub(crate) fn finish(self) -> Result<(), Invalid> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Invalid(self.errors))
        }
    }
}

/// A JSON string, trimmed, of `min..=max` characters.
pub(crate) fn text(value: &Value, min: usize, max: usize) -> Result<String, String> {
    let Value::String(raw) = value else {
        return Err("must be a string".into());
    };
    let trimmed = raw.trim();
    let len = trimmed.chars().count();
    if len < min {
        return Err(if min == 1 {
            "must not be empty".into()
        } else {
            format!("must be at least {min} characters")
        });
    }
    if len > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(trimmed.to_owned())
}

/// Like [`text`], but `null` (or a string that trims to nothing) clears the field.
pub(crate) fn optional_text(value: &Value, max: usize) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        other => text(other, 0, max).map(|s| (!s.is_empty()).then_some(s)),
    }
}

/// A finite JSON number in `0..=max`.
pub(crate) fn non_negative_number(value: &Value, max: f64) -> Result<f64, String> {
    let Some(number) = value.as_f64().filter(|_| value.is_number()) else {
        return Err("must be a number".into());
    };
    if !number.is_finite() {
        return Err("must be a finite number".into());
    }
    if number < 0.0 {
        return Err("must not be negative".into());
    }
    if number > max {
        return Err(format!("must be at most {max}"));
    }
    Ok(number)
}

/// A JSON integer in `0..=max` (`5.0` is not an integer here).
pub(crate) fn non_negative_integer(value: &Value, max: i64) -> Result<i64, String> {
    if !value.is_number() {
        return Err("must be an integer".into());
    }
    if value.as_i64().is_none() && value.as_u64().is_none() {
        return match value.as_f64() {
            Some(n) if n < 0.0 && n.fract() == 0.0 => Err("must not be negative".into()),
            _ => Err("must be an integer".into()),
        };
    }
    match value.as_i64() {
        Some(n) if n < 0 => Err("must not be negative".into()),
        Some(n) if n <= max => Ok(n),
        _ => Err(format!("must be at most {max}")),
    }
}

/// A JSON array of at most `max_items` strings of `1..=max_len` characters each, trimmed.
pub(crate) fn string_list(
    value: &Value,
    max_items: usize,
    max_len: usize,
) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err("must be an array of strings".into());
    };
    if items.len() > max_items {
        return Err(format!("must have at most {max_items} items"));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let tag = text(item, 1, max_len).map_err(|m| format!("item {i} {m}"))?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_trims_and_bounds_by_characters() {
        assert_eq!(text(&json!("  hi "), 1, 5), Ok("hi".into()));
        assert_eq!(text(&json!("   "), 1, 5), Err("must not be empty".into()));
        assert_eq!(text(&json!("ééééé"), 1, 5), Ok("ééééé".into()));
        assert!(text(&json!("éééééé"), 1, 5).is_err());
        assert_eq!(text(&json!(5), 1, 5), Err("must be a string".into()));
        assert_eq!(
            text(&json!({"$ne": ""}), 1, 5),
            Err("must be a string".into())
        );
    }

    #[test]
    fn numbers_are_not_coerced() {
        assert_eq!(non_negative_number(&json!(1.5), 10.0), Ok(1.5));
        assert_eq!(
            non_negative_number(&json!("1.5"), 10.0),
            Err("must be a number".into())
        );
        assert_eq!(
            non_negative_number(&json!(-1), 10.0),
            Err("must not be negative".into())
        );
        assert_eq!(non_negative_integer(&json!(3), 10), Ok(3));
        assert_eq!(
            non_negative_integer(&json!(3.5), 10),
            Err("must be an integer".into())
        );
        assert_eq!(
            non_negative_integer(&json!(-3), 10),
            Err("must not be negative".into())
        );
        assert_eq!(
            non_negative_integer(&json!(true), 10),
            Err("must be an integer".into())
        );
        assert_eq!(
            non_negative_integer(&json!(u64::MAX), 10),
            Err("must be at most 10".into())
        );
    }

    #[test]
    fn reader_reports_unknown_and_missing_fields_together() {
        let body = json!({"a": 1, "isAdmin": true});
        let mut reader = Reader::new(&body, &["a", "b"]).unwrap();
        assert_eq!(reader.required("b", |v| text(v, 1, 3)), None);
        let errors = reader.finish().unwrap_err().0;
        assert_eq!(
            errors,
            vec![
                FieldError::new("isAdmin", "is not an allowed field"),
                FieldError::new("b", "is required")
            ]
        );
        assert!(Reader::new(&json!([1]), &[]).is_err());
    }

    #[test]
    fn lists_are_bounded_and_deduplicated() {
        assert_eq!(
            string_list(&json!(["a", " a ", "b"]), 3, 2),
            Ok(vec!["a".into(), "b".into()])
        );
        assert!(string_list(&json!(["a", 1]), 3, 2).is_err());
        assert!(string_list(&json!(["a", "b", "c", "d"]), 3, 2).is_err());
        assert!(string_list(&json!("a"), 3, 2).is_err());
    }
}
