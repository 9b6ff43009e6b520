//! GraphQL for agents: `Agent`, `Tool`, `KnowledgePack`, `AgentTask`, the task queue and
//! node generation. Ownership is decided by the agents service; relations load through the
//! request's loaders.

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use plexus_agents::entity::{agent_tasks, agents, knowledge_packs, tools};
use plexus_agents::generation::GenerationResult;
use plexus_agents::policy::owns;
use plexus_agents::service::{
    AgentFilter, AgentPatch, NewAgent, NewKnowledgePack, NewTask, NewTool, ToolFilter, ToolPatch,
};
use plexus_core::page::PageRequest;
use plexus_core::{Actor, IdKind};
use serde_json::Value;
use uuid::Uuid;

use crate::common::{gid, not_found, uuid_of};
use crate::connection::Connection;
use crate::context::{actor, loaders, notifying, publish, publish_chunk, publish_to, state};
use crate::error::ApiResult;
use crate::graph::GraphNode;
use crate::projects::{DeletePayload, child_page, counter};
use crate::users::{User, patch};
use plexus_core::events::{EventKind, Topic};

/// Where a task is in its agent's queue.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AgentTaskStatus {
    /// Waiting to be claimed.
    Pending,
    /// Claimed or started, not finished.
    Running,
    /// Finished with a result.
    Completed,
    /// Finished with an error.
    Failed,
    /// Called off before it finished.
    Cancelled,
}

impl From<plexus_agents::TaskStatus> for AgentTaskStatus {
    fn from(s: plexus_agents::TaskStatus) -> Self {
        use plexus_agents::TaskStatus as S;
        match s {
            S::Pending => Self::Pending,
            S::Running => Self::Running,
            S::Completed => Self::Completed,
            S::Failed => Self::Failed,
            S::Cancelled => Self::Cancelled,
        }
    }
}

fn json_opt(v: &Option<Value>) -> Option<Json<Value>> {
    v.clone().map(Json)
}

fn ids_of(ids: &[ID], kind: IdKind, arg: &str) -> ApiResult<Vec<Uuid>> {
    ids.iter().map(|i| uuid_of(i, kind, arg)).collect()
}

/// An AI agent owned by a user: its model, goals, tools and knowledge.
#[derive(Clone)]
pub struct Agent {
    model: agents::Model,
}

impl Agent {
    /// Wraps an agent the viewer owns.
    pub fn new(model: agents::Model) -> Self {
        Self { model }
    }

    /// The viewer's agent by id, or `None` (someone else's agent is not visible).
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<Agent>> {
        let actor = actor(ctx).await?;
        Ok(loaders(ctx)?
            .agents
            .load_one(id)
            .await?
            .filter(|a| owns(&actor, a.owner_id))
            .map(Agent::new))
    }
}

/// An AI agent owned by a user: its model, goals, tools and knowledge.
#[Object]
impl Agent {
    /// Global id (`agent_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::Agent, self.model.id)
    }
    /// The user who owns the agent.
    async fn owner(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let actor = actor(ctx).await?;
        loaders(ctx)?
            .users
            .load_one(self.model.owner_id)
            .await?
            .map(|u| User::new(u, &actor))
            .ok_or_else(|| not_found("user"))
    }
    /// Name, unique among the owner's agents.
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// What kind of agent it is ("researcher", "writer", …).
    async fn kind(&self) -> &str {
        &self.model.kind
    }
    /// Its role, in words.
    async fn role(&self) -> Option<&str> {
        self.model.role.as_deref()
    }
    /// What it is for.
    async fn description(&self) -> Option<&str> {
        self.model.description.as_deref()
    }
    /// The LLM it runs on (e.g. `qwen2.5:7b`).
    async fn model(&self) -> Option<&str> {
        self.model.model.as_deref()
    }
    /// Its goals.
    async fn goals(&self) -> Vec<String> {
        self.model
            .goals
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str().map(str::to_string))
            .collect()
    }
    /// Free-form configuration.
    async fn config(&self) -> Option<Json<Value>> {
        json_opt(&self.model.config)
    }
    /// What it is allowed to do (free-form).
    async fn authorizations(&self) -> Option<Json<Value>> {
        json_opt(&self.model.authorizations)
    }
    /// How it writes (free-form).
    async fn style(&self) -> Option<Json<Value>> {
        json_opt(&self.model.style)
    }
    /// Whether it takes work.
    async fn is_active(&self) -> bool {
        self.model.is_active
    }
    /// The tools it may call, in the order they were given.
    async fn tools(&self, ctx: &Context<'_>) -> ApiResult<Vec<Tool>> {
        Ok(loaders(ctx)?
            .agent_tools
            .load_one(self.model.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Tool::new)
            .collect())
    }
    /// The knowledge packs it searches, in the order they were given.
    async fn knowledge_packs(&self, ctx: &Context<'_>) -> ApiResult<Vec<KnowledgePack>> {
        Ok(loaders(ctx)?
            .agent_packs
            .load_one(self.model.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(KnowledgePack::new)
            .collect())
    }
    /// Its tasks, in creation order.
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<AgentTask>> {
        let page = child_page(ctx, first, after, last, before)?;
        let l = loaders(ctx)?.clone();
        let p = l
            .task_pages
            .load_one((self.model.id, page))
            .await?
            .unwrap_or_default();
        Ok(Connection::new(
            p.map(AgentTask::new),
            counter(l, self.model.id, |l, id| async move {
                l.task_counts.load_one(id).await
            }),
        ))
    }
    /// Its live memories (expired ones never show), in creation order.
    async fn memories(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<crate::knowledge::Memory>> {
        crate::knowledge::agent_memories(ctx, self.model.id, first, after, last, before).await
    }
    /// Its conversations, in creation order.
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<crate::conversations::Conversation>> {
        crate::conversations::agent_conversations(ctx, self.model.id, first, after, last, before)
            .await
    }
    /// When the agent was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// When the agent last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }
}

/// A tool agents may call, described by a JSON Schema of its arguments.
#[derive(Clone)]
pub struct Tool {
    model: tools::Model,
}

impl Tool {
    /// Wraps a tool the viewer can see.
    pub fn new(model: tools::Model) -> Self {
        Self { model }
    }

    /// A tool the viewer can see (own or shared), or `None`.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<Tool>> {
        let actor = actor(ctx).await?;
        let found = state(ctx)?.agents.tools_by_ids(&actor, &[id]).await?;
        Ok(found.into_iter().next().map(Tool::new))
    }
}

/// A tool agents may call, described by a JSON Schema of its arguments.
#[Object]
impl Tool {
    /// Global id (`tool_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::Tool, self.model.id)
    }
    /// Name (e.g. `rag.search`), unique among its owner's tools.
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// What the tool does.
    async fn description(&self) -> &str {
        &self.model.description
    }
    /// JSON Schema of the arguments.
    async fn schema(&self) -> Json<Value> {
        Json(self.model.schema.clone())
    }
    /// Whether agents may call it.
    async fn is_active(&self) -> bool {
        self.model.is_active
    }
    /// True when the viewer owns the tool (others' tools seen here are the shared registry).
    async fn viewer_owns(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        Ok(owns(&actor(ctx).await?, self.model.owner_id))
    }
    /// When the tool was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// When the tool last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }
}

/// A collection of documents agents search.
#[derive(Clone)]
pub struct KnowledgePack {
    model: knowledge_packs::Model,
}

impl KnowledgePack {
    /// Wraps a pack the viewer can see.
    pub fn new(model: knowledge_packs::Model) -> Self {
        Self { model }
    }

    /// A pack the viewer can see (own or shared), or `None`.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<KnowledgePack>> {
        let actor = actor(ctx).await?;
        let found = state(ctx)?.agents.packs_by_ids(&actor, &[id]).await?;
        Ok(found.into_iter().next().map(KnowledgePack::new))
    }
}

/// A collection of documents agents search.
#[Object]
impl KnowledgePack {
    /// Global id (`kpack_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::KnowledgePack, self.model.id)
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// What it holds.
    async fn description(&self) -> Option<&str> {
        self.model.description.as_deref()
    }
    /// Where its documents came from (a path or URL).
    async fn path(&self) -> Option<&str> {
        self.model.path.as_deref()
    }
    /// Free-form metadata.
    async fn metadata(&self) -> Option<Json<Value>> {
        json_opt(&self.model.metadata)
    }
    /// Whether it is searched.
    async fn is_active(&self) -> bool {
        self.model.is_active
    }
    /// True when the viewer owns the pack (others' packs seen here are shared by admins).
    async fn viewer_owns(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        Ok(owns(&actor(ctx).await?, self.model.owner_id))
    }
    /// When the pack was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// When the pack last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }
}

/// A unit of work in an agent's queue.
#[derive(Clone)]
pub struct AgentTask {
    model: agent_tasks::Model,
}

impl AgentTask {
    /// Wraps a task of an agent the viewer owns.
    pub fn new(model: agent_tasks::Model) -> Self {
        Self { model }
    }

    /// The agent whose queue the task is in.
    pub fn agent_id(&self) -> Uuid {
        self.model.agent_id
    }

    /// The viewer's task by id, or `None`.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<AgentTask>> {
        let l = loaders(ctx)?;
        let Some(task) = l.tasks.load_one(id).await? else {
            return Ok(None);
        };
        Ok(Agent::load(ctx, task.agent_id)
            .await?
            .map(|_| AgentTask::new(task)))
    }
}

/// A unit of work in an agent's queue.
#[Object]
impl AgentTask {
    /// Global id (`task_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::AgentTask, self.model.id)
    }
    /// The agent whose queue holds the task.
    async fn agent(&self, ctx: &Context<'_>) -> ApiResult<Agent> {
        Agent::load(ctx, self.model.agent_id)
            .await?
            .ok_or_else(|| not_found("agent"))
    }
    /// The canvas node the task generates, if any (null when deleted or not visible).
    async fn node(&self, ctx: &Context<'_>) -> ApiResult<Option<GraphNode>> {
        match self.model.node_id {
            Some(id) => GraphNode::load(ctx, id).await,
            None => Ok(None),
        }
    }
    /// Short name.
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// Longer description.
    async fn description(&self) -> Option<&str> {
        self.model.description.as_deref()
    }
    /// The prompt to work on.
    async fn prompt(&self) -> &str {
        &self.model.prompt
    }
    /// Where the task is in the queue.
    async fn status(&self) -> ApiResult<AgentTaskStatus> {
        plexus_agents::TaskStatus::parse(&self.model.status)
            .map(Into::into)
            .ok_or_else(|| {
                plexus_core::DomainError::internal(format!(
                    "unknown task status {}",
                    self.model.status
                ))
                .into()
            })
    }
    /// What the task produced (when COMPLETED).
    async fn result(&self) -> Option<Json<Value>> {
        json_opt(&self.model.result)
    }
    /// Why it failed (when FAILED).
    async fn error(&self) -> Option<&str> {
        self.model.error.as_deref()
    }
    /// When it went RUNNING (set by the server).
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.model.started_at.map(|t| t.to_utc())
    }
    /// When it reached a final state (set by the server).
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.model.completed_at.map(|t| t.to_utc())
    }
    /// Free-form metadata.
    async fn metadata(&self) -> Option<Json<Value>> {
        json_opt(&self.model.metadata)
    }
    /// When the task was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// When the task last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }
}

/// Which agents to list.
#[derive(InputObject, Default)]
pub struct AgentFilterInput {
    /// Only agents of this kind.
    pub kind: Option<String>,
    /// Only active (true) or inactive (false) agents.
    pub is_active: Option<bool>,
    /// Only agents whose name or description contains this text (case-insensitive).
    pub search: Option<String>,
}

/// Which tools to list.
#[derive(InputObject, Default)]
pub struct ToolFilterInput {
    /// Only the viewer's own tools (true) or only the shared registry (false).
    pub mine: Option<bool>,
    /// Only active (true) or inactive (false) tools.
    pub is_active: Option<bool>,
    /// Only tools whose name or description contains this text (case-insensitive).
    pub search: Option<String>,
}

/// Queries about agents.
#[derive(Default)]
pub struct AgentsQuery;

#[Object]
impl AgentsQuery {
    /// One of the viewer's agents; null when it does not exist or belongs to someone else.
    async fn agent(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Agent>> {
        Agent::load(ctx, uuid_of(&id, IdKind::Agent, "id")?).await
    }

    /// The viewer's agents, in creation order.
    async fn agents(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<AgentFilterInput>,
    ) -> ApiResult<Connection<Agent>> {
        let actor = actor(ctx).await?;
        let st = state(ctx)?;
        let args = PageRequest {
            first,
            after,
            last,
            before,
        }
        .resolve(st.page_limits, "id", 1)?;
        let f = filter.unwrap_or_default();
        let filter = AgentFilter {
            kind: f.kind,
            is_active: f.is_active,
            search: f.search,
        };
        let page = st.agents.list_agents(&actor, &filter, &args).await?;
        let svc = st.agents.clone();
        Ok(Connection::new(page.map(Agent::new), move || {
            let (svc, filter) = (svc.clone(), filter.clone());
            async move { svc.count_agents(&actor, &filter).await }
        }))
    }

    /// A task of one of the viewer's agents; null otherwise.
    async fn agent_task(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<AgentTask>> {
        AgentTask::load(ctx, uuid_of(&id, IdKind::AgentTask, "id")?).await
    }

    /// The tools the viewer sees: their own and the shared registry of site admins.
    async fn tools(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ToolFilterInput>,
    ) -> ApiResult<Connection<Tool>> {
        let actor = actor(ctx).await?;
        let st = state(ctx)?;
        let args = PageRequest {
            first,
            after,
            last,
            before,
        }
        .resolve(st.page_limits, "id", 1)?;
        let f = filter.unwrap_or_default();
        let filter = ToolFilter {
            mine: f.mine,
            is_active: f.is_active,
            search: f.search,
        };
        let page = st.agents.list_tools(&actor, &filter, &args).await?;
        let svc = st.agents.clone();
        Ok(Connection::new(page.map(Tool::new), move || {
            let (svc, filter) = (svc.clone(), filter.clone());
            async move { svc.count_tools(&actor, &filter).await }
        }))
    }

    /// The knowledge packs the viewer sees: their own and those shared by site admins.
    async fn knowledge_packs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<KnowledgePack>> {
        let actor = actor(ctx).await?;
        let st = state(ctx)?;
        let args = PageRequest {
            first,
            after,
            last,
            before,
        }
        .resolve(st.page_limits, "id", 1)?;
        let page = st.agents.list_packs(&actor, &args).await?;
        let svc = st.agents.clone();
        Ok(Connection::new(page.map(KnowledgePack::new), move || {
            let svc = svc.clone();
            async move { svc.count_packs(&actor).await }
        }))
    }
}

/// A new agent.
#[derive(InputObject)]
pub struct CreateAgentInput {
    /// Name, unique among the viewer's agents (1–200 characters).
    pub name: String,
    /// What kind of agent ("researcher", "writer", …).
    pub kind: String,
    /// Its role, in words.
    pub role: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// The LLM it runs on.
    pub model: Option<String>,
    /// Its goals.
    #[graphql(default)]
    pub goals: Vec<String>,
    /// Free-form configuration (a JSON object).
    pub config: Option<Json<Value>>,
    /// What it is allowed to do (a JSON object).
    pub authorizations: Option<Json<Value>>,
    /// How it writes (a JSON object).
    pub style: Option<Json<Value>>,
    /// Tools it may call (the viewer's own or shared ones).
    #[graphql(default)]
    pub tool_ids: Vec<ID>,
    /// Knowledge packs it searches (the viewer's own or shared ones).
    #[graphql(default)]
    pub knowledge_pack_ids: Vec<ID>,
    /// Whether it takes work (default true).
    #[graphql(default = true)]
    pub is_active: bool,
}

/// Result of `createAgent`.
#[derive(SimpleObject)]
pub struct CreateAgentPayload {
    /// The new agent.
    pub agent: Agent,
}

/// Changes to an agent. Omitted fields stay; null clears; id lists replace the links.
#[derive(InputObject)]
pub struct UpdateAgentInput {
    /// The agent.
    pub id: ID,
    /// New name.
    pub name: Option<String>,
    /// New kind.
    pub kind: Option<String>,
    /// New role, or null.
    pub role: MaybeUndefined<String>,
    /// New description, or null.
    pub description: MaybeUndefined<String>,
    /// New model, or null.
    pub model: MaybeUndefined<String>,
    /// New goals.
    pub goals: Option<Vec<String>>,
    /// New configuration, or null.
    pub config: MaybeUndefined<Json<Value>>,
    /// New authorizations, or null.
    pub authorizations: MaybeUndefined<Json<Value>>,
    /// New style, or null.
    pub style: MaybeUndefined<Json<Value>>,
    /// The tools it may call (replaces the current list).
    pub tool_ids: Option<Vec<ID>>,
    /// The knowledge packs it searches (replaces the current list).
    pub knowledge_pack_ids: Option<Vec<ID>>,
    /// Whether it takes work.
    pub is_active: Option<bool>,
}

/// Result of `updateAgent`.
#[derive(SimpleObject)]
pub struct UpdateAgentPayload {
    /// The updated agent.
    pub agent: Agent,
}

/// An agent to delete.
#[derive(InputObject)]
pub struct DeleteAgentInput {
    /// The agent (its tasks and memories go with it).
    pub id: ID,
}

/// A new tool.
#[derive(InputObject)]
pub struct CreateToolInput {
    /// Name, unique among the viewer's tools (e.g. `rag.search`).
    pub name: String,
    /// What the tool does.
    pub description: String,
    /// JSON Schema of the arguments (must be a valid schema object).
    pub schema: Json<Value>,
    /// Whether agents may call it (default true).
    #[graphql(default = true)]
    pub is_active: bool,
}

/// Result of `createTool` and `updateTool`.
#[derive(SimpleObject)]
pub struct ToolPayload {
    /// The tool.
    pub tool: Tool,
}

/// Changes to one of the viewer's tools. Omitted fields stay.
#[derive(InputObject)]
pub struct UpdateToolInput {
    /// The tool.
    pub id: ID,
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New JSON Schema of the arguments.
    pub schema: Option<Json<Value>>,
    /// Whether agents may call it.
    pub is_active: Option<bool>,
}

/// A new knowledge pack.
#[derive(InputObject)]
pub struct CreateKnowledgePackInput {
    /// Name.
    pub name: String,
    /// What it holds.
    pub description: Option<String>,
    /// Where its documents come from.
    pub path: Option<String>,
    /// Free-form metadata (a JSON object).
    pub metadata: Option<Json<Value>>,
    /// Whether it is searched (default true).
    #[graphql(default = true)]
    pub is_active: bool,
}

/// Result of `createKnowledgePack`.
#[derive(SimpleObject)]
pub struct CreateKnowledgePackPayload {
    /// The new pack.
    pub knowledge_pack: KnowledgePack,
}

/// A new task for an agent's queue.
#[derive(InputObject)]
pub struct CreateAgentTaskInput {
    /// The viewer's agent.
    pub agent_id: ID,
    /// Short name.
    pub name: String,
    /// Longer description.
    pub description: Option<String>,
    /// The prompt to work on.
    pub prompt: String,
    /// A canvas node the task is about (one the viewer can see).
    pub node_id: Option<ID>,
    /// Free-form metadata (a JSON object).
    pub metadata: Option<Json<Value>>,
}

/// Result of a task mutation.
#[derive(SimpleObject)]
pub struct AgentTaskPayload {
    /// The task.
    pub task: AgentTask,
}

/// Which queue to take work from.
#[derive(InputObject)]
pub struct ClaimAgentTaskInput {
    /// The viewer's agent.
    pub agent_id: ID,
}

/// Result of `claimAgentTask`.
#[derive(SimpleObject)]
pub struct ClaimAgentTaskPayload {
    /// The claimed task, now RUNNING; null when the queue is empty.
    pub task: Option<AgentTask>,
}

/// A task to start or cancel.
#[derive(InputObject)]
pub struct AgentTaskIdInput {
    /// The task.
    pub id: ID,
}

/// A finished task.
#[derive(InputObject)]
pub struct CompleteAgentTaskInput {
    /// The task (RUNNING).
    pub id: ID,
    /// What it produced.
    pub result: Option<Json<Value>>,
}

/// A failed task.
#[derive(InputObject)]
pub struct FailAgentTaskInput {
    /// The task (RUNNING).
    pub id: ID,
    /// Why it failed.
    pub error: String,
}

/// Generate a node's response with an agent.
#[derive(InputObject)]
pub struct RequestNodeGenerationInput {
    /// The node (the viewer must be able to edit it).
    pub node_id: ID,
    /// The viewer's agent that will generate it.
    pub agent_id: ID,
}

/// Result of `requestNodeGeneration`.
#[derive(SimpleObject)]
pub struct RequestNodeGenerationPayload {
    /// The node, now GENERATING.
    pub node: GraphNode,
    /// The task in the agent's queue, linked to the node.
    pub task: AgentTask,
}

/// A streamed piece of a node's response.
#[derive(InputObject)]
pub struct AppendNodeResponseInput {
    /// The node (GENERATING).
    pub node_id: ID,
    /// Text to append to the response.
    pub chunk: String,
}

/// Result of `appendNodeResponse`.
#[derive(SimpleObject)]
pub struct AppendNodeResponsePayload {
    /// The node, with the chunk appended to its response.
    pub node: GraphNode,
}

/// Result of `failNodeGeneration`.
#[derive(SimpleObject)]
pub struct FailNodeGenerationPayload {
    /// The node.
    pub node: GraphNode,
    /// Its generation task, if it had one open.
    pub task: Option<AgentTask>,
}

/// A finished generation.
#[derive(InputObject)]
pub struct CompleteNodeGenerationInput {
    /// The node (GENERATING).
    pub node_id: ID,
    /// The full response; omitted keeps what the streamed chunks built.
    pub response: Option<String>,
    /// A short summary.
    pub summary: Option<String>,
    /// The model that generated it.
    pub llm_model: Option<String>,
    /// Tokens used.
    pub llm_tokens: Option<i32>,
    /// What it cost.
    pub llm_cost: Option<f64>,
}

/// Result of `completeNodeGeneration`.
#[derive(SimpleObject)]
pub struct CompleteNodeGenerationPayload {
    /// The node, now COMPLETED.
    pub node: GraphNode,
    /// Its generation task, now COMPLETED.
    pub task: Option<AgentTask>,
    /// Descendants marked STALE.
    pub stale_nodes: Vec<GraphNode>,
}

/// A failed generation.
#[derive(InputObject)]
pub struct FailNodeGenerationInput {
    /// The node (GENERATING).
    pub node_id: ID,
    /// Why it failed.
    pub error: String,
}

/// Announces a committed change of a task to its agent's subscribers.
async fn task_changed(ctx: &Context<'_>, task: &agent_tasks::Model) -> ApiResult<()> {
    publish_to(
        ctx,
        Topic::Agent(task.agent_id),
        EventKind::AgentTaskChanged,
        vec![task.id],
    )
    .await
}

async fn transition(
    ctx: &Context<'_>,
    id: &ID,
    to: plexus_agents::TaskStatus,
    result: Option<Value>,
    error: Option<String>,
) -> ApiResult<AgentTaskPayload> {
    let actor: Actor = actor(ctx).await?;
    let id = uuid_of(id, IdKind::AgentTask, "id")?;
    let task = notifying(
        ctx,
        state(ctx)?
            .agents
            .transition_task(&actor, id, to, result, error),
    )
    .await?;
    task_changed(ctx, &task).await?;
    Ok(AgentTaskPayload {
        task: AgentTask::new(task),
    })
}

/// Agent mutations.
#[derive(Default)]
pub struct AgentsMutation;

#[Object]
impl AgentsMutation {
    /// Creates an agent with its tools and knowledge packs.
    async fn create_agent(
        &self,
        ctx: &Context<'_>,
        input: CreateAgentInput,
    ) -> ApiResult<CreateAgentPayload> {
        let actor = actor(ctx).await?;
        let agent = state(ctx)?
            .agents
            .create_agent(
                &actor,
                NewAgent {
                    tool_ids: ids_of(&input.tool_ids, IdKind::Tool, "toolIds")?,
                    knowledge_pack_ids: ids_of(
                        &input.knowledge_pack_ids,
                        IdKind::KnowledgePack,
                        "knowledgePackIds",
                    )?,
                    name: input.name,
                    kind: input.kind,
                    role: input.role,
                    description: input.description,
                    model: input.model,
                    goals: input.goals,
                    config: input.config.map(|j| j.0),
                    authorizations: input.authorizations.map(|j| j.0),
                    style: input.style.map(|j| j.0),
                    is_active: input.is_active,
                },
            )
            .await?;
        Ok(CreateAgentPayload {
            agent: Agent::new(agent),
        })
    }

    /// Changes one of the viewer's agents.
    async fn update_agent(
        &self,
        ctx: &Context<'_>,
        input: UpdateAgentInput,
    ) -> ApiResult<UpdateAgentPayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.id, IdKind::Agent, "id")?;
        let unjson = |v: MaybeUndefined<Json<Value>>| patch(v).map(|o| o.map(|j| j.0));
        let p = AgentPatch {
            tool_ids: input
                .tool_ids
                .as_deref()
                .map(|ids| ids_of(ids, IdKind::Tool, "toolIds"))
                .transpose()?,
            knowledge_pack_ids: input
                .knowledge_pack_ids
                .as_deref()
                .map(|ids| ids_of(ids, IdKind::KnowledgePack, "knowledgePackIds"))
                .transpose()?,
            name: input.name,
            kind: input.kind,
            role: patch(input.role),
            description: patch(input.description),
            model: patch(input.model),
            goals: input.goals,
            config: unjson(input.config),
            authorizations: unjson(input.authorizations),
            style: unjson(input.style),
            is_active: input.is_active,
        };
        let agent = state(ctx)?.agents.update_agent(&actor, id, p).await?;
        Ok(UpdateAgentPayload {
            agent: Agent::new(agent),
        })
    }

    /// Deletes one of the viewer's agents with its tasks and memories.
    async fn delete_agent(
        &self,
        ctx: &Context<'_>,
        input: DeleteAgentInput,
    ) -> ApiResult<DeletePayload> {
        let actor = actor(ctx).await?;
        let id = state(ctx)?
            .agents
            .delete_agent(&actor, uuid_of(&input.id, IdKind::Agent, "id")?)
            .await?;
        publish_to(ctx, Topic::Agent(id), EventKind::AgentDeleted, vec![]).await?;
        Ok(DeletePayload {
            deleted_id: gid(IdKind::Agent, id),
        })
    }

    /// Registers a tool; its schema must be a valid JSON Schema. A site admin's tools are
    /// shared with everyone.
    async fn create_tool(
        &self,
        ctx: &Context<'_>,
        input: CreateToolInput,
    ) -> ApiResult<ToolPayload> {
        let actor = actor(ctx).await?;
        let tool = state(ctx)?
            .agents
            .create_tool(
                &actor,
                NewTool {
                    name: input.name,
                    description: input.description,
                    schema: input.schema.0,
                    is_active: input.is_active,
                },
            )
            .await?;
        Ok(ToolPayload {
            tool: Tool::new(tool),
        })
    }

    /// Changes one of the viewer's tools.
    async fn update_tool(
        &self,
        ctx: &Context<'_>,
        input: UpdateToolInput,
    ) -> ApiResult<ToolPayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.id, IdKind::Tool, "id")?;
        let tool = state(ctx)?
            .agents
            .update_tool(
                &actor,
                id,
                ToolPatch {
                    name: input.name,
                    description: input.description,
                    schema: input.schema.map(|j| j.0),
                    is_active: input.is_active,
                },
            )
            .await?;
        Ok(ToolPayload {
            tool: Tool::new(tool),
        })
    }

    /// Creates a knowledge pack. A site admin's packs are shared with everyone.
    async fn create_knowledge_pack(
        &self,
        ctx: &Context<'_>,
        input: CreateKnowledgePackInput,
    ) -> ApiResult<CreateKnowledgePackPayload> {
        let actor = actor(ctx).await?;
        let pack = state(ctx)?
            .agents
            .create_pack(
                &actor,
                NewKnowledgePack {
                    name: input.name,
                    description: input.description,
                    path: input.path,
                    metadata: input.metadata.map(|j| j.0),
                    is_active: input.is_active,
                },
            )
            .await?;
        Ok(CreateKnowledgePackPayload {
            knowledge_pack: KnowledgePack::new(pack),
        })
    }

    /// Adds a PENDING task to the queue of one of the viewer's agents.
    async fn create_agent_task(
        &self,
        ctx: &Context<'_>,
        input: CreateAgentTaskInput,
    ) -> ApiResult<AgentTaskPayload> {
        let actor = actor(ctx).await?;
        let task = state(ctx)?
            .agents
            .create_task(
                &actor,
                NewTask {
                    agent_id: uuid_of(&input.agent_id, IdKind::Agent, "agentId")?,
                    node_id: input
                        .node_id
                        .as_ref()
                        .map(|n| uuid_of(n, IdKind::GraphNode, "nodeId"))
                        .transpose()?,
                    name: input.name,
                    description: input.description,
                    prompt: input.prompt,
                    metadata: input.metadata.map(|j| j.0),
                },
            )
            .await?;
        task_changed(ctx, &task).await?;
        Ok(AgentTaskPayload {
            task: AgentTask::new(task),
        })
    }

    /// Takes the oldest PENDING task of the agent's queue and marks it RUNNING; exactly one
    /// caller gets each task, however many claim at once. `task` is null when the queue is
    /// empty.
    async fn claim_agent_task(
        &self,
        ctx: &Context<'_>,
        input: ClaimAgentTaskInput,
    ) -> ApiResult<ClaimAgentTaskPayload> {
        let actor = actor(ctx).await?;
        let agent = uuid_of(&input.agent_id, IdKind::Agent, "agentId")?;
        let task = state(ctx)?.agents.claim_task(&actor, agent).await?;
        if let Some(t) = &task {
            task_changed(ctx, t).await?;
        }
        Ok(ClaimAgentTaskPayload {
            task: task.map(AgentTask::new),
        })
    }

    /// PENDING → RUNNING for a given task.
    async fn start_agent_task(
        &self,
        ctx: &Context<'_>,
        input: AgentTaskIdInput,
    ) -> ApiResult<AgentTaskPayload> {
        transition(
            ctx,
            &input.id,
            plexus_agents::TaskStatus::Running,
            None,
            None,
        )
        .await
    }

    /// RUNNING → COMPLETED with a result.
    async fn complete_agent_task(
        &self,
        ctx: &Context<'_>,
        input: CompleteAgentTaskInput,
    ) -> ApiResult<AgentTaskPayload> {
        let result = input.result.map(|j| j.0);
        transition(
            ctx,
            &input.id,
            plexus_agents::TaskStatus::Completed,
            result,
            None,
        )
        .await
    }

    /// RUNNING → FAILED with an error.
    async fn fail_agent_task(
        &self,
        ctx: &Context<'_>,
        input: FailAgentTaskInput,
    ) -> ApiResult<AgentTaskPayload> {
        let error = Some(input.error);
        transition(
            ctx,
            &input.id,
            plexus_agents::TaskStatus::Failed,
            None,
            error,
        )
        .await
    }

    /// PENDING or RUNNING → CANCELLED.
    async fn cancel_agent_task(
        &self,
        ctx: &Context<'_>,
        input: AgentTaskIdInput,
    ) -> ApiResult<AgentTaskPayload> {
        transition(
            ctx,
            &input.id,
            plexus_agents::TaskStatus::Cancelled,
            None,
            None,
        )
        .await
    }

    /// Sets the node GENERATING and queues a task for the viewer's agent to generate it.
    async fn request_node_generation(
        &self,
        ctx: &Context<'_>,
        input: RequestNodeGenerationInput,
    ) -> ApiResult<RequestNodeGenerationPayload> {
        let actor = actor(ctx).await?;
        let node = uuid_of(&input.node_id, IdKind::GraphNode, "nodeId")?;
        let agent = uuid_of(&input.agent_id, IdKind::Agent, "agentId")?;
        let (node, task) = state(ctx)?
            .agents
            .request_generation(&actor, node, agent)
            .await?;
        publish(
            ctx,
            node.project_id,
            EventKind::GraphNodeUpdated,
            vec![node.id],
        )
        .await?;
        task_changed(ctx, &task).await?;
        Ok(RequestNodeGenerationPayload {
            node: GraphNode::new(node),
            task: AgentTask::new(task),
        })
    }

    /// Appends a streamed chunk to a GENERATING node's response.
    async fn append_node_response(
        &self,
        ctx: &Context<'_>,
        input: AppendNodeResponseInput,
    ) -> ApiResult<AppendNodeResponsePayload> {
        let actor = actor(ctx).await?;
        let node = uuid_of(&input.node_id, IdKind::GraphNode, "nodeId")?;
        let node = state(ctx)?
            .agents
            .append_response(&actor, node, &input.chunk)
            .await?;
        publish_chunk(
            ctx,
            Topic::Project(node.project_id),
            EventKind::NodeResponseChunk,
            node.id,
            node.response.as_deref().unwrap_or_default(),
            &input.chunk,
        )
        .await?;
        Ok(AppendNodeResponsePayload {
            node: GraphNode::new(node),
        })
    }

    /// Stores the response, sets the node COMPLETED, completes its task and marks its
    /// descendants STALE.
    async fn complete_node_generation(
        &self,
        ctx: &Context<'_>,
        input: CompleteNodeGenerationInput,
    ) -> ApiResult<CompleteNodeGenerationPayload> {
        let actor = actor(ctx).await?;
        let node = uuid_of(&input.node_id, IdKind::GraphNode, "nodeId")?;
        let done = notifying(
            ctx,
            state(ctx)?.agents.complete_generation(
                &actor,
                node,
                GenerationResult {
                    response: input.response,
                    summary: input.summary,
                    llm_model: input.llm_model,
                    llm_tokens: input.llm_tokens,
                    llm_cost: input.llm_cost,
                },
            ),
        )
        .await?;
        let mut changed = vec![done.node.id];
        changed.extend(&done.stale);
        publish(
            ctx,
            done.node.project_id,
            EventKind::GraphNodeUpdated,
            changed,
        )
        .await?;
        if let Some(t) = &done.task {
            task_changed(ctx, t).await?;
        }
        Ok(CompleteNodeGenerationPayload {
            node: GraphNode::new(done.node),
            task: done.task.map(AgentTask::new),
            stale_nodes: GraphNode::nodes(ctx, done.stale).await?,
        })
    }

    /// Sets a GENERATING node ERROR and fails its task.
    async fn fail_node_generation(
        &self,
        ctx: &Context<'_>,
        input: FailNodeGenerationInput,
    ) -> ApiResult<FailNodeGenerationPayload> {
        let actor = actor(ctx).await?;
        let node = uuid_of(&input.node_id, IdKind::GraphNode, "nodeId")?;
        let (node, task) = notifying(
            ctx,
            state(ctx)?
                .agents
                .fail_generation(&actor, node, input.error),
        )
        .await?;
        publish(
            ctx,
            node.project_id,
            EventKind::GraphNodeUpdated,
            vec![node.id],
        )
        .await?;
        if let Some(t) = &task {
            task_changed(ctx, t).await?;
        }
        Ok(FailNodeGenerationPayload {
            node: GraphNode::new(node),
            task: task.map(AgentTask::new),
        })
    }
}
