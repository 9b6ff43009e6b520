//! The one error type of every domain service, with stable codes that the API exposes as
//! `extensions.code`.
//!
//! `DomainError` deliberately does not implement `Display`: async-graphql converts any
//! `Display` error into a client message through `?`, which would drop the code. The API
//! converts it on purpose instead.

use sea_orm::DbErr;

/// Result of a domain operation.
pub type DomainResult<T> = Result<T, DomainError>;

/// A failure a client can act on, or an internal one it cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// No valid credentials were presented where they are needed.
    Unauthenticated(String),
    /// The actor is known but may not do this.
    Forbidden(String),
    /// The object does not exist, or the actor may not know that it exists.
    NotFound(String),
    /// The input is malformed; `field` names the offending input field or argument.
    BadUserInput {
        message: String,
        field: Option<String>,
    },
    /// The request clashes with the current state (duplicate, stale version, cycle...).
    Conflict(String),
    /// Too many attempts; retry after the given number of seconds.
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// A live stream may have missed events (a lagging subscriber, a lost connection
    /// between instances): resubscribe and reload.
    EventsLost(String),
    /// Something failed on our side. The detail is logged, never shown to the client.
    Internal(String),
}

impl DomainError {
    /// The stable code exposed as `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::Conflict(_) => "CONFLICT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::EventsLost(_) => "EVENTS_LOST",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// The message a client may see. Internal details are replaced by a generic text.
    pub fn public_message(&self) -> &str {
        match self {
            Self::Unauthenticated(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::Conflict(m)
            | Self::EventsLost(m)
            | Self::BadUserInput { message: m, .. }
            | Self::RateLimited { message: m, .. } => m,
            Self::Internal(_) => "internal error",
        }
    }

    /// The input field an input error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::BadUserInput { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// An input error about `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// `NOT_FOUND` for a kind of object, phrased the same whether it is missing or hidden.
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// An internal error; the detail is logged here, once, with its context.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let detail = detail.to_string();
        tracing::error!(error = %detail, "internal error");
        Self::Internal(detail)
    }
}

impl From<DbErr> for DomainError {
    fn from(e: DbErr) -> Self {
        Self::internal(format!("database: {e}"))
    }
}

/// True when a database error is a unique-constraint violation (on either backend).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_detail() {
        let e = DomainError::Internal("password_hash column missing".into());
        assert_eq!(e.code(), "INTERNAL");
        assert_eq!(e.public_message(), "internal error");
    }

    #[test]
    fn input_errors_name_their_field() {
        let e = DomainError::invalid("email", "not an email address");
        assert_eq!(e.code(), "BAD_USER_INPUT");
        assert_eq!(e.field(), Some("email"));
    }
}
