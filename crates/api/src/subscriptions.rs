//! Subscriptions: live events of a project's canvas and membership. Permission is checked
//! when subscribing and again whenever an event could have changed it (a member removed or
//! changed, the project's visibility or owner changed); a viewer who loses access gets a
//! final `FORBIDDEN` error and the stream ends. Events carry ids; their objects resolve through
//! the subscription's loaders (caches cleared before each event), exactly as in a query.

use async_graphql::{Context, ID, Object, Subscription, Union};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use plexus_core::events::{Delivery, Event, EventKind, Topic};
use plexus_core::{Actor, DomainError, IdKind};
use std::sync::Arc;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use uuid::Uuid;

use crate::common::{gid, uuid_of};
use crate::context::{ApiState, actor, loaders, state};
use crate::error::ApiResult;
use crate::graph::{GraphEdge, GraphNode};
use crate::projects::{Project, ProjectMember, ProjectPresence};
use crate::users::User;

/// What every event knows: when, who, where and which objects.
#[derive(Clone)]
pub struct EventData {
    at: DateTime<Utc>,
    actor: Option<Uuid>,
    project: Uuid,
    ids: Arc<Vec<Uuid>>,
}

impl EventData {
    fn first(&self) -> Uuid {
        self.ids.first().copied().unwrap_or(Uuid::nil())
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
        let mut found = loaders(ctx)?
            .nodes
            .load_many(self.ids.iter().copied())
            .await?;
        Ok(self
            .ids
            .iter()
            .filter_map(|id| found.remove(id))
            .map(GraphNode::new)
            .collect())
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
event_object!(PresenceChanged, "A member's heartbeat or cursor moved.", |e, ctx| {
    /// The member's presence.
    presence: Option<ProjectPresence> = ProjectPresence::load(ctx, e.project, e.first()).await;
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
}

fn project_event(project: Uuid, e: &Event) -> ProjectEvent {
    let d = EventData {
        at: e.at,
        actor: e.actor,
        project,
        ids: Arc::new(e.ids.clone()),
    };
    use ProjectEvent as P;
    match e.kind {
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
    }
}

struct Feed {
    rx: Receiver<Delivery>,
    state: ApiState,
    viewer: Actor,
    project: Uuid,
    loaders: Arc<crate::Loaders>,
    done: bool,
}

/// Whether the viewer may still see the feed's project.
async fn recheck(f: &Feed) -> Result<(), DomainError> {
    f.state
        .projects
        .access(&f.viewer, f.project)
        .await
        .map(|_| ())
}

/// The next event of a project feed, after checking the viewer may still see it.
async fn next_event(mut f: Feed) -> Option<(ApiResult<ProjectEvent>, Feed)> {
    if f.done {
        return None;
    }
    loop {
        let e = match f.rx.recv().await {
            Ok(Delivery::Event(e)) if e.topic == Topic::Project(f.project) => e,
            Ok(Delivery::Event(_)) => continue,
            Ok(Delivery::Gap) | Err(RecvError::Lagged(_)) => {
                f.done = true;
                let lost = DomainError::EventsLost(
                    "events may have been missed: resubscribe and reload".into(),
                );
                return Some((Err(lost.into()), f));
            }
            Err(RecvError::Closed) => return None,
        };
        // Only these events can change who may see the project (a removal, a role change,
        // visibility or ownership): re-check on them, not on every canvas event, so a busy
        // canvas costs no query per subscriber.
        let may_change_access = matches!(
            e.kind,
            EventKind::MemberRemoved | EventKind::MemberUpdated | EventKind::ProjectUpdated
        );
        if e.kind == EventKind::ProjectDeleted {
            f.done = true;
        } else if may_change_access && let Err(err) = recheck(&f).await {
            f.done = true;
            let err = match err {
                DomainError::NotFound(_) => {
                    DomainError::Forbidden("you no longer have access to this project".into())
                }
                other => other,
            };
            return Some((Err(err.into()), f));
        }
        // Objects resolve fresh for every event, never from an earlier event's cache.
        f.loaders.clear_all();
        return Some((Ok(project_event(f.project, &e)), f));
    }
}

/// Live events.
#[derive(Default)]
pub struct ProjectsSubscription;

#[Subscription]
impl ProjectsSubscription {
    /// Everything that happens in a project, as it happens, for anyone who can see it.
    /// Ends with `FORBIDDEN` when the viewer loses access, after `ProjectDeleted`, and with
    /// `EVENTS_LOST` when events may have been missed (resubscribe and reload).
    async fn project_events(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
    ) -> Result<impl Stream<Item = ApiResult<ProjectEvent>> + use<>, crate::error::ApiError> {
        let project = uuid_of(&project_id, IdKind::Project, "projectId")?;
        let viewer = actor(ctx).await?;
        let state = state(ctx)?.clone();
        state.projects.access(&viewer, project).await?;
        let feed = Feed {
            rx: state.bus.subscribe(),
            state,
            viewer,
            project,
            loaders: loaders(ctx)?.clone(),
            done: false,
        };
        Ok(futures_util::stream::unfold(feed, next_event))
    }
}
