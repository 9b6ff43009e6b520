//! The project service: projects, members, ownership and presence, with the role policy
//! applied on every path. A project the actor may not see is `NOT_FOUND`.

use chrono::{DateTime, Duration, FixedOffset};
use plexus_core::db::{begin_write, contains_ci, now};
use plexus_core::error::is_unique_violation;
use plexus_core::page::{
    ChildPage, KeyValue, Ordering, PageArgs, count_children, fetch_child_pages, fetch_page,
};
use plexus_core::{Actor, DomainError, DomainResult, Page};
use plexus_users::entity::users;
use plexus_users::notifications::{
    NewNotification, NotificationPriority, NotificationType, notify,
};
use sea_orm::sea_query::{Expr, IntoCondition, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    ExprTrait, JoinType, PaginatorTrait, QueryFilter, QuerySelect, RelationDef, RelationTrait,
    Select, Set,
};
use std::collections::HashMap;
use uuid::Uuid;

use crate::entity::{project_members as members, project_presence as presence, projects};
use crate::policy::{self, Capabilities, ProjectRole, capabilities};

/// How long a presence heartbeat counts as "here".
pub const PRESENCE_WINDOW_SECS: i64 = 300;

/// A project as the actor sees it.
#[derive(Debug, Clone)]
pub struct ProjectAccess {
    pub project: projects::Model,
    pub role: Option<ProjectRole>,
    pub caps: Capabilities,
}

impl ProjectAccess {
    /// The actor's role when it may manage members (ADMIN and above), else `FORBIDDEN`.
    pub fn member_manager(&self) -> DomainResult<ProjectRole> {
        self.require(self.caps.manage_members, "manage members")?;
        self.role
            .ok_or_else(|| DomainError::Forbidden("not a member".into()))
    }

    /// `FORBIDDEN` unless `allowed`.
    pub fn require(&self, allowed: bool, what: &str) -> DomainResult<()> {
        if allowed {
            Ok(())
        } else {
            let role = self
                .role
                .map_or("non-member".to_string(), |r| r.as_str().to_string());
            Err(DomainError::Forbidden(format!(
                "a {role} of this project cannot {what}"
            )))
        }
    }

    /// [`touch`] for the project this access was read for, inside the same transaction:
    /// when the row read here already says "changed in the last second", the update would
    /// match nothing, so it is not sent (one statement less for a write to a busy canvas).
    pub async fn touch(&self, conn: &impl ConnectionTrait) -> DomainResult<()> {
        if self.project.updated_at >= now() - Duration::seconds(TOUCH_GRAIN_SECS) {
            return Ok(());
        }
        touch(conn, self.project.id).await
    }
}

/// Fields of a new project.
#[derive(Debug, Clone, Default)]
pub struct NewProject {
    pub name: String,
    pub description: Option<String>,
    pub system_prompt: Option<String>,
    pub is_public: bool,
    pub viewport: Option<serde_json::Value>,
}

/// A change to a project: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub system_prompt: Option<String>,
    pub is_public: Option<bool>,
    pub viewport: Option<Option<serde_json::Value>>,
}

/// Which projects a list shows (all conditions must hold, on top of visibility).
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    /// Owned by the viewer (true) or not (false).
    pub owned: Option<bool>,
    /// The viewer is a member (true) or not (false).
    pub member: Option<bool>,
    /// Public (true) or private (false).
    pub public: Option<bool>,
    /// Case-insensitive text in the name.
    pub search: Option<String>,
}

/// Orderings of project lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProjectOrder {
    /// Most recently changed first (default).
    #[default]
    UpdatedAt,
    /// By creation.
    CreatedAt,
    /// By name.
    Name,
}

/// Who a member operation is about.
#[derive(Debug, Clone)]
pub enum UserRef {
    Id(Uuid),
    Email(String),
}

/// Where a collaborator's cursor is.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CursorPos {
    pub x: f64,
    pub y: f64,
    #[serde(rename = "nodeId")]
    pub node_id: Option<Uuid>,
    pub at: DateTime<FixedOffset>,
}

/// A cursor as stored in `project_presence.cursor`, after checking its coordinates.
pub fn cursor_json(
    cursor: Option<(f64, f64, Option<Uuid>)>,
    at: DateTime<FixedOffset>,
) -> DomainResult<Option<serde_json::Value>> {
    let Some((x, y, node_id)) = cursor else {
        return Ok(None);
    };
    if !x.is_finite() || !y.is_finite() {
        return Err(DomainError::invalid(
            "cursor",
            "cursor coordinates must be finite numbers",
        ));
    }
    serde_json::to_value(CursorPos { x, y, node_id, at })
        .map(Some)
        .map_err(DomainError::internal)
}

/// Projects, members and presence.
#[derive(Debug, Clone)]
pub struct ProjectsService {
    db: DatabaseConnection,
}

fn validate_name(name: &str) -> DomainResult<String> {
    let n = name.trim();
    if n.is_empty() {
        return Err(DomainError::invalid("name", "name must not be empty"));
    }
    if n.chars().count() > 200 {
        return Err(DomainError::invalid(
            "name",
            "name must be at most 200 characters",
        ));
    }
    Ok(n.to_string())
}

fn validate_text(field: &str, v: &str, max: usize) -> DomainResult<()> {
    if v.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// Checks a viewport `{x, y, zoom}` with finite numbers and a positive zoom.
pub fn validate_viewport(v: &serde_json::Value) -> DomainResult<()> {
    let num = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_f64)
            .filter(|f| f.is_finite())
    };
    match (num("x"), num("y"), num("zoom")) {
        (Some(_), Some(_), Some(z)) if z > 0.0 => Ok(()),
        _ => Err(DomainError::invalid(
            "viewport",
            "viewport needs finite x, y and a positive zoom",
        )),
    }
}

impl ProjectsService {
    /// A service over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The database connection.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The project as `actor` sees it; `NOT_FOUND` when it is deleted or not visible.
    pub async fn access(&self, actor: &Actor, id: Uuid) -> DomainResult<ProjectAccess> {
        access_on(&self.db, actor, id).await
    }

    /// Creates a project; the creator becomes its OWNER and first member.
    pub async fn create(&self, actor: &Actor, input: NewProject) -> DomainResult<projects::Model> {
        let user = actor.require_user()?;
        let name = validate_name(&input.name)?;
        if let Some(d) = &input.description {
            validate_text("description", d, 10_000)?;
        }
        let system_prompt = input.system_prompt.unwrap_or_default();
        validate_text("systemPrompt", &system_prompt, 100_000)?;
        if let Some(v) = &input.viewport {
            validate_viewport(v)?;
        }
        let ts = now();
        let txn = begin_write(&self.db).await?;
        let project = projects::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name),
            description: Set(input.description.filter(|d| !d.trim().is_empty())),
            system_prompt: Set(system_prompt),
            owner_id: Set(user),
            is_public: Set(input.is_public),
            viewport: Set(input.viewport),
            created_at: Set(ts),
            updated_at: Set(ts),
            deleted_at: Set(None),
        }
        .insert(&txn)
        .await?;
        insert_member(&txn, project.id, user, ProjectRole::Owner).await?;
        txn.commit().await?;
        Ok(project)
    }

    /// Changes a project (EDITOR and above).
    pub async fn update(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: ProjectPatch,
    ) -> DomainResult<projects::Model> {
        actor.require_user()?;
        let access = self.access(actor, id).await?;
        access.require(access.caps.edit, "edit the project")?;
        let mut am: projects::ActiveModel = access.project.into();
        if let Some(n) = patch.name {
            am.name = Set(validate_name(&n)?);
        }
        if let Some(d) = patch.description {
            if let Some(d) = &d {
                validate_text("description", d, 10_000)?;
            }
            am.description = Set(d.filter(|d| !d.trim().is_empty()));
        }
        if let Some(p) = patch.system_prompt {
            validate_text("systemPrompt", &p, 100_000)?;
            am.system_prompt = Set(p);
        }
        if let Some(p) = patch.is_public {
            am.is_public = Set(p);
        }
        if let Some(v) = patch.viewport {
            if let Some(v) = &v {
                validate_viewport(v)?;
            }
            am.viewport = Set(v);
        }
        am.updated_at = Set(now());
        Ok(am.update(&self.db).await?)
    }

    /// Soft-deletes a project (OWNER only): it disappears from every read path.
    pub async fn delete(&self, actor: &Actor, id: Uuid) -> DomainResult<Uuid> {
        actor.require_user()?;
        let access = self.access(actor, id).await?;
        access.require(access.caps.delete, "delete the project")?;
        let mut am: projects::ActiveModel = access.project.into();
        am.deleted_at = Set(Some(now()));
        am.update(&self.db).await?;
        Ok(id)
    }

    /// Brings back a deleted project (its owner only).
    pub async fn restore(&self, actor: &Actor, id: Uuid) -> DomainResult<projects::Model> {
        let user = actor.require_user()?;
        let project = projects::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|p| p.owner_id == user)
            .ok_or_else(|| DomainError::not_found("project"))?;
        if project.deleted_at.is_none() {
            return Ok(project);
        }
        let mut am: projects::ActiveModel = project.into();
        am.deleted_at = Set(None);
        am.updated_at = Set(now());
        Ok(am.update(&self.db).await?)
    }

    /// One page of the projects the actor can see.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &ProjectFilter,
        order: ProjectOrder,
        descending: bool,
        page: &PageArgs,
    ) -> DomainResult<Page<projects::Model>> {
        let q = visible(actor, filter);
        use projects::Column as C;
        match order {
            ProjectOrder::UpdatedAt => {
                let o = Ordering {
                    name: "updatedAt",
                    columns: (C::UpdatedAt, C::Id),
                    arity: 2,
                    descending,
                };
                fetch_page(&self.db, q, o, page, |p| {
                    vec![KeyValue::T(p.updated_at), KeyValue::U(p.id)]
                })
                .await
            }
            ProjectOrder::CreatedAt => {
                let o = Ordering {
                    name: "createdAt",
                    columns: C::Id,
                    arity: 1,
                    descending,
                };
                fetch_page(&self.db, q, o, page, |p| vec![KeyValue::U(p.id)]).await
            }
            ProjectOrder::Name => {
                let o = Ordering {
                    name: "name",
                    columns: (C::Name, C::Id),
                    arity: 2,
                    descending,
                };
                fetch_page(&self.db, q, o, page, |p| {
                    vec![KeyValue::S(p.name.clone()), KeyValue::U(p.id)]
                })
                .await
            }
        }
    }

    /// How many projects a list holds.
    pub async fn count(&self, actor: &Actor, filter: &ProjectFilter) -> DomainResult<u64> {
        Ok(visible(actor, filter).count(&self.db).await?)
    }

    /// Projects by id, deleted ones excluded (for loaders; visibility is checked by callers).
    pub async fn by_ids(&self, ids: &[Uuid]) -> DomainResult<Vec<projects::Model>> {
        Ok(projects::Entity::find()
            .filter(projects::Column::Id.is_in(ids.iter().copied()))
            .filter(projects::Column::DeletedAt.is_null())
            .all(&self.db)
            .await?)
    }

    /// Live projects by id, each with `viewer`'s role in it, in one statement (a left join
    /// on the viewer's membership).
    pub async fn by_ids_with_role(
        &self,
        viewer: Option<Uuid>,
        ids: &[Uuid],
    ) -> DomainResult<Vec<(projects::Model, Option<ProjectRole>)>> {
        let Some(user) = viewer else {
            return Ok(self
                .by_ids(ids)
                .await?
                .into_iter()
                .map(|p| (p, None))
                .collect());
        };
        let rows = projects::Entity::find()
            .join(JoinType::LeftJoin, viewer_membership(user))
            .select_also(members::Entity)
            .filter(projects::Column::Id.is_in(ids.iter().copied()))
            .filter(projects::Column::DeletedAt.is_null())
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(p, m)| (p, m.and_then(|m| ProjectRole::parse(&m.role))))
            .collect())
    }

    /// Memberships by id (for loaders; visibility is checked through their project).
    pub async fn members_by_ids(&self, ids: &[Uuid]) -> DomainResult<Vec<members::Model>> {
        Ok(members::Entity::find()
            .filter(members::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?)
    }

    /// The roles of `user` in the given projects.
    pub async fn roles_of(
        &self,
        user: Uuid,
        project_ids: &[Uuid],
    ) -> DomainResult<HashMap<Uuid, ProjectRole>> {
        let rows = members::Entity::find()
            .filter(members::Column::UserId.eq(user))
            .filter(members::Column::ProjectId.is_in(project_ids.iter().copied()))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|m| ProjectRole::parse(&m.role).map(|r| (m.project_id, r)))
            .collect())
    }

    /// One page of members per project (one statement), in joining order.
    pub async fn member_pages(
        &self,
        project_ids: &[Uuid],
        page: ChildPage,
    ) -> DomainResult<HashMap<Uuid, Page<members::Model>>> {
        use members::Column as C;
        fetch_child_pages(
            &self.db,
            members::Entity::find(),
            C::ProjectId,
            C::Id,
            project_ids,
            page,
        )
        .await
    }

    /// Member counts per project.
    pub async fn member_counts(&self, project_ids: &[Uuid]) -> DomainResult<HashMap<Uuid, u64>> {
        use members::Column as C;
        count_children(
            &self.db,
            members::Entity::find(),
            C::ProjectId,
            C::Id,
            project_ids,
        )
        .await
    }

    /// Adds a member with a role (ADMIN and above; never above the actor's own role).
    pub async fn add_member(
        &self,
        actor: &Actor,
        project_id: Uuid,
        who: UserRef,
        role: ProjectRole,
    ) -> DomainResult<members::Model> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        let access = access_on(&txn, actor, project_id).await?;
        let actor_role = access.member_manager()?;
        policy::check_grant(actor_role, role)?;
        let user = match who {
            UserRef::Id(id) => users::Entity::find_by_id(id).one(&txn).await?,
            UserRef::Email(e) => {
                let e = e.trim().to_lowercase();
                users::Entity::find()
                    .filter(users::Column::Email.eq(e))
                    .one(&txn)
                    .await?
            }
        };
        let user = user
            .filter(|u| u.deleted_at.is_none() && u.is_active)
            .ok_or_else(|| DomainError::not_found("user"))?;
        let member = insert_member(&txn, project_id, user.id, role)
            .await
            .map_err(|e| match e {
                DomainError::Conflict(_) => {
                    DomainError::Conflict("this user is already a member".into())
                }
                e => e,
            })?;
        let name = &access.project.name;
        notify(
            &txn,
            NewNotification::new(
                user.id,
                NotificationType::ProjectInvite,
                format!("You were added to “{name}”"),
                format!(
                    "You are now {} of the project “{name}”.",
                    role.as_str().to_lowercase()
                ),
            )
            .project(project_id)
            .data(serde_json::json!({ "role": role.as_str(), "addedBy": actor.user_id() })),
        )
        .await?;
        access.touch(&txn).await?;
        txn.commit().await?;
        Ok(member)
    }

    /// Changes a member's role (ADMIN and above, on members below them; never OWNER).
    pub async fn update_member(
        &self,
        actor: &Actor,
        project_id: Uuid,
        user_id: Uuid,
        role: ProjectRole,
    ) -> DomainResult<members::Model> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        let access = access_on(&txn, actor, project_id).await?;
        let actor_role = access.member_manager()?;
        let member = find_member(&txn, project_id, user_id).await?;
        if actor.user_id() == Some(user_id) {
            return Err(DomainError::Forbidden(
                "you cannot change your own role".into(),
            ));
        }
        policy::check_manage(actor_role, parse_role(&member.role)?)?;
        policy::check_grant(actor_role, role)?;
        let mut am: members::ActiveModel = member.into();
        am.role = Set(role.as_str().to_string());
        let member = am.update(&txn).await?;
        access.touch(&txn).await?;
        txn.commit().await?;
        Ok(member)
    }

    /// Removes a member (ADMIN and above, on members below them; never the OWNER).
    pub async fn remove_member(
        &self,
        actor: &Actor,
        project_id: Uuid,
        user_id: Uuid,
    ) -> DomainResult<members::Model> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        let access = access_on(&txn, actor, project_id).await?;
        let member = if actor.user_id() == Some(user_id) {
            leave_checked(&txn, project_id, user_id).await?
        } else {
            let actor_role = access.member_manager()?;
            let member = find_member(&txn, project_id, user_id).await?;
            policy::check_manage(actor_role, parse_role(&member.role)?)?;
            member
        };
        delete_member(&txn, &member).await?;
        access.touch(&txn).await?;
        txn.commit().await?;
        Ok(member)
    }

    /// Leaves a project (any member but the OWNER, who must transfer ownership first).
    pub async fn leave(&self, actor: &Actor, project_id: Uuid) -> DomainResult<members::Model> {
        let user = actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        let access = access_on(&txn, actor, project_id).await?;
        let member = leave_checked(&txn, project_id, user).await?;
        delete_member(&txn, &member).await?;
        collaboration(&txn, &access.project, user, Collab::LeftProject).await?;
        access.touch(&txn).await?;
        txn.commit().await?;
        Ok(member)
    }

    /// Hands the project to another member (OWNER only); the old owner becomes ADMIN.
    pub async fn transfer(
        &self,
        actor: &Actor,
        project_id: Uuid,
        to: Uuid,
    ) -> DomainResult<projects::Model> {
        let user = actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        let access = access_on(&txn, actor, project_id).await?;
        access.require(
            access.role == Some(ProjectRole::Owner),
            "transfer ownership",
        )?;
        if to == user {
            return Err(DomainError::invalid(
                "userId",
                "you already own this project",
            ));
        }
        let target = find_member(&txn, project_id, to).await?;
        let mut am: members::ActiveModel = target.into();
        am.role = Set(ProjectRole::Owner.as_str().to_string());
        am.update(&txn).await?;
        let me = find_member(&txn, project_id, user).await?;
        let mut am: members::ActiveModel = me.into();
        am.role = Set(ProjectRole::Admin.as_str().to_string());
        am.update(&txn).await?;
        let mut am: projects::ActiveModel = access.project.into();
        am.owner_id = Set(to);
        am.updated_at = Set(now());
        let project = am.update(&txn).await?;
        txn.commit().await?;
        Ok(project)
    }

    /// The actor's access to a project whose presence it shares: members only.
    pub async fn presence_access(
        &self,
        actor: &Actor,
        project_id: Uuid,
    ) -> DomainResult<(Uuid, ProjectAccess)> {
        let user = actor.require_user()?;
        let access = self.access(actor, project_id).await?;
        access.require(access.role.is_some(), "share presence (members only)")?;
        Ok((user, access))
    }

    /// Records a member's arrival in a project (their first heartbeat here, or the first
    /// after they went away): upserts the presence row as active and, when they were away
    /// longer than the presence window, tells the owner (`COLLABORATION_JOINED`). Returns
    /// the row and whether the owner was told. Later heartbeats and cursor moves are kept
    /// in memory by the API's presence hub and saved with [`Self::save_presence`].
    pub async fn update_presence(
        &self,
        actor: &Actor,
        project_id: Uuid,
        cursor: Option<(f64, f64, Option<Uuid>)>,
    ) -> DomainResult<(presence::Model, bool)> {
        let (user, access) = self.presence_access(actor, project_id).await?;
        let ts = now();
        let cursor = cursor_json(cursor, ts)?;
        let txn = begin_write(&self.db).await?;
        let previous = presence::Entity::find()
            .filter(presence::Column::UserId.eq(user))
            .filter(presence::Column::ProjectId.eq(project_id))
            .one(&txn)
            .await?;
        let away_since = ts - Duration::seconds(PRESENCE_WINDOW_SECS);
        // Away means "not seen for the presence window", whether or not the member was
        // announced gone meanwhile: a dropped socket that reconnects notifies nobody.
        let returning = previous.is_none_or(|p| p.last_seen < away_since);
        if returning {
            collaboration(&txn, &access.project, user, Collab::Joined).await?;
        }
        let row = presence::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user),
            project_id: Set(project_id),
            cursor: Set(cursor),
            is_active: Set(true),
            joined_at: Set(ts),
            last_seen: Set(ts),
        };
        presence::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([presence::Column::UserId, presence::Column::ProjectId])
                    .update_columns([
                        presence::Column::Cursor,
                        presence::Column::IsActive,
                        presence::Column::LastSeen,
                        presence::Column::JoinedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        let row = presence::Entity::find()
            .filter(presence::Column::UserId.eq(user))
            .filter(presence::Column::ProjectId.eq(project_id))
            .one(&txn)
            .await?
            .ok_or_else(|| DomainError::internal("presence row vanished after upsert"))?;
        txn.commit().await?;
        let announced = returning && access.project.owner_id != user;
        Ok((row, announced))
    }

    /// Saves a present member's latest heartbeat and cursor (one UPDATE; nothing when the
    /// row is gone, e.g. the member was removed meanwhile).
    pub async fn save_presence(
        &self,
        user: Uuid,
        project_id: Uuid,
        cursor: Option<serde_json::Value>,
        last_seen: DateTime<FixedOffset>,
    ) -> DomainResult<()> {
        presence::Entity::update_many()
            .col_expr(presence::Column::Cursor, Expr::value(cursor))
            .col_expr(presence::Column::LastSeen, Expr::value(last_seen))
            .filter(presence::Column::UserId.eq(user))
            .filter(presence::Column::ProjectId.eq(project_id))
            .filter(presence::Column::IsActive.eq(true))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Records that a member went away (their socket closed or their heartbeats stopped):
    /// the row is saved as inactive and, when `tell_owner` (the member's arrival was
    /// announced), the owner gets `COLLABORATION_LEFT`. Returns whether the member was
    /// still present (false when they were removed from the project meanwhile).
    pub async fn end_presence(
        &self,
        user: Uuid,
        project_id: Uuid,
        cursor: Option<serde_json::Value>,
        last_seen: DateTime<FixedOffset>,
        tell_owner: bool,
    ) -> DomainResult<bool> {
        let txn = begin_write(&self.db).await?;
        let done = presence::Entity::update_many()
            .col_expr(presence::Column::Cursor, Expr::value(cursor))
            .col_expr(presence::Column::LastSeen, Expr::value(last_seen))
            .col_expr(presence::Column::IsActive, Expr::value(false))
            .filter(presence::Column::UserId.eq(user))
            .filter(presence::Column::ProjectId.eq(project_id))
            .filter(presence::Column::IsActive.eq(true))
            .exec(&txn)
            .await?;
        let was_present = done.rows_affected > 0;
        if was_present && tell_owner {
            let project = projects::Entity::find_by_id(project_id)
                .filter(projects::Column::DeletedAt.is_null())
                .one(&txn)
                .await?;
            if let Some(project) = project {
                collaboration(&txn, &project, user, Collab::WentAway).await?;
            }
        }
        txn.commit().await?;
        Ok(was_present)
    }

    /// Members seen in the last five minutes, per project, most recent first.
    pub async fn presence(
        &self,
        project_ids: &[Uuid],
    ) -> DomainResult<HashMap<Uuid, Vec<presence::Model>>> {
        let since = now() - Duration::seconds(PRESENCE_WINDOW_SECS);
        let rows = presence::Entity::find()
            .filter(presence::Column::ProjectId.is_in(project_ids.iter().copied()))
            .filter(presence::Column::IsActive.eq(true))
            .filter(presence::Column::LastSeen.gte(since))
            .filter(
                presence::Column::UserId.in_subquery(
                    Query::select()
                        .column(members::Column::UserId)
                        .from(members::Entity)
                        .and_where(
                            Expr::col((members::Entity, members::Column::ProjectId))
                                .equals((presence::Entity, presence::Column::ProjectId)),
                        )
                        .to_owned(),
                ),
            )
            .order_by_desc(presence::Column::LastSeen)
            .all(&self.db)
            .await?;
        let mut map: HashMap<Uuid, Vec<presence::Model>> = HashMap::new();
        for r in rows {
            map.entry(r.project_id).or_default().push(r);
        }
        Ok(map)
    }
}

use sea_orm::QueryOrder;

/// The project as `actor` sees it, read through `conn` (a transaction or the pool).
pub async fn access_on(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> DomainResult<ProjectAccess> {
    let live = projects::Entity::find_by_id(id).filter(projects::Column::DeletedAt.is_null());
    // The project and the actor's membership in one statement.
    let (project, role) = match actor.user_id() {
        Some(user) => {
            let (project, member) = live
                .join(JoinType::LeftJoin, viewer_membership(user))
                .select_also(members::Entity)
                .one(conn)
                .await?
                .ok_or_else(|| DomainError::not_found("project"))?;
            (project, member.and_then(|m| ProjectRole::parse(&m.role)))
        }
        None => (
            live.one(conn)
                .await?
                .ok_or_else(|| DomainError::not_found("project"))?,
            None,
        ),
    };
    let caps = capabilities(role, project.is_public);
    if !caps.view {
        return Err(DomainError::not_found("project"));
    }
    Ok(ProjectAccess {
        project,
        role,
        caps,
    })
}

fn parse_role(s: &str) -> DomainResult<ProjectRole> {
    ProjectRole::parse(s).ok_or_else(|| DomainError::internal(format!("unknown project role {s}")))
}

async fn insert_member(
    conn: &impl ConnectionTrait,
    project_id: Uuid,
    user_id: Uuid,
    role: ProjectRole,
) -> DomainResult<members::Model> {
    members::ActiveModel {
        id: Set(Uuid::now_v7()),
        project_id: Set(project_id),
        user_id: Set(user_id),
        role: Set(role.as_str().to_string()),
        joined_at: Set(now()),
    }
    .insert(conn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            DomainError::Conflict("already a member".into())
        } else {
            e.into()
        }
    })
}

async fn find_member(
    conn: &impl ConnectionTrait,
    project_id: Uuid,
    user_id: Uuid,
) -> DomainResult<members::Model> {
    members::Entity::find()
        .filter(members::Column::ProjectId.eq(project_id))
        .filter(members::Column::UserId.eq(user_id))
        .one(conn)
        .await?
        .ok_or_else(|| DomainError::not_found("member"))
}

async fn leave_checked(
    conn: &impl ConnectionTrait,
    project_id: Uuid,
    user_id: Uuid,
) -> DomainResult<members::Model> {
    let member = find_member(conn, project_id, user_id).await?;
    if parse_role(&member.role)? == ProjectRole::Owner {
        return Err(DomainError::Conflict(
            "the owner cannot leave: transfer ownership first".into(),
        ));
    }
    Ok(member)
}

async fn delete_member(conn: &impl ConnectionTrait, member: &members::Model) -> DomainResult<()> {
    members::Entity::delete_by_id(member.id).exec(conn).await?;
    presence::Entity::delete_many()
        .filter(presence::Column::ProjectId.eq(member.project_id))
        .filter(presence::Column::UserId.eq(member.user_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Why a collaborator notice is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collab {
    /// Opened the canvas (COLLABORATION_JOINED).
    Joined,
    /// Left the project (COLLABORATION_LEFT).
    LeftProject,
    /// Closed the canvas: socket closed or heartbeats stopped (COLLABORATION_LEFT).
    WentAway,
}

/// How long a COLLABORATION_JOINED / _LEFT notification stays in the inbox.
pub const COLLABORATION_NOTICE_DAYS: i64 = 7;

/// Tells the project's owner that `user` (re)joined the canvas or left the project. The
/// owner's own comings and goings notify nobody. Joining counts once per absence: the first
/// heartbeat, or the first after being away longer than the presence window — never every
/// heartbeat.
async fn collaboration(
    conn: &impl ConnectionTrait,
    project: &projects::Model,
    user: Uuid,
    why: Collab,
) -> DomainResult<()> {
    if project.owner_id == user {
        return Ok(());
    }
    let who = users::Entity::find_by_id(user)
        .one(conn)
        .await?
        .and_then(|u| {
            u.username.or_else(|| {
                let full = [u.first_name, u.last_name]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                (!full.is_empty()).then_some(full)
            })
        })
        // Emails are private: a member without a name is just "A member".
        .unwrap_or_else(|| "A member".into());
    let name = &project.name;
    let (kind, title, message) = match why {
        Collab::LeftProject => (
            NotificationType::CollaborationLeft,
            format!("{who} left “{name}”"),
            format!("{who} is no longer a member of the project “{name}”."),
        ),
        Collab::WentAway => (
            NotificationType::CollaborationLeft,
            format!("{who} left “{name}”"),
            format!("{who} closed the canvas of the project “{name}”."),
        ),
        Collab::Joined => (
            NotificationType::CollaborationJoined,
            format!("{who} joined “{name}”"),
            format!("{who} opened the canvas of the project “{name}”."),
        ),
    };
    notify(
        conn,
        NewNotification::new(project.owner_id, kind, title, message)
            .project(project.id)
            .priority(NotificationPriority::Low)
            .data(serde_json::json!({ "userId": user }))
            .expires_at(now() + Duration::days(COLLABORATION_NOTICE_DAYS)),
    )
    .await?;
    Ok(())
}

/// The join from `projects` to `user`'s membership row in each (for a `LEFT JOIN`: no row
/// where the user is not a member).
pub fn viewer_membership(user: Uuid) -> RelationDef {
    members::Relation::Projects
        .def()
        .rev()
        .on_condition(move |_, m| {
            Expr::col((m, members::Column::UserId))
                .eq(user)
                .into_condition()
        })
}

/// `updated_at` of a project moves at most once per this many seconds.
const TOUCH_GRAIN_SECS: i64 = 1;

/// Moves a project's `updated_at` (lists ordered by activity follow it) for a change to its
/// canvas or members, unless a change in the last second already did.
///
/// The update locks the project's row until the transaction commits, so on PostgreSQL every
/// write to one canvas queued behind the one before it for the row lock and its commit
/// (`Lock:transactionid` was the top wait under `createGraphNode` load). A write that sees
/// the timestamp less than a second old leaves the row alone and takes no lock, so writes to
/// a busy canvas run side by side; the activity time stays right to the second.
pub async fn touch(conn: &impl ConnectionTrait, project_id: Uuid) -> DomainResult<()> {
    let ts = now();
    projects::Entity::update_many()
        .col_expr(projects::Column::UpdatedAt, Expr::value(ts))
        .filter(projects::Column::Id.eq(project_id))
        .filter(projects::Column::UpdatedAt.lt(ts - Duration::seconds(TOUCH_GRAIN_SECS)))
        .exec(conn)
        .await?;
    Ok(())
}

fn visible(actor: &Actor, filter: &ProjectFilter) -> Select<projects::Entity> {
    use projects::Column as C;
    let membership = |user: Uuid| {
        C::Id.in_subquery(
            Query::select()
                .column(members::Column::ProjectId)
                .from(members::Entity)
                .and_where(members::Column::UserId.eq(user))
                .to_owned(),
        )
    };
    let mut q = projects::Entity::find().filter(C::DeletedAt.is_null());
    q = match actor.user_id() {
        Some(user) => q.filter(
            Condition::any()
                .add(C::IsPublic.eq(true))
                .add(membership(user)),
        ),
        None => q.filter(C::IsPublic.eq(true)),
    };
    let me = actor.user_id().unwrap_or(Uuid::nil());
    if let Some(owned) = filter.owned {
        q = q.filter(if owned {
            C::OwnerId.eq(me)
        } else {
            C::OwnerId.ne(me)
        });
    }
    if let Some(member) = filter.member {
        q = q.filter(if member {
            membership(me)
        } else {
            membership(me).not()
        });
    }
    if let Some(public) = filter.public {
        q = q.filter(C::IsPublic.eq(public));
    }
    if let Some(s) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        q = q.filter(contains_ci(C::Name, s));
    }
    q
}
