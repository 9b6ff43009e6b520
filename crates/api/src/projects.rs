//! GraphQL for projects, members and presence.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use plexus_core::page::{ChildPage, PageRequest};
use plexus_core::{Actor, DomainError, IdKind};
use plexus_projects::entity::{project_members, project_presence, projects};
use plexus_projects::service::{
    CursorPos, NewProject, ProjectFilter, ProjectOrder, ProjectPatch, UserRef,
};
use plexus_projects::{Capabilities, ProjectRole as Role};
use std::sync::Arc;

use crate::common::{OrderDirection, Viewport, ViewportInput, gid, not_found, uuid_of};
use crate::connection::Connection;
use crate::context::{actor, loaders, notifying, publish, state};
use crate::error::ApiResult;
use crate::graph::{GraphEdge, GraphNode};
use crate::users::User;
use plexus_core::events::EventKind;

/// A member's role in a project.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ProjectRole {
    /// Everything, including deleting the project. Exactly one per project.
    Owner,
    /// Edits, and manages members.
    Admin,
    /// Edits the project and its nodes.
    Editor,
    /// Reads, and takes part in the project's conversations.
    Member,
    /// Reads only.
    Viewer,
}

impl From<Role> for ProjectRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Owner => Self::Owner,
            Role::Admin => Self::Admin,
            Role::Editor => Self::Editor,
            Role::Member => Self::Member,
            Role::Viewer => Self::Viewer,
        }
    }
}

impl From<ProjectRole> for Role {
    fn from(r: ProjectRole) -> Self {
        match r {
            ProjectRole::Owner => Self::Owner,
            ProjectRole::Admin => Self::Admin,
            ProjectRole::Editor => Self::Editor,
            ProjectRole::Member => Self::Member,
            ProjectRole::Viewer => Self::Viewer,
        }
    }
}

/// A canvas of prompt/response nodes, shared with members.
#[derive(Clone)]
pub struct Project {
    pub(crate) model: projects::Model,
    role: Option<Role>,
}

impl Project {
    /// A project as the actor sees it, or `None` when it is deleted or not visible.
    pub async fn load(ctx: &Context<'_>, id: uuid::Uuid) -> ApiResult<Option<Project>> {
        let viewer = actor(ctx).await?.user_id();
        let Some((model, role)) = loaders(ctx)?.projects.load_one((viewer, id)).await? else {
            return Ok(None);
        };
        Ok(Self::visible(model, role))
    }

    /// A live project with the viewer's role in it, when that role lets the viewer see it.
    pub(crate) fn visible(model: projects::Model, role: Option<Role>) -> Option<Project> {
        Some(Project { model, role }).filter(|p| p.caps().view)
    }

    /// Like `load`, for a project known to be visible (a parent of a visible object).
    pub async fn load_visible(ctx: &Context<'_>, id: uuid::Uuid) -> ApiResult<Project> {
        Self::load(ctx, id)
            .await?
            .ok_or_else(|| not_found("project"))
    }

    /// Wraps project rows with the actor's role in each, loaded in one batch.
    pub async fn many(ctx: &Context<'_>, models: Vec<projects::Model>) -> ApiResult<Vec<Project>> {
        let user = actor(ctx).await?.user_id();
        let roles = match user {
            Some(user) => {
                loaders(ctx)?
                    .roles
                    .load_many(models.iter().map(|m| (user, m.id)))
                    .await?
            }
            None => Default::default(),
        };
        Ok(models
            .into_iter()
            .map(|model| {
                let role = user.and_then(|u| roles.get(&(u, model.id)).copied());
                Project { model, role }
            })
            .collect())
    }

    fn caps(&self) -> Capabilities {
        plexus_projects::policy::capabilities(self.role, self.model.is_public)
    }
}

pub(crate) fn child_page(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> ApiResult<ChildPage> {
    let mut page = ChildPage::resolve(
        &PageRequest {
            first,
            after,
            last,
            before,
        },
        state(ctx)?.page_limits,
    )?;
    page.count = ctx.look_ahead().field("totalCount").exists();
    Ok(page)
}

/// What the viewer may do with a project, to gate a UI's controls.
#[derive(SimpleObject)]
pub struct ProjectCapabilities {
    /// Change the project and its nodes.
    pub edit: bool,
    /// Add nodes.
    pub add_node: bool,
    /// Delete nodes.
    pub delete_node: bool,
    /// Add, change and remove members.
    pub manage_members: bool,
    /// Delete the project.
    pub delete: bool,
}

/// A canvas of prompt/response nodes, shared with members.
#[Object]
impl Project {
    /// Global id (`proj_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::Project, self.model.id)
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// Description.
    async fn description(&self) -> Option<&str> {
        self.model.description.as_deref()
    }
    /// System prompt given to the LLM for every node of the project.
    async fn system_prompt(&self) -> &str {
        &self.model.system_prompt
    }
    /// Readable by anyone, signed in or not.
    async fn is_public(&self) -> bool {
        self.model.is_public
    }
    /// Saved canvas scroll and zoom.
    async fn viewport(&self) -> Option<Viewport> {
        self.model.viewport.as_ref().map(Viewport::from_json)
    }
    /// When the project was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// When the project or its canvas last changed (to the second for canvas and member
    /// changes).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }
    /// The owner.
    async fn owner(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let actor = actor(ctx).await?;
        let user = loaders(ctx)?
            .users
            .load_one(self.model.owner_id)
            .await?
            .ok_or_else(|| not_found("user"))?;
        Ok(User::new(user, &actor))
    }
    /// The viewer's role, or null for non-members.
    async fn viewer_role(&self) -> Option<ProjectRole> {
        self.role.map(Into::into)
    }
    /// What the viewer may do here.
    async fn viewer_can(&self) -> ProjectCapabilities {
        let c = self.caps();
        ProjectCapabilities {
            edit: c.edit,
            add_node: c.add_node,
            delete_node: c.delete_node,
            manage_members: c.manage_members,
            delete: c.delete,
        }
    }
    /// Number of members.
    async fn member_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        Ok(loaders(ctx)?
            .member_counts
            .load_one(self.model.id)
            .await?
            .unwrap_or(0))
    }
    /// Number of live nodes.
    async fn node_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        Ok(loaders(ctx)?
            .node_counts
            .load_one(self.model.id)
            .await?
            .unwrap_or(0))
    }
    /// Number of live edges.
    async fn edge_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        Ok(loaders(ctx)?
            .edge_counts
            .load_one(self.model.id)
            .await?
            .unwrap_or(0))
    }
    /// Members, in joining order.
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<ProjectMember>> {
        let page = child_page(ctx, first, after, last, before)?;
        let l = loaders(ctx)?.clone();
        let p = l
            .member_pages
            .load_one((self.model.id, page))
            .await?
            .unwrap_or_default();
        let project = self.clone();
        Ok(Connection::new(
            p.map(|m| ProjectMember {
                model: m,
                project: Some(project.clone()),
            }),
            counter(l, self.model.id, |l, id| async move {
                l.member_counts.load_one(id).await
            }),
        ))
    }
    /// Live nodes, in creation order.
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<GraphNode>> {
        let page = child_page(ctx, first, after, last, before)?;
        let l = loaders(ctx)?.clone();
        // The content (prompt, response, summary, metadata) is most of a row: read it only
        // when the selection (fragments included) shows it.
        let look = ctx.look_ahead();
        let (edges, nodes) = (look.field("edges").field("node"), look.field("nodes"));
        let content = ["prompt", "response", "summary", "metadata"]
            .iter()
            .any(|f| edges.field(f).exists() || nodes.field(f).exists());
        let loader = if content {
            &l.node_pages
        } else {
            &l.node_head_pages
        };
        let p = loader
            .load_one((self.model.id, page))
            .await?
            .unwrap_or_default();
        let p = if content {
            // Nodes of this page are often each other's parents and children: prime the
            // cache.
            l.nodes
                .feed_many(p.items.iter().map(|(_, n)| (n.id, n.clone())));
            p.map(GraphNode::from_row)
        } else {
            p.map(GraphNode::from_head)
        };
        Ok(Connection::new(
            p,
            counter(l, self.model.id, |l, id| async move {
                l.node_counts.load_one(id).await
            }),
        ))
    }
    /// Files attached to the project (directly or through its nodes), in upload order.
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
            plexus_media::service::AttachedTo::Project,
            self.model.id,
            first,
            after,
            last,
            before,
        )
        .await
    }
    /// Live edges (both ends live), in creation order.
    async fn edges(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Connection<GraphEdge>> {
        let page = child_page(ctx, first, after, last, before)?;
        let l = loaders(ctx)?.clone();
        let p = l
            .edge_pages
            .load_one((self.model.id, page))
            .await?
            .unwrap_or_default();
        Ok(Connection::new(
            p.map(GraphEdge::new),
            counter(l, self.model.id, |l, id| async move {
                l.edge_counts.load_one(id).await
            }),
        ))
    }
    /// Members seen in the last five minutes, most recent first.
    async fn presence(&self, ctx: &Context<'_>) -> ApiResult<Vec<ProjectPresence>> {
        let rows = loaders(ctx)?
            .presence
            .load_one(self.model.id)
            .await?
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|model| ProjectPresence { model })
            .collect())
    }
}

type Loaders = Arc<crate::Loaders>;

/// A lazy `totalCount` through a count loader.
pub(crate) fn counter<F, Fut>(
    l: Loaders,
    id: uuid::Uuid,
    f: F,
) -> impl Fn() -> std::pin::Pin<
    Box<dyn std::future::Future<Output = plexus_core::DomainResult<u64>> + Send>,
> + Send
+ Sync
+ 'static
where
    F: Fn(Loaders, uuid::Uuid) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<Option<u64>, DomainError>> + Send + 'static,
{
    move || {
        let l = l.clone();
        Box::pin(async move { Ok(f(l, id).await?.unwrap_or(0)) })
    }
}

/// A user's membership in a project.
#[derive(Clone)]
pub struct ProjectMember {
    model: project_members::Model,
    project: Option<Project>,
}

impl ProjectMember {
    /// A membership as the actor sees it, or `None` when it or its project is hidden.
    pub async fn load(ctx: &Context<'_>, id: uuid::Uuid) -> ApiResult<Option<ProjectMember>> {
        let Some(model) = loaders(ctx)?.members.load_one(id).await? else {
            return Ok(None);
        };
        let project = Project::load(ctx, model.project_id).await?;
        Ok(project.map(|p| ProjectMember {
            model,
            project: Some(p),
        }))
    }
}

/// A user's membership in a project.
#[Object]
impl ProjectMember {
    /// Global id (`pmem_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::ProjectMember, self.model.id)
    }
    /// The member's role.
    async fn role(&self) -> ProjectRole {
        Role::parse(&self.model.role).unwrap_or(Role::Viewer).into()
    }
    /// When the user joined.
    async fn joined_at(&self) -> DateTime<Utc> {
        self.model.joined_at.to_utc()
    }
    /// The member.
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let actor = actor(ctx).await?;
        let user = loaders(ctx)?
            .users
            .load_one(self.model.user_id)
            .await?
            .ok_or_else(|| not_found("user"))?;
        Ok(User::new(user, &actor))
    }
    /// The project.
    async fn project(&self, ctx: &Context<'_>) -> ApiResult<Project> {
        match &self.project {
            Some(p) => Ok(p.clone()),
            None => Project::load_visible(ctx, self.model.project_id).await,
        }
    }
}

/// A member recently active in a project.
pub struct ProjectPresence {
    model: project_presence::Model,
}

impl ProjectPresence {
    /// The presence a `PresenceChanged` event carries.
    pub(crate) fn from_note(
        project: uuid::Uuid,
        user: uuid::Uuid,
        note: &plexus_core::events::PresenceNote,
    ) -> Self {
        Self {
            model: project_presence::Model {
                id: uuid::Uuid::nil(),
                user_id: user,
                project_id: project,
                cursor: note.cursor.clone(),
                is_active: note.active,
                joined_at: note.joined_at.fixed_offset(),
                last_seen: note.last_seen.fixed_offset(),
            },
        }
    }
}

/// Where a collaborator's cursor is.
#[derive(SimpleObject)]
pub struct Cursor {
    /// Horizontal canvas coordinate.
    pub x: f64,
    /// Vertical canvas coordinate.
    pub y: f64,
    /// The node under the cursor, if any.
    pub node_id: Option<ID>,
    /// When the cursor was here.
    pub at: DateTime<Utc>,
}

impl ProjectPresence {
    /// A member's recent presence in a project, if any.
    pub async fn load(
        ctx: &Context<'_>,
        project: uuid::Uuid,
        user: uuid::Uuid,
    ) -> ApiResult<Option<ProjectPresence>> {
        let rows = loaders(ctx)?
            .presence
            .load_one(project)
            .await?
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .find(|p| p.user_id == user)
            .map(|model| ProjectPresence { model }))
    }
}

/// A member recently active in a project.
#[Object]
impl ProjectPresence {
    /// The member.
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let actor = actor(ctx).await?;
        let user = loaders(ctx)?
            .users
            .load_one(self.model.user_id)
            .await?
            .ok_or_else(|| not_found("user"))?;
        Ok(User::new(user, &actor))
    }
    /// Last cursor position, if shared.
    async fn cursor(&self) -> Option<Cursor> {
        let c: CursorPos = serde_json::from_value(self.model.cursor.clone()?).ok()?;
        Some(Cursor {
            x: c.x,
            y: c.y,
            node_id: c.node_id.map(|n| gid(IdKind::GraphNode, n)),
            at: c.at.to_utc(),
        })
    }
    /// When the member opened the project.
    async fn joined_at(&self) -> DateTime<Utc> {
        self.model.joined_at.to_utc()
    }
    /// Last heartbeat.
    async fn last_seen(&self) -> DateTime<Utc> {
        self.model.last_seen.to_utc()
    }
    /// False once the member went away (their socket closed, or no heartbeat came for the
    /// presence timeout); `Project.presence` lists active members only.
    async fn is_active(&self) -> bool {
        self.model.is_active
    }
}

/// Which projects to list (all given conditions must hold).
#[derive(InputObject, Default)]
pub struct ProjectFilterInput {
    /// Owned by the viewer (true) or not (false).
    pub owned: Option<bool>,
    /// The viewer is a member (true) or not (false).
    pub member: Option<bool>,
    /// Public (true) or private (false).
    pub public: Option<bool>,
    /// Case-insensitive text in the name.
    pub search: Option<String>,
}

/// Fields projects can be ordered by.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum ProjectOrderField {
    /// Last activity.
    #[default]
    UpdatedAt,
    /// Creation.
    CreatedAt,
    /// Name.
    Name,
}

/// Ordering of a project list.
#[derive(InputObject, Default)]
pub struct ProjectOrderInput {
    /// The field (default UPDATED_AT).
    #[graphql(default)]
    pub field: ProjectOrderField,
    /// The direction (default DESC).
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// Queries about projects.
#[derive(Default)]
pub struct ProjectsQuery;

#[Object]
impl ProjectsQuery {
    /// A project by id; null when it does not exist or is not visible.
    async fn project(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Project>> {
        Project::load(ctx, uuid_of(&id, IdKind::Project, "id")?).await
    }

    /// Projects the viewer can see: their own, those they are a member of, public ones.
    #[allow(clippy::too_many_arguments)]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ProjectFilterInput>,
        order_by: Option<ProjectOrderInput>,
    ) -> ApiResult<Connection<Project>> {
        let actor = actor(ctx).await?;
        let st = state(ctx)?;
        let order = order_by.unwrap_or_default();
        let (field, name, arity) = match order.field {
            ProjectOrderField::UpdatedAt => (ProjectOrder::UpdatedAt, "updatedAt", 2),
            ProjectOrderField::CreatedAt => (ProjectOrder::CreatedAt, "createdAt", 1),
            ProjectOrderField::Name => (ProjectOrder::Name, "name", 2),
        };
        let args = PageRequest {
            first,
            after,
            last,
            before,
        }
        .resolve(st.page_limits, name, arity)?;
        let f = filter.unwrap_or_default();
        let filter = ProjectFilter {
            owned: f.owned,
            member: f.member,
            public: f.public,
            search: f.search,
        };
        let page = st
            .projects
            .list(
                &actor,
                &filter,
                field,
                order.direction == OrderDirection::Desc,
                &args,
            )
            .await?;
        let items: Vec<_> = page.items.iter().map(|(_, m)| m.clone()).collect();
        let wrapped = Project::many(ctx, items).await?;
        let page = plexus_core::Page {
            items: page
                .items
                .into_iter()
                .map(|(c, _)| c)
                .zip(wrapped)
                .collect(),
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            total_count: page.total_count,
        };
        let svc = st.projects.clone();
        Ok(Connection::new(page, move || {
            let (svc, filter) = (svc.clone(), filter.clone());
            async move { svc.count(&actor, &filter).await }
        }))
    }
}

/// A new project.
#[derive(InputObject)]
pub struct CreateProjectInput {
    /// Name (1–200 characters).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// System prompt for the project's nodes.
    pub system_prompt: Option<String>,
    /// Readable by anyone (default false).
    #[graphql(default)]
    pub is_public: bool,
    /// Initial canvas scroll and zoom.
    pub viewport: Option<ViewportInput>,
}

/// Result of `createProject`.
#[derive(SimpleObject)]
pub struct CreateProjectPayload {
    /// The new project; the viewer is its OWNER.
    pub project: Project,
}

/// Changes to a project. Omitted fields stay; null clears.
#[derive(InputObject)]
pub struct UpdateProjectInput {
    /// The project.
    pub id: ID,
    /// New name.
    pub name: Option<String>,
    /// New description, or null.
    pub description: MaybeUndefined<String>,
    /// New system prompt.
    pub system_prompt: Option<String>,
    /// New visibility.
    pub is_public: Option<bool>,
    /// New viewport, or null.
    pub viewport: MaybeUndefined<ViewportInput>,
}

/// Result of `updateProject`.
#[derive(SimpleObject)]
pub struct UpdateProjectPayload {
    /// The updated project.
    pub project: Project,
}

/// A project to delete or restore.
#[derive(InputObject)]
pub struct ProjectIdInput {
    /// The project.
    pub id: ID,
}

/// Result of a delete.
#[derive(SimpleObject)]
pub struct DeletePayload {
    /// Global id of what was deleted.
    pub deleted_id: ID,
}

/// Result of `restoreProject`.
#[derive(SimpleObject)]
pub struct RestoreProjectPayload {
    /// The restored project.
    pub project: Project,
}

/// A member to add: give exactly one of `userId` and `email`.
#[derive(InputObject)]
pub struct AddProjectMemberInput {
    /// The project.
    pub project_id: ID,
    /// The user to add.
    pub user_id: Option<ID>,
    /// The email of the user to add.
    pub email: Option<String>,
    /// Their role (default MEMBER); never above the viewer's own, never OWNER.
    #[graphql(default_with = "ProjectRole::Member")]
    pub role: ProjectRole,
}

/// Result of adding or changing a member.
#[derive(SimpleObject)]
pub struct ProjectMemberPayload {
    /// The membership.
    pub member: ProjectMember,
}

/// A role change.
#[derive(InputObject)]
pub struct UpdateProjectMemberInput {
    /// The project.
    pub project_id: ID,
    /// The member.
    pub user_id: ID,
    /// The new role; never above the viewer's own, never OWNER.
    pub role: ProjectRole,
}

/// A member of a project.
#[derive(InputObject)]
pub struct ProjectUserInput {
    /// The project.
    pub project_id: ID,
    /// The user.
    pub user_id: ID,
}

/// A project to leave.
#[derive(InputObject)]
pub struct LeaveProjectInput {
    /// The project.
    pub project_id: ID,
}

/// Result of `transferProjectOwnership`.
#[derive(SimpleObject)]
pub struct TransferProjectOwnershipPayload {
    /// The project, with its new owner.
    pub project: Project,
}

/// A cursor position.
#[derive(InputObject)]
pub struct CursorInput {
    /// Horizontal canvas coordinate.
    pub x: f64,
    /// Vertical canvas coordinate.
    pub y: f64,
    /// The node under the cursor.
    pub node_id: Option<ID>,
}

/// A presence heartbeat.
#[derive(InputObject)]
pub struct UpdatePresenceInput {
    /// The project the viewer is in.
    pub project_id: ID,
    /// Where the viewer's cursor is (omit for a plain heartbeat).
    pub cursor: Option<CursorInput>,
}

/// Result of `updatePresence`.
#[derive(SimpleObject)]
pub struct UpdatePresencePayload {
    /// The viewer's presence.
    pub presence: ProjectPresence,
}

/// Project, member and presence mutations.
#[derive(Default)]
pub struct ProjectsMutation;

async fn wrap(ctx: &Context<'_>, model: projects::Model) -> ApiResult<Project> {
    Ok(Project::many(ctx, vec![model]).await?.remove(0))
}

async fn member_payload(
    ctx: &Context<'_>,
    model: project_members::Model,
    kind: EventKind,
) -> ApiResult<ProjectMemberPayload> {
    publish(ctx, model.project_id, kind, vec![model.id, model.user_id]).await?;
    let project = Project::load(ctx, model.project_id).await?;
    Ok(ProjectMemberPayload {
        member: ProjectMember { model, project },
    })
}

fn deleted(kind: IdKind, id: uuid::Uuid) -> DeletePayload {
    DeletePayload {
        deleted_id: gid(kind, id),
    }
}

#[Object]
impl ProjectsMutation {
    /// Creates a project; the viewer becomes its OWNER.
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        input: CreateProjectInput,
    ) -> ApiResult<CreateProjectPayload> {
        let actor = actor(ctx).await?;
        let p = state(ctx)?
            .projects
            .create(
                &actor,
                NewProject {
                    name: input.name,
                    description: input.description,
                    system_prompt: input.system_prompt,
                    is_public: input.is_public,
                    viewport: input.viewport.map(ViewportInput::to_json),
                },
            )
            .await?;
        Ok(CreateProjectPayload {
            project: wrap(ctx, p).await?,
        })
    }

    /// Changes a project (EDITOR and above).
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        input: UpdateProjectInput,
    ) -> ApiResult<UpdateProjectPayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.id, IdKind::Project, "id")?;
        let patch = ProjectPatch {
            name: input.name,
            description: crate::users::patch(input.description),
            system_prompt: input.system_prompt,
            is_public: input.is_public,
            viewport: crate::users::patch(input.viewport).map(|v| v.map(ViewportInput::to_json)),
        };
        let p = state(ctx)?.projects.update(&actor, id, patch).await?;
        publish(ctx, p.id, EventKind::ProjectUpdated, vec![]).await?;
        Ok(UpdateProjectPayload {
            project: wrap(ctx, p).await?,
        })
    }

    /// Deletes a project (OWNER only); it can be restored.
    async fn delete_project(
        &self,
        ctx: &Context<'_>,
        input: ProjectIdInput,
    ) -> ApiResult<DeletePayload> {
        let actor = actor(ctx).await?;
        let id = state(ctx)?
            .projects
            .delete(&actor, uuid_of(&input.id, IdKind::Project, "id")?)
            .await?;
        publish(ctx, id, EventKind::ProjectDeleted, vec![]).await?;
        Ok(deleted(IdKind::Project, id))
    }

    /// Restores a deleted project (its owner only).
    async fn restore_project(
        &self,
        ctx: &Context<'_>,
        input: ProjectIdInput,
    ) -> ApiResult<RestoreProjectPayload> {
        let actor = actor(ctx).await?;
        let p = state(ctx)?
            .projects
            .restore(&actor, uuid_of(&input.id, IdKind::Project, "id")?)
            .await?;
        publish(ctx, p.id, EventKind::ProjectUpdated, vec![]).await?;
        Ok(RestoreProjectPayload {
            project: wrap(ctx, p).await?,
        })
    }

    /// Adds a member by user id or email (ADMIN and above).
    async fn add_project_member(
        &self,
        ctx: &Context<'_>,
        input: AddProjectMemberInput,
    ) -> ApiResult<ProjectMemberPayload> {
        let actor = actor(ctx).await?;
        let project = uuid_of(&input.project_id, IdKind::Project, "projectId")?;
        let who = match (input.user_id, input.email) {
            (Some(id), None) => UserRef::Id(uuid_of(&id, IdKind::User, "userId")?),
            (None, Some(email)) => UserRef::Email(email),
            _ => {
                return Err(
                    DomainError::invalid("userId", "give exactly one of userId and email").into(),
                );
            }
        };
        let m = notifying(
            ctx,
            state(ctx)?
                .projects
                .add_member(&actor, project, who, input.role.into()),
        )
        .await?;
        member_payload(ctx, m, EventKind::MemberAdded).await
    }

    /// Changes a member's role (ADMIN and above, on members below them).
    async fn update_project_member(
        &self,
        ctx: &Context<'_>,
        input: UpdateProjectMemberInput,
    ) -> ApiResult<ProjectMemberPayload> {
        let actor = actor(ctx).await?;
        let project = uuid_of(&input.project_id, IdKind::Project, "projectId")?;
        let user = uuid_of(&input.user_id, IdKind::User, "userId")?;
        let m = state(ctx)?
            .projects
            .update_member(&actor, project, user, input.role.into())
            .await?;
        member_payload(ctx, m, EventKind::MemberUpdated).await
    }

    /// Removes a member (ADMIN and above, on members below them; never the OWNER).
    async fn remove_project_member(
        &self,
        ctx: &Context<'_>,
        input: ProjectUserInput,
    ) -> ApiResult<DeletePayload> {
        let actor = actor(ctx).await?;
        let project = uuid_of(&input.project_id, IdKind::Project, "projectId")?;
        let user = uuid_of(&input.user_id, IdKind::User, "userId")?;
        let m = state(ctx)?
            .projects
            .remove_member(&actor, project, user)
            .await?;
        state(ctx)?.presence.forget(m.project_id, m.user_id);
        publish(
            ctx,
            m.project_id,
            EventKind::MemberRemoved,
            vec![m.id, m.user_id],
        )
        .await?;
        Ok(deleted(IdKind::ProjectMember, m.id))
    }

    /// Leaves a project (not for its OWNER: transfer ownership first).
    async fn leave_project(
        &self,
        ctx: &Context<'_>,
        input: LeaveProjectInput,
    ) -> ApiResult<DeletePayload> {
        let actor = actor(ctx).await?;
        let project = uuid_of(&input.project_id, IdKind::Project, "projectId")?;
        let m = notifying(ctx, state(ctx)?.projects.leave(&actor, project)).await?;
        state(ctx)?.presence.forget(m.project_id, m.user_id);
        publish(
            ctx,
            m.project_id,
            EventKind::MemberRemoved,
            vec![m.id, m.user_id],
        )
        .await?;
        Ok(deleted(IdKind::ProjectMember, m.id))
    }

    /// Hands the project to another member (OWNER only); the old owner becomes ADMIN.
    async fn transfer_project_ownership(
        &self,
        ctx: &Context<'_>,
        input: ProjectUserInput,
    ) -> ApiResult<TransferProjectOwnershipPayload> {
        let actor = actor(ctx).await?;
        let project = uuid_of(&input.project_id, IdKind::Project, "projectId")?;
        let user = uuid_of(&input.user_id, IdKind::User, "userId")?;
        let p = state(ctx)?.projects.transfer(&actor, project, user).await?;
        publish(ctx, p.id, EventKind::ProjectUpdated, vec![]).await?;
        Ok(TransferProjectOwnershipPayload {
            project: wrap(ctx, p).await?,
        })
    }

    /// Heartbeat and cursor of the viewer in a project (members only). Send one at least
    /// every `PLEXUS_PRESENCE_TIMEOUT_SECS` (30 s by default) to stay present; cursor moves
    /// reach the other members as `PresenceChanged` at most 20 times a second (the last
    /// position always arrives). Sent over a WebSocket, the presence also ends when that
    /// socket closes.
    async fn update_presence(
        &self,
        ctx: &Context<'_>,
        input: UpdatePresenceInput,
    ) -> ApiResult<UpdatePresencePayload> {
        let actor: Actor = actor(ctx).await?;
        let project = uuid_of(&input.project_id, IdKind::Project, "projectId")?;
        let cursor = match input.cursor {
            Some(c) => {
                let node = c
                    .node_id
                    .as_ref()
                    .map(|n| uuid_of(n, IdKind::GraphNode, "cursor.nodeId"))
                    .transpose()?;
                Some((c.x, c.y, node))
            }
            None => None,
        };
        // Coalesced and published by the hub (arrival announced, moves at most every 50 ms).
        let socket = ctx.data_opt::<crate::presence::SocketId>().copied();
        let model = state(ctx)?
            .presence
            .heartbeat(&actor, project, cursor, socket)
            .await?;
        Ok(UpdatePresencePayload {
            presence: ProjectPresence { model },
        })
    }
}
