//! Node generation: ties the canvas to agents. A request creates a task linked to the node
//! and sets the node GENERATING; chunks append to its response; completion stores the
//! result, completes the task and marks the node's descendants STALE; failure sets ERROR
//! and fails the task. The caller must be able to edit the node (project policy) and, to
//! request, own the agent. Each step is one transaction.

use plexus_core::db::{begin_write, now};
use plexus_core::{Actor, DomainError, DomainResult};
use plexus_graph::NodeStatus;
use plexus_graph::entity::nodes;
use plexus_graph::service::{node_access, propagate_stale};
use plexus_projects::service::touch;
use plexus_users::notifications::{
    NewNotification, NotificationPriority, NotificationType, notify,
};
use sea_orm::sea_query::{BinOper, Expr, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::entity::{agent_tasks, agents};
use crate::service::{AgentsService, NewTask, check_text, insert_task, own_agent, set_task_status};
use crate::status::TaskStatus;

/// What a finished generation produced.
#[derive(Debug, Clone, Default)]
pub struct GenerationResult {
    /// The full response; `None` keeps what the streamed chunks built.
    pub response: Option<String>,
    pub summary: Option<String>,
    pub llm_model: Option<String>,
    pub llm_tokens: Option<i32>,
    pub llm_cost: Option<f64>,
}

/// The outcome of completing a generation.
#[derive(Debug, Clone)]
pub struct Completed {
    pub node: nodes::Model,
    pub task: Option<agent_tasks::Model>,
    /// Descendants marked STALE.
    pub stale: Vec<Uuid>,
}

/// The node, editable by `actor`, that must be GENERATING (else `CONFLICT`).
async fn generating_node(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> DomainResult<nodes::Model> {
    let (node, access) = node_access(conn, actor, id, false).await?;
    access.require(access.caps.edit, "generate nodes")?;
    if NodeStatus::parse(&node.status) != Some(NodeStatus::Generating) {
        return Err(DomainError::Conflict(format!(
            "the node is {}, not GENERATING",
            node.status
        )));
    }
    Ok(node)
}

/// The node's unfinished generation task, if any.
async fn open_task(
    conn: &impl ConnectionTrait,
    node: Uuid,
) -> DomainResult<Option<agent_tasks::Model>> {
    Ok(agent_tasks::Entity::find()
        .filter(agent_tasks::Column::NodeId.eq(node))
        .filter(
            agent_tasks::Column::Status
                .is_in([TaskStatus::Pending.as_str(), TaskStatus::Running.as_str()]),
        )
        .order_by_desc(agent_tasks::Column::Id)
        .one(conn)
        .await?)
}

/// Ends the node's open task in `to` (through RUNNING when it was still PENDING).
async fn finish_task(
    conn: &impl ConnectionTrait,
    node: Uuid,
    to: TaskStatus,
    result: Option<Value>,
    error: Option<String>,
) -> DomainResult<Option<agent_tasks::Model>> {
    let Some(mut task) = open_task(conn, node).await? else {
        return Ok(None);
    };
    if task.status == TaskStatus::Pending.as_str() {
        task = set_task_status(conn, task, TaskStatus::Running, None, None).await?;
    }
    Ok(Some(set_task_status(conn, task, to, result, error).await?))
}

/// Tells the node's creator and whoever requested the generation (the owner of the task's
/// agent) that it finished: NODE_GENERATED, or NODE_ERROR with the error. One notification
/// per person, in the generation's transaction.
async fn notify_generation(
    conn: &impl ConnectionTrait,
    node: &nodes::Model,
    task: Option<&agent_tasks::Model>,
    kind: NotificationType,
    error: Option<&str>,
) -> DomainResult<()> {
    let mut recipients: Vec<Uuid> = node.created_by.into_iter().collect();
    if let Some(task) = task
        && let Some(agent) = agents::Entity::find_by_id(task.agent_id).one(conn).await?
        && !recipients.contains(&agent.owner_id)
    {
        recipients.push(agent.owner_id);
    }
    let prompt: String = node.prompt.chars().take(80).collect();
    let (title, message, priority) = match error {
        None => (
            "Response generated".to_string(),
            format!("The response to “{prompt}” is ready."),
            NotificationPriority::Medium,
        ),
        Some(e) => (
            "Generation failed".to_string(),
            format!("Generating the response to “{prompt}” failed: {e}"),
            NotificationPriority::High,
        ),
    };
    for user in recipients {
        let mut data = json!({});
        if let Some(t) = task {
            data = json!({ "taskId": t.id, "agentId": t.agent_id });
        }
        notify(
            conn,
            NewNotification::new(user, kind, title.clone(), message.clone())
                .project(node.project_id)
                .node(node.id)
                .priority(priority)
                .data(data),
        )
        .await?;
    }
    Ok(())
}

async fn reload(conn: &impl ConnectionTrait, id: Uuid) -> DomainResult<nodes::Model> {
    nodes::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| DomainError::not_found("node"))
}

impl AgentsService {
    /// Creates a PENDING task for the actor's agent linked to the node, clears the node's
    /// response and sets it GENERATING. `CONFLICT` while it is already generating.
    pub async fn request_generation(
        &self,
        actor: &Actor,
        node_id: Uuid,
        agent_id: Uuid,
    ) -> DomainResult<(nodes::Model, agent_tasks::Model)> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        let (node, access) = node_access(&txn, actor, node_id, false).await?;
        access.require(access.caps.edit, "generate nodes")?;
        own_agent(&txn, actor, agent_id).await?;
        let current = NodeStatus::parse(&node.status).unwrap_or(NodeStatus::Idle);
        if current == NodeStatus::Generating {
            return Err(DomainError::Conflict(
                "the node is already generating".into(),
            ));
        }
        current.check(NodeStatus::Generating)?;
        nodes::Entity::update_many()
            .col_expr(
                nodes::Column::Status,
                Expr::value(NodeStatus::Generating.as_str()),
            )
            .col_expr(nodes::Column::Response, Expr::value(Option::<String>::None))
            .col_expr(
                nodes::Column::Version,
                Expr::col(nodes::Column::Version).add(1),
            )
            .col_expr(nodes::Column::UpdatedAt, Expr::value(now()))
            .filter(nodes::Column::Id.eq(node_id))
            .exec(&txn)
            .await?;
        let task = insert_task(
            &txn,
            NewTask {
                agent_id,
                name: "Generate node response".into(),
                description: None,
                prompt: node.prompt.clone(),
                node_id: Some(node_id),
                metadata: None,
            },
        )
        .await?;
        touch(&txn, node.project_id).await?;
        let node = reload(&txn, node_id).await?;
        txn.commit().await?;
        Ok((node, task))
    }

    /// Appends a streamed chunk to a GENERATING node's response.
    pub async fn append_response(
        &self,
        actor: &Actor,
        node_id: Uuid,
        chunk: &str,
    ) -> DomainResult<nodes::Model> {
        actor.require_user()?;
        check_text("chunk", chunk, 0, 100_000)?;
        let txn = begin_write(&self.db).await?;
        generating_node(&txn, actor, node_id).await?;
        nodes::Entity::update_many()
            .col_expr(
                nodes::Column::Response,
                Expr::expr(Func::coalesce([
                    Expr::col(nodes::Column::Response),
                    Expr::val(""),
                ]))
                .binary(BinOper::Custom("||"), Expr::val(chunk).cast_as("TEXT")),
            )
            .col_expr(
                nodes::Column::Version,
                Expr::col(nodes::Column::Version).add(1),
            )
            .col_expr(nodes::Column::UpdatedAt, Expr::value(now()))
            .filter(nodes::Column::Id.eq(node_id))
            .exec(&txn)
            .await?;
        let node = reload(&txn, node_id).await?;
        txn.commit().await?;
        Ok(node)
    }

    /// Stores the result, sets the node COMPLETED, completes its task and marks its
    /// descendants STALE.
    pub async fn complete_generation(
        &self,
        actor: &Actor,
        node_id: Uuid,
        result: GenerationResult,
    ) -> DomainResult<Completed> {
        actor.require_user()?;
        if let Some(r) = &result.response {
            check_text("response", r, 0, 1_000_000)?;
        }
        if let Some(s) = &result.summary {
            check_text("summary", s, 0, 10_000)?;
        }
        if let Some(m) = &result.llm_model {
            check_text("llmModel", m, 0, 100)?;
        }
        if result.llm_tokens.is_some_and(|t| t < 0) {
            return Err(DomainError::invalid(
                "llmTokens",
                "llmTokens must not be negative",
            ));
        }
        if result.llm_cost.is_some_and(|c| !c.is_finite() || c < 0.0) {
            return Err(DomainError::invalid(
                "llmCost",
                "llmCost must be a non-negative number",
            ));
        }
        let txn = begin_write(&self.db).await?;
        let node = generating_node(&txn, actor, node_id).await?;
        let mut q = nodes::Entity::update_many()
            .col_expr(
                nodes::Column::Status,
                Expr::value(NodeStatus::Completed.as_str()),
            )
            .col_expr(
                nodes::Column::LlmModel,
                Expr::value(result.llm_model.clone()),
            )
            .col_expr(nodes::Column::LlmTokens, Expr::value(result.llm_tokens))
            .col_expr(nodes::Column::LlmCost, Expr::value(result.llm_cost))
            .col_expr(
                nodes::Column::Version,
                Expr::col(nodes::Column::Version).add(1),
            )
            .col_expr(nodes::Column::UpdatedAt, Expr::value(now()));
        if let Some(r) = &result.response {
            q = q.col_expr(nodes::Column::Response, Expr::value(r.clone()));
        }
        if let Some(s) = &result.summary {
            q = q.col_expr(nodes::Column::Summary, Expr::value(s.clone()));
        }
        q.filter(nodes::Column::Id.eq(node_id)).exec(&txn).await?;
        let outcome = json!({
            "llmModel": result.llm_model,
            "llmTokens": result.llm_tokens,
            "llmCost": result.llm_cost,
        });
        let task = finish_task(&txn, node_id, TaskStatus::Completed, Some(outcome), None).await?;
        let stale = propagate_stale(&txn, node.project_id, node_id).await?;
        notify_generation(
            &txn,
            &node,
            task.as_ref(),
            NotificationType::NodeGenerated,
            None,
        )
        .await?;
        touch(&txn, node.project_id).await?;
        let node = reload(&txn, node_id).await?;
        txn.commit().await?;
        Ok(Completed { node, task, stale })
    }

    /// Sets a GENERATING node ERROR and fails its task with `error`.
    pub async fn fail_generation(
        &self,
        actor: &Actor,
        node_id: Uuid,
        error: String,
    ) -> DomainResult<(nodes::Model, Option<agent_tasks::Model>)> {
        actor.require_user()?;
        check_text("error", &error, 1, 100_000)?;
        let txn = begin_write(&self.db).await?;
        let node = generating_node(&txn, actor, node_id).await?;
        nodes::Entity::update_many()
            .col_expr(
                nodes::Column::Status,
                Expr::value(NodeStatus::Error.as_str()),
            )
            .col_expr(
                nodes::Column::Version,
                Expr::col(nodes::Column::Version).add(1),
            )
            .col_expr(nodes::Column::UpdatedAt, Expr::value(now()))
            .filter(nodes::Column::Id.eq(node_id))
            .exec(&txn)
            .await?;
        let task =
            finish_task(&txn, node_id, TaskStatus::Failed, None, Some(error.clone())).await?;
        notify_generation(
            &txn,
            &node,
            task.as_ref(),
            NotificationType::NodeError,
            Some(&error),
        )
        .await?;
        touch(&txn, node.project_id).await?;
        let node = reload(&txn, node_id).await?;
        txn.commit().await?;
        Ok((node, task))
    }
}
