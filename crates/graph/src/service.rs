//! The graph service: nodes and edges of a project's canvas. Every operation checks the
//! project role first (`NOT_FOUND` when the project is not visible, `FORBIDDEN` when the
//! role lacks the capability), and every write is one transaction.

use plexus_core::db::{begin_write, now};
use plexus_core::error::is_unique_violation;
use plexus_core::id::encode;
use plexus_core::page::{ChildPage, count_children, fetch_child_pages};
use plexus_core::row::{self, Layout};
use plexus_core::{Actor, DomainError, DomainResult, IdKind, Page};
use plexus_projects::ProjectRole;
use plexus_projects::entity::projects;
use plexus_projects::service::{ProjectAccess, access_on};
use sea_orm::sea_query::{Alias, Expr, IntoIden, JoinType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    ExprTrait, QueryFilter, QuerySelect, RelationTrait, Select, Set, Statement,
};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use crate::dag::Dag;
use crate::entity::{edges, nodes};
use crate::status::NodeStatus;

/// Most parents a new node may have.
pub const MAX_PARENTS: usize = 100;
/// Most nodes one `moveGraphNodes` may move.
pub const MAX_MOVES: usize = 500;

/// A new node.
#[derive(Debug, Clone)]
pub struct NewNode {
    pub project_id: Uuid,
    pub prompt: String,
    pub position: (f64, f64),
    pub parent_ids: Vec<Uuid>,
    pub metadata: Option<Value>,
}

/// A live node with its live project and the viewer's role there.
#[derive(Debug, Clone)]
pub struct NodeInProject {
    pub node: nodes::Model,
    pub project: projects::Model,
    pub role: Option<ProjectRole>,
}

/// A change to a node: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct NodePatch {
    pub prompt: Option<String>,
    pub response: Option<Option<String>>,
    pub summary: Option<Option<String>>,
    pub position: Option<(f64, f64)>,
    pub status: Option<NodeStatus>,
    pub metadata: Option<Option<Value>>,
    /// Refuse with `CONFLICT` unless the node is at this version.
    pub expected_version: Option<i32>,
}

/// The canvas graph.
#[derive(Debug, Clone)]
pub struct GraphService {
    db: DatabaseConnection,
}

fn position_json(field: &str, (x, y): (f64, f64)) -> DomainResult<Value> {
    if !x.is_finite() || !y.is_finite() {
        return Err(DomainError::invalid(field, "position needs finite x and y"));
    }
    Ok(json!({ "x": x, "y": y }))
}

fn check_text(field: &str, v: &str, max: usize) -> DomainResult<()> {
    plexus_core::validate::check_text(field, v, 0, max)
}

fn check_metadata(v: &Value) -> DomainResult<()> {
    plexus_core::validate::check_object_within("metadata", v, 64 * 1024)
}

fn node_name(id: Uuid) -> String {
    encode(IdKind::GraphNode, id)
}

/// Live edges: both ends are live nodes.
fn live_edges() -> Select<edges::Entity> {
    let (s, t) = (Alias::new("src"), Alias::new("dst"));
    edges::Entity::find()
        .join_as(
            JoinType::InnerJoin,
            edges::Relation::Nodes2.def(),
            s.clone(),
        )
        .join_as(
            JoinType::InnerJoin,
            edges::Relation::Nodes1.def(),
            t.clone(),
        )
        .filter(Expr::col((s.into_iden(), nodes::Column::DeletedAt)).is_null())
        .filter(Expr::col((t.into_iden(), nodes::Column::DeletedAt)).is_null())
}

async fn project_dag(conn: &impl ConnectionTrait, project_id: Uuid) -> DomainResult<Dag> {
    let pairs: Vec<(Uuid, Uuid)> = live_edges()
        .select_only()
        .column(edges::Column::SourceId)
        .column(edges::Column::TargetId)
        .filter(edges::Column::ProjectId.eq(project_id))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(Dag::new(pairs))
}

/// A node and its project as the actor sees them, read through `conn` (a transaction or
/// the pool); `NOT_FOUND` when either is hidden. `deleted` picks deleted or live nodes.
pub async fn node_access(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    deleted: bool,
) -> DomainResult<(nodes::Model, ProjectAccess)> {
    let node = nodes::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|n| n.deleted_at.is_some() == deleted)
        .ok_or_else(|| DomainError::not_found("node"))?;
    let access = access_on(conn, actor, node.project_id).await.map_err(|e| {
        if e.code() == "NOT_FOUND" {
            DomainError::not_found("node")
        } else {
            e
        }
    })?;
    Ok((node, access))
}

/// Marks every live descendant of `node` STALE (and bumps its version), through `conn`.
/// Returns them.
pub async fn propagate_stale(
    conn: &impl ConnectionTrait,
    project_id: Uuid,
    node: Uuid,
) -> DomainResult<Vec<Uuid>> {
    let dag = project_dag(conn, project_id).await?;
    let descendants = dag.descendants(node);
    for chunk in descendants.chunks(5_000) {
        nodes::Entity::update_many()
            .col_expr(
                nodes::Column::Status,
                Expr::value(NodeStatus::Stale.as_str()),
            )
            .col_expr(
                nodes::Column::Version,
                Expr::col(nodes::Column::Version).add(1),
            )
            .col_expr(nodes::Column::UpdatedAt, Expr::value(now()))
            .filter(nodes::Column::Id.is_in(chunk.iter().copied()))
            .filter(nodes::Column::DeletedAt.is_null())
            .exec(conn)
            .await?;
    }
    Ok(descendants)
}

impl GraphService {
    /// A service over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Creates a node, and edges from each of `parent_ids` to it, in one transaction.
    pub async fn create_node(
        &self,
        actor: &Actor,
        input: NewNode,
    ) -> DomainResult<(nodes::Model, Vec<edges::Model>)> {
        let user = actor.require_user()?;
        check_text("prompt", &input.prompt, 100_000)?;
        let position = position_json("position", input.position)?;
        if let Some(m) = &input.metadata {
            check_metadata(m)?;
        }
        if input.parent_ids.len() > MAX_PARENTS {
            return Err(DomainError::invalid(
                "parentIds",
                format!("at most {MAX_PARENTS} parents"),
            ));
        }
        let unique: HashSet<Uuid> = input.parent_ids.iter().copied().collect();
        if unique.len() != input.parent_ids.len() {
            return Err(DomainError::invalid(
                "parentIds",
                "a parent is listed twice",
            ));
        }
        let txn = begin_write(&self.db).await?;
        let access = access_on(&txn, actor, input.project_id).await?;
        access.require(access.caps.add_node, "add nodes")?;
        let parents = if input.parent_ids.is_empty() {
            vec![]
        } else {
            nodes::Entity::find()
                .filter(nodes::Column::Id.is_in(input.parent_ids.iter().copied()))
                .filter(nodes::Column::DeletedAt.is_null())
                .all(&txn)
                .await?
        };
        for id in &input.parent_ids {
            match parents.iter().find(|p| p.id == *id) {
                None => {
                    return Err(DomainError::invalid(
                        "parentIds",
                        format!("parent {} not found", node_name(*id)),
                    ));
                }
                Some(p) if p.project_id != input.project_id => {
                    return Err(DomainError::invalid(
                        "parentIds",
                        format!("parent {} belongs to another project", node_name(*id)),
                    ));
                }
                Some(_) => {}
            }
        }
        let ts = now();
        let node = nodes::ActiveModel {
            id: Set(Uuid::now_v7()),
            project_id: Set(input.project_id),
            prompt: Set(input.prompt),
            response: Set(None),
            summary: Set(None),
            status: Set(NodeStatus::Idle.as_str().to_string()),
            position: Set(position),
            metadata: Set(input.metadata),
            llm_model: Set(None),
            llm_tokens: Set(None),
            llm_cost: Set(None),
            created_by: Set(Some(user)),
            version: Set(1),
            created_at: Set(ts),
            updated_at: Set(ts),
            deleted_at: Set(None),
        }
        .insert(&txn)
        .await?;
        let mut created = Vec::with_capacity(input.parent_ids.len());
        for parent in &input.parent_ids {
            created.push(insert_edge(&txn, input.project_id, *parent, node.id).await?);
        }
        access.touch(&txn).await?;
        txn.commit().await?;
        Ok((node, created))
    }

    /// Changes a node (EDITOR and above). A new prompt or response marks every live
    /// descendant STALE. Returns the node and the ids of the nodes that went stale.
    pub async fn update_node(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: NodePatch,
    ) -> DomainResult<(nodes::Model, Vec<Uuid>)> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            // Lock the row first: a concurrent update then waits for this one and reads the
            // new version, instead of failing the version check below with a CONFLICT the
            // client never asked for (SQLite's BEGIN IMMEDIATE already serialises writers).
            nodes::Entity::find_by_id(id)
                .select_only()
                .column(nodes::Column::Id)
                .lock_exclusive()
                .into_tuple::<Uuid>()
                .one(&txn)
                .await?;
        }
        let (node, access) = node_access(&txn, actor, id, false).await?;
        access.require(access.caps.edit, "edit nodes")?;
        if let Some(expected) = patch.expected_version.filter(|v| *v != node.version) {
            return Err(version_conflict(node.version, expected));
        }
        let current = NodeStatus::parse(&node.status).unwrap_or(NodeStatus::Idle);
        let mut q = nodes::Entity::update_many();
        let mut content_changed = false;
        if let Some(p) = patch.prompt {
            check_text("prompt", &p, 100_000)?;
            content_changed |= p != node.prompt;
            q = q.col_expr(nodes::Column::Prompt, Expr::value(p));
        }
        if let Some(r) = patch.response {
            if let Some(r) = &r {
                check_text("response", r, 1_000_000)?;
            }
            content_changed |= r != node.response;
            q = q.col_expr(nodes::Column::Response, Expr::value(r));
        }
        if let Some(s) = patch.summary {
            if let Some(s) = &s {
                check_text("summary", s, 10_000)?;
            }
            q = q.col_expr(nodes::Column::Summary, Expr::value(s));
        }
        if let Some(p) = patch.position {
            q = q.col_expr(
                nodes::Column::Position,
                Expr::value(position_json("position", p)?),
            );
        }
        if let Some(s) = patch.status {
            current.check(s)?;
            q = q.col_expr(nodes::Column::Status, Expr::value(s.as_str()));
        }
        if let Some(m) = patch.metadata {
            if let Some(m) = &m {
                check_metadata(m)?;
            }
            q = q.col_expr(nodes::Column::Metadata, Expr::value(m));
        }
        let done = q
            .col_expr(
                nodes::Column::Version,
                Expr::col(nodes::Column::Version).add(1),
            )
            .col_expr(nodes::Column::UpdatedAt, Expr::value(now()))
            .filter(nodes::Column::Id.eq(id))
            .filter(nodes::Column::Version.eq(node.version))
            .exec(&txn)
            .await?;
        if done.rows_affected != 1 {
            return Err(DomainError::Conflict(
                "the node was changed meanwhile: reload it and try again".into(),
            ));
        }
        let stale = if content_changed {
            propagate_stale(&txn, node.project_id, id).await?
        } else {
            vec![]
        };
        access.touch(&txn).await?;
        let node = nodes::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(|| DomainError::not_found("node"))?;
        txn.commit().await?;
        Ok((node, stale))
    }

    /// Moves many nodes in one transaction (EDITOR and above on each node's project).
    pub async fn move_nodes(
        &self,
        actor: &Actor,
        moves: Vec<(Uuid, (f64, f64))>,
    ) -> DomainResult<Vec<nodes::Model>> {
        actor.require_user()?;
        if moves.is_empty() || moves.len() > MAX_MOVES {
            return Err(DomainError::invalid(
                "moves",
                format!("move 1 to {MAX_MOVES} nodes at once"),
            ));
        }
        let ids: Vec<Uuid> = moves.iter().map(|(id, _)| *id).collect();
        if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
            return Err(DomainError::invalid("moves", "a node is moved twice"));
        }
        let positions = moves
            .iter()
            .map(|(id, p)| Ok((*id, position_json("moves", *p)?)))
            .collect::<DomainResult<Vec<_>>>()?;
        let txn = begin_write(&self.db).await?;
        let found = nodes::Entity::find()
            .filter(nodes::Column::Id.is_in(ids.iter().copied()))
            .filter(nodes::Column::DeletedAt.is_null())
            .all(&txn)
            .await?;
        let projects: HashSet<Uuid> = found.iter().map(|n| n.project_id).collect();
        let mut accesses = Vec::with_capacity(projects.len());
        for p in &projects {
            let access = access_on(&txn, actor, *p).await.map_err(|e| {
                if e.code() == "NOT_FOUND" {
                    DomainError::not_found("node")
                } else {
                    e
                }
            })?;
            access.require(access.caps.edit, "move nodes")?;
            accesses.push(access);
        }
        if found.len() != ids.len() {
            return Err(DomainError::not_found("node"));
        }
        let ts = now();
        for (id, position) in positions {
            nodes::Entity::update_many()
                .col_expr(nodes::Column::Position, Expr::value(position))
                .col_expr(
                    nodes::Column::Version,
                    Expr::col(nodes::Column::Version).add(1),
                )
                .col_expr(nodes::Column::UpdatedAt, Expr::value(ts))
                .filter(nodes::Column::Id.eq(id))
                .exec(&txn)
                .await?;
        }
        for access in &accesses {
            access.touch(&txn).await?;
        }
        let mut moved = nodes::Entity::find()
            .filter(nodes::Column::Id.is_in(ids.iter().copied()))
            .all(&txn)
            .await?;
        txn.commit().await?;
        moved.sort_by_key(|n| ids.iter().position(|i| *i == n.id));
        Ok(moved)
    }

    /// Soft-deletes a node (EDITOR and above); its edges disappear with it.
    pub async fn delete_node(&self, actor: &Actor, id: Uuid) -> DomainResult<nodes::Model> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        let (node, access) = node_access(&txn, actor, id, false).await?;
        access.require(access.caps.delete_node, "delete nodes")?;
        let node = set_deleted(&txn, node, Some(now())).await?;
        access.touch(&txn).await?;
        txn.commit().await?;
        Ok(node)
    }

    /// Brings back a deleted node and its edges to live nodes (EDITOR and above), unless
    /// that would close a cycle made meanwhile (`CONFLICT` naming it).
    pub async fn restore_node(&self, actor: &Actor, id: Uuid) -> DomainResult<nodes::Model> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        let (node, access) = node_access(&txn, actor, id, true).await?;
        access.require(access.caps.delete_node, "restore nodes")?;
        let mut dag = project_dag(&txn, node.project_id).await?;
        let own: Vec<(Uuid, Uuid)> = edges::Entity::find()
            .select_only()
            .column(edges::Column::SourceId)
            .column(edges::Column::TargetId)
            .filter(
                edges::Column::SourceId
                    .eq(id)
                    .or(edges::Column::TargetId.eq(id)),
            )
            .into_tuple()
            .all(&txn)
            .await?;
        let others: Vec<Uuid> = own
            .iter()
            .map(|(s, t)| if *s == id { *t } else { *s })
            .collect();
        let live: HashSet<Uuid> = nodes::Entity::find()
            .select_only()
            .column(nodes::Column::Id)
            .filter(nodes::Column::Id.is_in(others))
            .filter(nodes::Column::DeletedAt.is_null())
            .into_tuple::<Uuid>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        for (s, t) in own {
            if live.contains(&s) || live.contains(&t) || s == t {
                dag.add(s, t);
            }
        }
        if let Some(cycle) = dag.path_through(id) {
            return Err(cycle_conflict(
                "restoring this node would close a cycle",
                &cycle,
            ));
        }
        let node = set_deleted(&txn, node, None).await?;
        access.touch(&txn).await?;
        txn.commit().await?;
        Ok(node)
    }

    /// Joins two live nodes of one project (EDITOR and above): no self-loop
    /// (`BAD_USER_INPUT`), no duplicate and no cycle (`CONFLICT`, naming the cycle).
    pub async fn create_edge(
        &self,
        actor: &Actor,
        source: Uuid,
        target: Uuid,
    ) -> DomainResult<edges::Model> {
        actor.require_user()?;
        if source == target {
            return Err(DomainError::invalid(
                "targetId",
                "an edge cannot join a node to itself",
            ));
        }
        let txn = begin_write(&self.db).await?;
        let (src, access) = node_access(&txn, actor, source, false).await?;
        access.require(access.caps.edit, "connect nodes")?;
        nodes::Entity::find_by_id(target)
            .filter(nodes::Column::DeletedAt.is_null())
            .filter(nodes::Column::ProjectId.eq(src.project_id))
            .one(&txn)
            .await?
            .ok_or_else(|| {
                DomainError::invalid(
                    "targetId",
                    "target node not found in the source node's project",
                )
            })?;
        let dag = project_dag(&txn, src.project_id).await?;
        if dag.children_of(source).contains(&target) {
            return Err(DomainError::Conflict(
                "these nodes are already connected".into(),
            ));
        }
        if let Some(cycle) = dag.cycle_with(source, target) {
            return Err(cycle_conflict("this edge would close a cycle", &cycle));
        }
        let edge = insert_edge(&txn, src.project_id, source, target).await?;
        access.touch(&txn).await?;
        txn.commit().await?;
        Ok(edge)
    }

    /// Removes an edge (EDITOR and above).
    pub async fn delete_edge(&self, actor: &Actor, id: Uuid) -> DomainResult<edges::Model> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        let edge = live_edges()
            .filter(edges::Column::Id.eq(id))
            .one(&txn)
            .await?
            .ok_or_else(|| DomainError::not_found("edge"))?;
        let access = access_on(&txn, actor, edge.project_id).await.map_err(|e| {
            if e.code() == "NOT_FOUND" {
                DomainError::not_found("edge")
            } else {
                e
            }
        })?;
        access.require(access.caps.edit, "disconnect nodes")?;
        edges::Entity::delete_by_id(id).exec(&txn).await?;
        access.touch(&txn).await?;
        txn.commit().await?;
        Ok(edge)
    }

    /// Live nodes by id (for loaders; visibility is checked through their project).
    pub async fn nodes_by_ids(&self, ids: &[Uuid]) -> DomainResult<Vec<nodes::Model>> {
        // Chunked: a traversal can ask for a whole canvas, past SQLite's parameter limit.
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(10_000) {
            let select = nodes::Entity::find()
                .filter(nodes::Column::Id.is_in(chunk.iter().copied()))
                .filter(nodes::Column::DeletedAt.is_null());
            out.extend(row::all(&self.db, select).await?);
        }
        Ok(out)
    }

    /// Live nodes by id, each with its live project and `viewer`'s role there: one statement
    /// where `nodes_by_ids` and then the projects with their roles take two (the visibility
    /// check of `node(id)`). At most a few hundred ids: no chunking.
    ///
    /// Written as text: built with sea-query, constructing the statement and printing it
    /// took ~95,000 instructions, 23% of a `node(id)` request; its text only depends on
    /// the number of ids and on whether there is a viewer.
    pub async fn nodes_in_projects(
        &self,
        viewer: Option<Uuid>,
        ids: &[Uuid],
    ) -> DomainResult<Vec<NodeInProject>> {
        const ROLE: &str = "viewer_role";
        // Both sides read by position, named as `select_also` names them.
        static COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "{}, {}",
                row::select_list::<nodes::Model>("nodes", "A_"),
                row::select_list::<projects::Model>("projects", "B_")
            )
        });
        let backend = self.db.get_database_backend();
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(ids.len() + 1);
        let (role, membership) = match viewer {
            Some(user) => {
                values.push(user.into());
                let user = row::placeholders(backend, 1, 1);
                (
                    format!(r#", "project_members"."role" AS "{ROLE}""#),
                    format!(
                        r#" LEFT JOIN "project_members" ON "projects"."id" = "project_members"."project_id" AND "project_members"."user_id" = {user}"#
                    ),
                )
            }
            None => (String::new(), String::new()),
        };
        let list = row::placeholders(backend, values.len() + 1, ids.len());
        values.extend(ids.iter().map(|id| sea_orm::Value::from(*id)));
        let sql = format!(
            r#"SELECT {columns}{role} FROM "nodes" INNER JOIN "projects" ON "nodes"."project_id" = "projects"."id"{membership} WHERE "nodes"."id" IN ({ids}) AND "nodes"."deleted_at" IS NULL AND "projects"."deleted_at" IS NULL"#,
            columns = *COLUMNS,
            ids = list,
        );
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        // `select_also` names the columns of the first entity `A_…`, the second's `B_…`.
        let (node_at, project_at) = (
            Layout::of_rows::<nodes::Model>(&rows, "A_"),
            Layout::of_rows::<projects::Model>(&rows, "B_"),
        );
        rows.iter()
            .map(|row| {
                let role = match viewer {
                    Some(_) => row.try_get::<Option<String>>("", ROLE)?,
                    None => None,
                };
                Ok(NodeInProject {
                    node: node_at.read(row, "A_")?,
                    project: project_at.read(row, "B_")?,
                    role: role.as_deref().and_then(ProjectRole::parse),
                })
            })
            .collect()
    }

    /// Live edges by id.
    pub async fn edges_by_ids(&self, ids: &[Uuid]) -> DomainResult<Vec<edges::Model>> {
        Ok(live_edges()
            .filter(edges::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?)
    }

    /// Ids of the live parents of each node (one statement).
    pub async fn parent_ids(&self, ids: &[Uuid]) -> DomainResult<HashMap<Uuid, Vec<Uuid>>> {
        self.neighbours(ids, "target_id", "source_id").await
    }

    /// Ids of the live children of each node (one statement).
    pub async fn child_ids(&self, ids: &[Uuid]) -> DomainResult<HashMap<Uuid, Vec<Uuid>>> {
        self.neighbours(ids, "source_id", "target_id").await
    }

    /// The live nodes at the `other` end of the edges whose `by` end is one of `ids`, per
    /// id, in id (creation) order. The nodes asked about are live (the caller holds them),
    /// so only the other end is checked.
    ///
    /// Written by hand for the plan: with `by IN (…)` PostgreSQL scans every edge and
    /// hash-joins all nodes (or starts a parallel worker) once the list is long, 40–200 ms
    /// for the dashboard's 1,000 nodes; `IN (SELECT unnest(ARRAY[…]))` probes the index
    /// for each id instead. The other end is checked against the partial index of deleted
    /// nodes (`idx_nodes_deleted`), not by fetching its row: 1.8× the statement's rate on
    /// PostgreSQL under pgbench, 9.7 → 7.9 ms for the dashboard's on SQLite. Only the two
    /// ends are read, and the lists are put in order here rather than by `ORDER BY e.id`:
    /// both ends are in an index (`uq_edges_source_target`, `idx_edges_target_id`), so
    /// PostgreSQL neither visits the table (once it is vacuumed) nor sorts; the dashboard's
    /// statement ran 537 → 656–705 times a second under pgbench (562 unvacuumed).
    async fn neighbours(
        &self,
        ids: &[Uuid],
        by: &str,
        other: &str,
    ) -> DomainResult<HashMap<Uuid, Vec<Uuid>>> {
        let backend = self.db.get_database_backend();
        let mut map: HashMap<Uuid, Vec<Uuid>> = HashMap::with_capacity(ids.len());
        // SQLite would look each other end up by its id and read its row.
        let deleted = match backend {
            DbBackend::Postgres => "",
            _ => " INDEXED BY idx_nodes_deleted",
        };
        for chunk in ids.chunks(10_000) {
            let params = row::placeholders(backend, 1, chunk.len());
            let list = match backend {
                DbBackend::Postgres => format!("SELECT unnest(ARRAY[{params}]::uuid[])"),
                _ => params,
            };
            let sql = format!(
                "SELECT e.{by}, e.{other} FROM edges e WHERE e.{by} IN ({list}) \
                 AND NOT EXISTS (SELECT 1 FROM nodes o{deleted} \
                 WHERE o.id = e.{other} AND o.deleted_at IS NOT NULL)"
            );
            let values = chunk.iter().map(|id| sea_orm::Value::from(*id));
            let rows = self
                .db
                .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
            for (from, to) in row::pairs::<Uuid, Uuid>(&rows)? {
                map.entry(from).or_default().push(to);
            }
        }
        for list in map.values_mut() {
            list.sort_unstable();
        }
        Ok(map)
    }

    /// The live graph of each project (one statement per project), for traversals.
    pub async fn project_dags(&self, project_ids: &[Uuid]) -> DomainResult<HashMap<Uuid, Dag>> {
        let rows: Vec<(Uuid, Uuid, Uuid)> = live_edges()
            .select_only()
            .column(edges::Column::ProjectId)
            .column(edges::Column::SourceId)
            .column(edges::Column::TargetId)
            .filter(edges::Column::ProjectId.is_in(project_ids.iter().copied()))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut map: HashMap<Uuid, Dag> =
            project_ids.iter().map(|p| (*p, Dag::default())).collect();
        for (p, s, t) in rows {
            map.entry(p).or_default().add(s, t);
        }
        Ok(map)
    }

    /// One page of live nodes per project, in creation order (one statement).
    pub async fn node_pages(
        &self,
        project_ids: &[Uuid],
        page: ChildPage,
    ) -> DomainResult<HashMap<Uuid, Page<nodes::Model>>> {
        use nodes::Column as C;
        let q = nodes::Entity::find().filter(C::DeletedAt.is_null());
        fetch_child_pages(&self.db, q, C::ProjectId, C::Id, project_ids, page).await
    }

    /// Like [`Self::node_pages`], without the nodes' content: `prompt` comes back empty,
    /// `response`, `summary` and `metadata` as `None`. A canvas or a dashboard that shows
    /// none of them reads a tenth of the bytes (the content is most of a row): on the
    /// benchmark dashboard's 1,000 nodes PostgreSQL took 8.0 → 4.7 ms for the statement.
    pub async fn node_head_pages(
        &self,
        project_ids: &[Uuid],
        page: ChildPage,
    ) -> DomainResult<HashMap<Uuid, Page<nodes::Model>>> {
        use nodes::Column as C;
        let q = node_heads().filter(C::DeletedAt.is_null());
        fetch_child_pages(&self.db, q, C::ProjectId, C::Id, project_ids, page).await
    }

    /// One page of live edges per project, in creation order (one statement).
    pub async fn edge_pages(
        &self,
        project_ids: &[Uuid],
        page: ChildPage,
    ) -> DomainResult<HashMap<Uuid, Page<edges::Model>>> {
        use edges::Column as C;
        fetch_child_pages(
            &self.db,
            live_edges(),
            C::ProjectId,
            C::Id,
            project_ids,
            page,
        )
        .await
    }

    /// Live node counts per project.
    pub async fn node_counts(&self, project_ids: &[Uuid]) -> DomainResult<HashMap<Uuid, u64>> {
        let live = nodes::Entity::find().filter(nodes::Column::DeletedAt.is_null());
        count_children(
            &self.db,
            live,
            nodes::Column::ProjectId,
            nodes::Column::Id,
            project_ids,
        )
        .await
    }

    /// Live edge counts per project.
    pub async fn edge_counts(&self, project_ids: &[Uuid]) -> DomainResult<HashMap<Uuid, u64>> {
        count_children(
            &self.db,
            live_edges(),
            edges::Column::ProjectId,
            edges::Column::Id,
            project_ids,
        )
        .await
    }
}

fn version_conflict(actual: i32, expected: i32) -> DomainError {
    DomainError::Conflict(format!(
        "the node is at version {actual}, not {expected}: reload it and try again"
    ))
}

fn cycle_conflict(what: &str, cycle: &[Uuid]) -> DomainError {
    let path: Vec<String> = cycle.iter().map(|n| node_name(*n)).collect();
    DomainError::Conflict(format!("{what}: {}", path.join(" → ")))
}

async fn insert_edge(
    conn: &impl ConnectionTrait,
    project_id: Uuid,
    source: Uuid,
    target: Uuid,
) -> DomainResult<edges::Model> {
    edges::ActiveModel {
        id: Set(Uuid::now_v7()),
        project_id: Set(project_id),
        source_id: Set(source),
        target_id: Set(target),
        created_at: Set(now()),
    }
    .insert(conn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            DomainError::Conflict("these nodes are already connected".into())
        } else {
            e.into()
        }
    })
}

async fn set_deleted(
    conn: &impl ConnectionTrait,
    node: nodes::Model,
    deleted_at: Option<chrono::DateTime<chrono::FixedOffset>>,
) -> DomainResult<nodes::Model> {
    let version = node.version;
    let mut am: nodes::ActiveModel = node.into();
    am.deleted_at = Set(deleted_at);
    am.version = Set(version + 1);
    am.updated_at = Set(now());
    Ok(am.update(conn).await?)
}

/// Node rows without their content (see [`GraphService::node_head_pages`]): the model's
/// columns in its order, so that rows are read by position, with `prompt` empty and
/// `response`, `summary` and `metadata` NULL.
pub fn node_heads() -> Select<nodes::Entity> {
    use nodes::Column as C;
    nodes::Entity::find()
        .select_only()
        .columns([C::Id, C::ProjectId])
        .expr_as(Expr::cust("CAST('' AS TEXT)"), "prompt")
        .expr_as(Expr::cust("CAST(NULL AS TEXT)"), "response")
        .expr_as(Expr::cust("CAST(NULL AS TEXT)"), "summary")
        .columns([C::Status, C::Position])
        .expr_as(Expr::cust("CAST(NULL AS JSONB)"), "metadata")
        .columns([
            C::LlmModel,
            C::LlmTokens,
            C::LlmCost,
            C::CreatedBy,
            C::Version,
            C::CreatedAt,
            C::UpdatedAt,
            C::DeletedAt,
        ])
}
