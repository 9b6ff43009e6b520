//! Projects, their members with roles, and presence: the generated entities, the
//! role/permission policy and the project service. Knows nothing of GraphQL.

pub mod entity;
pub mod policy;
pub mod service;

pub use policy::{Capabilities, ProjectRole};
pub use service::{ProjectAccess, ProjectsService};
