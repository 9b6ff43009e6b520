//! Users, refresh tokens and notifications: the generated entities and the rules of sign-up,
//! sign-in, sessions and profiles. Knows nothing of GraphQL.

pub mod entity;
pub mod notifications;
pub mod password;
pub mod service;
pub mod tokens;
pub mod validate;

pub use service::{AuthSettings, Session, UserFilter, UsersService};
pub use tokens::TokenKeys;
