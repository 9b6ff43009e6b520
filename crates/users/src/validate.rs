//! Input validation for users: each failure names its field and says what is expected.

use plexus_core::{DomainError, DomainResult};

/// Longest accepted password (argon2 hashes anything, but unbounded input is a DoS lever).
pub const MAX_PASSWORD: usize = 256;
/// Shortest accepted password.
pub const MIN_PASSWORD: usize = 8;

/// Normalises and checks an email address: trimmed, lower-cased, `local@domain.tld`.
pub fn email(field: &str, raw: &str) -> DomainResult<String> {
    let e = raw.trim().to_lowercase();
    let bad = |why: &str| Err(DomainError::invalid(field, why.to_string()));
    if e.is_empty() {
        return bad("email is required");
    }
    if e.len() > 254 {
        return bad("email must be at most 254 characters");
    }
    let Some((local, domain)) = e.split_once('@') else {
        return bad("email must look like name@example.com");
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"@\\".contains(c));
    if !domain_ok || !local_ok {
        return bad("email must look like name@example.com");
    }
    Ok(e)
}

/// Checks a new password's length (in characters).
pub fn password(field: &str, p: &str) -> DomainResult<()> {
    let n = p.chars().count();
    if n < MIN_PASSWORD {
        return Err(DomainError::invalid(
            field,
            format!("password must be at least {MIN_PASSWORD} characters"),
        ));
    }
    if n > MAX_PASSWORD {
        return Err(DomainError::invalid(
            field,
            format!("password must be at most {MAX_PASSWORD} characters"),
        ));
    }
    Ok(())
}

/// Checks a username: 3–32 of letters, digits, `_`, `.`, `-`.
pub fn username(field: &str, u: &str) -> DomainResult<String> {
    let u = u.trim();
    let n = u.chars().count();
    if !(3..=32).contains(&n) {
        return Err(DomainError::invalid(
            field,
            "username must be 3 to 32 characters",
        ));
    }
    if !u
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(DomainError::invalid(
            field,
            "username may contain only letters, digits, `_`, `.` and `-`",
        ));
    }
    Ok(u.to_string())
}

/// Trims an optional free-text field and bounds its length; blank becomes `None`.
pub fn text(field: &str, value: Option<&str>, max: usize) -> DomainResult<Option<String>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(Some(v.to_string()))
}

/// Checks an avatar URL: absolute http(s), at most 2048 characters.
pub fn url(field: &str, value: Option<&str>) -> DomainResult<Option<String>> {
    let Some(v) = text(field, value, 2048)? else {
        return Ok(None);
    };
    if !(v.starts_with("https://") || v.starts_with("http://")) || v.contains(char::is_whitespace) {
        return Err(DomainError::invalid(
            field,
            format!("{field} must be an http(s) URL"),
        ));
    }
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            email("email", "  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@example..com",
            "ada@.example.com",
            &format!("{}@example.com", "a".repeat(250)),
        ] {
            let e = email("email", bad).unwrap_err();
            assert_eq!(
                (e.code(), e.field()),
                ("BAD_USER_INPUT", Some("email")),
                "{bad}"
            );
        }
    }

    #[test]
    fn passwords_are_bounded() {
        assert!(password("password", "1234567").is_err());
        assert!(password("password", "12345678").is_ok());
        assert!(password("password", &"x".repeat(257)).is_err());
        assert!(
            password("password", "éééééééé").is_ok(),
            "counted in characters"
        );
    }

    #[test]
    fn usernames_and_texts() {
        assert_eq!(username("username", " ada_l ").unwrap(), "ada_l");
        assert!(username("username", "ad").is_err());
        assert!(username("username", "ada lovelace").is_err());
        assert_eq!(text("firstName", Some("  "), 100).unwrap(), None);
        assert!(text("firstName", Some(&"x".repeat(101)), 100).is_err());
        assert!(url("avatarUrl", Some("javascript:alert(1)")).is_err());
        assert!(
            url("avatarUrl", Some("https://example.com/a.png"))
                .unwrap()
                .is_some()
        );
    }
}
