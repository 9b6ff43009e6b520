//! Conversations (crate `conversations`): conversations, their messages and the tool calls
//! made in them — from the chat seed and the Elavira conversations.
//!
//! A message has a `status`: `COMPLETE`, or `STREAMING` while an assistant reply is being
//! produced chunk by chunk (its `content` grows with each chunk, so a client that reconnects
//! reads the whole text so far from the row itself).

use crate::util::{fk, index};
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_users::Users;
use crate::m20261122_000002_projects_graph::Projects;
use crate::m20261122_000003_agents::{Agents, Tools};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Conversations {
    Table,
    Id,
    UserId,
    AgentId,
    ProjectId,
    Title,
    Metadata,
    IsActive,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
pub enum Messages {
    Table,
    Id,
    ConversationId,
    Role,
    Content,
    Status,
    Tokens,
    Model,
    AgentId,
    AuthorId,
    Metadata,
    EditedAt,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum ToolCalls {
    Table,
    Id,
    ConversationId,
    AgentId,
    ToolId,
    MessageId,
    Name,
    Arguments,
    Result,
    Error,
    DurationMs,
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
                .table(Conversations::Table)
                .col(pk_uuid(Conversations::Id))
                .col(uuid(Conversations::UserId))
                .col(uuid_null(Conversations::AgentId))
                .col(uuid_null(Conversations::ProjectId))
                .col(string_len_null(Conversations::Title, 500))
                .col(json_binary_null(Conversations::Metadata))
                .col(boolean(Conversations::IsActive).default(true))
                .col(timestamp_with_time_zone(Conversations::CreatedAt))
                .col(timestamp_with_time_zone(Conversations::UpdatedAt))
                .col(timestamp_with_time_zone_null(Conversations::DeletedAt))
                .foreign_key(&mut fk(
                    "fk_conversations_user",
                    (Conversations::Table, Conversations::UserId),
                    (Users::Table, Users::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_conversations_agent",
                    (Conversations::Table, Conversations::AgentId),
                    (Agents::Table, Agents::Id),
                    SetNull,
                ))
                .foreign_key(&mut fk(
                    "fk_conversations_project",
                    (Conversations::Table, Conversations::ProjectId),
                    (Projects::Table, Projects::Id),
                    Cascade,
                ))
                .to_owned(),
            Table::create()
                .table(Messages::Table)
                .col(pk_uuid(Messages::Id))
                .col(uuid(Messages::ConversationId))
                .col(string_len(Messages::Role, 16))
                .col(text(Messages::Content))
                .col(string_len(Messages::Status, 16).default("COMPLETE"))
                .col(integer_null(Messages::Tokens))
                .col(string_len_null(Messages::Model, 200))
                .col(uuid_null(Messages::AgentId))
                .col(uuid_null(Messages::AuthorId))
                .col(json_binary_null(Messages::Metadata))
                .col(timestamp_with_time_zone_null(Messages::EditedAt))
                .col(timestamp_with_time_zone(Messages::CreatedAt))
                .col(timestamp_with_time_zone(Messages::UpdatedAt))
                .col(timestamp_with_time_zone_null(Messages::DeletedAt))
                .foreign_key(&mut fk(
                    "fk_messages_conversation",
                    (Messages::Table, Messages::ConversationId),
                    (Conversations::Table, Conversations::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_messages_agent",
                    (Messages::Table, Messages::AgentId),
                    (Agents::Table, Agents::Id),
                    SetNull,
                ))
                .foreign_key(&mut fk(
                    "fk_messages_author",
                    (Messages::Table, Messages::AuthorId),
                    (Users::Table, Users::Id),
                    SetNull,
                ))
                .to_owned(),
            Table::create()
                .table(ToolCalls::Table)
                .col(pk_uuid(ToolCalls::Id))
                .col(uuid(ToolCalls::ConversationId))
                .col(uuid_null(ToolCalls::AgentId))
                .col(uuid(ToolCalls::ToolId))
                .col(uuid_null(ToolCalls::MessageId))
                .col(string_len(ToolCalls::Name, 200))
                .col(json_binary(ToolCalls::Arguments))
                .col(json_binary_null(ToolCalls::Result))
                .col(text_null(ToolCalls::Error))
                .col(integer_null(ToolCalls::DurationMs))
                .col(timestamp_with_time_zone(ToolCalls::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_tool_calls_conversation",
                    (ToolCalls::Table, ToolCalls::ConversationId),
                    (Conversations::Table, Conversations::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_tool_calls_agent",
                    (ToolCalls::Table, ToolCalls::AgentId),
                    (Agents::Table, Agents::Id),
                    SetNull,
                ))
                .foreign_key(&mut fk(
                    "fk_tool_calls_tool",
                    (ToolCalls::Table, ToolCalls::ToolId),
                    (Tools::Table, Tools::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_tool_calls_message",
                    (ToolCalls::Table, ToolCalls::MessageId),
                    (Messages::Table, Messages::Id),
                    SetNull,
                ))
                .to_owned(),
        ];
        for t in tables {
            manager.create_table(t).await?;
        }
        let indexes = [
            index(
                "idx_conversations_user_updated",
                Conversations::Table,
                &["user_id", "updated_at", "id"],
                false,
            ),
            index(
                "idx_conversations_agent_id",
                Conversations::Table,
                &["agent_id"],
                false,
            ),
            index(
                "idx_conversations_project_id",
                Conversations::Table,
                &["project_id"],
                false,
            ),
            index(
                "idx_messages_conversation_id",
                Messages::Table,
                &["conversation_id", "id"],
                false,
            ),
            index(
                "idx_messages_agent_id",
                Messages::Table,
                &["agent_id"],
                false,
            ),
            index(
                "idx_messages_author_id",
                Messages::Table,
                &["author_id"],
                false,
            ),
            index(
                "idx_tool_calls_conversation_id",
                ToolCalls::Table,
                &["conversation_id", "id"],
                false,
            ),
            index(
                "idx_tool_calls_message_id",
                ToolCalls::Table,
                &["message_id"],
                false,
            ),
            index(
                "idx_tool_calls_agent_id",
                ToolCalls::Table,
                &["agent_id"],
                false,
            ),
            index(
                "idx_tool_calls_tool_id",
                ToolCalls::Table,
                &["tool_id"],
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
            ToolCalls::Table.into_iden(),
            Messages::Table.into_iden(),
            Conversations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
