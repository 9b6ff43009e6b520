//! Agents and what they work with: tools, the agent task queue, knowledge packs and
//! documents, memories, workflows and system logs. Knows nothing of GraphQL.

pub mod entity;
