//! Conversations and chat: conversations owned by a user (optionally in a project or with
//! an agent), their messages — including assistant replies streamed chunk by chunk — and
//! the tool calls made in them, with token accounting. Knows nothing of GraphQL; who may
//! read and write is decided here (`policy`).

pub mod entity;
pub mod policy;
pub mod service;

pub use policy::ConversationAccess;
pub use service::ConversationsService;
