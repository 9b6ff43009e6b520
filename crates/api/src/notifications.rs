//! GraphQL for the viewer's inbox: `Notification`, `notifications` (with `totalCount` and
//! `unreadCount`) and `markNotificationsRead`. Notifications are created by the domain
//! services when their events commit; nobody else's notification is ever visible.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use plexus_core::page::PageRequest;
use plexus_core::{DomainResult, IdKind};
use plexus_users::entity::notifications;
use plexus_users::notifications::{
    self as domain, NotificationFilter, NotificationPriority as DomainPriority,
    NotificationType as DomainType,
};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::common::{gid, uuid_of};
use crate::connection::{Connection, Edge, PageInfo};
use crate::context::{actor, loaders, state};
use crate::error::ApiResult;
use crate::graph::GraphNode;
use crate::projects::Project;

/// What a notification is about.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum NotificationType {
    /// You were added to a project.
    ProjectInvite,
    /// A project was shared with you.
    ProjectShare,
    /// A node's response was generated.
    NodeGenerated,
    /// Generating a node's response failed.
    NodeError,
    /// One of your agents completed a task.
    AgentCompleted,
    /// One of your agents failed a task.
    AgentFailed,
    /// A member (re)joined one of your projects' canvases.
    CollaborationJoined,
    /// A member left one of your projects.
    CollaborationLeft,
    /// A message from the system.
    System,
}

impl From<DomainType> for NotificationType {
    fn from(t: DomainType) -> Self {
        match t {
            DomainType::ProjectInvite => Self::ProjectInvite,
            DomainType::ProjectShare => Self::ProjectShare,
            DomainType::NodeGenerated => Self::NodeGenerated,
            DomainType::NodeError => Self::NodeError,
            DomainType::AgentCompleted => Self::AgentCompleted,
            DomainType::AgentFailed => Self::AgentFailed,
            DomainType::CollaborationJoined => Self::CollaborationJoined,
            DomainType::CollaborationLeft => Self::CollaborationLeft,
            DomainType::System => Self::System,
        }
    }
}

impl From<NotificationType> for DomainType {
    fn from(t: NotificationType) -> Self {
        match t {
            NotificationType::ProjectInvite => Self::ProjectInvite,
            NotificationType::ProjectShare => Self::ProjectShare,
            NotificationType::NodeGenerated => Self::NodeGenerated,
            NotificationType::NodeError => Self::NodeError,
            NotificationType::AgentCompleted => Self::AgentCompleted,
            NotificationType::AgentFailed => Self::AgentFailed,
            NotificationType::CollaborationJoined => Self::CollaborationJoined,
            NotificationType::CollaborationLeft => Self::CollaborationLeft,
            NotificationType::System => Self::System,
        }
    }
}

/// How urgent a notification is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum NotificationPriority {
    /// Can wait.
    Low,
    /// The default.
    Medium,
    /// Worth a look soon.
    High,
    /// Needs attention now.
    Urgent,
}

impl From<DomainPriority> for NotificationPriority {
    fn from(p: DomainPriority) -> Self {
        match p {
            DomainPriority::Low => Self::Low,
            DomainPriority::Medium => Self::Medium,
            DomainPriority::High => Self::High,
            DomainPriority::Urgent => Self::Urgent,
        }
    }
}

/// An entry of the viewer's inbox.
#[derive(Clone)]
pub struct Notification {
    model: notifications::Model,
}

impl Notification {
    /// Wraps one of the viewer's notifications.
    pub fn new(model: notifications::Model) -> Self {
        Self { model }
    }

    /// The viewer's live notification by id, or `None` (someone else's is not visible).
    pub async fn load(ctx: &Context<'_>, id: uuid::Uuid) -> ApiResult<Option<Notification>> {
        let Some(me) = actor(ctx).await?.user_id() else {
            return Ok(None);
        };
        Ok(loaders(ctx)?
            .notifications
            .load_one(id)
            .await?
            .filter(|n| n.user_id == me)
            .map(Notification::new))
    }
}

/// An entry of the viewer's inbox.
#[Object]
impl Notification {
    /// Global id (`ntf_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::Notification, self.model.id)
    }
    /// What it is about.
    async fn r#type(&self) -> NotificationType {
        DomainType::parse(&self.model.r#type)
            .unwrap_or(DomainType::System)
            .into()
    }
    /// A one-line summary.
    async fn title(&self) -> &str {
        &self.model.title
    }
    /// The full text.
    async fn message(&self) -> &str {
        &self.model.message
    }
    /// Extra payload (ids of the objects involved: `projectId`, `nodeId`, `agentId`,
    /// `taskId`, `userId`, as database uuids).
    async fn data(&self) -> Option<Json<Value>> {
        self.model.data.clone().map(Json)
    }
    /// The project it is about; null when there is none or the viewer can no longer see it.
    async fn project(&self, ctx: &Context<'_>) -> ApiResult<Option<Project>> {
        match domain::project_of(&self.model) {
            Some(id) => Project::load(ctx, id).await,
            None => Ok(None),
        }
    }
    /// The canvas node it is about; null when there is none or it is no longer visible.
    async fn node(&self, ctx: &Context<'_>) -> ApiResult<Option<GraphNode>> {
        match domain::node_of(&self.model) {
            Some(id) => GraphNode::load(ctx, id).await,
            None => Ok(None),
        }
    }
    /// Whether the viewer has read it.
    async fn read(&self) -> bool {
        self.model.read
    }
    /// When it was marked read.
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.model.read_at.map(|t| t.to_utc())
    }
    /// How urgent it is.
    async fn priority(&self) -> NotificationPriority {
        DomainPriority::parse(&self.model.priority)
            .unwrap_or_default()
            .into()
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// When it stops mattering; it is hidden (and purged) after that.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.model.expires_at.map(|t| t.to_utc())
    }
}

type CountFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = DomainResult<u64>> + Send>> + Send + Sync>;

/// A page of the viewer's inbox, newest first, with its unread count.
pub struct NotificationConnection {
    inner: Connection<Notification>,
    unread: CountFn,
}

/// A page of the viewer's inbox, newest first, with its unread count.
#[Object]
impl NotificationConnection {
    /// The notifications of this page, each with its cursor.
    async fn edges(&self) -> &[Edge<Notification>] {
        self.inner.edge_list()
    }
    /// The notifications of this page, without cursors.
    async fn nodes(&self) -> Vec<&Notification> {
        self.inner.node_list()
    }
    /// Where this page sits in the whole list.
    async fn page_info(&self) -> &PageInfo {
        self.inner.info()
    }
    /// How many notifications the whole list (all pages, this filter) holds.
    async fn total_count(&self) -> ApiResult<u64> {
        Ok(self.inner.count().await?)
    }
    /// How many of the viewer's live notifications are unread (whatever the filter).
    async fn unread_count(&self) -> ApiResult<u64> {
        Ok((self.unread)().await?)
    }
}

/// Which notifications to list.
#[derive(InputObject, Default)]
pub struct NotificationFilterInput {
    /// Only unread ones.
    #[graphql(default)]
    pub unread_only: bool,
    /// Only this type.
    pub r#type: Option<NotificationType>,
}

/// The inbox query.
#[derive(Default)]
pub struct NotificationsQuery;

#[Object]
impl NotificationsQuery {
    /// The viewer's live notifications, newest first (signed-in users only).
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<NotificationFilterInput>,
    ) -> ApiResult<NotificationConnection> {
        let actor = actor(ctx).await?;
        let user = actor.require_user()?;
        let st = state(ctx)?;
        let args = PageRequest {
            first,
            after,
            last,
            before,
        }
        .resolve(st.page_limits, "id", 1)?;
        let f = filter.unwrap_or_default();
        let filter = NotificationFilter {
            unread_only: f.unread_only,
            kind: f.r#type.map(Into::into),
        };
        let page = st.users.list_notifications(&actor, filter, &args).await?;
        let svc = st.users.clone();
        let total = {
            let svc = svc.clone();
            move || {
                let svc = svc.clone();
                async move { svc.count_notifications(user, filter).await }
            }
        };
        let unread: CountFn = Arc::new(move || {
            let svc = svc.clone();
            Box::pin(async move {
                svc.count_notifications(
                    user,
                    NotificationFilter {
                        unread_only: true,
                        kind: None,
                    },
                )
                .await
            })
        });
        Ok(NotificationConnection {
            inner: Connection::new(page.map(Notification::new), total),
            unread,
        })
    }
}

/// Which notifications to mark read: give `ids`, or `all: true`.
#[derive(InputObject)]
pub struct MarkNotificationsReadInput {
    /// The viewer's notifications to mark (at most 100; ids of others' are ignored).
    pub ids: Option<Vec<ID>>,
    /// Mark every unread notification of the viewer.
    #[graphql(default)]
    pub all: bool,
}

/// Result of `markNotificationsRead`.
#[derive(SimpleObject)]
pub struct MarkNotificationsReadPayload {
    /// How many notifications changed from unread to read.
    pub updated_count: u64,
}

/// Inbox mutations.
#[derive(Default)]
pub struct NotificationsMutation;

#[Object]
impl NotificationsMutation {
    /// Marks the viewer's notifications read. Ids of notifications that are not the
    /// viewer's (or unknown, expired, already read) are not counted.
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        input: MarkNotificationsReadInput,
    ) -> ApiResult<MarkNotificationsReadPayload> {
        let actor = actor(ctx).await?;
        let ids = input
            .ids
            .as_deref()
            .map(|ids| {
                ids.iter()
                    .map(|i| uuid_of(i, IdKind::Notification, "ids"))
                    .collect::<ApiResult<Vec<_>>>()
            })
            .transpose()?;
        let n = state(ctx)?
            .users
            .mark_notifications_read(&actor, ids, input.all)
            .await?;
        Ok(MarkNotificationsReadPayload { updated_count: n })
    }
}
