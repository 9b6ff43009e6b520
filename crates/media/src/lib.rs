//! Media files and voice interactions: the generated entities, type sniffing, storage
//! behind a small trait, and the rules of who may attach and see a file. Knows nothing of
//! GraphQL or HTTP.

pub mod entity;
pub mod service;
pub mod sniff;
pub mod storage;
pub mod thumbnail;

pub use service::{MediaService, MediaSettings};
pub use sniff::MediaKind;
pub use storage::{LocalStorage, Storage};
