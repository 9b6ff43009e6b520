//! Input checks every domain shares, with the same wording everywhere: text lengths (in
//! characters) and free-form JSON (an object, bounded in size). Each failure is
//! `BAD_USER_INPUT` naming the field.

use crate::{DomainError, DomainResult};
use serde_json::Value;

/// The largest free-form JSON value (metadata, results, arguments) accepted, in bytes.
pub const MAX_JSON_BYTES: usize = 256 * 1024;

/// `BAD_USER_INPUT` on `field` unless `v` has `min` to `max` characters.
pub fn check_text(field: &str, v: &str, min: usize, max: usize) -> DomainResult<()> {
    let n = v.chars().count();
    if n < min || n > max {
        return Err(DomainError::invalid(
            field,
            if min > 0 {
                format!("{field} must be {min} to {max} characters")
            } else {
                format!("{field} must be at most {max} characters")
            },
        ));
    }
    Ok(())
}

/// `BAD_USER_INPUT` on `field` unless `v` is a JSON object of at most `max_bytes`.
pub fn check_object_within(field: &str, v: &Value, max_bytes: usize) -> DomainResult<()> {
    if !v.is_object() {
        return Err(DomainError::invalid(
            field,
            format!("{field} must be a JSON object"),
        ));
    }
    check_size_within(field, v, max_bytes)
}

/// `BAD_USER_INPUT` on `field` unless `v` is a JSON object of at most [`MAX_JSON_BYTES`].
pub fn check_object(field: &str, v: &Value) -> DomainResult<()> {
    check_object_within(field, v, MAX_JSON_BYTES)
}

/// `BAD_USER_INPUT` on `field` unless `v` serialises to at most `max_bytes`.
pub fn check_size_within(field: &str, v: &Value, max_bytes: usize) -> DomainResult<()> {
    if v.to_string().len() > max_bytes {
        return Err(DomainError::invalid(
            field,
            format!("{field} must be at most {} KiB", max_bytes / 1024),
        ));
    }
    Ok(())
}

/// `BAD_USER_INPUT` on `field` unless `v` serialises to at most [`MAX_JSON_BYTES`].
pub fn check_size(field: &str, v: &Value) -> DomainResult<()> {
    check_size_within(field, v, MAX_JSON_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_their_field_and_limit() {
        assert!(check_text("name", "ab", 1, 2).is_ok());
        let e = check_text("name", "", 1, 2).unwrap_err();
        assert_eq!(
            (e.field(), e.public_message()),
            (Some("name"), "name must be 1 to 2 characters")
        );
        let e = check_text("bio", "héé", 0, 2).unwrap_err();
        assert_eq!(e.public_message(), "bio must be at most 2 characters");
        assert!(check_object("metadata", &serde_json::json!({ "a": 1 })).is_ok());
        let e = check_object("metadata", &serde_json::json!([1])).unwrap_err();
        assert_eq!(e.public_message(), "metadata must be a JSON object");
        let big = serde_json::json!({ "a": "x".repeat(70 * 1024) });
        let e = check_object_within("metadata", &big, 64 * 1024).unwrap_err();
        assert_eq!(e.public_message(), "metadata must be at most 64 KiB");
        assert!(check_size("result", &big).is_ok());
    }
}
