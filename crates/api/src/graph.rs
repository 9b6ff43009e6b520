//! GraphQL for the canvas graph: `GraphNode`, `GraphEdge` and their mutations.

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use plexus_core::IdKind;
use plexus_graph::entity::{edges, nodes};
use plexus_graph::service::{NewNode, NodePatch};
use std::sync::Arc;
use uuid::Uuid;

use crate::common::{Position, PositionInput, gid, not_found, uuid_of};
use crate::connection::Items;
use crate::context::{actor, loaders, publish, state};
use crate::eager::List;
use crate::error::ApiResult;
use crate::projects::{DeletePayload, Project};
use crate::users::{User, patch};
use plexus_core::events::EventKind;

/// Where a node is in its generation life.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum NodeStatus {
    /// Not generated yet.
    Idle,
    /// An answer is being generated.
    Generating,
    /// The answer is complete.
    Completed,
    /// Generation failed.
    Error,
    /// An ancestor changed since the answer was generated.
    Stale,
}

impl From<plexus_graph::NodeStatus> for NodeStatus {
    fn from(s: plexus_graph::NodeStatus) -> Self {
        use plexus_graph::NodeStatus as S;
        match s {
            S::Idle => Self::Idle,
            S::Generating => Self::Generating,
            S::Completed => Self::Completed,
            S::Error => Self::Error,
            S::Stale => Self::Stale,
        }
    }
}

impl From<NodeStatus> for plexus_graph::NodeStatus {
    fn from(s: NodeStatus) -> Self {
        use plexus_graph::NodeStatus as S;
        match s {
            NodeStatus::Idle => S::Idle,
            NodeStatus::Generating => S::Generating,
            NodeStatus::Completed => S::Completed,
            NodeStatus::Error => S::Error,
            NodeStatus::Stale => S::Stale,
        }
    }
}

/// A prompt and its generated response on a project's canvas.
///
/// Holds its row, its row without the content (a page whose selection shows none of
/// it), or only its id and project (a reference from an edge, a traversal or a payload):
/// what it lacks is loaded, batched, by the first field that needs it, so
/// `children { id }` costs the edge rows and nothing more.
///
/// Resolved through [`crate::eager`]: the fields at hand (the id, the row's columns) are
/// answered without a future each; `NodeObject` below holds the data and every resolver.
#[derive(Clone)]
pub struct GraphNode(NodeObject);

/// A `GraphNode`'s data, and its GraphQL fields.
#[derive(Clone)]
struct NodeObject {
    id: Uuid,
    project_id: Uuid,
    row: Row,
}

/// What a `GraphNode` holds of its row.
#[derive(Clone)]
enum Row {
    /// Nothing (a reference).
    None,
    /// The row read without its content (`GraphService::node_head_pages`): its `prompt`,
    /// `response`, `summary` and `metadata` are blank and never answered from it.
    Head(Arc<nodes::Model>),
    /// The whole row.
    Full(Arc<nodes::Model>),
}

impl Row {
    /// The row's columns other than the content, if at hand.
    fn head(&self) -> Option<&nodes::Model> {
        match self {
            Row::Head(row) | Row::Full(row) => Some(row),
            Row::None => None,
        }
    }
}

crate::eager::eager_object!(GraphNode => NodeObject);

impl crate::eager::Eager for NodeObject {
    fn eager(&self, field: &async_graphql::parser::types::Field) -> Option<async_graphql::Value> {
        use async_graphql::{InputType, OutputType};
        let name = field.name.node.as_str();
        if name == "id" {
            return Some(gid(IdKind::GraphNode, self.id).to_value());
        }
        let row = self.row.head()?;
        Some(match name {
            "prompt" | "response" | "summary" => {
                let Row::Full(row) = &self.row else {
                    return None;
                };
                match name {
                    "prompt" => row.prompt.to_value(),
                    "response" => row.response.to_value(),
                    _ => row.summary.to_value(),
                }
            }
            "status" => status_of(row).to_value(),
            "llmModel" => row.llm_model.to_value(),
            "llmTokens" => row.llm_tokens.to_value(),
            "llmCost" => row.llm_cost.to_value(),
            "version" => row.version.to_value(),
            "createdAt" => row.created_at.to_utc().to_value(),
            "updatedAt" => row.updated_at.to_utc().to_value(),
            "position" => {
                let p = Position::from_json(&row.position);
                let type_name = Position::type_name();
                return crate::eager::object(&field.selection_set.node, &type_name, |n| match n {
                    "x" => Some(p.x.to_value()),
                    "y" => Some(p.y.to_value()),
                    _ => None,
                });
            }
            _ => return None,
        })
    }
}

impl crate::eager::Many for NodeObject {
    fn many<'a>(
        ctx: &'a Context<'a>,
        items: &'a [&'a Self],
    ) -> futures_util::future::BoxFuture<'a, Option<Vec<async_graphql::Value>>> {
        Box::pin(async move {
            let field = &ctx.item.node;
            if !field.arguments.is_empty() {
                return None;
            }
            let ctx_items = ctx.with_selection_set(&field.selection_set);
            let loaders = loaders(ctx).ok()?;
            match field.name.node.as_str() {
                name @ ("children" | "parents") => {
                    let loader = if name == "children" {
                        &loaders.children
                    } else {
                        &loaders.parents
                    };
                    let ids = loader.load_many(items.iter().map(|n| n.id)).await.ok()?;
                    // Read, not taken: a node can be in `items` twice (a child of two).
                    let lists: Vec<List<GraphNode>> = items
                        .iter()
                        .map(|n| {
                            n.references(ids.get(&n.id).into_iter().flat_map(|l| l.iter().copied()))
                        })
                        .collect();
                    let flat: Vec<&GraphNode> = lists.iter().flat_map(|l| &l.0).collect();
                    let mut values = GraphNode::all(&ctx_items, &flat).await?.into_iter();
                    Some(
                        lists
                            .iter()
                            .map(|l| {
                                async_graphql::Value::List(
                                    values.by_ref().take(l.0.len()).collect(),
                                )
                            })
                            .collect(),
                    )
                }
                "createdBy" => {
                    let creators = items
                        .iter()
                        .map(|n| Some(n.row.head()?.created_by))
                        .collect::<Option<Vec<Option<Uuid>>>>()?;
                    let actor = actor(ctx).await.ok()?;
                    let found = loaders
                        .users
                        .load_many(creators.iter().flatten().copied())
                        .await
                        .ok()?;
                    let users: Vec<Option<User>> = creators
                        .iter()
                        .map(|id| Some(User::new(found.get(&(*id)?)?.clone(), &actor)))
                        .collect();
                    let shown: Vec<&User> = users.iter().flatten().collect();
                    let mut values = User::all(&ctx_items, &shown).await?.into_iter();
                    Some(
                        users
                            .iter()
                            .map(|u| match u {
                                Some(_) => values.next().unwrap_or_default(),
                                None => async_graphql::Value::Null,
                            })
                            .collect(),
                    )
                }
                _ => None,
            }
        })
    }
}

/// A node row's status as the API names it.
fn status_of(row: &nodes::Model) -> NodeStatus {
    plexus_graph::NodeStatus::parse(&row.status)
        .unwrap_or(plexus_graph::NodeStatus::Idle)
        .into()
}

impl GraphNode {
    /// Wraps a node whose project the viewer can see.
    pub fn new(model: nodes::Model) -> Self {
        Self::from_row(Arc::new(model))
    }

    /// Wraps a shared row of a node whose project the viewer can see.
    pub fn from_row(row: Arc<nodes::Model>) -> Self {
        Self(NodeObject {
            id: row.id,
            project_id: row.project_id,
            row: Row::Full(row),
        })
    }

    /// Wraps a node row read without its content (`GraphService::node_head_pages`).
    pub fn from_head(row: Arc<nodes::Model>) -> Self {
        Self(NodeObject {
            id: row.id,
            project_id: row.project_id,
            row: Row::Head(row),
        })
    }

    /// A live node of a project the viewer can see, known by id only.
    fn reference(id: Uuid, project_id: Uuid) -> Self {
        Self(NodeObject {
            id,
            project_id,
            row: Row::None,
        })
    }

    /// A node as the actor sees it, or `None` when it or its project is hidden.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<GraphNode>> {
        let viewer = actor(ctx).await?.user_id();
        let loaders = loaders(ctx)?;
        // The node, its project and the viewer's role in one statement; the project is
        // handed to the projects loader, so a `project` field asks nothing more.
        let Some((node, project, role)) = loaders.node_projects.load_one((viewer, id)).await?
        else {
            return Ok(None);
        };
        loaders
            .projects
            .feed_one((viewer, project.id), (project.clone(), role));
        Ok(Project::visible(project, role).map(|_| GraphNode::from_row(node)))
    }

    /// The nodes `ids` that are still live, in order, with their rows (one batched load).
    pub(crate) async fn nodes(
        ctx: &Context<'_>,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> ApiResult<Vec<GraphNode>> {
        let ids: Vec<Uuid> = ids.into_iter().collect();
        let mut found = loaders(ctx)?.nodes.load_many(ids.iter().copied()).await?;
        Ok(ids
            .iter()
            .filter_map(|id| found.remove(id))
            .map(GraphNode::from_row)
            .collect())
    }
}

impl NodeObject {
    /// References to the live nodes `ids` of this node's project, in order (answered at
    /// once when only their ids are selected).
    fn references(&self, ids: impl IntoIterator<Item = Uuid>) -> List<GraphNode> {
        List(
            ids.into_iter()
                .map(|id| GraphNode::reference(id, self.project_id))
                .collect(),
        )
    }

    /// The node's whole row: its own, or loaded (batched with every other node of this
    /// pass that lacks it).
    async fn row(&self, ctx: &Context<'_>) -> ApiResult<Arc<nodes::Model>> {
        match &self.row {
            Row::Full(row) => Ok(row.clone()),
            Row::Head(_) | Row::None => loaders(ctx)?
                .nodes
                .load_one(self.id)
                .await?
                .ok_or_else(|| not_found("node")),
        }
    }

    /// The node's row for a column other than the content: the one at hand, else loaded.
    async fn head(&self, ctx: &Context<'_>) -> ApiResult<Arc<nodes::Model>> {
        match &self.row {
            Row::Head(row) | Row::Full(row) => Ok(row.clone()),
            Row::None => self.row(ctx).await,
        }
    }
}

/// A prompt and its generated response on a project's canvas.
#[Object(name = "GraphNode")]
impl NodeObject {
    /// Global id (`node_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::GraphNode, self.id)
    }
    /// The project.
    async fn project(&self, ctx: &Context<'_>) -> ApiResult<Project> {
        Project::load_visible(ctx, self.project_id).await
    }
    /// Files attached to the node, in upload order.
    async fn media(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<crate::connection::Connection<crate::media::Media>> {
        // Boxed, as below: a page is a large future, and every field of a node would carry
        // its size (async-graphql allocates each field's future at the size of the largest).
        Box::pin(crate::media::attached_media(
            ctx,
            plexus_media::service::AttachedTo::Node,
            self.id,
            first,
            after,
            last,
            before,
        ))
        .await
    }
    /// Voice interactions on the node (everyone's), in creation order.
    async fn voice_interactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<crate::connection::Connection<crate::media::VoiceInteraction>> {
        Box::pin(crate::media::node_voice(
            ctx, self.id, first, after, last, before,
        ))
        .await
    }
    /// The prompt.
    async fn prompt(&self, ctx: &Context<'_>) -> ApiResult<String> {
        Ok(self.row(ctx).await?.prompt.clone())
    }
    /// The generated response (markdown).
    async fn response(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        Ok(self.row(ctx).await?.response.clone())
    }
    /// A short summary of the response.
    async fn summary(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        Ok(self.row(ctx).await?.summary.clone())
    }
    /// Generation status.
    async fn status(&self, ctx: &Context<'_>) -> ApiResult<NodeStatus> {
        Ok(status_of(&*self.head(ctx).await?))
    }
    /// Position on the canvas.
    async fn position(&self, ctx: &Context<'_>) -> ApiResult<Position> {
        Ok(Position::from_json(&self.head(ctx).await?.position))
    }
    /// Free-form metadata (model settings and the like).
    async fn metadata(&self, ctx: &Context<'_>) -> ApiResult<Option<Json<serde_json::Value>>> {
        Ok(self.row(ctx).await?.metadata.clone().map(Json))
    }
    /// The model that generated the response.
    async fn llm_model(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        Ok(self.head(ctx).await?.llm_model.clone())
    }
    /// Tokens the generation used.
    async fn llm_tokens(&self, ctx: &Context<'_>) -> ApiResult<Option<i32>> {
        Ok(self.head(ctx).await?.llm_tokens)
    }
    /// What the generation cost.
    async fn llm_cost(&self, ctx: &Context<'_>) -> ApiResult<Option<f64>> {
        Ok(self.head(ctx).await?.llm_cost)
    }
    /// Bumped by every change; pass it as `expectedVersion` to update safely.
    async fn version(&self, ctx: &Context<'_>) -> ApiResult<i32> {
        Ok(self.head(ctx).await?.version)
    }
    /// Who created the node.
    async fn created_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let Some(id) = self.head(ctx).await?.created_by else {
            return Ok(None);
        };
        let actor = actor(ctx).await?;
        Ok(loaders(ctx)?
            .users
            .load_one(id)
            .await?
            .map(|u| User::new(u, &actor)))
    }
    /// When the node was created.
    async fn created_at(&self, ctx: &Context<'_>) -> ApiResult<DateTime<Utc>> {
        Ok(self.head(ctx).await?.created_at.to_utc())
    }
    /// When the node last changed.
    async fn updated_at(&self, ctx: &Context<'_>) -> ApiResult<DateTime<Utc>> {
        Ok(self.head(ctx).await?.updated_at.to_utc())
    }
    /// Direct parents (sources of incoming edges), oldest first.
    async fn parents(&self, ctx: &Context<'_>) -> ApiResult<List<GraphNode>> {
        let ids = loaders(ctx)?
            .parents
            .load_one(self.id)
            .await?
            .unwrap_or_default();
        Ok(self.references(ids.iter().copied()))
    }
    /// Direct children (targets of outgoing edges), oldest first.
    async fn children(&self, ctx: &Context<'_>) -> ApiResult<List<GraphNode>> {
        let ids = loaders(ctx)?
            .children
            .load_one(self.id)
            .await?
            .unwrap_or_default();
        Ok(self.references(ids.iter().copied()))
    }
    /// Every node this one depends on, roots first, each after its own ancestors: the
    /// conversation context of this prompt.
    async fn ancestors(&self, ctx: &Context<'_>) -> ApiResult<List<GraphNode>> {
        let dag = loaders(ctx)?
            .dags
            .load_one(self.project_id)
            .await?
            .unwrap_or_default();
        Ok(self.references(dag.ancestors(self.id)))
    }
    /// Every node that depends on this one, nearest first.
    async fn descendants(&self, ctx: &Context<'_>) -> ApiResult<List<GraphNode>> {
        let dag = loaders(ctx)?
            .dags
            .load_one(self.project_id)
            .await?
            .unwrap_or_default();
        Ok(self.references(dag.descendants(self.id)))
    }
}

/// A directed link between two nodes of one project: the target builds on the source.
#[derive(Clone)]
pub struct GraphEdge {
    model: edges::Model,
}

impl GraphEdge {
    /// Wraps an edge whose project the viewer can see.
    pub fn new(model: edges::Model) -> Self {
        Self { model }
    }

    /// An edge as the actor sees it, or `None`.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<GraphEdge>> {
        let Some(edge) = loaders(ctx)?.edges.load_one(id).await? else {
            return Ok(None);
        };
        Ok(Project::load(ctx, edge.project_id)
            .await?
            .map(|_| GraphEdge::new(edge)))
    }
}

/// A directed link between two nodes of one project: the target builds on the source.
#[Object]
impl GraphEdge {
    /// Global id (`edge_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::GraphEdge, self.model.id)
    }
    /// The node the edge starts from.
    async fn source(&self) -> GraphNode {
        GraphNode::reference(self.model.source_id, self.model.project_id)
    }
    /// The node the edge points to.
    async fn target(&self) -> GraphNode {
        GraphNode::reference(self.model.target_id, self.model.project_id)
    }
    /// The project.
    async fn project(&self, ctx: &Context<'_>) -> ApiResult<Project> {
        Project::load_visible(ctx, self.model.project_id).await
    }
    /// When the edge was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
}

/// Queries about the graph.
#[derive(Default)]
pub struct GraphQuery;

#[Object]
impl GraphQuery {
    /// A node by id; null when it does not exist, is deleted or is not visible.
    async fn graph_node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<GraphNode>> {
        GraphNode::load(ctx, uuid_of(&id, IdKind::GraphNode, "id")?).await
    }
}

/// A new node.
#[derive(InputObject)]
pub struct CreateGraphNodeInput {
    /// The project.
    pub project_id: ID,
    /// The prompt.
    pub prompt: String,
    /// Position on the canvas.
    pub position: PositionInput,
    /// Nodes this one builds on: an edge from each to the new node (same project).
    #[graphql(default)]
    pub parent_ids: Vec<ID>,
    /// Free-form metadata (a JSON object).
    pub metadata: Option<Json<serde_json::Value>>,
}

/// Result of `createGraphNode`.
#[derive(SimpleObject)]
pub struct CreateGraphNodePayload {
    /// The new node.
    pub node: GraphNode,
    /// The edges from its parents.
    pub edges: Vec<GraphEdge>,
}

/// Changes to a node. Omitted fields stay; null clears.
#[derive(InputObject)]
pub struct UpdateGraphNodeInput {
    /// The node.
    pub id: ID,
    /// New prompt (marks descendants STALE when it changes).
    pub prompt: Option<String>,
    /// New response (marks descendants STALE when it changes), or null.
    pub response: MaybeUndefined<String>,
    /// New summary, or null.
    pub summary: MaybeUndefined<String>,
    /// New position.
    pub position: Option<PositionInput>,
    /// New status (following the status machine).
    pub status: Option<NodeStatus>,
    /// New metadata, or null.
    pub metadata: MaybeUndefined<Json<serde_json::Value>>,
    /// Refuse with CONFLICT unless the node is at this version.
    pub expected_version: Option<i32>,
}

/// Result of `updateGraphNode`.
#[derive(SimpleObject)]
pub struct UpdateGraphNodePayload {
    /// The updated node.
    pub node: GraphNode,
    /// Descendants marked STALE by this change.
    pub stale_nodes: Vec<GraphNode>,
}

/// One node's new position.
#[derive(InputObject)]
pub struct GraphNodeMoveInput {
    /// The node.
    pub id: ID,
    /// Its new position.
    pub position: PositionInput,
}

/// Several moves, applied together.
#[derive(InputObject)]
pub struct MoveGraphNodesInput {
    /// The moves (1 to 500).
    pub moves: Vec<GraphNodeMoveInput>,
}

/// Result of `moveGraphNodes`.
#[derive(SimpleObject)]
pub struct MoveGraphNodesPayload {
    /// The moved nodes, in the order given.
    pub nodes: Vec<GraphNode>,
}

/// A node to delete or restore.
#[derive(InputObject)]
pub struct GraphNodeIdInput {
    /// The node.
    pub id: ID,
}

/// Result of `restoreGraphNode`.
#[derive(SimpleObject)]
pub struct RestoreGraphNodePayload {
    /// The restored node (its edges to live nodes are back too).
    pub node: GraphNode,
}

/// A new edge.
#[derive(InputObject)]
pub struct CreateGraphEdgeInput {
    /// The node the edge starts from.
    pub source_id: ID,
    /// The node it points to (same project; no cycles).
    pub target_id: ID,
}

/// Result of `createGraphEdge`.
#[derive(SimpleObject)]
pub struct CreateGraphEdgePayload {
    /// The new edge.
    pub edge: GraphEdge,
}

/// An edge to delete.
#[derive(InputObject)]
pub struct GraphEdgeIdInput {
    /// The edge.
    pub id: ID,
}

/// Canvas mutations.
#[derive(Default)]
pub struct GraphMutation;

#[Object]
impl GraphMutation {
    /// Adds a node, with edges from its parents, in one transaction (EDITOR and above).
    async fn create_graph_node(
        &self,
        ctx: &Context<'_>,
        input: CreateGraphNodeInput,
    ) -> ApiResult<CreateGraphNodePayload> {
        let actor = actor(ctx).await?;
        let parent_ids = input
            .parent_ids
            .iter()
            .map(|p| uuid_of(p, IdKind::GraphNode, "parentIds"))
            .collect::<ApiResult<Vec<_>>>()?;
        let (node, edges) = state(ctx)?
            .graph
            .create_node(
                &actor,
                NewNode {
                    project_id: uuid_of(&input.project_id, IdKind::Project, "projectId")?,
                    prompt: input.prompt,
                    position: (input.position.x, input.position.y),
                    parent_ids,
                    metadata: input.metadata.map(|m| m.0),
                },
            )
            .await?;
        publish(
            ctx,
            node.project_id,
            EventKind::GraphNodeCreated,
            vec![node.id],
        )
        .await?;
        for e in &edges {
            publish(ctx, e.project_id, EventKind::GraphEdgeCreated, vec![e.id]).await?;
        }
        Ok(CreateGraphNodePayload {
            node: GraphNode::new(node),
            edges: edges.into_iter().map(GraphEdge::new).collect(),
        })
    }

    /// Changes a node (EDITOR and above).
    async fn update_graph_node(
        &self,
        ctx: &Context<'_>,
        input: UpdateGraphNodeInput,
    ) -> ApiResult<UpdateGraphNodePayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.id, IdKind::GraphNode, "id")?;
        let p = NodePatch {
            prompt: input.prompt,
            response: patch(input.response),
            summary: patch(input.summary),
            position: input.position.map(|p| (p.x, p.y)),
            status: input.status.map(Into::into),
            metadata: patch(input.metadata).map(|m| m.map(|j| j.0)),
            expected_version: input.expected_version,
        };
        let (node, stale) = state(ctx)?.graph.update_node(&actor, id, p).await?;
        let changed = std::iter::once(node.id)
            .chain(stale.iter().copied())
            .collect();
        publish(ctx, node.project_id, EventKind::GraphNodeUpdated, changed).await?;
        Ok(UpdateGraphNodePayload {
            node: GraphNode::new(node),
            stale_nodes: GraphNode::nodes(ctx, stale).await?,
        })
    }

    /// Moves several nodes at once (EDITOR and above).
    async fn move_graph_nodes(
        &self,
        ctx: &Context<'_>,
        input: MoveGraphNodesInput,
    ) -> ApiResult<MoveGraphNodesPayload> {
        let actor = actor(ctx).await?;
        let moves = input
            .moves
            .iter()
            .map(|m| {
                Ok((
                    uuid_of(&m.id, IdKind::GraphNode, "moves.id")?,
                    (m.position.x, m.position.y),
                ))
            })
            .collect::<ApiResult<Vec<_>>>()?;
        let nodes = state(ctx)?.graph.move_nodes(&actor, moves).await?;
        let mut by_project: std::collections::BTreeMap<Uuid, Vec<Uuid>> = Default::default();
        for n in &nodes {
            by_project.entry(n.project_id).or_default().push(n.id);
        }
        for (project, ids) in by_project {
            publish(ctx, project, EventKind::GraphNodesMoved, ids).await?;
        }
        Ok(MoveGraphNodesPayload {
            nodes: nodes.into_iter().map(GraphNode::new).collect(),
        })
    }

    /// Deletes a node; its edges disappear with it until it is restored (EDITOR and above).
    async fn delete_graph_node(
        &self,
        ctx: &Context<'_>,
        input: GraphNodeIdInput,
    ) -> ApiResult<DeletePayload> {
        let actor = actor(ctx).await?;
        let node = state(ctx)?
            .graph
            .delete_node(&actor, uuid_of(&input.id, IdKind::GraphNode, "id")?)
            .await?;
        publish(
            ctx,
            node.project_id,
            EventKind::GraphNodeDeleted,
            vec![node.id],
        )
        .await?;
        Ok(DeletePayload {
            deleted_id: gid(IdKind::GraphNode, node.id),
        })
    }

    /// Restores a deleted node and its edges (EDITOR and above).
    async fn restore_graph_node(
        &self,
        ctx: &Context<'_>,
        input: GraphNodeIdInput,
    ) -> ApiResult<RestoreGraphNodePayload> {
        let actor = actor(ctx).await?;
        let node = state(ctx)?
            .graph
            .restore_node(&actor, uuid_of(&input.id, IdKind::GraphNode, "id")?)
            .await?;
        publish(
            ctx,
            node.project_id,
            EventKind::GraphNodeRestored,
            vec![node.id],
        )
        .await?;
        Ok(RestoreGraphNodePayload {
            node: GraphNode::new(node),
        })
    }

    /// Connects two nodes of one project (EDITOR and above); refuses cycles and duplicates.
    async fn create_graph_edge(
        &self,
        ctx: &Context<'_>,
        input: CreateGraphEdgeInput,
    ) -> ApiResult<CreateGraphEdgePayload> {
        let actor = actor(ctx).await?;
        let source = uuid_of(&input.source_id, IdKind::GraphNode, "sourceId")?;
        let target = uuid_of(&input.target_id, IdKind::GraphNode, "targetId")?;
        let edge = state(ctx)?
            .graph
            .create_edge(&actor, source, target)
            .await?;
        publish(
            ctx,
            edge.project_id,
            EventKind::GraphEdgeCreated,
            vec![edge.id],
        )
        .await?;
        Ok(CreateGraphEdgePayload {
            edge: GraphEdge::new(edge),
        })
    }

    /// Removes an edge (EDITOR and above).
    async fn delete_graph_edge(
        &self,
        ctx: &Context<'_>,
        input: GraphEdgeIdInput,
    ) -> ApiResult<DeletePayload> {
        let actor = actor(ctx).await?;
        let edge = state(ctx)?
            .graph
            .delete_edge(&actor, uuid_of(&input.id, IdKind::GraphEdge, "id")?)
            .await?;
        publish(
            ctx,
            edge.project_id,
            EventKind::GraphEdgeDeleted,
            vec![edge.id],
        )
        .await?;
        Ok(DeletePayload {
            deleted_id: gid(IdKind::GraphEdge, edge.id),
        })
    }
}
