//! Shared kernel of Plexus: typed global ids, the actor, domain errors, keyset pagination
//! and the database helpers every domain crate uses.

pub mod actor;
pub mod db;
pub mod error;
pub mod events;
pub mod id;
pub mod page;
pub mod row;
pub mod validate;

pub use actor::{Actor, UserRole};
pub use error::{DomainError, DomainResult};
pub use id::{GlobalId, IdKind};
pub use page::{Cursor, Page, PageRequest};
