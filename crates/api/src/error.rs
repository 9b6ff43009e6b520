//! Turning domain errors into GraphQL errors with `extensions.code` (and `extensions.field`
//! for input errors). Internal details never reach the client.

use plexus_core::DomainError;

/// Result of a resolver.
pub type ApiResult<T> = Result<T, ApiError>;

/// A domain error on its way to the client. It has no `Display` on purpose, so it cannot
/// slip through async-graphql's blanket conversion without its code.
#[derive(Debug, Clone)]
pub struct ApiError(pub DomainError);

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        Self(e)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self(e.into())
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(ApiError(e): ApiError) -> Self {
        let mut err = async_graphql::Error::new(e.public_message());
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", e.code());
        if let Some(field) = e.field() {
            ext.set("field", field);
        }
        if let DomainError::RateLimited {
            retry_after_secs, ..
        } = &e
        {
            ext.set("retryAfterSeconds", *retry_after_secs);
        }
        err.extensions = Some(ext);
        err
    }
}

/// An internal error for a failure inside async-graphql itself (missing context data).
pub fn internal(e: async_graphql::Error) -> ApiError {
    ApiError(DomainError::internal(e.message))
}
