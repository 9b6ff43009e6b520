//! The conversations service: conversations, messages (with streamed assistant replies)
//! and tool calls. Every operation checks access first (`policy`); writes that touch several
//! rows — a message, its conversation's activity time and its owner's token total — run in
//! one transaction.

use plexus_agents::service::{
    check_object, check_size, check_text, own_agent, validate_arguments, visible_tool,
};
use plexus_core::db::{begin_write, contains_ci, now};
use plexus_core::page::{
    ChildPage, KeyValue, Ordering, PageArgs, count_children, fetch_child_pages, fetch_page,
};
use plexus_core::{Actor, DomainError, DomainResult, Page};
use plexus_projects::ProjectRole;
use plexus_projects::entity::{project_members, projects};
use plexus_projects::service::access_on;
use plexus_users::entity::users;
use sea_orm::sea_query::{BinOper, Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    ExprTrait, PaginatorTrait, QueryFilter, Select, Set,
};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

use crate::entity::{conversations, messages, tool_calls};
use crate::policy::{ConversationAccess, access};

/// Longest message content, in characters (a streamed reply included).
pub const MAX_CONTENT: usize = 1_000_000;
/// Longest streamed chunk, in characters.
pub const MAX_CHUNK: usize = 100_000;
/// Most tokens one message may report.
pub const MAX_TOKENS: i32 = 10_000_000;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageRole {
    User,
    Assistant,
    System,
    Tool,
}

impl MessageRole {
    /// Every role.
    pub const ALL: [MessageRole; 4] = [Self::User, Self::Assistant, Self::System, Self::Tool];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Assistant => "ASSISTANT",
            Self::System => "SYSTEM",
            Self::Tool => "TOOL",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Whether a message is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Final.
    Complete,
    /// An assistant reply still being produced: its content grows chunk by chunk.
    Streaming,
}

impl MessageStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "COMPLETE",
            Self::Streaming => "STREAMING",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Complete, Self::Streaming]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A new conversation.
#[derive(Debug, Clone, Default)]
pub struct NewConversation {
    pub title: Option<String>,
    pub agent_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub metadata: Option<Value>,
}

/// A change to a conversation: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ConversationPatch {
    pub title: Option<Option<String>>,
    pub metadata: Option<Option<Value>>,
    pub is_active: Option<bool>,
}

/// Which conversations a list shows (on top of what the viewer may read).
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub agent_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub is_active: Option<bool>,
    /// Case-insensitive text in the title.
    pub search: Option<String>,
}

/// Orderings of conversation lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConversationOrder {
    /// By last activity (a new message moves a conversation up); the default.
    #[default]
    UpdatedAt,
    /// By creation.
    CreatedAt,
}

/// A new message.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: Uuid,
    pub role: MessageRole,
    pub content: String,
    pub tokens: Option<i32>,
    pub model: Option<String>,
    pub agent_id: Option<Uuid>,
    pub metadata: Option<Value>,
    /// Start a STREAMING assistant reply, to be grown by chunks and then finished.
    pub streaming: bool,
}

/// The end of a streamed reply.
#[derive(Debug, Clone, Default)]
pub struct FinishMessage {
    /// The final text; `None` keeps what the chunks built.
    pub content: Option<String>,
    pub tokens: Option<i32>,
    pub model: Option<String>,
    pub metadata: Option<Value>,
}

/// A tool call to record.
#[derive(Debug, Clone)]
pub struct NewToolCall {
    pub conversation_id: Uuid,
    pub tool_id: Uuid,
    pub message_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub arguments: Value,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub duration_ms: Option<i32>,
}

/// Conversations, messages and tool calls.
#[derive(Debug, Clone)]
pub struct ConversationsService {
    db: DatabaseConnection,
}

fn check_tokens(tokens: Option<i32>) -> DomainResult<()> {
    match tokens {
        Some(t) if !(0..=MAX_TOKENS).contains(&t) => Err(DomainError::invalid(
            "tokens",
            format!("tokens must be between 0 and {MAX_TOKENS}"),
        )),
        _ => Ok(()),
    }
}

fn check_model(model: &Option<String>) -> DomainResult<()> {
    match model {
        Some(m) => check_text("model", m, 1, 200),
        None => Ok(()),
    }
}

fn check_metadata(metadata: &Option<Value>) -> DomainResult<()> {
    match metadata {
        Some(m) => check_object("metadata", m),
        None => Ok(()),
    }
}

/// Conversations that are not deleted.
fn live() -> Select<conversations::Entity> {
    conversations::Entity::find().filter(conversations::Column::DeletedAt.is_null())
}

/// Messages that are not deleted.
fn live_messages() -> Select<messages::Entity> {
    messages::Entity::find().filter(messages::Column::DeletedAt.is_null())
}

/// The ids of live projects (a subquery).
fn live_projects() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(projects::Column::Id)
        .from(projects::Entity)
        .and_where(projects::Column::DeletedAt.is_null())
        .to_owned()
}

/// The ids of the live projects `user` is a member of (a subquery).
fn member_projects(user: Uuid) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(project_members::Column::ProjectId)
        .from(project_members::Entity)
        .and_where(project_members::Column::UserId.eq(user))
        .and_where(project_members::Column::ProjectId.in_subquery(live_projects()))
        .to_owned()
}

/// The role of `user` in a live project, if any.
async fn role_in(
    conn: &impl ConnectionTrait,
    project: Uuid,
    user: Uuid,
) -> DomainResult<Option<ProjectRole>> {
    let row = project_members::Entity::find()
        .filter(project_members::Column::ProjectId.eq(project))
        .filter(project_members::Column::UserId.eq(user))
        .filter(project_members::Column::ProjectId.in_subquery(live_projects()))
        .one(conn)
        .await?;
    Ok(row.and_then(|m| ProjectRole::parse(&m.role)))
}

/// A live conversation and what the actor may do with it, read through `conn` (a
/// transaction or the pool); `NOT_FOUND` when unreadable.
pub async fn conversation_on(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> DomainResult<(conversations::Model, ConversationAccess)> {
    let conv = live()
        .filter(conversations::Column::Id.eq(id))
        .one(conn)
        .await?
        .ok_or_else(|| DomainError::not_found("conversation"))?;
    let role = match (conv.project_id, actor.user_id()) {
        (Some(p), Some(u)) if u != conv.user_id => role_in(conn, p, u).await?,
        _ => None,
    };
    let a = access(actor, conv.user_id, role);
    if !a.read {
        return Err(DomainError::not_found("conversation"));
    }
    Ok((conv, a))
}

/// A live message, the conversation it is in and the actor's access to it.
async fn message_on(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> DomainResult<(messages::Model, conversations::Model, ConversationAccess)> {
    let msg = live_messages()
        .filter(messages::Column::Id.eq(id))
        .one(conn)
        .await?
        .ok_or_else(|| DomainError::not_found("message"))?;
    let (conv, a) = conversation_on(conn, actor, msg.conversation_id)
        .await
        .map_err(|e| match e {
            DomainError::NotFound(_) => DomainError::not_found("message"),
            e => e,
        })?;
    Ok((msg, conv, a))
}

/// Marks activity on a conversation (lists ordered by activity follow it).
async fn touch(conn: &impl ConnectionTrait, id: Uuid) -> DomainResult<()> {
    conversations::Entity::update_many()
        .col_expr(conversations::Column::UpdatedAt, Expr::value(now()))
        .filter(conversations::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Adds an assistant message's tokens to the conversation owner's total (one atomic
/// `UPDATE … SET total = total + n`, so concurrent messages add up exactly).
async fn account_tokens(conn: &impl ConnectionTrait, owner: Uuid, tokens: i32) -> DomainResult<()> {
    if tokens <= 0 {
        return Ok(());
    }
    users::Entity::update_many()
        .col_expr(
            users::Column::TotalTokensUsed,
            Expr::col(users::Column::TotalTokensUsed).add(i64::from(tokens)),
        )
        .filter(users::Column::Id.eq(owner))
        .exec(conn)
        .await?;
    Ok(())
}

async fn reload_message(conn: &impl ConnectionTrait, id: Uuid) -> DomainResult<messages::Model> {
    messages::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| DomainError::not_found("message"))
}

/// The actor's own streaming message, for appending and finishing.
fn require_streaming_author(actor: &Actor, msg: &messages::Model) -> DomainResult<()> {
    if msg.author_id != actor.user_id() {
        return Err(DomainError::Forbidden(
            "only the author of a message can extend or finish it".into(),
        ));
    }
    if MessageStatus::parse(&msg.status) != Some(MessageStatus::Streaming) {
        return Err(DomainError::Conflict(
            "the message is already complete".into(),
        ));
    }
    Ok(())
}

impl ConversationsService {
    /// A service over the pool.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    // ---- conversations -----------------------------------------------------------------

    /// Starts a conversation owned by the actor; in a project it needs MEMBER or above,
    /// with an agent it needs owning the agent.
    pub async fn create(
        &self,
        actor: &Actor,
        input: NewConversation,
    ) -> DomainResult<conversations::Model> {
        let user = actor.require_user()?;
        if let Some(t) = &input.title {
            check_text("title", t, 0, 500)?;
        }
        check_metadata(&input.metadata)?;
        let txn = begin_write(&self.db).await?;
        if let Some(project) = input.project_id {
            let pa = access_on(&txn, actor, project).await?;
            pa.require(
                pa.role.is_some_and(|r| r >= ProjectRole::Member),
                "start conversations",
            )?;
        }
        if let Some(agent) = input.agent_id {
            own_agent(&txn, actor, agent).await?;
        }
        let at = now();
        let conv = conversations::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user),
            agent_id: Set(input.agent_id),
            project_id: Set(input.project_id),
            title: Set(input.title),
            metadata: Set(input.metadata),
            is_active: Set(true),
            created_at: Set(at),
            updated_at: Set(at),
            deleted_at: Set(None),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(conv)
    }

    /// A conversation the actor may read, with what it may do.
    pub async fn get(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> DomainResult<(conversations::Model, ConversationAccess)> {
        conversation_on(&self.db, actor, id).await
    }

    /// Renames, re-describes, archives (`isActive: false`) or reactivates a conversation
    /// (its owner, or the project's ADMIN and OWNER).
    pub async fn update(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: ConversationPatch,
    ) -> DomainResult<conversations::Model> {
        actor.require_user()?;
        if let Some(Some(t)) = &patch.title {
            check_text("title", t, 0, 500)?;
        }
        if let Some(m) = &patch.metadata {
            check_metadata(m)?;
        }
        let txn = begin_write(&self.db).await?;
        let (conv, a) = conversation_on(&txn, actor, id).await?;
        a.require(a.manage, "change it")?;
        let mut am: conversations::ActiveModel = conv.into();
        if let Some(t) = patch.title {
            am.title = Set(t);
        }
        if let Some(m) = patch.metadata {
            am.metadata = Set(m);
        }
        if let Some(active) = patch.is_active {
            am.is_active = Set(active);
        }
        am.updated_at = Set(now());
        let conv = am.update(&txn).await?;
        txn.commit().await?;
        Ok(conv)
    }

    /// Soft-deletes a conversation (its owner, or the project's ADMIN and OWNER): it and
    /// its messages vanish from every read.
    pub async fn delete(&self, actor: &Actor, id: Uuid) -> DomainResult<Uuid> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        let (_, a) = conversation_on(&txn, actor, id).await?;
        a.require(a.manage, "delete it")?;
        conversations::Entity::update_many()
            .col_expr(conversations::Column::DeletedAt, Expr::value(now()))
            .filter(conversations::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(id)
    }

    /// One page of the conversations the actor may read.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &ConversationFilter,
        order: ConversationOrder,
        descending: bool,
        page: &PageArgs,
    ) -> DomainResult<Page<conversations::Model>> {
        let q = self.visible(actor, filter);
        use conversations::Column as C;
        match order {
            ConversationOrder::UpdatedAt => {
                let o = Ordering {
                    name: "updatedAt",
                    columns: (C::UpdatedAt, C::Id),
                    arity: 2,
                    descending,
                };
                fetch_page(&self.db, q, o, page, |c| {
                    vec![KeyValue::T(c.updated_at), KeyValue::U(c.id)]
                })
                .await
            }
            ConversationOrder::CreatedAt => {
                let o = Ordering {
                    name: "createdAt",
                    columns: C::Id,
                    arity: 1,
                    descending,
                };
                fetch_page(&self.db, q, o, page, |c| vec![KeyValue::U(c.id)]).await
            }
        }
    }

    /// How many conversations a list holds.
    pub async fn count(&self, actor: &Actor, filter: &ConversationFilter) -> DomainResult<u64> {
        Ok(self.visible(actor, filter).count(&self.db).await?)
    }

    fn visible(&self, actor: &Actor, filter: &ConversationFilter) -> Select<conversations::Entity> {
        use conversations::Column as C;
        let Some(user) = actor.user_id() else {
            // Nobody's conversations are public.
            return live().filter(C::Id.is_null());
        };
        let mut q = live().filter(
            Condition::any()
                .add(C::UserId.eq(user))
                .add(C::ProjectId.in_subquery(member_projects(user))),
        );
        if let Some(a) = filter.agent_id {
            q = q.filter(C::AgentId.eq(a));
        }
        if let Some(p) = filter.project_id {
            q = q.filter(C::ProjectId.eq(p));
        }
        if let Some(active) = filter.is_active {
            q = q.filter(C::IsActive.eq(active));
        }
        if let Some(s) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            q = q.filter(contains_ci(C::Title, s));
        }
        q
    }

    /// Live conversations by id (for loaders; callers check access with `policy`).
    pub async fn by_ids(&self, ids: &[Uuid]) -> DomainResult<Vec<conversations::Model>> {
        Ok(live()
            .filter(conversations::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?)
    }

    /// One page of live conversations per agent (one statement), in creation order. Only
    /// an agent's owner sees the agent, and only they can start conversations with it.
    pub async fn agent_conversation_pages(
        &self,
        agent_ids: &[Uuid],
        page: ChildPage,
    ) -> DomainResult<HashMap<Uuid, Page<conversations::Model>>> {
        use conversations::Column as C;
        fetch_child_pages(&self.db, live(), C::AgentId, C::Id, agent_ids, page).await
    }

    /// Live conversation counts per agent.
    pub async fn agent_conversation_counts(
        &self,
        agent_ids: &[Uuid],
    ) -> DomainResult<HashMap<Uuid, u64>> {
        use conversations::Column as C;
        count_children(&self.db, live(), C::AgentId, C::Id, agent_ids).await
    }

    // ---- messages ----------------------------------------------------------------------

    /// Adds a message. An ASSISTANT message's `tokens` are added to the conversation
    /// owner's `totalTokensUsed` in the same transaction, and the conversation's
    /// `updatedAt` moves. With `streaming`, an ASSISTANT reply starts STREAMING: grow it
    /// with [`Self::append_chunk`], end it with [`Self::finish`].
    pub async fn send(&self, actor: &Actor, input: NewMessage) -> DomainResult<messages::Model> {
        let user = actor.require_user()?;
        let min = if input.streaming { 0 } else { 1 };
        check_text("content", &input.content, min, MAX_CONTENT)?;
        check_tokens(input.tokens)?;
        check_model(&input.model)?;
        check_metadata(&input.metadata)?;
        if input.streaming {
            if input.role != MessageRole::Assistant {
                return Err(DomainError::invalid(
                    "streaming",
                    "only ASSISTANT replies can be streamed",
                ));
            }
            if input.tokens.is_some() {
                return Err(DomainError::invalid(
                    "tokens",
                    "give the tokens of a streamed reply when finishing it",
                ));
            }
        }
        let txn = begin_write(&self.db).await?;
        let (conv, a) = conversation_on(&txn, actor, input.conversation_id).await?;
        a.require(a.write, "write in it")?;
        let agent_id = match input.agent_id {
            Some(id) => Some(own_agent(&txn, actor, id).await?.id),
            // The owner's own agent speaks the assistant's part unless told otherwise.
            None if input.role == MessageRole::Assistant && conv.user_id == user => conv.agent_id,
            None => None,
        };
        let status = if input.streaming {
            MessageStatus::Streaming
        } else {
            MessageStatus::Complete
        };
        let at = now();
        let msg = messages::ActiveModel {
            id: Set(Uuid::now_v7()),
            conversation_id: Set(conv.id),
            role: Set(input.role.as_str().to_string()),
            content: Set(input.content),
            status: Set(status.as_str().to_string()),
            tokens: Set(input.tokens),
            model: Set(input.model),
            agent_id: Set(agent_id),
            author_id: Set(Some(user)),
            metadata: Set(input.metadata),
            edited_at: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
            deleted_at: Set(None),
        }
        .insert(&txn)
        .await?;
        if input.role == MessageRole::Assistant {
            account_tokens(&txn, conv.user_id, input.tokens.unwrap_or(0)).await?;
        }
        touch(&txn, conv.id).await?;
        txn.commit().await?;
        Ok(msg)
    }

    /// Appends a chunk to the actor's STREAMING message (the row holds the whole text so
    /// far, so a client that reconnects reads it from the message itself).
    pub async fn append_chunk(
        &self,
        actor: &Actor,
        id: Uuid,
        chunk: &str,
    ) -> DomainResult<messages::Model> {
        actor.require_user()?;
        check_text("chunk", chunk, 1, MAX_CHUNK)?;
        let txn = begin_write(&self.db).await?;
        let (msg, conv, a) = message_on(&txn, actor, id).await?;
        a.require(a.write, "write in it")?;
        require_streaming_author(actor, &msg)?;
        if msg.content.chars().count() + chunk.chars().count() > MAX_CONTENT {
            return Err(DomainError::invalid(
                "chunk",
                format!("a message must be at most {MAX_CONTENT} characters"),
            ));
        }
        messages::Entity::update_many()
            .col_expr(
                messages::Column::Content,
                Expr::col(messages::Column::Content)
                    .binary(BinOper::Custom("||"), Expr::val(chunk).cast_as("TEXT")),
            )
            .col_expr(messages::Column::UpdatedAt, Expr::value(now()))
            .filter(messages::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        touch(&txn, conv.id).await?;
        let msg = reload_message(&txn, id).await?;
        txn.commit().await?;
        Ok(msg)
    }

    /// Ends the actor's STREAMING message: COMPLETE, with its final content (or what the
    /// chunks built), tokens (accounted to the owner) and model. `CONFLICT` when complete.
    pub async fn finish(
        &self,
        actor: &Actor,
        id: Uuid,
        input: FinishMessage,
    ) -> DomainResult<messages::Model> {
        actor.require_user()?;
        if let Some(c) = &input.content {
            check_text("content", c, 1, MAX_CONTENT)?;
        }
        check_tokens(input.tokens)?;
        check_model(&input.model)?;
        check_metadata(&input.metadata)?;
        let txn = begin_write(&self.db).await?;
        let (msg, conv, a) = message_on(&txn, actor, id).await?;
        a.require(a.write, "write in it")?;
        require_streaming_author(actor, &msg)?;
        let tokens = input.tokens;
        let mut am: messages::ActiveModel = msg.into();
        if let Some(c) = input.content {
            am.content = Set(c);
        }
        if tokens.is_some() {
            am.tokens = Set(tokens);
        }
        if let Some(m) = input.model {
            am.model = Set(Some(m));
        }
        if let Some(m) = input.metadata {
            am.metadata = Set(Some(m));
        }
        am.status = Set(MessageStatus::Complete.as_str().to_string());
        am.updated_at = Set(now());
        let msg = am.update(&txn).await?;
        account_tokens(&txn, conv.user_id, tokens.unwrap_or(0)).await?;
        touch(&txn, conv.id).await?;
        txn.commit().await?;
        Ok(msg)
    }

    /// Edits the text or metadata of the actor's own complete message; `editedAt` is set.
    pub async fn edit(
        &self,
        actor: &Actor,
        id: Uuid,
        content: Option<String>,
        metadata: Option<Option<Value>>,
    ) -> DomainResult<messages::Model> {
        actor.require_user()?;
        if let Some(c) = &content {
            check_text("content", c, 1, MAX_CONTENT)?;
        }
        if let Some(m) = &metadata {
            check_metadata(m)?;
        }
        let txn = begin_write(&self.db).await?;
        let (msg, _, a) = message_on(&txn, actor, id).await?;
        a.require(a.write, "write in it")?;
        if msg.author_id != actor.user_id() {
            return Err(DomainError::Forbidden(
                "only the author of a message can edit it".into(),
            ));
        }
        if MessageStatus::parse(&msg.status) == Some(MessageStatus::Streaming) {
            return Err(DomainError::Conflict(
                "a streaming message is edited by finishing it".into(),
            ));
        }
        let mut am: messages::ActiveModel = msg.into();
        if let Some(c) = content {
            am.content = Set(c);
        }
        if let Some(m) = metadata {
            am.metadata = Set(m);
        }
        let at = now();
        am.edited_at = Set(Some(at));
        am.updated_at = Set(at);
        let msg = am.update(&txn).await?;
        txn.commit().await?;
        Ok(msg)
    }

    /// A live message the actor may read, with its conversation and the actor's access.
    pub async fn message(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> DomainResult<(messages::Model, conversations::Model, ConversationAccess)> {
        message_on(&self.db, actor, id).await
    }

    /// Live messages by id, in live conversations (for loaders; callers check access).
    pub async fn messages_by_ids(&self, ids: &[Uuid]) -> DomainResult<Vec<messages::Model>> {
        Ok(live_messages()
            .filter(messages::Column::Id.is_in(ids.iter().copied()))
            .filter(messages::Column::ConversationId.in_subquery(live_ids()))
            .all(&self.db)
            .await?)
    }

    /// One page of live messages per conversation (one statement), in creation order.
    pub async fn message_pages(
        &self,
        conversation_ids: &[Uuid],
        page: ChildPage,
    ) -> DomainResult<HashMap<Uuid, Page<messages::Model>>> {
        use messages::Column as C;
        fetch_child_pages(
            &self.db,
            live_messages(),
            C::ConversationId,
            C::Id,
            conversation_ids,
            page,
        )
        .await
    }

    /// Live message counts per conversation.
    pub async fn message_counts(
        &self,
        conversation_ids: &[Uuid],
    ) -> DomainResult<HashMap<Uuid, u64>> {
        use messages::Column as C;
        count_children(
            &self.db,
            live_messages(),
            C::ConversationId,
            C::Id,
            conversation_ids,
        )
        .await
    }

    // ---- tool calls --------------------------------------------------------------------

    /// Records a tool call in a conversation the actor may write in. The tool must be one
    /// the actor sees (own or shared) and active; `arguments` must satisfy its JSON Schema
    /// (`BAD_USER_INPUT` on `arguments` naming the failing path).
    pub async fn record_tool_call(
        &self,
        actor: &Actor,
        input: NewToolCall,
    ) -> DomainResult<tool_calls::Model> {
        actor.require_user()?;
        check_size("arguments", &input.arguments)?;
        if let Some(r) = &input.result {
            check_size("result", r)?;
        }
        if let Some(e) = &input.error {
            check_text("error", e, 1, 10_000)?;
        }
        if input.duration_ms.is_some_and(|d| d < 0) {
            return Err(DomainError::invalid(
                "durationMs",
                "durationMs must not be negative",
            ));
        }
        let txn = begin_write(&self.db).await?;
        let (conv, a) = conversation_on(&txn, actor, input.conversation_id).await?;
        a.require(a.write, "write in it")?;
        let tool = visible_tool(&txn, actor, input.tool_id).await?;
        if !tool.is_active {
            return Err(DomainError::invalid("toolId", "the tool is not active"));
        }
        validate_arguments(&tool.schema, &input.arguments)?;
        if let Some(m) = input.message_id {
            let found = live_messages()
                .filter(messages::Column::Id.eq(m))
                .filter(messages::Column::ConversationId.eq(conv.id))
                .count(&txn)
                .await?;
            if found == 0 {
                return Err(DomainError::invalid(
                    "messageId",
                    "no such message in this conversation",
                ));
            }
        }
        let agent_id = match input.agent_id {
            Some(id) => Some(own_agent(&txn, actor, id).await?.id),
            None => None,
        };
        let call = tool_calls::ActiveModel {
            id: Set(Uuid::now_v7()),
            conversation_id: Set(conv.id),
            agent_id: Set(agent_id),
            tool_id: Set(tool.id),
            message_id: Set(input.message_id),
            name: Set(tool.name),
            arguments: Set(input.arguments),
            result: Set(input.result),
            error: Set(input.error),
            duration_ms: Set(input.duration_ms),
            created_at: Set(now()),
        }
        .insert(&txn)
        .await?;
        touch(&txn, conv.id).await?;
        txn.commit().await?;
        Ok(call)
    }

    /// Tool calls by id, in live conversations (for loaders; callers check access).
    pub async fn tool_calls_by_ids(&self, ids: &[Uuid]) -> DomainResult<Vec<tool_calls::Model>> {
        Ok(tool_calls::Entity::find()
            .filter(tool_calls::Column::Id.is_in(ids.iter().copied()))
            .filter(tool_calls::Column::ConversationId.in_subquery(live_ids()))
            .all(&self.db)
            .await?)
    }

    /// One page of tool calls per conversation (one statement), in the order they were made.
    pub async fn tool_call_pages(
        &self,
        conversation_ids: &[Uuid],
        page: ChildPage,
    ) -> DomainResult<HashMap<Uuid, Page<tool_calls::Model>>> {
        use tool_calls::Column as C;
        fetch_child_pages(
            &self.db,
            tool_calls::Entity::find(),
            C::ConversationId,
            C::Id,
            conversation_ids,
            page,
        )
        .await
    }

    /// Tool call counts per conversation.
    pub async fn tool_call_counts(
        &self,
        conversation_ids: &[Uuid],
    ) -> DomainResult<HashMap<Uuid, u64>> {
        use tool_calls::Column as C;
        let all = tool_calls::Entity::find();
        count_children(&self.db, all, C::ConversationId, C::Id, conversation_ids).await
    }

    /// The tool calls of each message, in the order they were made (one statement).
    pub async fn tool_calls_of_messages(
        &self,
        message_ids: &[Uuid],
    ) -> DomainResult<HashMap<Uuid, Vec<tool_calls::Model>>> {
        use sea_orm::QueryOrder;
        let rows = tool_calls::Entity::find()
            .filter(tool_calls::Column::MessageId.is_in(message_ids.iter().copied()))
            .order_by_asc(tool_calls::Column::Id)
            .all(&self.db)
            .await?;
        let mut out: HashMap<Uuid, Vec<tool_calls::Model>> = HashMap::new();
        for r in rows {
            if let Some(m) = r.message_id {
                out.entry(m).or_default().push(r);
            }
        }
        Ok(out)
    }
}

/// The ids of live conversations (a subquery).
fn live_ids() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(conversations::Column::Id)
        .from(conversations::Entity)
        .and_where(conversations::Column::DeletedAt.is_null())
        .to_owned()
}
