//! Agents (crate `agents`): agents and their tools and knowledge packs, the agent task queue,
//! tools, knowledge packs and documents, memories, workflows and their executions, and
//! system logs — from the Elavira seed and the NonLinear agent models.
//!
//! Embeddings are stored as a binary blob of little-endian `f32` (BLOB on SQLite, bytea on
//! PostgreSQL): portable, half the size of a JSON array and decoded without parsing.

use crate::util::{fk, index};
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_users::Users;
use crate::m20261122_000002_projects_graph::Nodes;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Agents {
    Table,
    Id,
    OwnerId,
    Name,
    Kind,
    Role,
    Description,
    Model,
    Goals,
    Config,
    Authorizations,
    Style,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Tools {
    Table,
    Id,
    OwnerId,
    Name,
    Description,
    Schema,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum KnowledgePacks {
    Table,
    Id,
    OwnerId,
    Name,
    Description,
    Path,
    Metadata,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AgentTools {
    Table,
    Id,
    AgentId,
    ToolId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentKnowledgePacks {
    Table,
    Id,
    AgentId,
    KnowledgePackId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentTasks {
    Table,
    Id,
    AgentId,
    NodeId,
    Name,
    Description,
    Prompt,
    Status,
    Result,
    Error,
    StartedAt,
    CompletedAt,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    Id,
    KnowledgePackId,
    Source,
    Title,
    Author,
    Content,
    Metadata,
    Embedding,
    IsIndexed,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Memories {
    Table,
    Id,
    AgentId,
    Kind,
    Key,
    Value,
    Metadata,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Workflows {
    Table,
    Id,
    OwnerId,
    Name,
    Description,
    Definition,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WorkflowParticipants {
    Table,
    Id,
    WorkflowId,
    AgentId,
    Role,
    Position,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WorkflowExecutions {
    Table,
    Id,
    WorkflowId,
    Status,
    Input,
    Output,
    Error,
    StartedAt,
    CompletedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SystemLogs {
    Table,
    Id,
    Level,
    Category,
    Message,
    Metadata,
    ActorId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, SetNull};
        let tables = [
            Table::create()
                .table(Agents::Table)
                .col(pk_uuid(Agents::Id))
                .col(uuid(Agents::OwnerId))
                .col(string_len(Agents::Name, 200))
                .col(string_len(Agents::Kind, 100))
                .col(text_null(Agents::Role))
                .col(text_null(Agents::Description))
                .col(string_len_null(Agents::Model, 200))
                .col(json_binary(Agents::Goals))
                .col(json_binary_null(Agents::Config))
                .col(json_binary_null(Agents::Authorizations))
                .col(json_binary_null(Agents::Style))
                .col(boolean(Agents::IsActive).default(true))
                .col(timestamp_with_time_zone(Agents::CreatedAt))
                .col(timestamp_with_time_zone(Agents::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_agents_owner",
                    (Agents::Table, Agents::OwnerId),
                    (Users::Table, Users::Id),
                    Cascade,
                ))
                .to_owned(),
            Table::create()
                .table(Tools::Table)
                .col(pk_uuid(Tools::Id))
                .col(uuid(Tools::OwnerId))
                .col(string_len(Tools::Name, 200))
                .col(text(Tools::Description))
                .col(json_binary(Tools::Schema))
                .col(boolean(Tools::IsActive).default(true))
                .col(timestamp_with_time_zone(Tools::CreatedAt))
                .col(timestamp_with_time_zone(Tools::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_tools_owner",
                    (Tools::Table, Tools::OwnerId),
                    (Users::Table, Users::Id),
                    Cascade,
                ))
                .to_owned(),
            Table::create()
                .table(KnowledgePacks::Table)
                .col(pk_uuid(KnowledgePacks::Id))
                .col(uuid(KnowledgePacks::OwnerId))
                .col(string_len(KnowledgePacks::Name, 200))
                .col(text_null(KnowledgePacks::Description))
                .col(text_null(KnowledgePacks::Path))
                .col(json_binary_null(KnowledgePacks::Metadata))
                .col(boolean(KnowledgePacks::IsActive).default(true))
                .col(timestamp_with_time_zone(KnowledgePacks::CreatedAt))
                .col(timestamp_with_time_zone(KnowledgePacks::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_knowledge_packs_owner",
                    (KnowledgePacks::Table, KnowledgePacks::OwnerId),
                    (Users::Table, Users::Id),
                    Cascade,
                ))
                .to_owned(),
            Table::create()
                .table(AgentTools::Table)
                .col(pk_uuid(AgentTools::Id))
                .col(uuid(AgentTools::AgentId))
                .col(uuid(AgentTools::ToolId))
                .col(timestamp_with_time_zone(AgentTools::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_agent_tools_agent",
                    (AgentTools::Table, AgentTools::AgentId),
                    (Agents::Table, Agents::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_agent_tools_tool",
                    (AgentTools::Table, AgentTools::ToolId),
                    (Tools::Table, Tools::Id),
                    Cascade,
                ))
                .to_owned(),
            Table::create()
                .table(AgentKnowledgePacks::Table)
                .col(pk_uuid(AgentKnowledgePacks::Id))
                .col(uuid(AgentKnowledgePacks::AgentId))
                .col(uuid(AgentKnowledgePacks::KnowledgePackId))
                .col(timestamp_with_time_zone(AgentKnowledgePacks::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_agent_knowledge_packs_agent",
                    (AgentKnowledgePacks::Table, AgentKnowledgePacks::AgentId),
                    (Agents::Table, Agents::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_agent_knowledge_packs_pack",
                    (
                        AgentKnowledgePacks::Table,
                        AgentKnowledgePacks::KnowledgePackId,
                    ),
                    (KnowledgePacks::Table, KnowledgePacks::Id),
                    Cascade,
                ))
                .to_owned(),
            Table::create()
                .table(AgentTasks::Table)
                .col(pk_uuid(AgentTasks::Id))
                .col(uuid(AgentTasks::AgentId))
                .col(uuid_null(AgentTasks::NodeId))
                .col(string_len(AgentTasks::Name, 200))
                .col(text_null(AgentTasks::Description))
                .col(text(AgentTasks::Prompt))
                .col(string_len(AgentTasks::Status, 16).default("PENDING"))
                .col(json_binary_null(AgentTasks::Result))
                .col(text_null(AgentTasks::Error))
                .col(timestamp_with_time_zone_null(AgentTasks::StartedAt))
                .col(timestamp_with_time_zone_null(AgentTasks::CompletedAt))
                .col(json_binary_null(AgentTasks::Metadata))
                .col(timestamp_with_time_zone(AgentTasks::CreatedAt))
                .col(timestamp_with_time_zone(AgentTasks::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_agent_tasks_agent",
                    (AgentTasks::Table, AgentTasks::AgentId),
                    (Agents::Table, Agents::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_agent_tasks_node",
                    (AgentTasks::Table, AgentTasks::NodeId),
                    (Nodes::Table, Nodes::Id),
                    SetNull,
                ))
                .to_owned(),
            Table::create()
                .table(Documents::Table)
                .col(pk_uuid(Documents::Id))
                .col(uuid(Documents::KnowledgePackId))
                .col(text(Documents::Source))
                .col(text_null(Documents::Title))
                .col(text_null(Documents::Author))
                .col(text(Documents::Content))
                .col(json_binary_null(Documents::Metadata))
                .col(
                    ColumnDef::new_with_type(
                        Documents::Embedding,
                        ColumnType::VarBinary(StringLen::None),
                    )
                    .null(),
                )
                .col(boolean(Documents::IsIndexed).default(false))
                .col(timestamp_with_time_zone(Documents::CreatedAt))
                .col(timestamp_with_time_zone(Documents::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_documents_knowledge_pack",
                    (Documents::Table, Documents::KnowledgePackId),
                    (KnowledgePacks::Table, KnowledgePacks::Id),
                    Cascade,
                ))
                .to_owned(),
            Table::create()
                .table(Memories::Table)
                .col(pk_uuid(Memories::Id))
                .col(uuid(Memories::AgentId))
                .col(string_len(Memories::Kind, 16))
                .col(string_len(Memories::Key, 255))
                .col(json_binary(Memories::Value))
                .col(json_binary_null(Memories::Metadata))
                .col(timestamp_with_time_zone_null(Memories::ExpiresAt))
                .col(timestamp_with_time_zone(Memories::CreatedAt))
                .col(timestamp_with_time_zone(Memories::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_memories_agent",
                    (Memories::Table, Memories::AgentId),
                    (Agents::Table, Agents::Id),
                    Cascade,
                ))
                .to_owned(),
            Table::create()
                .table(Workflows::Table)
                .col(pk_uuid(Workflows::Id))
                .col(uuid(Workflows::OwnerId))
                .col(string_len(Workflows::Name, 200))
                .col(text_null(Workflows::Description))
                .col(json_binary(Workflows::Definition))
                .col(boolean(Workflows::IsActive).default(true))
                .col(timestamp_with_time_zone(Workflows::CreatedAt))
                .col(timestamp_with_time_zone(Workflows::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_workflows_owner",
                    (Workflows::Table, Workflows::OwnerId),
                    (Users::Table, Users::Id),
                    Cascade,
                ))
                .to_owned(),
            Table::create()
                .table(WorkflowParticipants::Table)
                .col(pk_uuid(WorkflowParticipants::Id))
                .col(uuid(WorkflowParticipants::WorkflowId))
                .col(uuid(WorkflowParticipants::AgentId))
                .col(string_len(WorkflowParticipants::Role, 100))
                .col(integer(WorkflowParticipants::Position))
                .col(timestamp_with_time_zone(WorkflowParticipants::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_workflow_participants_workflow",
                    (
                        WorkflowParticipants::Table,
                        WorkflowParticipants::WorkflowId,
                    ),
                    (Workflows::Table, Workflows::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_workflow_participants_agent",
                    (WorkflowParticipants::Table, WorkflowParticipants::AgentId),
                    (Agents::Table, Agents::Id),
                    Cascade,
                ))
                .to_owned(),
            Table::create()
                .table(WorkflowExecutions::Table)
                .col(pk_uuid(WorkflowExecutions::Id))
                .col(uuid(WorkflowExecutions::WorkflowId))
                .col(string_len(WorkflowExecutions::Status, 16).default("RUNNING"))
                .col(json_binary_null(WorkflowExecutions::Input))
                .col(json_binary_null(WorkflowExecutions::Output))
                .col(text_null(WorkflowExecutions::Error))
                .col(timestamp_with_time_zone(WorkflowExecutions::StartedAt))
                .col(timestamp_with_time_zone_null(
                    WorkflowExecutions::CompletedAt,
                ))
                .col(timestamp_with_time_zone(WorkflowExecutions::CreatedAt))
                .col(timestamp_with_time_zone(WorkflowExecutions::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_workflow_executions_workflow",
                    (WorkflowExecutions::Table, WorkflowExecutions::WorkflowId),
                    (Workflows::Table, Workflows::Id),
                    Cascade,
                ))
                .to_owned(),
            Table::create()
                .table(SystemLogs::Table)
                .col(pk_uuid(SystemLogs::Id))
                .col(string_len(SystemLogs::Level, 8))
                .col(string_len(SystemLogs::Category, 100))
                .col(text(SystemLogs::Message))
                .col(json_binary_null(SystemLogs::Metadata))
                .col(uuid_null(SystemLogs::ActorId))
                .col(timestamp_with_time_zone(SystemLogs::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_system_logs_actor",
                    (SystemLogs::Table, SystemLogs::ActorId),
                    (Users::Table, Users::Id),
                    SetNull,
                ))
                .to_owned(),
        ];
        for t in tables {
            manager.create_table(t).await?;
        }
        let indexes = [
            index("idx_agents_owner_id", Agents::Table, &["owner_id"], false),
            index(
                "uq_agents_owner_name",
                Agents::Table,
                &["owner_id", "name"],
                true,
            ),
            index("idx_agents_kind", Agents::Table, &["kind"], false),
            index("idx_tools_owner_id", Tools::Table, &["owner_id"], false),
            index(
                "uq_tools_owner_name",
                Tools::Table,
                &["owner_id", "name"],
                true,
            ),
            index(
                "idx_knowledge_packs_owner_id",
                KnowledgePacks::Table,
                &["owner_id"],
                false,
            ),
            index(
                "uq_agent_tools_agent_tool",
                AgentTools::Table,
                &["agent_id", "tool_id"],
                true,
            ),
            index(
                "idx_agent_tools_tool_id",
                AgentTools::Table,
                &["tool_id"],
                false,
            ),
            index(
                "uq_agent_knowledge_packs_agent_pack",
                AgentKnowledgePacks::Table,
                &["agent_id", "knowledge_pack_id"],
                true,
            ),
            index(
                "idx_agent_knowledge_packs_pack_id",
                AgentKnowledgePacks::Table,
                &["knowledge_pack_id"],
                false,
            ),
            index(
                "idx_agent_tasks_agent_id",
                AgentTasks::Table,
                &["agent_id"],
                false,
            ),
            index(
                "idx_agent_tasks_node_id",
                AgentTasks::Table,
                &["node_id"],
                false,
            ),
            index(
                "idx_agent_tasks_status",
                AgentTasks::Table,
                &["status"],
                false,
            ),
            index(
                "idx_agent_tasks_queue",
                AgentTasks::Table,
                &["agent_id", "status", "id"],
                false,
            ),
            index(
                "idx_documents_knowledge_pack_id",
                Documents::Table,
                &["knowledge_pack_id"],
                false,
            ),
            index(
                "uq_memories_agent_kind_key",
                Memories::Table,
                &["agent_id", "kind", "key"],
                true,
            ),
            index(
                "idx_memories_expires_at",
                Memories::Table,
                &["expires_at"],
                false,
            ),
            index(
                "idx_workflows_owner_id",
                Workflows::Table,
                &["owner_id"],
                false,
            ),
            index(
                "idx_workflow_participants_workflow_id",
                WorkflowParticipants::Table,
                &["workflow_id"],
                false,
            ),
            index(
                "idx_workflow_participants_agent_id",
                WorkflowParticipants::Table,
                &["agent_id"],
                false,
            ),
            index(
                "idx_workflow_executions_workflow_id",
                WorkflowExecutions::Table,
                &["workflow_id"],
                false,
            ),
            index(
                "idx_workflow_executions_status",
                WorkflowExecutions::Table,
                &["status"],
                false,
            ),
            index(
                "idx_system_logs_level",
                SystemLogs::Table,
                &["level"],
                false,
            ),
            index(
                "idx_system_logs_category",
                SystemLogs::Table,
                &["category"],
                false,
            ),
            index(
                "idx_system_logs_created_at",
                SystemLogs::Table,
                &["created_at"],
                false,
            ),
            index(
                "idx_system_logs_actor_id",
                SystemLogs::Table,
                &["actor_id"],
                false,
            ),
        ];
        for idx in indexes {
            manager.create_index(idx).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SystemLogs::Table.into_iden(),
            WorkflowExecutions::Table.into_iden(),
            WorkflowParticipants::Table.into_iden(),
            Workflows::Table.into_iden(),
            Memories::Table.into_iden(),
            Documents::Table.into_iden(),
            AgentTasks::Table.into_iden(),
            AgentKnowledgePacks::Table.into_iden(),
            AgentTools::Table.into_iden(),
            KnowledgePacks::Table.into_iden(),
            Tools::Table.into_iden(),
            Agents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
