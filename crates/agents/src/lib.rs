//! Agents and what they work with: tools, the agent task queue, knowledge packs and
//! documents, memories, workflows and system logs. Knows nothing of GraphQL; ownership is
//! decided here (`policy`).

pub mod entity;
pub mod generation;
pub mod knowledge;
pub mod logs;
pub mod memory;
pub mod policy;
pub mod service;
pub mod status;
pub mod workflows;

pub use service::AgentsService;
pub use status::TaskStatus;
