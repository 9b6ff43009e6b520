//! The Relay `Node` interface and `node`/`nodes`: any global id resolves to its object, as
//! the viewer may see it.

use async_graphql::{Context, ID, Interface, Object};
use plexus_core::{DomainError, GlobalId, IdKind};

use crate::agents::{Agent, AgentTask, KnowledgePack, Tool};
use crate::conversations::{Conversation, Message, ToolCall};
use crate::error::ApiResult;
use crate::graph::{GraphEdge, GraphNode};
use crate::knowledge::{Document, Memory, SystemLog, Workflow, WorkflowExecution};
use crate::media::{Media, VoiceInteraction};
use crate::notifications::Notification;
use crate::projects::Project;
use crate::users::{User, load_user};

/// An object with a global id.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "Global id: names the type and the row."
))]
pub enum Node {
    /// A user.
    User(User),
    /// A project.
    Project(Project),
    /// A node of a canvas.
    GraphNode(GraphNode),
    /// An edge of a canvas.
    GraphEdge(GraphEdge),
    /// An agent.
    Agent(Agent),
    /// A task of an agent.
    AgentTask(AgentTask),
    /// A tool.
    Tool(Tool),
    /// A knowledge pack.
    KnowledgePack(KnowledgePack),
    /// A document of a knowledge pack.
    Document(Document),
    /// A memory of an agent.
    Memory(Memory),
    /// A workflow.
    Workflow(Workflow),
    /// A run of a workflow.
    WorkflowExecution(WorkflowExecution),
    /// An entry of the system log (site admins).
    SystemLog(SystemLog),
    /// A conversation.
    Conversation(Conversation),
    /// A message of a conversation.
    Message(Message),
    /// A tool call made in a conversation.
    ToolCall(ToolCall),
    /// An entry of the viewer's inbox.
    Notification(Notification),
    /// An uploaded file.
    Media(Media),
    /// A voice interaction.
    VoiceInteraction(VoiceInteraction),
}

/// Most ids `nodes` accepts at once.
pub const MAX_NODES: usize = 100;

async fn resolve(ctx: &Context<'_>, id: GlobalId) -> ApiResult<Option<Node>> {
    Ok(match id.kind {
        IdKind::User => load_user(ctx, id.uuid).await?.map(Node::User),
        IdKind::Project => Project::load(ctx, id.uuid).await?.map(Node::Project),
        IdKind::GraphNode => GraphNode::load(ctx, id.uuid).await?.map(Node::GraphNode),
        IdKind::GraphEdge => GraphEdge::load(ctx, id.uuid).await?.map(Node::GraphEdge),
        IdKind::Agent => Agent::load(ctx, id.uuid).await?.map(Node::Agent),
        IdKind::AgentTask => AgentTask::load(ctx, id.uuid).await?.map(Node::AgentTask),
        IdKind::Tool => Tool::load(ctx, id.uuid).await?.map(Node::Tool),
        IdKind::KnowledgePack => KnowledgePack::load(ctx, id.uuid)
            .await?
            .map(Node::KnowledgePack),
        IdKind::Document => Document::load(ctx, id.uuid).await?.map(Node::Document),
        IdKind::Memory => Memory::load(ctx, id.uuid).await?.map(Node::Memory),
        IdKind::Workflow => Workflow::load(ctx, id.uuid).await?.map(Node::Workflow),
        IdKind::WorkflowExecution => WorkflowExecution::load(ctx, id.uuid)
            .await?
            .map(Node::WorkflowExecution),
        IdKind::SystemLog => SystemLog::load(ctx, id.uuid).await?.map(Node::SystemLog),
        IdKind::Conversation => Conversation::load(ctx, id.uuid)
            .await?
            .map(Node::Conversation),
        IdKind::Message => Message::load(ctx, id.uuid).await?.map(Node::Message),
        IdKind::ToolCall => ToolCall::load(ctx, id.uuid).await?.map(Node::ToolCall),
        IdKind::Notification => Notification::load(ctx, id.uuid)
            .await?
            .map(Node::Notification),
        IdKind::Media => Media::load(ctx, id.uuid).await?.map(Node::Media),
        IdKind::VoiceInteraction => VoiceInteraction::load(ctx, id.uuid)
            .await?
            .map(Node::VoiceInteraction),
        // Types of later domains resolve here as they land.
        _ => None,
    })
}

/// `node` and `nodes`.
#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id; null when it does not exist or is not visible.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Node>> {
        let id = GlobalId::parse(&id, "id")?;
        resolve(ctx, id).await
    }

    /// Objects by global id, in the order asked (null where not found); at most 100.
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> ApiResult<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(
                DomainError::invalid("ids", format!("at most {MAX_NODES} ids at once")).into(),
            );
        }
        let parsed = ids
            .iter()
            .map(|id| GlobalId::parse(id, "ids"))
            .collect::<Result<Vec<_>, _>>()?;
        let resolved =
            futures_util::future::join_all(parsed.into_iter().map(|id| resolve(ctx, id))).await;
        resolved.into_iter().collect()
    }
}
