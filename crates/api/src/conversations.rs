//! GraphQL for conversations: `Conversation`, `Message` (with streamed replies) and
//! `ToolCall`. Access is decided by the conversations policy; relations load through the
//! request's loaders.

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use plexus_conversations::entity::{conversations, messages, tool_calls};
use plexus_conversations::policy::{ConversationAccess, access};
use plexus_conversations::service::{
    ConversationFilter, ConversationOrder, ConversationPatch, FinishMessage, NewConversation,
    NewMessage, NewToolCall,
};
use plexus_core::page::PageRequest;
use plexus_core::{IdKind, UserRole};
use serde_json::Value;
use uuid::Uuid;

use crate::agents::{Agent, Tool};
use crate::common::{OrderDirection, gid, not_found, uuid_of};
use crate::connection::Connection;
use crate::context::{actor, loaders, publish_chunk, publish_to, state};
use crate::error::ApiResult;
use crate::projects::{DeletePayload, Project, child_page, counter};
use crate::users::{User, load_user, patch};
use plexus_core::events::{EventKind, Topic};

/// Who wrote a message.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MessageRole {
    /// A person.
    User,
    /// The AI assistant (an agent or a model).
    Assistant,
    /// Instructions for the assistant.
    System,
    /// The output of a tool.
    Tool,
}

impl From<MessageRole> for plexus_conversations::service::MessageRole {
    fn from(r: MessageRole) -> Self {
        use plexus_conversations::service::MessageRole as R;
        match r {
            MessageRole::User => R::User,
            MessageRole::Assistant => R::Assistant,
            MessageRole::System => R::System,
            MessageRole::Tool => R::Tool,
        }
    }
}

impl From<plexus_conversations::service::MessageRole> for MessageRole {
    fn from(r: plexus_conversations::service::MessageRole) -> Self {
        use plexus_conversations::service::MessageRole as R;
        match r {
            R::User => Self::User,
            R::Assistant => Self::Assistant,
            R::System => Self::System,
            R::Tool => Self::Tool,
        }
    }
}

/// Whether a message is finished.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MessageStatus {
    /// Final.
    Complete,
    /// An assistant reply still being produced: `content` holds the text so far.
    Streaming,
}

/// The access of the viewer to a conversation row, from loaders: the owner's, or what the
/// viewer's role in the conversation's (live) project gives.
async fn access_to(
    ctx: &Context<'_>,
    model: &conversations::Model,
) -> ApiResult<ConversationAccess> {
    let actor = actor(ctx).await?;
    let Some(user) = actor.user_id() else {
        return Ok(ConversationAccess::default());
    };
    let role = match model.project_id {
        Some(p) if user != model.user_id => {
            let l = loaders(ctx)?;
            l.projects
                .load_one((Some(user), p))
                .await?
                .and_then(|(_, r)| r)
        }
        _ => None,
    };
    Ok(access(&actor, model.user_id, role))
}

/// A conversation: an ordered history of messages between people and an assistant, owned
/// by a user, optionally in a project (its members read it; MEMBER and above write in it)
/// or with an agent.
#[derive(Clone)]
pub struct Conversation {
    model: conversations::Model,
    access: ConversationAccess,
}

impl Conversation {
    /// A conversation the viewer may read, or `None`.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<Conversation>> {
        let Some(model) = loaders(ctx)?.conversations.load_one(id).await? else {
            return Ok(None);
        };
        Self::visible(ctx, model).await
    }

    /// Wraps a row when the viewer may read it.
    pub async fn visible(
        ctx: &Context<'_>,
        model: conversations::Model,
    ) -> ApiResult<Option<Conversation>> {
        let access = access_to(ctx, &model).await?;
        Ok(access.read.then_some(Conversation { model, access }))
    }

    /// Wraps rows the service already decided the viewer may read.
    async fn readable(ctx: &Context<'_>, model: conversations::Model) -> ApiResult<Conversation> {
        Self::visible(ctx, model)
            .await?
            .ok_or_else(|| not_found("conversation"))
    }
}

/// A conversation: an ordered history of messages between people and an assistant, owned
/// by a user, optionally in a project (its members read it; MEMBER and above write in it)
/// or with an agent.
#[Object]
impl Conversation {
    /// Global id (`conv_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::Conversation, self.model.id)
    }
    /// Title, if any.
    async fn title(&self) -> Option<&str> {
        self.model.title.as_deref()
    }
    /// The user who owns the conversation.
    async fn owner(&self, ctx: &Context<'_>) -> ApiResult<User> {
        load_user(ctx, self.model.user_id)
            .await?
            .ok_or_else(|| not_found("user"))
    }
    /// The agent the conversation is with; null when none or not the viewer's.
    async fn agent(&self, ctx: &Context<'_>) -> ApiResult<Option<Agent>> {
        match self.model.agent_id {
            Some(id) => Agent::load(ctx, id).await,
            None => Ok(None),
        }
    }
    /// The project the conversation belongs to; null when none or not visible.
    async fn project(&self, ctx: &Context<'_>) -> ApiResult<Option<Project>> {
        match self.model.project_id {
            Some(id) => Project::load(ctx, id).await,
            None => Ok(None),
        }
    }
    /// Free-form metadata.
    async fn metadata(&self) -> Option<Json<Value>> {
        self.model.metadata.clone().map(Json)
    }
    /// False once archived.
    async fn is_active(&self) -> bool {
        self.model.is_active
    }
    /// Whether the viewer may send messages and record tool calls here.
    async fn viewer_can_write(&self) -> bool {
        self.access.write
    }
    /// Whether the viewer may rename, archive or delete the conversation.
    async fn viewer_can_manage(&self) -> bool {
        self.access.manage
    }
    /// Its messages in creation order (`last: 50` gives the latest fifty).
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<Message>> {
        let page = child_page(ctx, first, after, last, before)?;
        let l = loaders(ctx)?.clone();
        let p = l
            .message_pages
            .load_one((self.model.id, page))
            .await?
            .unwrap_or_default();
        let access = self.access;
        Ok(Connection::new(
            p.map(|m| Message { model: m, access }),
            counter(l, self.model.id, |l, id| async move {
                l.message_counts.load_one(id).await
            }),
        ))
    }
    /// The tool calls made in it, in the order they were made.
    async fn tool_calls(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<ToolCall>> {
        let page = child_page(ctx, first, after, last, before)?;
        let l = loaders(ctx)?.clone();
        let p = l
            .tool_call_pages
            .load_one((self.model.id, page))
            .await?
            .unwrap_or_default();
        let access = self.access;
        Ok(Connection::new(
            p.map(|m| ToolCall { model: m, access }),
            counter(l, self.model.id, |l, id| async move {
                l.tool_call_counts.load_one(id).await
            }),
        ))
    }
    /// The files attached to it, in upload order.
    async fn media(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<crate::media::Media>> {
        crate::media::attached_media(
            ctx,
            plexus_media::service::AttachedTo::Conversation,
            self.model.id,
            first,
            after,
            last,
            before,
        )
        .await
    }
    /// When the conversation was started.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// Its last activity: a new message, chunk or tool call moves it.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }
}

/// One message of a conversation.
#[derive(Clone)]
pub struct Message {
    model: messages::Model,
    access: ConversationAccess,
}

impl Message {
    /// A message the viewer may read, or `None`.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<Message>> {
        match loaders(ctx)?.messages.load_one(id).await? {
            Some(model) => Self::within(ctx, model).await,
            None => Ok(None),
        }
    }

    /// Wraps a row with the viewer's access to its conversation, or `None` when the viewer
    /// may not read it.
    async fn within(ctx: &Context<'_>, model: messages::Model) -> ApiResult<Option<Message>> {
        let conv = Conversation::load(ctx, model.conversation_id).await?;
        Ok(conv.map(|c| Message {
            model,
            access: c.access,
        }))
    }
}

/// One message of a conversation.
#[Object]
impl Message {
    /// Global id (`msg_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::Message, self.model.id)
    }
    /// The conversation it belongs to.
    async fn conversation(&self, ctx: &Context<'_>) -> ApiResult<Conversation> {
        Conversation::load(ctx, self.model.conversation_id)
            .await?
            .ok_or_else(|| not_found("conversation"))
    }
    /// Who wrote it.
    async fn role(&self) -> ApiResult<MessageRole> {
        plexus_conversations::service::MessageRole::parse(&self.model.role)
            .map(Into::into)
            .ok_or_else(|| {
                plexus_core::DomainError::internal(format!(
                    "unknown message role {}",
                    self.model.role
                ))
                .into()
            })
    }
    /// The text (so far, while STREAMING).
    async fn content(&self) -> &str {
        &self.model.content
    }
    /// COMPLETE, or STREAMING while an assistant reply is being produced.
    async fn status(&self) -> MessageStatus {
        use plexus_conversations::service::MessageStatus as S;
        match S::parse(&self.model.status) {
            Some(S::Streaming) => MessageStatus::Streaming,
            _ => MessageStatus::Complete,
        }
    }
    /// Tokens the message cost (assistant messages add them to the owner's total).
    async fn tokens(&self) -> Option<i32> {
        self.model.tokens
    }
    /// The model that produced it.
    async fn model(&self) -> Option<&str> {
        self.model.model.as_deref()
    }
    /// The agent that spoke; null when none or not the viewer's.
    async fn agent(&self, ctx: &Context<'_>) -> ApiResult<Option<Agent>> {
        match self.model.agent_id {
            Some(id) => Agent::load(ctx, id).await,
            None => Ok(None),
        }
    }
    /// The user who posted it.
    async fn author(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        match self.model.author_id {
            Some(id) => load_user(ctx, id).await,
            None => Ok(None),
        }
    }
    /// Free-form metadata.
    async fn metadata(&self) -> Option<Json<Value>> {
        self.model.metadata.clone().map(Json)
    }
    /// The tool calls recorded for this message, in the order they were made.
    async fn tool_calls(&self, ctx: &Context<'_>) -> ApiResult<Vec<ToolCall>> {
        let access = self.access;
        Ok(loaders(ctx)?
            .message_tool_calls
            .load_one(self.model.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|m| ToolCall { model: m, access })
            .collect())
    }
    /// When its text was last edited, if ever.
    async fn edited_at(&self) -> Option<DateTime<Utc>> {
        self.model.edited_at.map(|t| t.to_utc())
    }
    /// When it was sent.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// When it last changed (each streamed chunk moves it).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }
}

/// A call of a tool made in a conversation: its arguments (valid against the tool's JSON
/// Schema), result or error, and duration.
#[derive(Clone)]
pub struct ToolCall {
    model: tool_calls::Model,
    access: ConversationAccess,
}

impl ToolCall {
    /// A tool call the viewer may read, or `None`.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<ToolCall>> {
        match loaders(ctx)?.tool_calls.load_one(id).await? {
            Some(model) => Self::within(ctx, model).await,
            None => Ok(None),
        }
    }

    /// Wraps a row with the viewer's access to its conversation, or `None` when the viewer
    /// may not read it.
    async fn within(ctx: &Context<'_>, model: tool_calls::Model) -> ApiResult<Option<ToolCall>> {
        let conv = Conversation::load(ctx, model.conversation_id).await?;
        Ok(conv.map(|c| ToolCall {
            model,
            access: c.access,
        }))
    }
}

/// A call of a tool made in a conversation: its arguments (valid against the tool's JSON
/// Schema), result or error, and duration.
#[Object]
impl ToolCall {
    /// Global id (`tcall_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::ToolCall, self.model.id)
    }
    /// The conversation it was made in.
    async fn conversation(&self, ctx: &Context<'_>) -> ApiResult<Conversation> {
        Conversation::load(ctx, self.model.conversation_id)
            .await?
            .ok_or_else(|| not_found("conversation"))
    }
    /// The tool's name when it was called.
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// The tool; null when the viewer may not see it (someone else's private tool).
    async fn tool(&self, ctx: &Context<'_>) -> ApiResult<Option<Tool>> {
        let actor = actor(ctx).await?;
        let l = loaders(ctx)?;
        let Some(tool) = l.tools.load_one(self.model.tool_id).await? else {
            return Ok(None);
        };
        if actor.user_id() == Some(tool.owner_id) {
            return Ok(Some(Tool::new(tool)));
        }
        let shared = actor.user_id().is_some()
            && l.users
                .load_one(tool.owner_id)
                .await?
                .is_some_and(|u| UserRole::parse(&u.role) == Some(UserRole::Admin));
        Ok(shared.then(|| Tool::new(tool)))
    }
    /// The message it belongs to, if any.
    async fn message(&self, ctx: &Context<'_>) -> ApiResult<Option<Message>> {
        let Some(id) = self.model.message_id else {
            return Ok(None);
        };
        let access = self.access;
        Ok(loaders(ctx)?
            .messages
            .load_one(id)
            .await?
            .map(|m| Message { model: m, access }))
    }
    /// The agent that made the call; null when none or not the viewer's.
    async fn agent(&self, ctx: &Context<'_>) -> ApiResult<Option<Agent>> {
        match self.model.agent_id {
            Some(id) => Agent::load(ctx, id).await,
            None => Ok(None),
        }
    }
    /// The arguments passed.
    async fn arguments(&self) -> Json<Value> {
        Json(self.model.arguments.clone())
    }
    /// What the tool returned.
    async fn result(&self) -> Option<Json<Value>> {
        self.model.result.clone().map(Json)
    }
    /// Why the call failed, if it did.
    async fn error(&self) -> Option<&str> {
        self.model.error.as_deref()
    }
    /// How long the call took, in milliseconds.
    async fn duration_ms(&self) -> Option<i32> {
        self.model.duration_ms
    }
    /// When it was recorded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
}

/// Which conversations a list shows.
#[derive(InputObject, Default)]
pub struct ConversationFilterInput {
    /// Only those with this agent.
    pub agent_id: Option<ID>,
    /// Only those in this project.
    pub project_id: Option<ID>,
    /// Only active (true) or archived (false) ones.
    pub is_active: Option<bool>,
    /// Case-insensitive text in the title.
    pub search: Option<String>,
}

/// Fields conversation lists can be ordered by.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum ConversationOrderField {
    /// Last activity (a new message moves a conversation).
    #[default]
    UpdatedAt,
    /// Creation.
    CreatedAt,
}

/// Ordering of a conversation list.
#[derive(InputObject, Default)]
pub struct ConversationOrderInput {
    /// The field (default UPDATED_AT).
    #[graphql(default)]
    pub field: ConversationOrderField,
    /// The direction (default DESC: most recently active first).
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// Queries about conversations.
#[derive(Default)]
pub struct ConversationsQuery;

#[Object]
impl ConversationsQuery {
    /// A conversation; null when it does not exist or the viewer may not read it.
    async fn conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Conversation>> {
        Conversation::load(ctx, uuid_of(&id, IdKind::Conversation, "id")?).await
    }

    /// The conversations the viewer may read (their own, and those of their projects),
    /// most recently active first unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ConversationFilterInput>,
        order_by: Option<ConversationOrderInput>,
    ) -> ApiResult<Connection<Conversation>> {
        let actor = actor(ctx).await?;
        let st = state(ctx)?;
        let order = order_by.unwrap_or_default();
        let (field, name, arity) = match order.field {
            ConversationOrderField::UpdatedAt => (ConversationOrder::UpdatedAt, "updatedAt", 2),
            ConversationOrderField::CreatedAt => (ConversationOrder::CreatedAt, "createdAt", 1),
        };
        let args = PageRequest {
            first,
            after,
            last,
            before,
        }
        .resolve(st.page_limits, name, arity)?;
        let f = filter.unwrap_or_default();
        let filter = ConversationFilter {
            agent_id: opt_id(&f.agent_id, IdKind::Agent, "filter.agentId")?,
            project_id: opt_id(&f.project_id, IdKind::Project, "filter.projectId")?,
            is_active: f.is_active,
            search: f.search,
        };
        let descending = order.direction == OrderDirection::Desc;
        let page = st
            .conversations
            .list(&actor, &filter, field, descending, &args)
            .await?;
        let page = readable_page(ctx, page).await?;
        let svc = st.conversations.clone();
        Ok(Connection::new(page, move || {
            let (svc, filter) = (svc.clone(), filter.clone());
            async move { svc.count(&actor, &filter).await }
        }))
    }
}

/// Wraps a page of rows, deciding the viewer's access to them in one batch (a row the
/// policy refuses is left out).
async fn readable_page(
    ctx: &Context<'_>,
    page: plexus_core::Page<conversations::Model>,
) -> ApiResult<plexus_core::Page<Conversation>> {
    let (cursors, models): (Vec<_>, Vec<_>) = page.items.into_iter().unzip();
    let wrapped = futures_util::future::try_join_all(
        models.into_iter().map(|m| Conversation::visible(ctx, m)),
    )
    .await?;
    Ok(plexus_core::Page {
        items: cursors
            .into_iter()
            .zip(wrapped)
            .filter_map(|(c, v)| v.map(|v| (c, v)))
            .collect(),
        has_next_page: page.has_next_page,
        has_previous_page: page.has_previous_page,
        total_count: page.total_count,
    })
}

fn opt_id(id: &Option<ID>, kind: IdKind, arg: &str) -> ApiResult<Option<Uuid>> {
    id.as_ref().map(|i| uuid_of(i, kind, arg)).transpose()
}

/// A conversation to start.
#[derive(InputObject)]
pub struct CreateConversationInput {
    /// Title (at most 500 characters).
    pub title: Option<String>,
    /// An agent of the viewer's to talk with.
    pub agent_id: Option<ID>,
    /// A project to hold it (the viewer must be MEMBER or above).
    pub project_id: Option<ID>,
    /// Free-form metadata (a JSON object).
    pub metadata: Option<Json<Value>>,
}

/// Result of `createConversation`, `updateConversation`.
#[derive(SimpleObject)]
pub struct ConversationPayload {
    /// The conversation.
    pub conversation: Conversation,
}

/// A change to a conversation; omitted fields stay, null clears.
#[derive(InputObject)]
pub struct UpdateConversationInput {
    /// The conversation.
    pub id: ID,
    /// New title.
    pub title: MaybeUndefined<String>,
    /// New metadata (a JSON object).
    pub metadata: MaybeUndefined<Json<Value>>,
    /// False archives it, true brings it back.
    pub is_active: Option<bool>,
}

/// The conversation to delete.
#[derive(InputObject)]
pub struct DeleteConversationInput {
    /// The conversation.
    pub id: ID,
}

/// A message to send.
#[derive(InputObject)]
pub struct SendMessageInput {
    /// The conversation.
    pub conversation_id: ID,
    /// Who speaks (default USER).
    #[graphql(default_with = "MessageRole::User")]
    pub role: MessageRole,
    /// The text (required unless `streaming`; at most 1,000,000 characters).
    #[graphql(default)]
    pub content: String,
    /// Tokens it cost; an ASSISTANT message's tokens add to the owner's total.
    pub tokens: Option<i32>,
    /// The model that produced it.
    pub model: Option<String>,
    /// The viewer's agent that speaks (defaults to the conversation's agent for the
    /// owner's ASSISTANT messages).
    pub agent_id: Option<ID>,
    /// Free-form metadata (a JSON object).
    pub metadata: Option<Json<Value>>,
    /// Start a STREAMING ASSISTANT reply: grow it with `appendMessageChunk`, end it with
    /// `finishMessage`.
    #[graphql(default)]
    pub streaming: bool,
}

/// Result of the message mutations.
#[derive(SimpleObject)]
pub struct MessagePayload {
    /// The message as it is now.
    pub message: Message,
}

/// A chunk of a streaming reply.
#[derive(InputObject)]
pub struct AppendMessageChunkInput {
    /// The STREAMING message (the viewer's own).
    pub message_id: ID,
    /// The text to append (1 to 100,000 characters).
    pub chunk: String,
}

/// The end of a streaming reply.
#[derive(InputObject)]
pub struct FinishMessageInput {
    /// The STREAMING message (the viewer's own).
    pub message_id: ID,
    /// The final text; omitted, the text the chunks built stays.
    pub content: Option<String>,
    /// Tokens the reply cost (added to the owner's total).
    pub tokens: Option<i32>,
    /// The model that produced it.
    pub model: Option<String>,
    /// Free-form metadata (a JSON object).
    pub metadata: Option<Json<Value>>,
}

/// An edit of the viewer's own complete message.
#[derive(InputObject)]
pub struct UpdateMessageInput {
    /// The message.
    pub id: ID,
    /// New text.
    pub content: Option<String>,
    /// New metadata (a JSON object); null clears it.
    pub metadata: MaybeUndefined<Json<Value>>,
}

/// A tool call to record.
#[derive(InputObject)]
pub struct RecordToolCallInput {
    /// The conversation it was made in.
    pub conversation_id: ID,
    /// The tool (the viewer's own or a shared one; active).
    pub tool_id: ID,
    /// The message it belongs to (in the same conversation).
    pub message_id: Option<ID>,
    /// The viewer's agent that made it.
    pub agent_id: Option<ID>,
    /// The arguments, checked against the tool's JSON Schema.
    pub arguments: Json<Value>,
    /// What the tool returned.
    pub result: Option<Json<Value>>,
    /// Why it failed.
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: Option<i32>,
}

/// Result of `recordToolCall`.
#[derive(SimpleObject)]
pub struct RecordToolCallPayload {
    /// The recorded call.
    pub tool_call: ToolCall,
}

async fn message_payload(ctx: &Context<'_>, model: messages::Model) -> ApiResult<MessagePayload> {
    let message = Message::within(ctx, model)
        .await?
        .ok_or_else(|| not_found("conversation"))?;
    Ok(MessagePayload { message })
}

/// Changes to conversations.
#[derive(Default)]
pub struct ConversationsMutation;

#[Object]
impl ConversationsMutation {
    /// Starts a conversation owned by the viewer.
    async fn create_conversation(
        &self,
        ctx: &Context<'_>,
        input: CreateConversationInput,
    ) -> ApiResult<ConversationPayload> {
        let actor = actor(ctx).await?;
        let conv = state(ctx)?
            .conversations
            .create(
                &actor,
                NewConversation {
                    title: input.title,
                    agent_id: opt_id(&input.agent_id, IdKind::Agent, "agentId")?,
                    project_id: opt_id(&input.project_id, IdKind::Project, "projectId")?,
                    metadata: input.metadata.map(|j| j.0),
                },
            )
            .await?;
        Ok(ConversationPayload {
            conversation: Conversation::readable(ctx, conv).await?,
        })
    }

    /// Renames, archives or reactivates a conversation (its owner, or its project's ADMIN
    /// and OWNER).
    async fn update_conversation(
        &self,
        ctx: &Context<'_>,
        input: UpdateConversationInput,
    ) -> ApiResult<ConversationPayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.id, IdKind::Conversation, "id")?;
        let conv = state(ctx)?
            .conversations
            .update(
                &actor,
                id,
                ConversationPatch {
                    title: patch(input.title),
                    metadata: patch(input.metadata).map(|m| m.map(|j| j.0)),
                    is_active: input.is_active,
                },
            )
            .await?;
        publish_to(
            ctx,
            Topic::Conversation(conv.id),
            EventKind::ConversationUpdated,
            vec![],
        )
        .await?;
        Ok(ConversationPayload {
            conversation: Conversation::readable(ctx, conv).await?,
        })
    }

    /// Deletes a conversation (soft; its owner, or its project's ADMIN and OWNER).
    async fn delete_conversation(
        &self,
        ctx: &Context<'_>,
        input: DeleteConversationInput,
    ) -> ApiResult<DeletePayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.id, IdKind::Conversation, "id")?;
        let id = state(ctx)?.conversations.delete(&actor, id).await?;
        publish_to(
            ctx,
            Topic::Conversation(id),
            EventKind::ConversationDeleted,
            vec![],
        )
        .await?;
        Ok(DeletePayload {
            deleted_id: gid(IdKind::Conversation, id),
        })
    }

    /// Sends a message; with `streaming`, starts an ASSISTANT reply to grow chunk by chunk.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        input: SendMessageInput,
    ) -> ApiResult<MessagePayload> {
        let actor = actor(ctx).await?;
        let msg = state(ctx)?
            .conversations
            .send(
                &actor,
                NewMessage {
                    conversation_id: uuid_of(
                        &input.conversation_id,
                        IdKind::Conversation,
                        "conversationId",
                    )?,
                    role: input.role.into(),
                    content: input.content,
                    tokens: input.tokens,
                    model: input.model,
                    agent_id: opt_id(&input.agent_id, IdKind::Agent, "agentId")?,
                    metadata: input.metadata.map(|j| j.0),
                    streaming: input.streaming,
                },
            )
            .await?;
        let topic = Topic::Conversation(msg.conversation_id);
        publish_to(ctx, topic, EventKind::MessageAdded, vec![msg.id]).await?;
        message_payload(ctx, msg).await
    }

    /// Appends a chunk to the viewer's STREAMING reply; the message holds the whole text
    /// so far, so a client that reconnects reads it from `content`.
    async fn append_message_chunk(
        &self,
        ctx: &Context<'_>,
        input: AppendMessageChunkInput,
    ) -> ApiResult<MessagePayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.message_id, IdKind::Message, "messageId")?;
        let msg = state(ctx)?
            .conversations
            .append_chunk(&actor, id, &input.chunk)
            .await?;
        let topic = Topic::Conversation(msg.conversation_id);
        publish_chunk(
            ctx,
            topic,
            EventKind::MessageChunk,
            msg.id,
            &msg.content,
            &input.chunk,
        )
        .await?;
        message_payload(ctx, msg).await
    }

    /// Ends the viewer's STREAMING reply: COMPLETE, with final text, tokens and model.
    async fn finish_message(
        &self,
        ctx: &Context<'_>,
        input: FinishMessageInput,
    ) -> ApiResult<MessagePayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.message_id, IdKind::Message, "messageId")?;
        let msg = state(ctx)?
            .conversations
            .finish(
                &actor,
                id,
                FinishMessage {
                    content: input.content,
                    tokens: input.tokens,
                    model: input.model,
                    metadata: input.metadata.map(|j| j.0),
                },
            )
            .await?;
        let topic = Topic::Conversation(msg.conversation_id);
        publish_to(ctx, topic, EventKind::MessageUpdated, vec![msg.id]).await?;
        message_payload(ctx, msg).await
    }

    /// Edits the viewer's own complete message (`editedAt` is set).
    async fn update_message(
        &self,
        ctx: &Context<'_>,
        input: UpdateMessageInput,
    ) -> ApiResult<MessagePayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.id, IdKind::Message, "id")?;
        let msg = state(ctx)?
            .conversations
            .edit(
                &actor,
                id,
                input.content,
                patch(input.metadata).map(|m| m.map(|j| j.0)),
            )
            .await?;
        let topic = Topic::Conversation(msg.conversation_id);
        publish_to(ctx, topic, EventKind::MessageUpdated, vec![msg.id]).await?;
        message_payload(ctx, msg).await
    }

    /// Records a tool call; its arguments must satisfy the tool's JSON Schema.
    async fn record_tool_call(
        &self,
        ctx: &Context<'_>,
        input: RecordToolCallInput,
    ) -> ApiResult<RecordToolCallPayload> {
        let actor = actor(ctx).await?;
        let conversation_id = uuid_of(
            &input.conversation_id,
            IdKind::Conversation,
            "conversationId",
        )?;
        let call = state(ctx)?
            .conversations
            .record_tool_call(
                &actor,
                NewToolCall {
                    conversation_id,
                    tool_id: uuid_of(&input.tool_id, IdKind::Tool, "toolId")?,
                    message_id: opt_id(&input.message_id, IdKind::Message, "messageId")?,
                    agent_id: opt_id(&input.agent_id, IdKind::Agent, "agentId")?,
                    arguments: input.arguments.0,
                    result: input.result.map(|j| j.0),
                    error: input.error,
                    duration_ms: input.duration_ms,
                },
            )
            .await?;
        let topic = Topic::Conversation(conversation_id);
        publish_to(ctx, topic, EventKind::ToolCallRecorded, vec![call.id]).await?;
        let tool_call = ToolCall::within(ctx, call)
            .await?
            .ok_or_else(|| not_found("conversation"))?;
        Ok(RecordToolCallPayload { tool_call })
    }
}

/// The conversations with an agent, for `Agent.conversations`.
pub async fn agent_conversations(
    ctx: &Context<'_>,
    agent_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> ApiResult<Connection<Conversation>> {
    let page = child_page(ctx, first, after, last, before)?;
    let l = loaders(ctx)?.clone();
    let p = l
        .agent_conversation_pages
        .load_one((agent_id, page))
        .await?
        .unwrap_or_default();
    Ok(Connection::new(
        readable_page(ctx, p).await?,
        counter(l, agent_id, |l, id| async move {
            l.agent_conversation_counts.load_one(id).await
        }),
    ))
}
