//! The agents service: agents with their tools and knowledge packs, the tool registry,
//! knowledge packs, and the agent task queue (with node generation). Every operation checks
//! ownership first; writes that touch several rows run in one transaction.

use plexus_core::db::{begin_write, contains_ci, now};
use plexus_core::error::is_unique_violation;
use plexus_core::page::{
    ChildPage, KeyValue, Ordering, PageArgs, count_children, fetch_child_pages, fetch_page,
};
use plexus_core::{Actor, DomainError, DomainResult, Page, UserRole};
use plexus_users::entity::users;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, ExprTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use crate::entity::{
    agent_knowledge_packs, agent_tasks, agent_tools, agents, knowledge_packs, tools,
};
use crate::policy::require_owner;
use crate::status::TaskStatus;

/// Most tools or knowledge packs one agent may list.
pub const MAX_LINKS: usize = 100;

/// The agents service.
#[derive(Debug, Clone)]
pub struct AgentsService {
    pub(crate) db: DatabaseConnection,
}

/// A new agent.
#[derive(Debug, Clone, Default)]
pub struct NewAgent {
    pub name: String,
    pub kind: String,
    pub role: Option<String>,
    pub description: Option<String>,
    pub model: Option<String>,
    pub goals: Vec<String>,
    pub config: Option<Value>,
    pub authorizations: Option<Value>,
    pub style: Option<Value>,
    pub tool_ids: Vec<Uuid>,
    pub knowledge_pack_ids: Vec<Uuid>,
    pub is_active: bool,
}

/// A change to an agent: `None` leaves a field alone, `Some(None)` clears it; the id lists
/// replace the current links.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub role: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub model: Option<Option<String>>,
    pub goals: Option<Vec<String>>,
    pub config: Option<Option<Value>>,
    pub authorizations: Option<Option<Value>>,
    pub style: Option<Option<Value>>,
    pub tool_ids: Option<Vec<Uuid>>,
    pub knowledge_pack_ids: Option<Vec<Uuid>>,
    pub is_active: Option<bool>,
}

/// Which agents a list shows.
#[derive(Debug, Clone, Default)]
pub struct AgentFilter {
    pub kind: Option<String>,
    pub is_active: Option<bool>,
    pub search: Option<String>,
}

/// A new tool.
#[derive(Debug, Clone)]
pub struct NewTool {
    pub name: String,
    pub description: String,
    pub schema: Value,
    pub is_active: bool,
}

/// A change to a tool.
#[derive(Debug, Clone, Default)]
pub struct ToolPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub schema: Option<Value>,
    pub is_active: Option<bool>,
}

/// Which tools a list shows.
#[derive(Debug, Clone, Default)]
pub struct ToolFilter {
    /// Only the viewer's own (true) or only the shared registry (false).
    pub mine: Option<bool>,
    pub is_active: Option<bool>,
    pub search: Option<String>,
}

/// A new knowledge pack.
#[derive(Debug, Clone, Default)]
pub struct NewKnowledgePack {
    pub name: String,
    pub description: Option<String>,
    pub path: Option<String>,
    pub metadata: Option<Value>,
    pub is_active: bool,
}

/// A new task.
#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub agent_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub prompt: String,
    pub node_id: Option<Uuid>,
    pub metadata: Option<Value>,
}

pub use plexus_core::validate::{check_object, check_size, check_text};

/// `BAD_USER_INPUT` on `schema` unless it is a JSON Schema object that compiles.
pub fn check_tool_schema(schema: &Value) -> DomainResult<()> {
    if !schema.is_object() {
        return Err(DomainError::invalid(
            "schema",
            "schema must be a JSON Schema object",
        ));
    }
    check_size("schema", schema)?;
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|e| DomainError::invalid("schema", format!("not a valid JSON Schema: {e}")))
}

/// `BAD_USER_INPUT` on `arguments` unless `args` satisfy the tool's JSON Schema (for tool
/// calls, recorded by conversations).
pub fn validate_arguments(schema: &Value, args: &Value) -> DomainResult<()> {
    let validator = jsonschema::validator_for(schema).map_err(|e| {
        DomainError::internal(format!("a stored tool schema does not compile: {e}"))
    })?;
    let problems: Vec<String> = validator
        .iter_errors(args)
        .take(5)
        .map(|e| format!("{} at `{}`", e, e.instance_path()))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "arguments",
            format!(
                "arguments do not match the tool's schema: {}",
                problems.join("; ")
            ),
        ))
    }
}

fn check_goals(goals: &[String]) -> DomainResult<Value> {
    if goals.len() > 100 {
        return Err(DomainError::invalid("goals", "at most 100 goals"));
    }
    for g in goals {
        check_text("goals", g, 1, 2_000)?;
    }
    Ok(Value::from(goals.to_vec()))
}

fn check_agent_fields(
    name: Option<&str>,
    kind: Option<&str>,
    jsons: [(&str, Option<&Value>); 3],
) -> DomainResult<()> {
    if let Some(n) = name {
        check_text("name", n.trim(), 1, 200)?;
    }
    if let Some(k) = kind {
        check_text("kind", k.trim(), 1, 100)?;
    }
    for (field, v) in jsons {
        if let Some(v) = v {
            check_object(field, v)?;
        }
    }
    Ok(())
}

fn distinct(ids: &[Uuid], field: &str) -> DomainResult<()> {
    if ids.len() > MAX_LINKS {
        return Err(DomainError::invalid(
            field,
            format!("at most {MAX_LINKS} ids"),
        ));
    }
    if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
        return Err(DomainError::invalid(field, "an id is listed twice"));
    }
    Ok(())
}

fn conflict_on_unique(what: &'static str) -> impl Fn(sea_orm::DbErr) -> DomainError {
    move |e| {
        if is_unique_violation(&e) {
            DomainError::Conflict(format!("you already have {what} with this name"))
        } else {
            e.into()
        }
    }
}

/// Site admins' ids: their tools and knowledge packs form the shared registry.
fn admin_ids() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(users::Column::Id)
        .from(users::Entity)
        .and_where(Expr::col(users::Column::Role).eq(UserRole::Admin.as_str()))
        .to_owned()
}

/// Tools `user` may see: their own and the shared registry.
fn visible_tools(user: Uuid) -> Select<tools::Entity> {
    tools::Entity::find().filter(
        Condition::any()
            .add(tools::Column::OwnerId.eq(user))
            .add(tools::Column::OwnerId.in_subquery(admin_ids())),
    )
}

/// A tool `actor` may see (their own or a shared one of a site admin), or `NOT_FOUND`.
pub async fn visible_tool(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> DomainResult<tools::Model> {
    let user = actor.require_user()?;
    visible_tools(user)
        .filter(tools::Column::Id.eq(id))
        .one(conn)
        .await?
        .ok_or_else(|| DomainError::not_found("tool"))
}

/// Knowledge packs `user` may see: their own and the shared ones of site admins.
pub(crate) fn visible_packs(user: Uuid) -> Select<knowledge_packs::Entity> {
    knowledge_packs::Entity::find().filter(
        Condition::any()
            .add(knowledge_packs::Column::OwnerId.eq(user))
            .add(knowledge_packs::Column::OwnerId.in_subquery(admin_ids())),
    )
}

/// The actor's agent, or `NOT_FOUND`.
pub async fn own_agent(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> DomainResult<agents::Model> {
    let agent = agents::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| DomainError::not_found("agent"))?;
    require_owner(actor, agent.owner_id, "agent")?;
    Ok(agent)
}

/// Replaces an agent's tools (each must be visible to `user`).
async fn link_tools(
    conn: &impl ConnectionTrait,
    user: Uuid,
    agent: Uuid,
    ids: &[Uuid],
) -> DomainResult<()> {
    distinct(ids, "toolIds")?;
    agent_tools::Entity::delete_many()
        .filter(agent_tools::Column::AgentId.eq(agent))
        .exec(conn)
        .await?;
    if ids.is_empty() {
        return Ok(());
    }
    let found = visible_tools(user)
        .filter(tools::Column::Id.is_in(ids.iter().copied()))
        .count(conn)
        .await?;
    if found as usize != ids.len() {
        return Err(DomainError::invalid("toolIds", "a tool was not found"));
    }
    let ts = now();
    agent_tools::Entity::insert_many(ids.iter().map(|t| agent_tools::ActiveModel {
        id: Set(Uuid::now_v7()),
        agent_id: Set(agent),
        tool_id: Set(*t),
        created_at: Set(ts),
    }))
    .exec(conn)
    .await?;
    Ok(())
}

/// Replaces an agent's knowledge packs (each must be visible to `user`).
async fn link_packs(
    conn: &impl ConnectionTrait,
    user: Uuid,
    agent: Uuid,
    ids: &[Uuid],
) -> DomainResult<()> {
    distinct(ids, "knowledgePackIds")?;
    agent_knowledge_packs::Entity::delete_many()
        .filter(agent_knowledge_packs::Column::AgentId.eq(agent))
        .exec(conn)
        .await?;
    if ids.is_empty() {
        return Ok(());
    }
    let found = visible_packs(user)
        .filter(knowledge_packs::Column::Id.is_in(ids.iter().copied()))
        .count(conn)
        .await?;
    if found as usize != ids.len() {
        return Err(DomainError::invalid(
            "knowledgePackIds",
            "a knowledge pack was not found",
        ));
    }
    let ts = now();
    agent_knowledge_packs::Entity::insert_many(ids.iter().map(|p| {
        agent_knowledge_packs::ActiveModel {
            id: Set(Uuid::now_v7()),
            agent_id: Set(agent),
            knowledge_pack_id: Set(*p),
            created_at: Set(ts),
        }
    }))
    .exec(conn)
    .await?;
    Ok(())
}

impl AgentsService {
    /// A service over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    // ---- agents ----------------------------------------------------------------------

    /// Creates an agent with its tools and knowledge packs, in one transaction.
    pub async fn create_agent(
        &self,
        actor: &Actor,
        input: NewAgent,
    ) -> DomainResult<agents::Model> {
        let user = actor.require_user()?;
        check_agent_fields(
            Some(&input.name),
            Some(&input.kind),
            [
                ("config", input.config.as_ref()),
                ("authorizations", input.authorizations.as_ref()),
                ("style", input.style.as_ref()),
            ],
        )?;
        let goals = check_goals(&input.goals)?;
        let txn = begin_write(&self.db).await?;
        let ts = now();
        let agent = agents::ActiveModel {
            id: Set(Uuid::now_v7()),
            owner_id: Set(user),
            name: Set(input.name.trim().to_string()),
            kind: Set(input.kind.trim().to_string()),
            role: Set(input.role),
            description: Set(input.description),
            model: Set(input.model),
            goals: Set(goals),
            config: Set(input.config),
            authorizations: Set(input.authorizations),
            style: Set(input.style),
            is_active: Set(input.is_active),
            created_at: Set(ts),
            updated_at: Set(ts),
        }
        .insert(&txn)
        .await
        .map_err(conflict_on_unique("an agent"))?;
        link_tools(&txn, user, agent.id, &input.tool_ids).await?;
        link_packs(&txn, user, agent.id, &input.knowledge_pack_ids).await?;
        txn.commit().await?;
        Ok(agent)
    }

    /// Changes the actor's agent.
    pub async fn update_agent(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: AgentPatch,
    ) -> DomainResult<agents::Model> {
        let user = actor.require_user()?;
        check_agent_fields(
            patch.name.as_deref(),
            patch.kind.as_deref(),
            [
                ("config", patch.config.as_ref().and_then(Option::as_ref)),
                (
                    "authorizations",
                    patch.authorizations.as_ref().and_then(Option::as_ref),
                ),
                ("style", patch.style.as_ref().and_then(Option::as_ref)),
            ],
        )?;
        let goals = patch.goals.as_deref().map(check_goals).transpose()?;
        let txn = begin_write(&self.db).await?;
        let agent = own_agent(&txn, actor, id).await?;
        let mut am: agents::ActiveModel = agent.into();
        if let Some(v) = patch.name {
            am.name = Set(v.trim().to_string());
        }
        if let Some(v) = patch.kind {
            am.kind = Set(v.trim().to_string());
        }
        if let Some(v) = patch.role {
            am.role = Set(v);
        }
        if let Some(v) = patch.description {
            am.description = Set(v);
        }
        if let Some(v) = patch.model {
            am.model = Set(v);
        }
        if let Some(v) = goals {
            am.goals = Set(v);
        }
        if let Some(v) = patch.config {
            am.config = Set(v);
        }
        if let Some(v) = patch.authorizations {
            am.authorizations = Set(v);
        }
        if let Some(v) = patch.style {
            am.style = Set(v);
        }
        if let Some(v) = patch.is_active {
            am.is_active = Set(v);
        }
        am.updated_at = Set(now());
        let agent = am
            .update(&txn)
            .await
            .map_err(conflict_on_unique("an agent"))?;
        if let Some(ids) = &patch.tool_ids {
            link_tools(&txn, user, id, ids).await?;
        }
        if let Some(ids) = &patch.knowledge_pack_ids {
            link_packs(&txn, user, id, ids).await?;
        }
        txn.commit().await?;
        Ok(agent)
    }

    /// Deletes the actor's agent with its tasks, memories and links.
    pub async fn delete_agent(&self, actor: &Actor, id: Uuid) -> DomainResult<Uuid> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        own_agent(&txn, actor, id).await?;
        agents::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await?;
        Ok(id)
    }

    /// Agents by id, whoever owns them (for loaders; callers check ownership).
    pub async fn agents_by_ids(&self, ids: &[Uuid]) -> DomainResult<Vec<agents::Model>> {
        Ok(agents::Entity::find()
            .filter(agents::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?)
    }

    fn agent_list(actor: &Actor, filter: &AgentFilter) -> DomainResult<Select<agents::Entity>> {
        let user = actor.require_user()?;
        let mut q = agents::Entity::find().filter(agents::Column::OwnerId.eq(user));
        if let Some(k) = &filter.kind {
            q = q.filter(agents::Column::Kind.eq(k.as_str()));
        }
        if let Some(a) = filter.is_active {
            q = q.filter(agents::Column::IsActive.eq(a));
        }
        if let Some(s) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            q = q.filter(
                Condition::any()
                    .add(contains_ci((agents::Entity, agents::Column::Name), s))
                    .add(contains_ci(
                        (agents::Entity, agents::Column::Description),
                        s,
                    )),
            );
        }
        Ok(q)
    }

    /// One page of the actor's agents, in creation order.
    pub async fn list_agents(
        &self,
        actor: &Actor,
        filter: &AgentFilter,
        page: &PageArgs,
    ) -> DomainResult<Page<agents::Model>> {
        let q = Self::agent_list(actor, filter)?;
        let o = Ordering {
            name: "id",
            columns: agents::Column::Id,
            arity: 1,
            descending: false,
        };
        fetch_page(&self.db, q, o, page, |a| vec![KeyValue::U(a.id)]).await
    }

    /// How many agents a list holds.
    pub async fn count_agents(&self, actor: &Actor, filter: &AgentFilter) -> DomainResult<u64> {
        Ok(Self::agent_list(actor, filter)?.count(&self.db).await?)
    }

    /// Tools of each agent (one statement), in link order.
    pub async fn tools_of(
        &self,
        agent_ids: &[Uuid],
    ) -> DomainResult<HashMap<Uuid, Vec<tools::Model>>> {
        let rows: Vec<(agent_tools::Model, Option<tools::Model>)> = agent_tools::Entity::find()
            .find_also_related(tools::Entity)
            .filter(agent_tools::Column::AgentId.is_in(agent_ids.iter().copied()))
            .order_by_asc(agent_tools::Column::Id)
            .all(&self.db)
            .await?;
        let mut map: HashMap<Uuid, Vec<tools::Model>> = HashMap::new();
        for (link, tool) in rows {
            if let Some(t) = tool {
                map.entry(link.agent_id).or_default().push(t);
            }
        }
        Ok(map)
    }

    /// Knowledge packs of each agent (one statement), in link order.
    pub async fn packs_of(
        &self,
        agent_ids: &[Uuid],
    ) -> DomainResult<HashMap<Uuid, Vec<knowledge_packs::Model>>> {
        let rows: Vec<(agent_knowledge_packs::Model, Option<knowledge_packs::Model>)> =
            agent_knowledge_packs::Entity::find()
                .find_also_related(knowledge_packs::Entity)
                .filter(agent_knowledge_packs::Column::AgentId.is_in(agent_ids.iter().copied()))
                .order_by_asc(agent_knowledge_packs::Column::Id)
                .all(&self.db)
                .await?;
        let mut map: HashMap<Uuid, Vec<knowledge_packs::Model>> = HashMap::new();
        for (link, pack) in rows {
            if let Some(p) = pack {
                map.entry(link.agent_id).or_default().push(p);
            }
        }
        Ok(map)
    }

    // ---- tools -----------------------------------------------------------------------

    /// Registers a tool; its `schema` must be a valid JSON Schema.
    pub async fn create_tool(&self, actor: &Actor, input: NewTool) -> DomainResult<tools::Model> {
        let user = actor.require_user()?;
        check_text("name", input.name.trim(), 1, 200)?;
        check_text("description", &input.description, 0, 10_000)?;
        check_tool_schema(&input.schema)?;
        let ts = now();
        tools::ActiveModel {
            id: Set(Uuid::now_v7()),
            owner_id: Set(user),
            name: Set(input.name.trim().to_string()),
            description: Set(input.description),
            schema: Set(input.schema),
            is_active: Set(input.is_active),
            created_at: Set(ts),
            updated_at: Set(ts),
        }
        .insert(&self.db)
        .await
        .map_err(conflict_on_unique("a tool"))
    }

    /// Changes one of the actor's tools (a shared tool of someone else is `NOT_FOUND` here).
    pub async fn update_tool(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: ToolPatch,
    ) -> DomainResult<tools::Model> {
        actor.require_user()?;
        if let Some(n) = &patch.name {
            check_text("name", n.trim(), 1, 200)?;
        }
        if let Some(d) = &patch.description {
            check_text("description", d, 0, 10_000)?;
        }
        if let Some(s) = &patch.schema {
            check_tool_schema(s)?;
        }
        let txn = begin_write(&self.db).await?;
        let tool = tools::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(|| DomainError::not_found("tool"))?;
        require_owner(actor, tool.owner_id, "tool")?;
        let mut am: tools::ActiveModel = tool.into();
        if let Some(v) = patch.name {
            am.name = Set(v.trim().to_string());
        }
        if let Some(v) = patch.description {
            am.description = Set(v);
        }
        if let Some(v) = patch.schema {
            am.schema = Set(v);
        }
        if let Some(v) = patch.is_active {
            am.is_active = Set(v);
        }
        am.updated_at = Set(now());
        let tool = am
            .update(&txn)
            .await
            .map_err(conflict_on_unique("a tool"))?;
        txn.commit().await?;
        Ok(tool)
    }

    fn tool_list(actor: &Actor, filter: &ToolFilter) -> DomainResult<Select<tools::Entity>> {
        let user = actor.require_user()?;
        let mut q = visible_tools(user);
        match filter.mine {
            Some(true) => q = q.filter(tools::Column::OwnerId.eq(user)),
            Some(false) => q = q.filter(tools::Column::OwnerId.ne(user)),
            None => {}
        }
        if let Some(a) = filter.is_active {
            q = q.filter(tools::Column::IsActive.eq(a));
        }
        if let Some(s) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            q = q.filter(
                Condition::any()
                    .add(contains_ci((tools::Entity, tools::Column::Name), s))
                    .add(contains_ci((tools::Entity, tools::Column::Description), s)),
            );
        }
        Ok(q)
    }

    /// One page of the tools the actor sees (own and shared), in creation order.
    pub async fn list_tools(
        &self,
        actor: &Actor,
        filter: &ToolFilter,
        page: &PageArgs,
    ) -> DomainResult<Page<tools::Model>> {
        let q = Self::tool_list(actor, filter)?;
        let o = Ordering {
            name: "id",
            columns: tools::Column::Id,
            arity: 1,
            descending: false,
        };
        fetch_page(&self.db, q, o, page, |t| vec![KeyValue::U(t.id)]).await
    }

    /// How many tools a list holds.
    pub async fn count_tools(&self, actor: &Actor, filter: &ToolFilter) -> DomainResult<u64> {
        Ok(Self::tool_list(actor, filter)?.count(&self.db).await?)
    }

    /// Tools by id that `actor` may see (own or shared).
    pub async fn tools_by_ids(
        &self,
        actor: &Actor,
        ids: &[Uuid],
    ) -> DomainResult<Vec<tools::Model>> {
        let Some(user) = actor.user_id() else {
            return Ok(vec![]);
        };
        Ok(visible_tools(user)
            .filter(tools::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?)
    }

    /// Tools by id, whoever owns them (for loaders; callers check visibility).
    pub async fn tools_by_ids_unchecked(&self, ids: &[Uuid]) -> DomainResult<Vec<tools::Model>> {
        Ok(tools::Entity::find()
            .filter(tools::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?)
    }

    // ---- knowledge packs ---------------------------------------------------------------

    /// Creates a knowledge pack.
    pub async fn create_pack(
        &self,
        actor: &Actor,
        input: NewKnowledgePack,
    ) -> DomainResult<knowledge_packs::Model> {
        let user = actor.require_user()?;
        check_text("name", input.name.trim(), 1, 200)?;
        if let Some(m) = &input.metadata {
            check_object("metadata", m)?;
        }
        let ts = now();
        Ok(knowledge_packs::ActiveModel {
            id: Set(Uuid::now_v7()),
            owner_id: Set(user),
            name: Set(input.name.trim().to_string()),
            description: Set(input.description),
            path: Set(input.path),
            metadata: Set(input.metadata),
            is_active: Set(input.is_active),
            created_at: Set(ts),
            updated_at: Set(ts),
        }
        .insert(&self.db)
        .await?)
    }

    /// One page of the knowledge packs the actor sees (own and shared), in creation order.
    pub async fn list_packs(
        &self,
        actor: &Actor,
        page: &PageArgs,
    ) -> DomainResult<Page<knowledge_packs::Model>> {
        let q = visible_packs(actor.require_user()?);
        let o = Ordering {
            name: "id",
            columns: knowledge_packs::Column::Id,
            arity: 1,
            descending: false,
        };
        fetch_page(&self.db, q, o, page, |p| vec![KeyValue::U(p.id)]).await
    }

    /// How many knowledge packs the actor sees.
    pub async fn count_packs(&self, actor: &Actor) -> DomainResult<u64> {
        Ok(visible_packs(actor.require_user()?).count(&self.db).await?)
    }

    // ---- the task queue --------------------------------------------------------------

    /// Adds a PENDING task to the queue of the actor's agent. A `node_id` must name a node the
    /// actor can see.
    pub async fn create_task(
        &self,
        actor: &Actor,
        input: NewTask,
    ) -> DomainResult<agent_tasks::Model> {
        actor.require_user()?;
        check_text("name", input.name.trim(), 1, 200)?;
        check_text("prompt", &input.prompt, 0, 100_000)?;
        if let Some(m) = &input.metadata {
            check_object("metadata", m)?;
        }
        let txn = begin_write(&self.db).await?;
        own_agent(&txn, actor, input.agent_id).await?;
        if let Some(node) = input.node_id {
            plexus_graph::service::node_access(&txn, actor, node, false)
                .await
                .map_err(|e| match e.code() {
                    "NOT_FOUND" => DomainError::invalid("nodeId", "node not found"),
                    _ => e,
                })?;
        }
        let task = insert_task(&txn, input).await?;
        txn.commit().await?;
        Ok(task)
    }

    /// Hands the oldest PENDING task of the actor's agent to this caller and marks it
    /// RUNNING; `None` when the queue is empty. Concurrent claims never get the same task:
    /// PostgreSQL skips rows another claim has locked (`FOR UPDATE SKIP LOCKED`), SQLite
    /// runs claims one at a time (`BEGIN IMMEDIATE`).
    pub async fn claim_task(
        &self,
        actor: &Actor,
        agent_id: Uuid,
    ) -> DomainResult<Option<agent_tasks::Model>> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        own_agent(&txn, actor, agent_id).await?;
        let mut q = agent_tasks::Entity::find()
            .select_only()
            .column(agent_tasks::Column::Id)
            .filter(agent_tasks::Column::AgentId.eq(agent_id))
            .filter(agent_tasks::Column::Status.eq(TaskStatus::Pending.as_str()))
            .order_by_asc(agent_tasks::Column::Id)
            .limit(1);
        if txn.get_database_backend() == DbBackend::Postgres {
            q = q.lock_with_behavior(
                sea_orm::sea_query::LockType::Update,
                sea_orm::sea_query::LockBehavior::SkipLocked,
            );
        }
        let Some(id) = q.into_tuple::<Uuid>().one(&txn).await? else {
            txn.commit().await?;
            return Ok(None);
        };
        let ts = now();
        let done = agent_tasks::Entity::update_many()
            .col_expr(
                agent_tasks::Column::Status,
                Expr::value(TaskStatus::Running.as_str()),
            )
            .col_expr(agent_tasks::Column::StartedAt, Expr::value(ts))
            .col_expr(agent_tasks::Column::UpdatedAt, Expr::value(ts))
            .filter(agent_tasks::Column::Id.eq(id))
            .filter(agent_tasks::Column::Status.eq(TaskStatus::Pending.as_str()))
            .exec(&txn)
            .await?;
        if done.rows_affected != 1 {
            return Err(DomainError::internal(
                "a claimed task changed under its lock",
            ));
        }
        let task = agent_tasks::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(|| DomainError::internal("a claimed task vanished"))?;
        txn.commit().await?;
        Ok(Some(task))
    }

    /// Moves one of the actor's tasks through the state machine (`CONFLICT` when the move is
    /// not allowed, or when the task changed meanwhile).
    pub async fn transition_task(
        &self,
        actor: &Actor,
        id: Uuid,
        to: TaskStatus,
        result: Option<Value>,
        error: Option<String>,
    ) -> DomainResult<agent_tasks::Model> {
        actor.require_user()?;
        if let Some(r) = &result {
            check_size("result", r)?;
        }
        if let Some(e) = &error {
            check_text("error", e, 0, 100_000)?;
        }
        let txn = begin_write(&self.db).await?;
        let task = self.own_task_on(&txn, actor, id).await?;
        let task = set_task_status(&txn, task, to, result, error).await?;
        notify_task_finished(&txn, &task, to).await?;
        if to == TaskStatus::Failed {
            let meta = serde_json::json!({ "taskId": task.id, "agentId": task.agent_id });
            let message = format!("agent task failed: {}", task.error.as_deref().unwrap_or(""));
            crate::logs::write_log(
                &txn,
                actor.user_id(),
                crate::logs::LogLevel::Error,
                "agent_task",
                &message,
                Some(meta),
            )
            .await?;
        }
        txn.commit().await?;
        Ok(task)
    }

    async fn own_task_on(
        &self,
        conn: &impl ConnectionTrait,
        actor: &Actor,
        id: Uuid,
    ) -> DomainResult<agent_tasks::Model> {
        let task = agent_tasks::Entity::find_by_id(id)
            .one(conn)
            .await?
            .ok_or_else(|| DomainError::not_found("task"))?;
        own_agent(conn, actor, task.agent_id)
            .await
            .map_err(|_| DomainError::not_found("task"))?;
        Ok(task)
    }

    /// One of the actor's tasks, or `NOT_FOUND`.
    pub async fn task(&self, actor: &Actor, id: Uuid) -> DomainResult<agent_tasks::Model> {
        self.own_task_on(&self.db, actor, id).await
    }

    /// Tasks by id, whoever owns them (for loaders; callers check ownership).
    pub async fn tasks_by_ids(&self, ids: &[Uuid]) -> DomainResult<Vec<agent_tasks::Model>> {
        Ok(agent_tasks::Entity::find()
            .filter(agent_tasks::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?)
    }

    /// Task counts per agent (one statement).
    pub async fn task_counts(&self, agent_ids: &[Uuid]) -> DomainResult<HashMap<Uuid, u64>> {
        use agent_tasks::Column as C;
        count_children(
            &self.db,
            agent_tasks::Entity::find(),
            C::AgentId,
            C::Id,
            agent_ids,
        )
        .await
    }

    /// One page of tasks per agent, in creation order (one statement).
    pub async fn task_pages(
        &self,
        agent_ids: &[Uuid],
        page: ChildPage,
    ) -> DomainResult<HashMap<Uuid, Page<agent_tasks::Model>>> {
        use agent_tasks::Column as C;
        fetch_child_pages(
            &self.db,
            agent_tasks::Entity::find(),
            C::AgentId,
            C::Id,
            agent_ids,
            page,
        )
        .await
    }
}

/// Tells the agent's owner that one of its tasks COMPLETED (AGENT_COMPLETED) or FAILED
/// (AGENT_FAILED), in the transition's transaction. Other moves notify nobody.
async fn notify_task_finished(
    conn: &impl ConnectionTrait,
    task: &agent_tasks::Model,
    to: TaskStatus,
) -> DomainResult<()> {
    use plexus_users::notifications::{
        NewNotification, NotificationPriority, NotificationType, notify,
    };
    let (kind, priority) = match to {
        TaskStatus::Completed => (
            NotificationType::AgentCompleted,
            NotificationPriority::Medium,
        ),
        TaskStatus::Failed => (NotificationType::AgentFailed, NotificationPriority::High),
        _ => return Ok(()),
    };
    let Some(agent) = agents::Entity::find_by_id(task.agent_id).one(conn).await? else {
        return Ok(());
    };
    let (title, message) = match to {
        TaskStatus::Completed => (
            format!("{} finished a task", agent.name),
            format!("{} completed “{}”.", agent.name, task.name),
        ),
        _ => (
            format!("{} failed a task", agent.name),
            format!(
                "{} failed “{}”: {}",
                agent.name,
                task.name,
                task.error.as_deref().unwrap_or("no error given")
            ),
        ),
    };
    let mut n = NewNotification::new(agent.owner_id, kind, title, message)
        .priority(priority)
        .data(serde_json::json!({ "agentId": agent.id, "taskId": task.id }));
    if let Some(node) = task.node_id
        && let Some(node) = plexus_graph::entity::nodes::Entity::find_by_id(node)
            .one(conn)
            .await?
    {
        n = n.project(node.project_id).node(node.id);
    }
    notify(conn, n).await?;
    Ok(())
}

pub(crate) async fn insert_task(
    conn: &impl ConnectionTrait,
    input: NewTask,
) -> DomainResult<agent_tasks::Model> {
    let ts = now();
    Ok(agent_tasks::ActiveModel {
        id: Set(Uuid::now_v7()),
        agent_id: Set(input.agent_id),
        node_id: Set(input.node_id),
        name: Set(input.name.trim().to_string()),
        description: Set(input.description),
        prompt: Set(input.prompt),
        status: Set(TaskStatus::Pending.as_str().to_string()),
        result: Set(None),
        error: Set(None),
        started_at: Set(None),
        completed_at: Set(None),
        metadata: Set(input.metadata),
        created_at: Set(ts),
        updated_at: Set(ts),
    }
    .insert(conn)
    .await?)
}

/// Moves a task to `to` if the machine allows it and nobody moved it meanwhile; sets
/// `startedAt`/`completedAt`.
pub(crate) async fn set_task_status(
    conn: &impl ConnectionTrait,
    task: agent_tasks::Model,
    to: TaskStatus,
    result: Option<Value>,
    error: Option<String>,
) -> DomainResult<agent_tasks::Model> {
    let from = TaskStatus::parse(&task.status)
        .ok_or_else(|| DomainError::internal(format!("unknown task status {}", task.status)))?;
    from.check(to)?;
    let ts = now();
    let mut q = agent_tasks::Entity::update_many()
        .col_expr(agent_tasks::Column::Status, Expr::value(to.as_str()))
        .col_expr(agent_tasks::Column::UpdatedAt, Expr::value(ts));
    if to == TaskStatus::Running {
        q = q.col_expr(agent_tasks::Column::StartedAt, Expr::value(ts));
    }
    if to.is_terminal() {
        q = q.col_expr(agent_tasks::Column::CompletedAt, Expr::value(ts));
    }
    if let Some(r) = result {
        q = q.col_expr(agent_tasks::Column::Result, Expr::value(r));
    }
    if let Some(e) = error {
        q = q.col_expr(agent_tasks::Column::Error, Expr::value(e));
    }
    let done = q
        .filter(agent_tasks::Column::Id.eq(task.id))
        .filter(agent_tasks::Column::Status.eq(task.status.as_str()))
        .exec(conn)
        .await?;
    if done.rows_affected != 1 {
        return Err(DomainError::Conflict(
            "the task was changed meanwhile: reload it and try again".into(),
        ));
    }
    agent_tasks::Entity::find_by_id(task.id)
        .one(conn)
        .await?
        .ok_or_else(|| DomainError::not_found("task"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_schemas_and_arguments() {
        let schema = json!({ "type": "object", "properties": { "q": { "type": "string" } }, "required": ["q"] });
        assert!(check_tool_schema(&schema).is_ok());
        for bad in [
            json!(1),
            json!({ "type": "nonsense" }),
            json!({ "minLength": -1 }),
        ] {
            let e = check_tool_schema(&bad).unwrap_err();
            assert_eq!(
                (e.code(), e.field()),
                ("BAD_USER_INPUT", Some("schema")),
                "{bad}"
            );
        }
        assert!(validate_arguments(&schema, &json!({ "q": "rust" })).is_ok());
        let e = validate_arguments(&schema, &json!({ "q": 3 })).unwrap_err();
        assert_eq!(e.field(), Some("arguments"));
        assert!(validate_arguments(&schema, &json!({})).is_err());
    }
}
