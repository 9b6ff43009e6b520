//! Subscriptions: live events of a project's canvas and membership, and of a conversation.
//! Permission is checked when subscribing and again whenever an event could have changed it
//! (a member removed or changed, the project's visibility or owner changed); a viewer who
//! loses access gets a final `FORBIDDEN` error and the stream ends. Events carry ids; their
//! objects resolve through the subscription's loaders (caches cleared before each event),
//! exactly as in a query.
//!
//! Streamed text (a node's response, an assistant message) arrives as chunks with a
//! `sequence`: the length of the text, in characters, once the chunk is appended. A client
//! that reconnects passes the last sequence it saw as `afterSequence` and first receives the
//! text it missed as one chunk, then the live ones — nothing lost, nothing twice (each feed
//! keeps a high-water mark per stream and trims what it already delivered).

use async_graphql::{Context, ID, Object, Subscription, Union};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use plexus_core::events::{Delivery, Event, EventKind, Topic};
use plexus_core::{Actor, DomainError, IdKind};
use std::sync::Arc;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use uuid::Uuid;

use crate::agents::{Agent, AgentTask};
use crate::common::{gid, uuid_of};
use crate::context::{ApiState, actor, loaders, state};
use crate::conversations::{Conversation, Message, ToolCall};
use crate::error::ApiResult;
use crate::graph::{GraphEdge, GraphNode};
use crate::knowledge::{Workflow, WorkflowExecution};
use crate::notifications::Notification;
use crate::projects::{Project, ProjectMember, ProjectPresence};
use crate::users::User;
use std::collections::{HashMap, VecDeque};

/// What every event knows: when, who, where and which objects.
#[derive(Clone)]
pub struct EventData {
    at: DateTime<Utc>,
    actor: Option<Uuid>,
    /// The project or conversation of the feed.
    project: Uuid,
    ids: Arc<Vec<Uuid>>,
    /// For chunks: the characters `[start, end)` to deliver.
    range: (u64, u64),
    /// For presence: the member's presence as published.
    presence: Option<Arc<plexus_core::events::PresenceNote>>,
}

/// Characters `[start, end)` of `text`.
fn slice_chars(text: &str, (start, end): (u64, u64)) -> String {
    text.chars()
        .skip(start as usize)
        .take(end.saturating_sub(start) as usize)
        .collect()
}

impl EventData {
    fn first(&self) -> Uuid {
        self.ids.first().copied().unwrap_or(Uuid::nil())
    }

    async fn message(&self, ctx: &Context<'_>) -> ApiResult<Option<Message>> {
        Message::load(ctx, self.first()).await
    }

    async fn actor(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let Some(id) = self.actor else {
            return Ok(None);
        };
        let viewer = actor(ctx).await?;
        Ok(loaders(ctx)?
            .users
            .load_one(id)
            .await?
            .map(|u| User::new(u, &viewer)))
    }

    async fn nodes(&self, ctx: &Context<'_>) -> ApiResult<Vec<GraphNode>> {
        GraphNode::nodes(ctx, self.ids.iter().copied()).await
    }
}

macro_rules! event_object {
    ($name:ident, $doc:literal, |$s:ident, $ctx:ident| { $($(#[doc = $fdoc:literal])* $field:ident : $ty:ty = $body:expr;)* }) => {
        #[doc = $doc]
        pub struct $name(EventData);

        #[doc = $doc]
        #[Object]
        impl $name {
            /// When it happened.
            async fn at(&self) -> DateTime<Utc> {
                self.0.at
            }
            /// Who did it.
            async fn actor(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
                self.0.actor(ctx).await
            }
            $(
                $(#[doc = $fdoc])*
                #[allow(unused_variables)]
                async fn $field(&self, $ctx: &Context<'_>) -> ApiResult<$ty> {
                    let $s = &self.0;
                    $body
                }
            )*
        }
    };
}

event_object!(GraphNodeCreated, "A node was added to the canvas.", |e, ctx| {
    /// The new node (null if it is already gone again).
    node: Option<GraphNode> = Ok(e.nodes(ctx).await?.pop());
});
event_object!(GraphNodeUpdated, "Nodes changed: the edited node first, then the ones it made stale.", |e, ctx| {
    /// The changed nodes.
    nodes: Vec<GraphNode> = e.nodes(ctx).await;
});
event_object!(GraphNodesMoved, "Nodes moved on the canvas.", |e, ctx| {
    /// The moved nodes.
    nodes: Vec<GraphNode> = e.nodes(ctx).await;
});
event_object!(GraphNodeDeleted, "A node, and with it its edges, was deleted.", |e, ctx| {
    /// Global id of the deleted node.
    deleted_id: ID = Ok(gid(IdKind::GraphNode, e.first()));
});
event_object!(GraphNodeRestored, "A deleted node came back, with its edges.", |e, ctx| {
    /// The restored node (null if it is already gone again).
    node: Option<GraphNode> = Ok(e.nodes(ctx).await?.pop());
});
event_object!(GraphEdgeCreated, "Two nodes were connected.", |e, ctx| {
    /// The new edge (null if it is already gone again).
    edge: Option<GraphEdge> = Ok(loaders(ctx)?.edges.load_one(e.first()).await?.map(GraphEdge::new));
});
event_object!(GraphEdgeDeleted, "An edge was removed.", |e, ctx| {
    /// Global id of the removed edge.
    deleted_id: ID = Ok(gid(IdKind::GraphEdge, e.first()));
});
event_object!(ProjectUpdated, "The project's settings or owner changed.", |e, ctx| {
    /// The project.
    project: Option<Project> = Project::load(ctx, e.project).await;
});
event_object!(ProjectDeleted, "The project was deleted; the stream ends after this event.", |e, ctx| {
    /// Global id of the project.
    deleted_id: ID = Ok(gid(IdKind::Project, e.project));
});
event_object!(MemberAdded, "Someone joined the project.", |e, ctx| {
    /// The new membership.
    member: Option<ProjectMember> = ProjectMember::load(ctx, e.first()).await;
});
event_object!(MemberUpdated, "A member's role changed.", |e, ctx| {
    /// The membership.
    member: Option<ProjectMember> = ProjectMember::load(ctx, e.first()).await;
});
event_object!(MemberRemoved, "Someone left the project or was removed from it.", |e, ctx| {
    /// Global id of the ended membership.
    deleted_id: ID = Ok(gid(IdKind::ProjectMember, e.first()));
    /// Global id of the user.
    user_id: ID = Ok(gid(IdKind::User, e.ids.get(1).copied().unwrap_or(Uuid::nil())));
});
event_object!(PresenceChanged, "A member arrived, their cursor moved (at most 20 events a second per member: the last position always arrives), or they went away (`presence.isActive` false: their socket closed or their heartbeats stopped).", |e, ctx| {
    /// The member's presence as it is now (carried by the event, not read back).
    presence: Option<ProjectPresence> = match &e.presence {
        Some(note) => Ok(Some(ProjectPresence::from_note(e.project, e.first(), note))),
        None => ProjectPresence::load(ctx, e.project, e.first()).await,
    };
});
event_object!(NodeResponseChunk, "Text was appended to a generating node's response.", |e, ctx| {
    /// The node (null if it is already gone again).
    node: Option<GraphNode> = Ok(e.nodes(ctx).await?.pop());
    /// Global id of the node.
    node_id: ID = Ok(gid(IdKind::GraphNode, e.first()));
    /// The appended text.
    chunk: String = {
        let node = loaders(ctx)?.nodes.load_one(e.first()).await?;
        Ok(node.and_then(|n| n.response.as_deref().map(|t| slice_chars(t, e.range))).unwrap_or_default())
    };
    /// The length of the response, in characters, with this chunk: pass the last one seen
    /// as `afterSequence` to resume.
    sequence: u64 = Ok(e.range.1);
});
event_object!(MessageAdded, "A message was sent.", |e, ctx| {
    /// The message (null if it is already gone again).
    message: Option<Message> = e.message(ctx).await;
});
event_object!(MessageChunk, "Text was appended to a streaming message.", |e, ctx| {
    /// The message (null if it is already gone again).
    message: Option<Message> = e.message(ctx).await;
    /// Global id of the message.
    message_id: ID = Ok(gid(IdKind::Message, e.first()));
    /// The appended text.
    chunk: String = {
        let msg = loaders(ctx)?.messages.load_one(e.first()).await?;
        Ok(msg.map(|m| slice_chars(&m.content, e.range)).unwrap_or_default())
    };
    /// The length of the message, in characters, with this chunk: pass the last one seen
    /// as `afterSequence` to resume.
    sequence: u64 = Ok(e.range.1);
});
event_object!(MessageUpdated, "A message was finished or edited.", |e, ctx| {
    /// The message (null if it is already gone again).
    message: Option<Message> = e.message(ctx).await;
});
event_object!(ToolCallRecorded, "A tool call was recorded.", |e, ctx| {
    /// The tool call.
    tool_call: Option<ToolCall> = ToolCall::load(ctx, e.first()).await;
});
event_object!(ConversationUpdated, "The conversation was renamed, archived or reactivated.", |e, ctx| {
    /// The conversation.
    conversation: Option<Conversation> = Conversation::load(ctx, e.project).await;
});
event_object!(ConversationDeleted, "The conversation was deleted; the stream ends after this event.", |e, ctx| {
    /// Global id of the conversation.
    deleted_id: ID = Ok(gid(IdKind::Conversation, e.project));
});

/// Something that happened in a project.
#[derive(Union)]
pub enum ProjectEvent {
    GraphNodeCreated(GraphNodeCreated),
    GraphNodeUpdated(GraphNodeUpdated),
    GraphNodesMoved(GraphNodesMoved),
    GraphNodeDeleted(GraphNodeDeleted),
    GraphNodeRestored(GraphNodeRestored),
    GraphEdgeCreated(GraphEdgeCreated),
    GraphEdgeDeleted(GraphEdgeDeleted),
    ProjectUpdated(ProjectUpdated),
    ProjectDeleted(ProjectDeleted),
    MemberAdded(MemberAdded),
    MemberUpdated(MemberUpdated),
    MemberRemoved(MemberRemoved),
    PresenceChanged(PresenceChanged),
    NodeResponseChunk(NodeResponseChunk),
}

event_object!(AgentTaskChanged, "A task of the agent was created or changed state.", |e, ctx| {
    /// The task as it is now.
    task: Option<AgentTask> = AgentTask::load(ctx, e.first()).await;
});
event_object!(AgentDeleted, "The agent was deleted, with its tasks; the stream ends after this event.", |e, ctx| {
    /// Global id of the agent.
    deleted_id: ID = Ok(gid(IdKind::Agent, e.project));
});
event_object!(WorkflowExecutionChanged, "An execution of the workflow started or finished.", |e, ctx| {
    /// The execution as it is now.
    execution: Option<WorkflowExecution> = WorkflowExecution::load(ctx, e.first()).await;
});

event_object!(NotificationAdded, "A notification arrived in the viewer's inbox.", |e, ctx| {
    /// The notification (null if it has expired meanwhile).
    notification: Option<Notification> = Notification::load(ctx, e.first()).await;
});

/// Something that happened in the viewer's inbox.
#[derive(Union)]
pub enum NotificationEvent {
    NotificationAdded(NotificationAdded),
}

fn notification_event(user: Uuid, e: &Event) -> Option<NotificationEvent> {
    let d = event_data(user, e);
    match e.kind {
        EventKind::NotificationAdded => {
            Some(NotificationEvent::NotificationAdded(NotificationAdded(d)))
        }
        _ => None,
    }
}

/// Something that happened in an agent's task queue.
#[derive(Union)]
pub enum AgentTaskEvent {
    AgentTaskChanged(AgentTaskChanged),
    AgentDeleted(AgentDeleted),
}

/// Something that happened to a workflow's executions.
#[derive(Union)]
pub enum WorkflowExecutionEvent {
    WorkflowExecutionChanged(WorkflowExecutionChanged),
}

fn agent_task_event(agent: Uuid, e: &Event) -> Option<AgentTaskEvent> {
    let d = event_data(agent, e);
    match e.kind {
        EventKind::AgentTaskChanged => Some(AgentTaskEvent::AgentTaskChanged(AgentTaskChanged(d))),
        EventKind::AgentDeleted => Some(AgentTaskEvent::AgentDeleted(AgentDeleted(d))),
        _ => None,
    }
}

fn workflow_execution_event(workflow: Uuid, e: &Event) -> Option<WorkflowExecutionEvent> {
    let d = event_data(workflow, e);
    match e.kind {
        EventKind::WorkflowExecutionChanged => Some(
            WorkflowExecutionEvent::WorkflowExecutionChanged(WorkflowExecutionChanged(d)),
        ),
        _ => None,
    }
}

/// Something that happened in a conversation.
#[derive(Union)]
pub enum ConversationEvent {
    MessageAdded(MessageAdded),
    MessageChunk(MessageChunk),
    MessageUpdated(MessageUpdated),
    ToolCallRecorded(ToolCallRecorded),
    ConversationUpdated(ConversationUpdated),
    ConversationDeleted(ConversationDeleted),
}

fn event_data(scope: Uuid, e: &Event) -> EventData {
    EventData {
        at: e.at,
        actor: e.actor,
        project: scope,
        ids: Arc::new(e.ids.clone()),
        range: e.range.unwrap_or((0, 0)),
        presence: e.presence.clone().map(Arc::new),
    }
}

fn conversation_event(conversation: Uuid, e: &Event) -> Option<ConversationEvent> {
    let d = event_data(conversation, e);
    use ConversationEvent as C;
    Some(match e.kind {
        EventKind::MessageAdded => C::MessageAdded(MessageAdded(d)),
        EventKind::MessageChunk => C::MessageChunk(MessageChunk(d)),
        EventKind::MessageUpdated => C::MessageUpdated(MessageUpdated(d)),
        EventKind::ToolCallRecorded => C::ToolCallRecorded(ToolCallRecorded(d)),
        EventKind::ConversationUpdated => C::ConversationUpdated(ConversationUpdated(d)),
        EventKind::ConversationDeleted => C::ConversationDeleted(ConversationDeleted(d)),
        _ => return None,
    })
}

fn project_event(project: Uuid, e: &Event) -> Option<ProjectEvent> {
    let d = event_data(project, e);
    use ProjectEvent as P;
    Some(match e.kind {
        EventKind::GraphNodeCreated => P::GraphNodeCreated(GraphNodeCreated(d)),
        EventKind::GraphNodeUpdated => P::GraphNodeUpdated(GraphNodeUpdated(d)),
        EventKind::GraphNodesMoved => P::GraphNodesMoved(GraphNodesMoved(d)),
        EventKind::GraphNodeDeleted => P::GraphNodeDeleted(GraphNodeDeleted(d)),
        EventKind::GraphNodeRestored => P::GraphNodeRestored(GraphNodeRestored(d)),
        EventKind::GraphEdgeCreated => P::GraphEdgeCreated(GraphEdgeCreated(d)),
        EventKind::GraphEdgeDeleted => P::GraphEdgeDeleted(GraphEdgeDeleted(d)),
        EventKind::ProjectUpdated => P::ProjectUpdated(ProjectUpdated(d)),
        EventKind::ProjectDeleted => P::ProjectDeleted(ProjectDeleted(d)),
        EventKind::MemberAdded => P::MemberAdded(MemberAdded(d)),
        EventKind::MemberUpdated => P::MemberUpdated(MemberUpdated(d)),
        EventKind::MemberRemoved => P::MemberRemoved(MemberRemoved(d)),
        EventKind::PresenceChanged => P::PresenceChanged(PresenceChanged(d)),
        EventKind::NodeResponseChunk => P::NodeResponseChunk(NodeResponseChunk(d)),
        _ => return None,
    })
}

/// What a feed follows, and where its access can change.
#[derive(Clone, Copy)]
enum Scope {
    Project(Uuid),
    Conversation {
        id: Uuid,
        project: Option<Uuid>,
    },
    /// Ownership of agents, workflows and inboxes never changes: no re-checks.
    Owned(Topic),
}

struct Feed {
    rx: Receiver<Delivery>,
    state: ApiState,
    viewer: Actor,
    scope: Scope,
    loaders: Arc<crate::Loaders>,
    /// How much of each stream (by node or message id) this feed has delivered.
    streamed: HashMap<Uuid, u64>,
    /// Events to deliver before live ones (a resumed stream's missed text).
    queued: VecDeque<Event>,
    /// Only events about this object (their first id), when set; ending events pass.
    only: Option<Uuid>,
    done: bool,
}

impl Feed {
    fn new(state: ApiState, viewer: Actor, scope: Scope, loaders: Arc<crate::Loaders>) -> Self {
        Self {
            rx: state.bus.subscribe(),
            state,
            viewer,
            scope,
            loaders,
            streamed: HashMap::new(),
            queued: VecDeque::new(),
            only: None,
            done: false,
        }
    }

    /// Resumes stream `id` (of `topic`, by `kind` chunks) after `after` characters, its
    /// text being `text` now: the missed text is queued as one chunk, and live chunks are
    /// trimmed to what follows it. The feed must already be subscribed, so that no chunk
    /// committed after `text` was read can be missed.
    fn resume(&mut self, topic: Topic, kind: EventKind, id: Uuid, after: u64, text: &str) {
        let len = text.chars().count() as u64;
        if after < len {
            self.queued
                .push_back(Event::chunk(topic, kind, None, id, after, len));
        }
        self.streamed.insert(id, len.max(after));
    }

    /// The part of a chunk not delivered yet, or `None` when it is all old.
    fn trim(&mut self, e: &Event) -> Option<Event> {
        let Some((start, end)) = e.range else {
            return Some(e.clone());
        };
        let id = e.ids.first().copied().unwrap_or(Uuid::nil());
        let seen = self.streamed.get(&id).copied().unwrap_or(0);
        if end <= seen {
            return None;
        }
        self.streamed.insert(id, end);
        Some(Event {
            range: Some((start.max(seen), end)),
            ..e.clone()
        })
    }
}

/// Whether the viewer may still see what the feed follows.
async fn recheck(f: &Feed) -> Result<(), DomainError> {
    match f.scope {
        Scope::Project(p) => f.state.projects.access(&f.viewer, p).await.map(|_| ()),
        Scope::Conversation { id, .. } => {
            f.state.conversations.get(&f.viewer, id).await.map(|_| ())
        }
        Scope::Owned(_) => Ok(()),
    }
}

/// The next event of a feed — of its topic, or one that may change the viewer's access —
/// after checking the viewer may still see it; `None` when the feed is over.
async fn next_delivery(f: &mut Feed) -> Option<Result<Event, DomainError>> {
    if f.done {
        return None;
    }
    if let Some(e) = f.queued.pop_front() {
        return Some(Ok(e));
    }
    let (topic, project) = match f.scope {
        Scope::Project(p) => (Topic::Project(p), Some(p)),
        Scope::Conversation { id, project } => (Topic::Conversation(id), project),
        Scope::Owned(topic) => (topic, None),
    };
    loop {
        let e = match f.rx.recv().await {
            Ok(Delivery::Event(e)) => e,
            Ok(Delivery::Gap) | Err(RecvError::Lagged(_)) => {
                f.done = true;
                return Some(Err(DomainError::EventsLost(
                    "events may have been missed: resubscribe and reload".into(),
                )));
            }
            Err(RecvError::Closed) => return None,
        };
        let own = e.topic == topic;
        let in_project = project.is_some_and(|p| e.topic == Topic::Project(p));
        if !own && !in_project {
            continue;
        }
        // Only these events can change who may see the project (a removal, a role change,
        // visibility or ownership) and its conversations: re-check on them, not on every
        // event, so a busy canvas or chat costs no query per subscriber.
        let may_change_access = in_project
            && matches!(
                e.kind,
                EventKind::MemberRemoved
                    | EventKind::MemberUpdated
                    | EventKind::ProjectUpdated
                    | EventKind::ProjectDeleted
            );
        let ends = own
            && matches!(
                e.kind,
                EventKind::ProjectDeleted
                    | EventKind::ConversationDeleted
                    | EventKind::AgentDeleted
            );
        if ends {
            f.done = true;
        } else if may_change_access && let Err(err) = recheck(f).await {
            f.done = true;
            let err = match err {
                DomainError::NotFound(_) => {
                    DomainError::Forbidden("you no longer have access to this".into())
                }
                other => other,
            };
            return Some(Err(err));
        }
        if !own || (!ends && f.only.is_some_and(|o| e.ids.first() != Some(&o))) {
            continue;
        }
        let Some(e) = f.trim(&e) else {
            continue;
        };
        // Objects resolve fresh for every event, never from an earlier event's cache.
        f.loaders.clear_all();
        return Some(Ok(e));
    }
}

/// Turns a feed into a stream of typed events.
fn stream_of<T: Send + 'static>(
    feed: Feed,
    scope: Uuid,
    typed: fn(Uuid, &Event) -> Option<T>,
) -> impl Stream<Item = ApiResult<T>> + use<T> {
    futures_util::stream::unfold(feed, move |mut f| async move {
        loop {
            match next_delivery(&mut f).await? {
                Ok(e) => {
                    if let Some(t) = typed(scope, &e) {
                        return Some((Ok(t), f));
                    }
                }
                Err(err) => return Some((Err(err.into()), f)),
            }
        }
    })
}

/// `BAD_USER_INPUT` unless `afterSequence` comes with the id of the stream it is about.
fn resume_args(
    id: Option<ID>,
    kind: IdKind,
    arg: &str,
    after: Option<i64>,
) -> ApiResult<Option<(Uuid, u64)>> {
    match (id, after) {
        (None, None) => Ok(None),
        (Some(id), Some(after)) if after >= 0 => Ok(Some((uuid_of(&id, kind, arg)?, after as u64))),
        (Some(_), Some(_)) => {
            Err(DomainError::invalid("afterSequence", "afterSequence must not be negative").into())
        }
        (None, Some(_)) => Err(DomainError::invalid(
            arg,
            format!("afterSequence needs `{arg}`: the stream to resume"),
        )
        .into()),
        (Some(_), None) => Ok(None),
    }
}

/// Live events.
#[derive(Default)]
pub struct ProjectsSubscription;

#[Subscription]
impl ProjectsSubscription {
    /// Everything that happens in a project, as it happens, for anyone who can see it.
    /// Ends with `FORBIDDEN` when the viewer loses access, after `ProjectDeleted`, and with
    /// `EVENTS_LOST` when events may have been missed (resubscribe and reload). With
    /// `nodeId` and `afterSequence`, a generating node's response resumes after that many
    /// characters: the missed text comes first as one `NodeResponseChunk`.
    async fn project_events(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        node_id: Option<ID>,
        after_sequence: Option<i64>,
    ) -> Result<impl Stream<Item = ApiResult<ProjectEvent>> + use<>, crate::error::ApiError> {
        let project = uuid_of(&project_id, IdKind::Project, "projectId")?;
        let resume = resume_args(node_id, IdKind::GraphNode, "nodeId", after_sequence)?;
        let viewer = actor(ctx).await?;
        let state = state(ctx)?.clone();
        state.projects.access(&viewer, project).await?;
        // A member's presence ends when the last socket following the project closes.
        if let (Some(user), Ok(socket)) =
            (viewer.user_id(), ctx.data::<crate::presence::SocketId>())
        {
            state.presence.attach(*socket, project, user);
        }
        let mut feed = Feed::new(
            state.clone(),
            viewer,
            Scope::Project(project),
            loaders(ctx)?.clone(),
        );
        if let Some((node, after)) = resume {
            let found = state.graph.nodes_by_ids(&[node]).await?;
            let node = found
                .into_iter()
                .find(|n| n.project_id == project)
                .ok_or_else(|| DomainError::invalid("nodeId", "no such node in this project"))?;
            let text = node.response.clone().unwrap_or_default();
            feed.resume(
                Topic::Project(project),
                EventKind::NodeResponseChunk,
                node.id,
                after,
                &text,
            );
            if node.status != "GENERATING" {
                // Finished while the client was away: say so after the missed text.
                feed.queued.push_back(Event::now(
                    Topic::Project(project),
                    EventKind::GraphNodeUpdated,
                    None,
                    vec![node.id],
                ));
            }
        }
        Ok(stream_of(feed, project, project_event))
    }

    /// Everything that happens in a conversation — messages, streamed chunks, edits, tool
    /// calls — for anyone who can read it. Ends with `FORBIDDEN` when the viewer loses
    /// access, after `ConversationDeleted`, and with `EVENTS_LOST` when events may have been
    /// missed. With `messageId` and `afterSequence`, a streaming message resumes after that
    /// many characters: the missed text comes first as one `MessageChunk`.
    async fn conversation_events(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        message_id: Option<ID>,
        after_sequence: Option<i64>,
    ) -> Result<impl Stream<Item = ApiResult<ConversationEvent>> + use<>, crate::error::ApiError>
    {
        let id = uuid_of(&conversation_id, IdKind::Conversation, "conversationId")?;
        let resume = resume_args(message_id, IdKind::Message, "messageId", after_sequence)?;
        let viewer = actor(ctx).await?;
        let state = state(ctx)?.clone();
        let (conv, _) = state.conversations.get(&viewer, id).await?;
        let scope = Scope::Conversation {
            id,
            project: conv.project_id,
        };
        let mut feed = Feed::new(state.clone(), viewer, scope, loaders(ctx)?.clone());
        if let Some((message, after)) = resume {
            let (msg, _, _) = state.conversations.message(&viewer, message).await?;
            if msg.conversation_id != id {
                return Err(DomainError::invalid(
                    "messageId",
                    "no such message in this conversation",
                )
                .into());
            }
            feed.resume(
                Topic::Conversation(id),
                EventKind::MessageChunk,
                msg.id,
                after,
                &msg.content,
            );
            if msg.status != "STREAMING" {
                // Finished while the client was away: say so after the missed text.
                feed.queued.push_back(Event::now(
                    Topic::Conversation(id),
                    EventKind::MessageUpdated,
                    None,
                    vec![msg.id],
                ));
            }
        }
        Ok(stream_of(feed, id, conversation_event))
    }

    /// Changes of an agent's tasks (all of them, or only `taskId`'s), for the agent's
    /// owner: created, claimed, started, finished, cancelled. Ends after `AgentDeleted`.
    async fn agent_task_events(
        &self,
        ctx: &Context<'_>,
        agent_id: ID,
        task_id: Option<ID>,
    ) -> Result<impl Stream<Item = ApiResult<AgentTaskEvent>> + use<>, crate::error::ApiError> {
        let agent = uuid_of(&agent_id, IdKind::Agent, "agentId")?;
        let only = task_id
            .map(|t| uuid_of(&t, IdKind::AgentTask, "taskId"))
            .transpose()?;
        if Agent::load(ctx, agent).await?.is_none() {
            return Err(DomainError::not_found("agent").into());
        }
        if let Some(task) = only {
            let found = AgentTask::load(ctx, task).await?;
            if found.is_none_or(|t| t.agent_id() != agent) {
                return Err(DomainError::not_found("task").into());
            }
        }
        let viewer = actor(ctx).await?;
        let scope = Scope::Owned(Topic::Agent(agent));
        let mut feed = Feed::new(state(ctx)?.clone(), viewer, scope, loaders(ctx)?.clone());
        feed.only = only;
        Ok(stream_of(feed, agent, agent_task_event))
    }

    /// Notifications arriving in the viewer's inbox, as they are created (after the change
    /// that caused them has committed). Needs a signed-in viewer.
    async fn notification_events(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = ApiResult<NotificationEvent>> + use<>, crate::error::ApiError>
    {
        let viewer = actor(ctx).await?;
        let me = viewer.require_user()?;
        let scope = Scope::Owned(Topic::User(me));
        let feed = Feed::new(state(ctx)?.clone(), viewer, scope, loaders(ctx)?.clone());
        Ok(stream_of(feed, me, notification_event))
    }

    /// Executions of a workflow starting and finishing, for the workflow's owner.
    async fn workflow_execution_events(
        &self,
        ctx: &Context<'_>,
        workflow_id: ID,
    ) -> Result<impl Stream<Item = ApiResult<WorkflowExecutionEvent>> + use<>, crate::error::ApiError>
    {
        let workflow = uuid_of(&workflow_id, IdKind::Workflow, "workflowId")?;
        if Workflow::load(ctx, workflow).await?.is_none() {
            return Err(DomainError::not_found("workflow").into());
        }
        let viewer = actor(ctx).await?;
        let scope = Scope::Owned(Topic::Workflow(workflow));
        let feed = Feed::new(state(ctx)?.clone(), viewer, scope, loaders(ctx)?.clone());
        Ok(stream_of(feed, workflow, workflow_execution_event))
    }
}
