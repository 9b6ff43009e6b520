//! Workflows: an owner's orchestration of agents (participants with a role and a position)
//! and their executions (RUNNING → COMPLETED | FAILED | CANCELLED, final once finished).

use plexus_core::db::{begin_write, now};
use plexus_core::page::{KeyValue, Ordering, PageArgs, fetch_page};
use plexus_core::{Actor, DomainError, DomainResult, Page};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use crate::entity::{agents, workflow_executions, workflow_participants, workflows};
use crate::policy::require_owner;
use crate::service::{AgentsService, check_object, check_size, check_text};

/// Where an execution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionStatus {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl ExecutionStatus {
    /// Every status.
    pub const ALL: [ExecutionStatus; 4] = [
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A participant of a workflow.
#[derive(Debug, Clone)]
pub struct Participant {
    pub agent_id: Uuid,
    pub role: String,
    pub position: i32,
}

/// A new workflow.
#[derive(Debug, Clone, Default)]
pub struct NewWorkflow {
    pub name: String,
    pub description: Option<String>,
    pub definition: Value,
    pub participants: Vec<Participant>,
    pub is_active: bool,
}

/// A change to a workflow; `participants` replaces the list.
#[derive(Debug, Clone, Default)]
pub struct WorkflowPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub definition: Option<Value>,
    pub participants: Option<Vec<Participant>>,
    pub is_active: Option<bool>,
}

async fn own_workflow(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> DomainResult<workflows::Model> {
    let wf = workflows::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| DomainError::not_found("workflow"))?;
    require_owner(actor, wf.owner_id, "workflow")?;
    Ok(wf)
}

async fn set_participants(
    conn: &impl ConnectionTrait,
    user: Uuid,
    workflow: Uuid,
    list: &[Participant],
) -> DomainResult<()> {
    if list.len() > 100 {
        return Err(DomainError::invalid(
            "participants",
            "at most 100 participants",
        ));
    }
    for p in list {
        check_text("participants", p.role.trim(), 1, 100)?;
    }
    workflow_participants::Entity::delete_many()
        .filter(workflow_participants::Column::WorkflowId.eq(workflow))
        .exec(conn)
        .await?;
    if list.is_empty() {
        return Ok(());
    }
    let ids: HashSet<Uuid> = list.iter().map(|p| p.agent_id).collect();
    let owned = agents::Entity::find()
        .filter(agents::Column::Id.is_in(ids.iter().copied()))
        .filter(agents::Column::OwnerId.eq(user))
        .count(conn)
        .await?;
    if owned as usize != ids.len() {
        return Err(DomainError::invalid(
            "participants",
            "an agent was not found",
        ));
    }
    let ts = now();
    workflow_participants::Entity::insert_many(list.iter().map(|p| {
        workflow_participants::ActiveModel {
            id: Set(Uuid::now_v7()),
            workflow_id: Set(workflow),
            agent_id: Set(p.agent_id),
            role: Set(p.role.trim().to_string()),
            position: Set(p.position),
            created_at: Set(ts),
        }
    }))
    .exec(conn)
    .await?;
    Ok(())
}

impl AgentsService {
    /// Creates a workflow with its participants (the actor's agents), in one transaction.
    pub async fn create_workflow(
        &self,
        actor: &Actor,
        input: NewWorkflow,
    ) -> DomainResult<workflows::Model> {
        let user = actor.require_user()?;
        check_text("name", input.name.trim(), 1, 200)?;
        check_object("definition", &input.definition)?;
        let txn = begin_write(&self.db).await?;
        let ts = now();
        let wf = workflows::ActiveModel {
            id: Set(Uuid::now_v7()),
            owner_id: Set(user),
            name: Set(input.name.trim().to_string()),
            description: Set(input.description),
            definition: Set(input.definition),
            is_active: Set(input.is_active),
            created_at: Set(ts),
            updated_at: Set(ts),
        }
        .insert(&txn)
        .await?;
        set_participants(&txn, user, wf.id, &input.participants).await?;
        txn.commit().await?;
        Ok(wf)
    }

    /// Changes one of the actor's workflows.
    pub async fn update_workflow(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: WorkflowPatch,
    ) -> DomainResult<workflows::Model> {
        let user = actor.require_user()?;
        if let Some(n) = &patch.name {
            check_text("name", n.trim(), 1, 200)?;
        }
        if let Some(d) = &patch.definition {
            check_object("definition", d)?;
        }
        let txn = begin_write(&self.db).await?;
        let wf = own_workflow(&txn, actor, id).await?;
        let mut am: workflows::ActiveModel = wf.into();
        if let Some(v) = patch.name {
            am.name = Set(v.trim().to_string());
        }
        if let Some(v) = patch.description {
            am.description = Set(v);
        }
        if let Some(v) = patch.definition {
            am.definition = Set(v);
        }
        if let Some(v) = patch.is_active {
            am.is_active = Set(v);
        }
        am.updated_at = Set(now());
        let wf = am.update(&txn).await?;
        if let Some(list) = &patch.participants {
            set_participants(&txn, user, id, list).await?;
        }
        txn.commit().await?;
        Ok(wf)
    }

    /// One page of the actor's workflows, in creation order.
    pub async fn list_workflows(
        &self,
        actor: &Actor,
        page: &PageArgs,
    ) -> DomainResult<Page<workflows::Model>> {
        let user = actor.require_user()?;
        let q = workflows::Entity::find().filter(workflows::Column::OwnerId.eq(user));
        let o = Ordering {
            name: "id",
            columns: workflows::Column::Id,
            arity: 1,
            descending: false,
        };
        fetch_page(&self.db, q, o, page, |w| vec![KeyValue::U(w.id)]).await
    }

    /// How many workflows the actor has.
    pub async fn count_workflows(&self, actor: &Actor) -> DomainResult<u64> {
        let user = actor.require_user()?;
        Ok(workflows::Entity::find()
            .filter(workflows::Column::OwnerId.eq(user))
            .count(&self.db)
            .await?)
    }

    /// Participants per workflow, by position (one statement).
    pub async fn participants_of(
        &self,
        workflow_ids: &[Uuid],
    ) -> DomainResult<HashMap<Uuid, Vec<workflow_participants::Model>>> {
        let rows = workflow_participants::Entity::find()
            .filter(workflow_participants::Column::WorkflowId.is_in(workflow_ids.iter().copied()))
            .order_by_asc(workflow_participants::Column::Position)
            .order_by_asc(workflow_participants::Column::Id)
            .all(&self.db)
            .await?;
        let mut map: HashMap<Uuid, Vec<workflow_participants::Model>> = HashMap::new();
        for r in rows {
            map.entry(r.workflow_id).or_default().push(r);
        }
        Ok(map)
    }

    /// Workflows by id, whoever owns them (for loaders; callers check ownership).
    pub async fn workflows_by_ids(&self, ids: &[Uuid]) -> DomainResult<Vec<workflows::Model>> {
        Ok(workflows::Entity::find()
            .filter(workflows::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?)
    }

    /// Starts an execution of one of the actor's active workflows (RUNNING).
    pub async fn start_execution(
        &self,
        actor: &Actor,
        workflow_id: Uuid,
        input: Option<Value>,
    ) -> DomainResult<workflow_executions::Model> {
        actor.require_user()?;
        if let Some(i) = &input {
            check_size("input", i)?;
        }
        let txn = begin_write(&self.db).await?;
        let wf = own_workflow(&txn, actor, workflow_id).await?;
        if !wf.is_active {
            return Err(DomainError::Conflict("the workflow is not active".into()));
        }
        let ts = now();
        let ex = workflow_executions::ActiveModel {
            id: Set(Uuid::now_v7()),
            workflow_id: Set(workflow_id),
            status: Set(ExecutionStatus::Running.as_str().to_string()),
            input: Set(input),
            output: Set(None),
            error: Set(None),
            started_at: Set(ts),
            completed_at: Set(None),
            created_at: Set(ts),
            updated_at: Set(ts),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(ex)
    }

    /// Finishes a RUNNING execution (`CONFLICT` once finished, or for status RUNNING).
    pub async fn finish_execution(
        &self,
        actor: &Actor,
        id: Uuid,
        status: ExecutionStatus,
        output: Option<Value>,
        error: Option<String>,
    ) -> DomainResult<workflow_executions::Model> {
        actor.require_user()?;
        if status == ExecutionStatus::Running {
            return Err(DomainError::invalid(
                "status",
                "finish with COMPLETED, FAILED or CANCELLED",
            ));
        }
        if let Some(o) = &output {
            check_size("output", o)?;
        }
        let txn = begin_write(&self.db).await?;
        let ex = self.execution_on(&txn, actor, id).await?;
        if ex.status != ExecutionStatus::Running.as_str() {
            return Err(DomainError::Conflict(format!(
                "the execution is {} and final",
                ex.status
            )));
        }
        let ts = now();
        let done = workflow_executions::Entity::update_many()
            .col_expr(
                workflow_executions::Column::Status,
                Expr::value(status.as_str()),
            )
            .col_expr(workflow_executions::Column::Output, Expr::value(output))
            .col_expr(workflow_executions::Column::Error, Expr::value(error))
            .col_expr(workflow_executions::Column::CompletedAt, Expr::value(ts))
            .col_expr(workflow_executions::Column::UpdatedAt, Expr::value(ts))
            .filter(workflow_executions::Column::Id.eq(id))
            .filter(workflow_executions::Column::Status.eq(ExecutionStatus::Running.as_str()))
            .exec(&txn)
            .await?;
        if done.rows_affected != 1 {
            return Err(DomainError::Conflict(
                "the execution finished meanwhile".into(),
            ));
        }
        let ex = self.execution_on(&txn, actor, id).await?;
        txn.commit().await?;
        Ok(ex)
    }

    async fn execution_on(
        &self,
        conn: &impl ConnectionTrait,
        actor: &Actor,
        id: Uuid,
    ) -> DomainResult<workflow_executions::Model> {
        let ex = workflow_executions::Entity::find_by_id(id)
            .one(conn)
            .await?
            .ok_or_else(|| DomainError::not_found("workflow execution"))?;
        own_workflow(conn, actor, ex.workflow_id)
            .await
            .map_err(|_| DomainError::not_found("workflow execution"))?;
        Ok(ex)
    }

    /// One of the actor's executions, or `NOT_FOUND`.
    pub async fn execution(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> DomainResult<workflow_executions::Model> {
        self.execution_on(&self.db, actor, id).await
    }
}
