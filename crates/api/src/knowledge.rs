//! GraphQL for what agents keep and run: memories, documents and `searchDocuments`,
//! workflows and their executions, and system logs.

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use plexus_agents::entity::{
    documents, memories, system_logs, workflow_executions, workflow_participants, workflows,
};
use plexus_agents::knowledge::{DocumentPatch, NewDocument, Search, decode_embedding};
use plexus_agents::logs::{LogFilter, LogLevel as DomainLevel};
use plexus_agents::memory::{MemoryKind as DomainKind, Remember};
use plexus_agents::workflows::{ExecutionStatus, NewWorkflow, Participant, WorkflowPatch};
use plexus_core::page::PageRequest;
use plexus_core::{DomainError, IdKind};
use serde_json::Value;
use uuid::Uuid;

use crate::agents::{Agent, KnowledgePack};
use crate::common::{gid, not_found, uuid_of};
use crate::connection::Connection;
use crate::context::{actor, loaders, state};
use crate::error::ApiResult;
use crate::projects::{DeletePayload, child_page};
use crate::users::patch;

fn json_opt(v: &Option<Value>) -> Option<Json<Value>> {
    v.clone().map(Json)
}

fn page_args(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> ApiResult<plexus_core::page::PageArgs> {
    Ok(PageRequest {
        first,
        after,
        last,
        before,
    }
    .resolve(state(ctx)?.page_limits, "id", 1)?)
}

/// What kind of memory.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MemoryKind {
    /// Kept for the current task or conversation.
    ShortTerm,
    /// Kept across tasks.
    LongTerm,
    /// A remembered event.
    Episodic,
}

impl From<MemoryKind> for DomainKind {
    fn from(k: MemoryKind) -> Self {
        match k {
            MemoryKind::ShortTerm => Self::ShortTerm,
            MemoryKind::LongTerm => Self::LongTerm,
            MemoryKind::Episodic => Self::Episodic,
        }
    }
}

/// How serious a log entry is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Something worth knowing.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

impl From<LogLevel> for DomainLevel {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Debug => Self::Debug,
            LogLevel::Info => Self::Info,
            LogLevel::Warn => Self::Warn,
            LogLevel::Error => Self::Error,
        }
    }
}

/// Where a workflow execution is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum WorkflowExecutionStatus {
    /// Started, not finished.
    Running,
    /// Finished with an output.
    Completed,
    /// Finished with an error.
    Failed,
    /// Called off.
    Cancelled,
}

impl From<WorkflowExecutionStatus> for ExecutionStatus {
    fn from(s: WorkflowExecutionStatus) -> Self {
        match s {
            WorkflowExecutionStatus::Running => Self::Running,
            WorkflowExecutionStatus::Completed => Self::Completed,
            WorkflowExecutionStatus::Failed => Self::Failed,
            WorkflowExecutionStatus::Cancelled => Self::Cancelled,
        }
    }
}

fn parse_enum<T>(s: &str, what: &str, f: impl Fn(&str) -> Option<T>) -> ApiResult<T> {
    f(s).ok_or_else(|| DomainError::internal(format!("unknown {what} {s}")).into())
}

/// Something an agent remembers, under a kind and a key.
#[derive(Clone)]
pub struct Memory {
    model: memories::Model,
}

impl Memory {
    /// Wraps a memory of an agent the viewer owns.
    pub fn new(model: memories::Model) -> Self {
        Self { model }
    }
}

impl Memory {
    /// A live memory of one of the viewer's agents, or `None`.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<Memory>> {
        let actor = actor(ctx).await?;
        Ok(state(ctx)?
            .agents
            .memory(&actor, id)
            .await?
            .map(Memory::new))
    }
}

/// Something an agent remembers, under a kind and a key.
#[Object]
impl Memory {
    /// Global id (`mem_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::Memory, self.model.id)
    }
    /// The agent that remembers it.
    async fn agent(&self, ctx: &Context<'_>) -> ApiResult<Agent> {
        Agent::load(ctx, self.model.agent_id)
            .await?
            .ok_or_else(|| not_found("agent"))
    }
    /// What kind of memory.
    async fn kind(&self) -> ApiResult<MemoryKind> {
        let k = parse_enum(&self.model.kind, "memory kind", DomainKind::parse)?;
        Ok(match k {
            DomainKind::ShortTerm => MemoryKind::ShortTerm,
            DomainKind::LongTerm => MemoryKind::LongTerm,
            DomainKind::Episodic => MemoryKind::Episodic,
        })
    }
    /// Its key, unique per agent and kind.
    async fn key(&self) -> &str {
        &self.model.key
    }
    /// What is remembered.
    async fn value(&self) -> Json<Value> {
        Json(self.model.value.clone())
    }
    /// Free-form metadata.
    async fn metadata(&self) -> Option<Json<Value>> {
        json_opt(&self.model.metadata)
    }
    /// When it is forgotten (never returned after).
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.model.expires_at.map(|t| t.to_utc())
    }
    /// When it was first remembered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }
}

/// A document of a knowledge pack.
#[derive(Clone)]
pub struct Document {
    model: documents::Model,
}

impl Document {
    /// A document the viewer may see, or `None`.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<Document>> {
        let actor = actor(ctx).await?;
        let found = state(ctx)?.agents.document(&actor, id).await?;
        Ok(found.map(|model| Document { model }))
    }
}

/// A document of a knowledge pack.
#[Object]
impl Document {
    /// Global id (`doc_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::Document, self.model.id)
    }
    /// The pack it belongs to.
    async fn knowledge_pack(&self, ctx: &Context<'_>) -> ApiResult<KnowledgePack> {
        let actor = actor(ctx).await?;
        state(ctx)?
            .agents
            .packs_by_ids(&actor, &[self.model.knowledge_pack_id])
            .await?
            .into_iter()
            .next()
            .map(KnowledgePack::new)
            .ok_or_else(|| not_found("knowledge pack"))
    }
    /// Where it came from (path or URL).
    async fn source(&self) -> &str {
        &self.model.source
    }
    /// Title.
    async fn title(&self) -> Option<&str> {
        self.model.title.as_deref()
    }
    /// Author.
    async fn author(&self) -> Option<&str> {
        self.model.author.as_deref()
    }
    /// The text.
    async fn content(&self) -> &str {
        &self.model.content
    }
    /// Free-form metadata.
    async fn metadata(&self) -> Option<Json<Value>> {
        json_opt(&self.model.metadata)
    }
    /// Dimensions of its embedding, if it has one.
    async fn dimensions(&self) -> Option<i32> {
        self.model.embedding.as_ref().map(|e| (e.len() / 4) as i32)
    }
    /// Its embedding, if it has one.
    async fn embedding(&self) -> Option<Vec<f32>> {
        self.model.embedding.as_deref().map(decode_embedding)
    }
    /// True when it has an embedding.
    async fn is_indexed(&self) -> bool {
        self.model.is_indexed
    }
    /// When it was added.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }
}

/// A document found by `searchDocuments`, with its relevance.
#[derive(SimpleObject)]
pub struct DocumentSearchHit {
    /// Relevance: text score, cosine similarity, or their mean (text normalised) when both
    /// a query and an embedding were given. Higher is better.
    pub score: f64,
    /// The document.
    pub document: Document,
}

/// An agent's place in a workflow.
#[derive(Clone)]
pub struct WorkflowParticipant {
    model: workflow_participants::Model,
}

/// An agent's place in a workflow.
#[Object]
impl WorkflowParticipant {
    /// The agent.
    async fn agent(&self, ctx: &Context<'_>) -> ApiResult<Option<Agent>> {
        Agent::load(ctx, self.model.agent_id).await
    }
    /// Its role in the workflow.
    async fn role(&self) -> &str {
        &self.model.role
    }
    /// Its place in the order.
    async fn position(&self) -> i32 {
        self.model.position
    }
}

/// An orchestration of agents.
#[derive(Clone)]
pub struct Workflow {
    model: workflows::Model,
}

impl Workflow {
    /// One of the viewer's workflows, or `None`.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<Workflow>> {
        let actor = actor(ctx).await?;
        Ok(loaders(ctx)?
            .workflows
            .load_one(id)
            .await?
            .filter(|w| plexus_agents::policy::owns(&actor, w.owner_id))
            .map(|model| Workflow { model }))
    }
}

/// An orchestration of agents.
#[Object]
impl Workflow {
    /// Global id (`wf_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::Workflow, self.model.id)
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// What it does.
    async fn description(&self) -> Option<&str> {
        self.model.description.as_deref()
    }
    /// Its definition (steps, edges…; free-form).
    async fn definition(&self) -> Json<Value> {
        Json(self.model.definition.clone())
    }
    /// Whether it may be started.
    async fn is_active(&self) -> bool {
        self.model.is_active
    }
    /// The agents taking part, by position.
    async fn participants(&self, ctx: &Context<'_>) -> ApiResult<Vec<WorkflowParticipant>> {
        Ok(loaders(ctx)?
            .participants
            .load_one(self.model.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|model| WorkflowParticipant { model })
            .collect())
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }
}

/// One run of a workflow.
#[derive(Clone)]
pub struct WorkflowExecution {
    model: workflow_executions::Model,
}

impl WorkflowExecution {
    /// One of the viewer's executions, or `None`.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<WorkflowExecution>> {
        let actor = actor(ctx).await?;
        match state(ctx)?.agents.execution(&actor, id).await {
            Ok(model) => Ok(Some(WorkflowExecution { model })),
            Err(DomainError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// One run of a workflow.
#[Object]
impl WorkflowExecution {
    /// Global id (`wfx_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::WorkflowExecution, self.model.id)
    }
    /// The workflow.
    async fn workflow(&self, ctx: &Context<'_>) -> ApiResult<Workflow> {
        loaders(ctx)?
            .workflows
            .load_one(self.model.workflow_id)
            .await?
            .map(|model| Workflow { model })
            .ok_or_else(|| not_found("workflow"))
    }
    /// Where it is.
    async fn status(&self) -> ApiResult<WorkflowExecutionStatus> {
        let s = parse_enum(
            &self.model.status,
            "execution status",
            ExecutionStatus::parse,
        )?;
        Ok(match s {
            ExecutionStatus::Running => WorkflowExecutionStatus::Running,
            ExecutionStatus::Completed => WorkflowExecutionStatus::Completed,
            ExecutionStatus::Failed => WorkflowExecutionStatus::Failed,
            ExecutionStatus::Cancelled => WorkflowExecutionStatus::Cancelled,
        })
    }
    /// What it started with.
    async fn input(&self) -> Option<Json<Value>> {
        json_opt(&self.model.input)
    }
    /// What it produced.
    async fn output(&self) -> Option<Json<Value>> {
        json_opt(&self.model.output)
    }
    /// Why it failed.
    async fn error(&self) -> Option<&str> {
        self.model.error.as_deref()
    }
    /// When it started.
    async fn started_at(&self) -> DateTime<Utc> {
        self.model.started_at.to_utc()
    }
    /// When it finished.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.model.completed_at.map(|t| t.to_utc())
    }
}

/// An entry of the system log.
#[derive(Clone)]
pub struct SystemLog {
    model: system_logs::Model,
}

impl SystemLog {
    /// A log entry, for site admins; `None` for anyone else.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<SystemLog>> {
        let actor = actor(ctx).await?;
        match state(ctx)?.agents.log_entry(&actor, id).await {
            Ok(model) => Ok(Some(SystemLog { model })),
            Err(DomainError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// An entry of the system log.
#[Object]
impl SystemLog {
    /// Global id (`log_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::SystemLog, self.model.id)
    }
    /// How serious it is.
    async fn level(&self) -> ApiResult<LogLevel> {
        let l = parse_enum(&self.model.level, "log level", DomainLevel::parse)?;
        Ok(match l {
            DomainLevel::Debug => LogLevel::Debug,
            DomainLevel::Info => LogLevel::Info,
            DomainLevel::Warn => LogLevel::Warn,
            DomainLevel::Error => LogLevel::Error,
        })
    }
    /// What part of the system it is about ("agent_task", "tool", …).
    async fn category(&self) -> &str {
        &self.model.category
    }
    /// The message.
    async fn message(&self) -> &str {
        &self.model.message
    }
    /// Free-form metadata.
    async fn metadata(&self) -> Option<Json<Value>> {
        json_opt(&self.model.metadata)
    }
    /// Global id of the user who wrote it; null for the server's own entries.
    async fn actor_id(&self) -> Option<ID> {
        self.model.actor_id.map(|u| gid(IdKind::User, u))
    }
    /// When it was written.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
}

/// The memories of an agent (resolver of `Agent.memories`).
pub async fn agent_memories(
    ctx: &Context<'_>,
    agent_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> ApiResult<Connection<Memory>> {
    let page = child_page(ctx, first, after, last, before)?;
    let p = loaders(ctx)?
        .memory_pages
        .load_one((agent_id, page))
        .await?
        .unwrap_or_default();
    let svc = state(ctx)?.agents.clone();
    Ok(Connection::new(p.map(Memory::new), move || {
        let svc = svc.clone();
        async move { svc.count_memories(agent_id, None).await }
    }))
}

/// Which logs to list.
#[derive(InputObject, Default)]
pub struct SystemLogFilterInput {
    /// Only this level.
    pub level: Option<LogLevel>,
    /// Only this category.
    pub category: Option<String>,
    /// Only entries written at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// A document search.
#[derive(InputObject)]
pub struct SearchDocumentsInput {
    /// Words to look for (text relevance).
    pub query: Option<String>,
    /// A query embedding (cosine similarity); its dimensions must match the documents'.
    pub embedding: Option<Vec<f32>>,
    /// Only these packs (default: every active pack the viewer sees).
    pub knowledge_pack_ids: Option<Vec<ID>>,
    /// Most hits (1–100, default 10).
    pub limit: Option<i32>,
}

/// Queries about memories, knowledge, workflows and logs.
#[derive(Default)]
pub struct KnowledgeQuery;

#[Object]
impl KnowledgeQuery {
    /// Live memories of one of the viewer's agents, in creation order.
    #[allow(clippy::too_many_arguments)]
    async fn memories(
        &self,
        ctx: &Context<'_>,
        agent_id: ID,
        kind: Option<MemoryKind>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<Memory>> {
        let actor = actor(ctx).await?;
        let agent = uuid_of(&agent_id, IdKind::Agent, "agentId")?;
        let args = page_args(ctx, first, after, last, before)?;
        let kind = kind.map(DomainKind::from);
        let svc = state(ctx)?.agents.clone();
        let page = svc.list_memories(&actor, agent, kind, &args).await?;
        Ok(Connection::new(page.map(Memory::new), move || {
            let svc = svc.clone();
            async move { svc.count_memories(agent, kind).await }
        }))
    }

    /// Documents of the packs the viewer sees, ranked by text relevance and, with an
    /// embedding, cosine similarity.
    async fn search_documents(
        &self,
        ctx: &Context<'_>,
        input: SearchDocumentsInput,
    ) -> ApiResult<Vec<DocumentSearchHit>> {
        let actor = actor(ctx).await?;
        let packs = input
            .knowledge_pack_ids
            .as_deref()
            .map(|ids| {
                ids.iter()
                    .map(|i| uuid_of(i, IdKind::KnowledgePack, "knowledgePackIds"))
                    .collect::<ApiResult<Vec<_>>>()
            })
            .transpose()?;
        let limit = match input.limit {
            Some(n) if n < 1 => {
                return Err(DomainError::invalid("limit", "limit is 1 to 100").into());
            }
            Some(n) => Some(n as u64),
            None => None,
        };
        let hits = state(ctx)?
            .agents
            .search_documents(
                &actor,
                Search {
                    query: input.query,
                    embedding: input.embedding,
                    knowledge_pack_ids: packs,
                    limit,
                },
            )
            .await?;
        Ok(hits
            .into_iter()
            .map(|(score, model)| DocumentSearchHit {
                score,
                document: Document { model },
            })
            .collect())
    }

    /// The viewer's workflows, in creation order.
    async fn workflows(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<Workflow>> {
        let actor = actor(ctx).await?;
        let args = page_args(ctx, first, after, last, before)?;
        let svc = state(ctx)?.agents.clone();
        let page = svc.list_workflows(&actor, &args).await?;
        Ok(Connection::new(
            page.map(|model| Workflow { model }),
            move || {
                let svc = svc.clone();
                async move { svc.count_workflows(&actor).await }
            },
        ))
    }

    /// One of the viewer's workflow executions; null otherwise.
    async fn workflow_execution(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> ApiResult<Option<WorkflowExecution>> {
        WorkflowExecution::load(ctx, uuid_of(&id, IdKind::WorkflowExecution, "id")?).await
    }

    /// The system log, newest first (site admins only).
    async fn system_logs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<SystemLogFilterInput>,
    ) -> ApiResult<Connection<SystemLog>> {
        let actor = actor(ctx).await?;
        let args = page_args(ctx, first, after, last, before)?;
        let f = filter.unwrap_or_default();
        let filter = LogFilter {
            level: f.level.map(Into::into),
            category: f.category,
            since: f.since.map(|t| t.fixed_offset()),
        };
        let svc = state(ctx)?.agents.clone();
        let page = svc.list_logs(&actor, &filter, &args).await?;
        Ok(Connection::new(
            page.map(|model| SystemLog { model }),
            move || {
                let (svc, filter) = (svc.clone(), filter.clone());
                async move { svc.count_logs(&actor, &filter).await }
            },
        ))
    }
}

/// A memory to store (replaces the agent's memory of the same kind and key).
#[derive(InputObject)]
pub struct RememberInput {
    /// The viewer's agent.
    pub agent_id: ID,
    /// What kind of memory.
    pub kind: MemoryKind,
    /// Its key (1–255 characters).
    pub key: String,
    /// What to remember.
    pub value: Json<Value>,
    /// Free-form metadata (a JSON object).
    pub metadata: Option<Json<Value>>,
    /// When to forget it (in the future).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Result of `remember`.
#[derive(SimpleObject)]
pub struct RememberPayload {
    /// The stored memory.
    pub memory: Memory,
}

/// A memory to forget.
#[derive(InputObject)]
pub struct ForgetInput {
    /// The memory.
    pub id: ID,
}

/// A new document.
#[derive(InputObject)]
pub struct AddDocumentInput {
    /// One of the viewer's packs.
    pub knowledge_pack_id: ID,
    /// Where it came from.
    pub source: String,
    /// Title.
    pub title: Option<String>,
    /// Author.
    pub author: Option<String>,
    /// The text.
    pub content: String,
    /// Free-form metadata (a JSON object).
    pub metadata: Option<Json<Value>>,
    /// Its embedding (1–4096 finite numbers).
    pub embedding: Option<Vec<f32>>,
}

/// Result of `addDocument` and `updateDocument`.
#[derive(SimpleObject)]
pub struct DocumentPayload {
    /// The document.
    pub document: Document,
}

/// Changes to a document. Omitted fields stay; null clears.
#[derive(InputObject)]
pub struct UpdateDocumentInput {
    /// The document.
    pub id: ID,
    /// New source.
    pub source: Option<String>,
    /// New title, or null.
    pub title: MaybeUndefined<String>,
    /// New author, or null.
    pub author: MaybeUndefined<String>,
    /// New text.
    pub content: Option<String>,
    /// New metadata, or null.
    pub metadata: MaybeUndefined<Json<Value>>,
    /// New embedding, or null.
    pub embedding: MaybeUndefined<Vec<f32>>,
}

/// A document to delete.
#[derive(InputObject)]
pub struct DeleteDocumentInput {
    /// The document.
    pub id: ID,
}

/// An agent's place in a workflow.
#[derive(InputObject)]
pub struct WorkflowParticipantInput {
    /// One of the viewer's agents.
    pub agent_id: ID,
    /// Its role.
    pub role: String,
    /// Its place in the order.
    pub position: i32,
}

/// A new workflow.
#[derive(InputObject)]
pub struct CreateWorkflowInput {
    /// Name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// Its definition (a JSON object).
    pub definition: Json<Value>,
    /// The agents taking part.
    #[graphql(default)]
    pub participants: Vec<WorkflowParticipantInput>,
    /// Whether it may be started (default true).
    #[graphql(default = true)]
    pub is_active: bool,
}

/// Result of `createWorkflow` and `updateWorkflow`.
#[derive(SimpleObject)]
pub struct WorkflowPayload {
    /// The workflow.
    pub workflow: Workflow,
}

/// Changes to a workflow. Omitted fields stay.
#[derive(InputObject)]
pub struct UpdateWorkflowInput {
    /// The workflow.
    pub id: ID,
    /// New name.
    pub name: Option<String>,
    /// New description, or null.
    pub description: MaybeUndefined<String>,
    /// New definition.
    pub definition: Option<Json<Value>>,
    /// The agents taking part (replaces the list).
    pub participants: Option<Vec<WorkflowParticipantInput>>,
    /// Whether it may be started.
    pub is_active: Option<bool>,
}

/// A workflow to run.
#[derive(InputObject)]
pub struct StartWorkflowExecutionInput {
    /// One of the viewer's active workflows.
    pub workflow_id: ID,
    /// What it starts with.
    pub input: Option<Json<Value>>,
}

/// The end of a run.
#[derive(InputObject)]
pub struct FinishWorkflowExecutionInput {
    /// The execution (RUNNING).
    pub id: ID,
    /// COMPLETED, FAILED or CANCELLED.
    pub status: WorkflowExecutionStatus,
    /// What it produced.
    pub output: Option<Json<Value>>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Result of `startWorkflowExecution` and `finishWorkflowExecution`.
#[derive(SimpleObject)]
pub struct WorkflowExecutionPayload {
    /// The execution.
    pub execution: WorkflowExecution,
}

/// A log entry to write.
#[derive(InputObject)]
pub struct WriteSystemLogInput {
    /// How serious it is.
    pub level: LogLevel,
    /// What part of the system it is about.
    pub category: String,
    /// The message.
    pub message: String,
    /// Free-form metadata (a JSON object).
    pub metadata: Option<Json<Value>>,
}

/// Result of `writeSystemLog`.
#[derive(SimpleObject)]
pub struct WriteSystemLogPayload {
    /// Global id of the new entry.
    pub id: ID,
}

fn participants(list: Vec<WorkflowParticipantInput>) -> ApiResult<Vec<Participant>> {
    list.into_iter()
        .map(|p| {
            Ok(Participant {
                agent_id: uuid_of(&p.agent_id, IdKind::Agent, "participants")?,
                role: p.role,
                position: p.position,
            })
        })
        .collect()
}

/// Mutations of memories, knowledge, workflows and logs.
#[derive(Default)]
pub struct KnowledgeMutation;

#[Object]
impl KnowledgeMutation {
    /// Stores a memory of one of the viewer's agents (upsert on agent, kind and key).
    async fn remember(
        &self,
        ctx: &Context<'_>,
        input: RememberInput,
    ) -> ApiResult<RememberPayload> {
        let actor = actor(ctx).await?;
        let memory = state(ctx)?
            .agents
            .remember(
                &actor,
                Remember {
                    agent_id: uuid_of(&input.agent_id, IdKind::Agent, "agentId")?,
                    kind: input.kind.into(),
                    key: input.key,
                    value: input.value.0,
                    metadata: input.metadata.map(|j| j.0),
                    expires_at: input.expires_at.map(|t| t.fixed_offset()),
                },
            )
            .await?;
        Ok(RememberPayload {
            memory: Memory::new(memory),
        })
    }

    /// Deletes a memory of one of the viewer's agents.
    async fn forget(&self, ctx: &Context<'_>, input: ForgetInput) -> ApiResult<DeletePayload> {
        let actor = actor(ctx).await?;
        let id = state(ctx)?
            .agents
            .forget(&actor, uuid_of(&input.id, IdKind::Memory, "id")?)
            .await?;
        Ok(DeletePayload {
            deleted_id: gid(IdKind::Memory, id),
        })
    }

    /// Adds a document to one of the viewer's knowledge packs.
    async fn add_document(
        &self,
        ctx: &Context<'_>,
        input: AddDocumentInput,
    ) -> ApiResult<DocumentPayload> {
        let actor = actor(ctx).await?;
        let model = state(ctx)?
            .agents
            .add_document(
                &actor,
                NewDocument {
                    knowledge_pack_id: uuid_of(
                        &input.knowledge_pack_id,
                        IdKind::KnowledgePack,
                        "knowledgePackId",
                    )?,
                    source: input.source,
                    title: input.title,
                    author: input.author,
                    content: input.content,
                    metadata: input.metadata.map(|j| j.0),
                    embedding: input.embedding,
                },
            )
            .await?;
        Ok(DocumentPayload {
            document: Document { model },
        })
    }

    /// Changes a document of one of the viewer's packs.
    async fn update_document(
        &self,
        ctx: &Context<'_>,
        input: UpdateDocumentInput,
    ) -> ApiResult<DocumentPayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.id, IdKind::Document, "id")?;
        let model = state(ctx)?
            .agents
            .update_document(
                &actor,
                id,
                DocumentPatch {
                    source: input.source,
                    title: patch(input.title),
                    author: patch(input.author),
                    content: input.content,
                    metadata: patch(input.metadata).map(|m| m.map(|j| j.0)),
                    embedding: patch(input.embedding),
                },
            )
            .await?;
        Ok(DocumentPayload {
            document: Document { model },
        })
    }

    /// Deletes a document of one of the viewer's packs.
    async fn delete_document(
        &self,
        ctx: &Context<'_>,
        input: DeleteDocumentInput,
    ) -> ApiResult<DeletePayload> {
        let actor = actor(ctx).await?;
        let id = state(ctx)?
            .agents
            .delete_document(&actor, uuid_of(&input.id, IdKind::Document, "id")?)
            .await?;
        Ok(DeletePayload {
            deleted_id: gid(IdKind::Document, id),
        })
    }

    /// Creates a workflow of the viewer's agents.
    async fn create_workflow(
        &self,
        ctx: &Context<'_>,
        input: CreateWorkflowInput,
    ) -> ApiResult<WorkflowPayload> {
        let actor = actor(ctx).await?;
        let model = state(ctx)?
            .agents
            .create_workflow(
                &actor,
                NewWorkflow {
                    participants: participants(input.participants)?,
                    name: input.name,
                    description: input.description,
                    definition: input.definition.0,
                    is_active: input.is_active,
                },
            )
            .await?;
        Ok(WorkflowPayload {
            workflow: Workflow { model },
        })
    }

    /// Changes one of the viewer's workflows.
    async fn update_workflow(
        &self,
        ctx: &Context<'_>,
        input: UpdateWorkflowInput,
    ) -> ApiResult<WorkflowPayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.id, IdKind::Workflow, "id")?;
        let model = state(ctx)?
            .agents
            .update_workflow(
                &actor,
                id,
                WorkflowPatch {
                    participants: input.participants.map(participants).transpose()?,
                    name: input.name,
                    description: patch(input.description),
                    definition: input.definition.map(|j| j.0),
                    is_active: input.is_active,
                },
            )
            .await?;
        Ok(WorkflowPayload {
            workflow: Workflow { model },
        })
    }

    /// Starts a run of one of the viewer's active workflows (RUNNING).
    async fn start_workflow_execution(
        &self,
        ctx: &Context<'_>,
        input: StartWorkflowExecutionInput,
    ) -> ApiResult<WorkflowExecutionPayload> {
        let actor = actor(ctx).await?;
        let wf = uuid_of(&input.workflow_id, IdKind::Workflow, "workflowId")?;
        let model = state(ctx)?
            .agents
            .start_execution(&actor, wf, input.input.map(|j| j.0))
            .await?;
        execution_changed(ctx, &model).await?;
        Ok(WorkflowExecutionPayload {
            execution: WorkflowExecution { model },
        })
    }

    /// Finishes a RUNNING execution; finished executions are final (CONFLICT).
    async fn finish_workflow_execution(
        &self,
        ctx: &Context<'_>,
        input: FinishWorkflowExecutionInput,
    ) -> ApiResult<WorkflowExecutionPayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.id, IdKind::WorkflowExecution, "id")?;
        let model = state(ctx)?
            .agents
            .finish_execution(
                &actor,
                id,
                input.status.into(),
                input.output.map(|j| j.0),
                input.error,
            )
            .await?;
        execution_changed(ctx, &model).await?;
        Ok(WorkflowExecutionPayload {
            execution: WorkflowExecution { model },
        })
    }

    /// Writes a system log entry (any signed-in user; only site admins read them).
    async fn write_system_log(
        &self,
        ctx: &Context<'_>,
        input: WriteSystemLogInput,
    ) -> ApiResult<WriteSystemLogPayload> {
        let actor = actor(ctx).await?;
        let log = state(ctx)?
            .agents
            .write_log(
                &actor,
                input.level.into(),
                &input.category,
                &input.message,
                input.metadata.map(|j| j.0),
            )
            .await?;
        Ok(WriteSystemLogPayload {
            id: gid(IdKind::SystemLog, log.id),
        })
    }
}

/// Announces a committed change of an execution to its workflow's subscribers.
async fn execution_changed(
    ctx: &Context<'_>,
    model: &plexus_agents::entity::workflow_executions::Model,
) -> ApiResult<()> {
    crate::context::publish_to(
        ctx,
        plexus_core::events::Topic::Workflow(model.workflow_id),
        plexus_core::events::EventKind::WorkflowExecutionChanged,
        vec![model.id],
    )
    .await
}
