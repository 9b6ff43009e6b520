//! The GraphQL schema of Plexus: object types built from domain models, inputs, per-request
//! loaders and the query/mutation roots. Resolvers call domain services; they hold no rules.

pub mod agents;
pub mod common;
pub mod connection;
pub mod context;
pub mod conversations;
pub mod error;
pub mod graph;
pub mod knowledge;
pub mod loaders;
pub mod media;
pub mod node;
pub mod notifications;
pub mod presence;
pub mod projects;
pub mod ratelimit;
pub mod schema;
pub mod subscriptions;
pub mod users;

pub use context::{ApiState, RequestAuth};
pub use loaders::Loaders;
pub use presence::{PresenceHub, PresenceSettings, SocketId};
pub use ratelimit::{AuthLimiter, AuthLimits, ClientAddr};
pub use schema::{PlexusSchema, SchemaOptions, build_schema, sdl};
