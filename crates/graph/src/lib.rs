//! The canvas graph: nodes and edges of a project, kept a DAG. Cycle checks, ancestry in
//! topological order, stale propagation and the node status machine. Knows nothing of
//! GraphQL; authorization comes from the project policy.

pub mod dag;
pub mod entity;
pub mod service;
pub mod status;

pub use service::GraphService;
pub use status::NodeStatus;
