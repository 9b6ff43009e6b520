//! Building the schema: merged roots, limits, and the SDL export.

use async_graphql::{
    MergedObject, MergedSubscription, Request, Response, SDLExportOptions, Schema,
};
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt as _};

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

/// The Plexus schema, run only through [`PlexusSchema::execute`] and
/// [`PlexusSchema::execute_stream`].
///
/// Executing a `Schema<Query, Mutation, Subscription>` instantiates the resolver tree of
/// every type (async-graphql's generic containers, lists, loaders) in the crate that calls
/// it, and rustc inlines the small generated resolvers across crates, so the server used
/// to compile that whole tree a second time (115 container instantiations, 3.5 M lines of
/// LLVM IR; the longest unit of a release build). These two methods are neither generic
/// nor inlinable: the tree is compiled once, here, and callers only poll a boxed future.
#[derive(Clone)]
pub struct PlexusSchema(Schema<Query, Mutation, Subscription>);

impl PlexusSchema {
    /// Runs a query or mutation.
    #[inline(never)]
    pub fn execute(&self, request: Request) -> BoxFuture<'_, Response> {
        Box::pin(self.0.execute(request))
    }

    /// Runs any operation, subscriptions included, as a stream of responses.
    #[inline(never)]
    pub fn execute_stream(&self, request: Request) -> BoxStream<'static, Response> {
        self.0.execute_stream(request).boxed()
    }
}

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
    PlexusSchema(b.finish())
}

/// The schema's SDL, sorted so that diffs are stable (`schema.graphql`).
pub fn sdl() -> String {
    sdl_schema().0.sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    )
}

/// The schema without services: enough to print or introspect it, not to run operations.
pub fn sdl_schema() -> PlexusSchema {
    PlexusSchema(
        Schema::build(
            Query::default(),
            Mutation::default(),
            Subscription::default(),
        )
        .finish(),
    )
}
