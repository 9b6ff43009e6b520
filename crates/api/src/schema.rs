//! Building the schema: merged roots, limits, and the SDL export.

use async_graphql::{MergedObject, MergedSubscription, SDLExportOptions, Schema};

use crate::agents::{AgentsMutation, AgentsQuery};
use crate::context::ApiState;
use crate::conversations::{ConversationsMutation, ConversationsQuery};
use crate::graph::{GraphMutation, GraphQuery};
use crate::knowledge::{KnowledgeMutation, KnowledgeQuery};
use crate::media::{MediaMutation, MediaQuery};
use crate::node::NodeQuery;
use crate::notifications::{NotificationsMutation, NotificationsQuery};
use crate::projects::{ProjectsMutation, ProjectsQuery};
use crate::users::{UsersMutation, UsersQuery};

/// Every query root field.
#[derive(MergedObject, Default)]
pub struct Query(
    NodeQuery,
    UsersQuery,
    ProjectsQuery,
    GraphQuery,
    AgentsQuery,
    KnowledgeQuery,
    ConversationsQuery,
    NotificationsQuery,
    MediaQuery,
);

/// Every mutation root field.
#[derive(MergedObject, Default)]
pub struct Mutation(
    UsersMutation,
    ProjectsMutation,
    GraphMutation,
    AgentsMutation,
    KnowledgeMutation,
    ConversationsMutation,
    NotificationsMutation,
    MediaMutation,
);

/// Every subscription root field.
#[derive(MergedSubscription, Default)]
pub struct Subscription(crate::subscriptions::ProjectsSubscription);

/// The Plexus schema.
pub type PlexusSchema = Schema<Query, Mutation, Subscription>;

/// Limits applied to every operation before execution.
#[derive(Debug, Clone, Copy)]
pub struct SchemaOptions {
    /// Deepest selection accepted.
    pub max_depth: usize,
    /// Highest complexity accepted.
    pub max_complexity: usize,
    /// Whether `__schema`/`__type` are answered.
    pub introspection: bool,
    /// Deepest nesting of selection sets and fragment spreads.
    pub max_recursive_depth: usize,
}

/// Builds the schema over the shared services.
pub fn build_schema(state: ApiState, opts: SchemaOptions) -> PlexusSchema {
    let mut b = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .data(state)
    .limit_depth(opts.max_depth)
    .limit_complexity(opts.max_complexity)
    .limit_recursive_depth(opts.max_recursive_depth);
    if !opts.introspection {
        b = b.disable_introspection();
    }
    b.finish()
}

/// The schema's SDL, sorted so that diffs are stable (`schema.graphql`).
pub fn sdl() -> String {
    sdl_schema().sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    )
}

/// The schema without services: enough to print or introspect it, not to run operations.
pub fn sdl_schema() -> PlexusSchema {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .finish()
}
