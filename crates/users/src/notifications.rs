//! Notifications: every user's inbox. Domain events create them with [`notify`] on the
//! event's own transaction (so a notification exists exactly when its event committed);
//! the inbox lists, counts and marks them read. Expired notifications (`expires_at` in the
//! past) are hidden from every read and purged by the server's housekeeping.
//!
//! The `notifications` table (migration 1, before projects existed) has no project or node
//! columns: the project and node a notification is about are kept in `data` as
//! `projectId` / `nodeId` and resolved (with visibility checks) by the API.

use chrono::{DateTime, FixedOffset};
use plexus_core::db::now;
use plexus_core::page::{KeyValue, Ordering, PageArgs, fetch_page};
use plexus_core::{Actor, DomainError, DomainResult, Page};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, Select, Set,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::entity::notifications;
use crate::service::UsersService;

/// Most ids `markNotificationsRead` accepts at once.
pub const MAX_MARK_IDS: usize = 100;

/// What a notification is about (`NotificationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationType {
    ProjectInvite,
    ProjectShare,
    NodeGenerated,
    NodeError,
    AgentCompleted,
    AgentFailed,
    CollaborationJoined,
    CollaborationLeft,
    System,
}

impl NotificationType {
    /// Every type.
    pub const ALL: [NotificationType; 9] = [
        Self::ProjectInvite,
        Self::ProjectShare,
        Self::NodeGenerated,
        Self::NodeError,
        Self::AgentCompleted,
        Self::AgentFailed,
        Self::CollaborationJoined,
        Self::CollaborationLeft,
        Self::System,
    ];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProjectInvite => "PROJECT_INVITE",
            Self::ProjectShare => "PROJECT_SHARE",
            Self::NodeGenerated => "NODE_GENERATED",
            Self::NodeError => "NODE_ERROR",
            Self::AgentCompleted => "AGENT_COMPLETED",
            Self::AgentFailed => "AGENT_FAILED",
            Self::CollaborationJoined => "COLLABORATION_JOINED",
            Self::CollaborationLeft => "COLLABORATION_LEFT",
            Self::System => "SYSTEM",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// How urgent a notification is (`NotificationPriority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NotificationPriority {
    Low,
    #[default]
    Medium,
    High,
    Urgent,
}

impl NotificationPriority {
    /// Every priority.
    pub const ALL: [NotificationPriority; 4] = [Self::Low, Self::Medium, Self::High, Self::Urgent];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Urgent => "URGENT",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A notification to deliver.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// The recipient.
    pub user_id: Uuid,
    pub kind: NotificationType,
    pub title: String,
    pub message: String,
    /// Extra payload (an object); `projectId` / `nodeId` are added from the fields below.
    pub data: Option<Value>,
    /// The project it is about.
    pub project_id: Option<Uuid>,
    /// The canvas node it is about.
    pub node_id: Option<Uuid>,
    pub priority: NotificationPriority,
    /// When it stops mattering (hidden, then purged).
    pub expires_at: Option<DateTime<FixedOffset>>,
}

impl NewNotification {
    /// A notification of `kind` for `user_id`, MEDIUM priority, not expiring.
    pub fn new(
        user_id: Uuid,
        kind: NotificationType,
        title: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            user_id,
            kind,
            title: title.into(),
            message: message.into(),
            data: None,
            project_id: None,
            node_id: None,
            priority: NotificationPriority::Medium,
            expires_at: None,
        }
    }

    /// About this project.
    pub fn project(mut self, id: Uuid) -> Self {
        self.project_id = Some(id);
        self
    }

    /// About this node.
    pub fn node(mut self, id: Uuid) -> Self {
        self.node_id = Some(id);
        self
    }

    /// With this payload (an object).
    pub fn data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// With this priority.
    pub fn priority(mut self, p: NotificationPriority) -> Self {
        self.priority = p;
        self
    }

    /// Expiring at `at`.
    pub fn expires_at(mut self, at: DateTime<FixedOffset>) -> Self {
        self.expires_at = Some(at);
        self
    }
}

/// Cuts `s` to at most `max` characters (titles are bounded by the column).
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

tokio::task_local! {
    /// Notifications inserted while a [`collecting`] future runs: `(recipient, id)`.
    static CREATED: std::cell::RefCell<Vec<(Uuid, Uuid)>>;
}

/// Runs `fut` and returns, beside its output, the notifications it inserted as
/// `(recipient, id)` — so that the caller can announce them once `fut`'s transaction has
/// committed (and drop them when it failed).
pub async fn collecting<F: std::future::Future>(fut: F) -> (F::Output, Vec<(Uuid, Uuid)>) {
    CREATED
        .scope(std::cell::RefCell::new(Vec::new()), async move {
            let out = fut.await;
            let created = CREATED.with(|c| std::mem::take(&mut *c.borrow_mut()));
            (out, created)
        })
        .await
}

/// Inserts a notification on `conn` — pass the transaction of the event it announces, so
/// both commit or neither does.
pub async fn notify(
    conn: &impl ConnectionTrait,
    n: NewNotification,
) -> DomainResult<notifications::Model> {
    let mut data = match n.data {
        Some(Value::Object(m)) => m,
        Some(other) => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            m
        }
        None => Map::new(),
    };
    if let Some(p) = n.project_id {
        data.insert("projectId".into(), Value::String(p.to_string()));
    }
    if let Some(node) = n.node_id {
        data.insert("nodeId".into(), Value::String(node.to_string()));
    }
    let row = notifications::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(n.user_id),
        r#type: Set(n.kind.as_str().to_string()),
        title: Set(clip(&n.title, 200)),
        message: Set(clip(&n.message, 10_000)),
        data: Set((!data.is_empty()).then_some(Value::Object(data))),
        read: Set(false),
        read_at: Set(None),
        priority: Set(n.priority.as_str().to_string()),
        expires_at: Set(n.expires_at),
        created_at: Set(now()),
    };
    let row = row.insert(conn).await?;
    // Outside `collecting` nobody listens: nothing to record.
    let _ = CREATED.try_with(|c| c.borrow_mut().push((row.user_id, row.id)));
    Ok(row)
}

/// The project a stored notification is about (from `data.projectId`).
pub fn project_of(n: &notifications::Model) -> Option<Uuid> {
    uuid_in(n, "projectId")
}

/// The node a stored notification is about (from `data.nodeId`).
pub fn node_of(n: &notifications::Model) -> Option<Uuid> {
    uuid_in(n, "nodeId")
}

fn uuid_in(n: &notifications::Model, key: &str) -> Option<Uuid> {
    n.data
        .as_ref()?
        .get(key)?
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// Which notifications a list shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotificationFilter {
    /// Only unread ones.
    pub unread_only: bool,
    /// Only this type.
    pub kind: Option<NotificationType>,
}

/// Notifications that have not expired.
fn live() -> Select<notifications::Entity> {
    use notifications::Column as C;
    notifications::Entity::find().filter(
        Condition::any()
            .add(C::ExpiresAt.is_null())
            .add(C::ExpiresAt.gt(now())),
    )
}

fn inbox(user: Uuid, filter: NotificationFilter) -> Select<notifications::Entity> {
    use notifications::Column as C;
    let mut q = live().filter(C::UserId.eq(user));
    if filter.unread_only {
        q = q.filter(C::Read.eq(false));
    }
    if let Some(k) = filter.kind {
        q = q.filter(C::Type.eq(k.as_str()));
    }
    q
}

impl UsersService {
    /// One page of the viewer's live notifications, newest first.
    pub async fn list_notifications(
        &self,
        actor: &Actor,
        filter: NotificationFilter,
        page: &PageArgs,
    ) -> DomainResult<Page<notifications::Model>> {
        let user = actor.require_user()?;
        let o = Ordering {
            name: "id",
            columns: notifications::Column::Id,
            arity: 1,
            descending: true,
        };
        fetch_page(self.db(), inbox(user, filter), o, page, |n| {
            vec![KeyValue::U(n.id)]
        })
        .await
    }

    /// How many live notifications of the viewer match `filter`.
    pub async fn count_notifications(
        &self,
        user: Uuid,
        filter: NotificationFilter,
    ) -> DomainResult<u64> {
        Ok(inbox(user, filter).count(self.db()).await?)
    }

    /// Live notifications by id, whoever they belong to (for loaders; callers check the
    /// recipient).
    pub async fn notifications_by_ids(
        &self,
        ids: &[Uuid],
    ) -> DomainResult<Vec<notifications::Model>> {
        Ok(live()
            .filter(notifications::Column::Id.is_in(ids.iter().copied()))
            .all(self.db())
            .await?)
    }

    /// Marks the viewer's unread, live notifications read: those in `ids`, or all of them
    /// with `all`. Ids of other users' (or unknown, or expired) notifications are ignored;
    /// returns how many changed from unread to read.
    pub async fn mark_notifications_read(
        &self,
        actor: &Actor,
        ids: Option<Vec<Uuid>>,
        all: bool,
    ) -> DomainResult<u64> {
        use notifications::Column as C;
        let user = actor.require_user()?;
        if !all && ids.is_none() {
            return Err(DomainError::invalid("ids", "pass `ids` or `all: true`"));
        }
        if ids.as_ref().is_some_and(|i| i.len() > MAX_MARK_IDS) {
            return Err(DomainError::invalid(
                "ids",
                format!("at most {MAX_MARK_IDS} ids at once"),
            ));
        }
        let mut q = notifications::Entity::update_many()
            .col_expr(C::Read, Expr::value(true))
            .col_expr(C::ReadAt, Expr::value(now()))
            .filter(C::UserId.eq(user))
            .filter(C::Read.eq(false))
            .filter(
                Condition::any()
                    .add(C::ExpiresAt.is_null())
                    .add(C::ExpiresAt.gt(now())),
            );
        if !all && let Some(ids) = ids {
            if ids.is_empty() {
                return Ok(0);
            }
            q = q.filter(C::Id.is_in(ids));
        }
        Ok(q.exec(self.db()).await?.rows_affected)
    }

    /// Deletes expired notifications; returns how many.
    pub async fn purge_expired_notifications(&self) -> DomainResult<u64> {
        Ok(notifications::Entity::delete_many()
            .filter(notifications::Column::ExpiresAt.lte(now()))
            .exec(self.db())
            .await?
            .rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_round_trip() {
        for t in NotificationType::ALL {
            assert_eq!(NotificationType::parse(t.as_str()), Some(t));
        }
        for p in NotificationPriority::ALL {
            assert_eq!(NotificationPriority::parse(p.as_str()), Some(p));
        }
        assert_eq!(NotificationType::parse("nope"), None);
    }

    #[test]
    fn long_titles_are_clipped() {
        let t = clip(&"x".repeat(300), 200);
        assert_eq!(t.chars().count(), 200);
        assert_eq!(clip("short", 200), "short");
    }
}
