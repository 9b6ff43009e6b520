//! The GraphQL schema of Plexus: object types built from domain models, inputs, per-request
//! loaders and the query/mutation roots. Resolvers call domain services; they hold no rules.

pub mod agents;
pub mod common;
pub mod connection;
pub mod context;
pub mod conversations;
mod eager;
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

#[cfg(test)]
mod tests {
    use async_graphql::{ContainerType, Context};

    /// The size of the future `f` would return (never called: only its type is needed).
    fn future_size<'a, T: 'a, F>(_f: impl FnOnce(&'a T, &'a Context<'a>) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// async-graphql boxes the future of every selected field at the size of its type's
    /// largest field future, and copies it whole: one heavy resolver makes every field of
    /// the type costly (a `GraphNode` field cost 2,184 bytes before `actor()` boxed the
    /// sign-in). The types a large response repeats stay small.
    #[test]
    fn field_futures_of_repeated_types_stay_small() {
        use crate::connection::Edge;
        use crate::graph::GraphNode;
        let sizes = [
            (
                "GraphNode",
                future_size(|n: &GraphNode, c| n.resolve_field(c)),
            ),
            (
                "Edge<GraphNode>",
                future_size(|n: &Edge<GraphNode>, c| n.resolve_field(c)),
            ),
            (
                "Project",
                future_size(|n: &crate::projects::Project, c| n.resolve_field(c)),
            ),
            (
                "ProjectMember",
                future_size(|n: &crate::projects::ProjectMember, c| n.resolve_field(c)),
            ),
            (
                "User",
                future_size(|n: &crate::users::User, c| n.resolve_field(c)),
            ),
            (
                "Message",
                future_size(|n: &crate::conversations::Message, c| n.resolve_field(c)),
            ),
            (
                "ToolCall",
                future_size(|n: &crate::conversations::ToolCall, c| n.resolve_field(c)),
            ),
        ];
        for (name, size) in sizes {
            assert!(size <= 1024, "a {name} field's future is {size} bytes");
        }
    }
}
