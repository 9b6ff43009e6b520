//! Projects, members, presence (crate `projects`) and the canvas graph: nodes and edges
//! (crate `graph`), with the NonLinear seed's indexes and cascades.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_users::Users;
use crate::util::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Projects {
    Table,
    Id,
    Name,
    Description,
    SystemPrompt,
    OwnerId,
    IsPublic,
    Viewport,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum ProjectMembers {
    Table,
    Id,
    ProjectId,
    UserId,
    Role,
    JoinedAt,
}

#[derive(DeriveIden)]
enum ProjectPresence {
    Table,
    Id,
    UserId,
    ProjectId,
    Cursor,
    IsActive,
    JoinedAt,
    LastSeen,
}

#[derive(DeriveIden)]
pub enum Nodes {
    Table,
    Id,
    ProjectId,
    Prompt,
    Response,
    Summary,
    Status,
    Position,
    Metadata,
    LlmModel,
    LlmTokens,
    LlmCost,
    CreatedBy,
    Version,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Edges {
    Table,
    Id,
    ProjectId,
    SourceId,
    TargetId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, SetNull};
        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .col(pk_uuid(Projects::Id))
                    .col(string_len(Projects::Name, 200))
                    .col(text_null(Projects::Description))
                    .col(text(Projects::SystemPrompt).default(""))
                    .col(uuid(Projects::OwnerId))
                    .col(boolean(Projects::IsPublic).default(false))
                    .col(json_binary_null(Projects::Viewport))
                    .col(timestamp_with_time_zone(Projects::CreatedAt))
                    .col(timestamp_with_time_zone(Projects::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Projects::DeletedAt))
                    .foreign_key(&mut fk(
                        "fk_projects_owner",
                        (Projects::Table, Projects::OwnerId),
                        (Users::Table, Users::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProjectMembers::Table)
                    .col(pk_uuid(ProjectMembers::Id))
                    .col(uuid(ProjectMembers::ProjectId))
                    .col(uuid(ProjectMembers::UserId))
                    .col(string_len(ProjectMembers::Role, 16).default("MEMBER"))
                    .col(timestamp_with_time_zone(ProjectMembers::JoinedAt))
                    .foreign_key(&mut fk(
                        "fk_project_members_project",
                        (ProjectMembers::Table, ProjectMembers::ProjectId),
                        (Projects::Table, Projects::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_project_members_user",
                        (ProjectMembers::Table, ProjectMembers::UserId),
                        (Users::Table, Users::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProjectPresence::Table)
                    .col(pk_uuid(ProjectPresence::Id))
                    .col(uuid(ProjectPresence::UserId))
                    .col(uuid(ProjectPresence::ProjectId))
                    .col(json_binary_null(ProjectPresence::Cursor))
                    .col(boolean(ProjectPresence::IsActive).default(true))
                    .col(timestamp_with_time_zone(ProjectPresence::JoinedAt))
                    .col(timestamp_with_time_zone(ProjectPresence::LastSeen))
                    .foreign_key(&mut fk(
                        "fk_project_presence_user",
                        (ProjectPresence::Table, ProjectPresence::UserId),
                        (Users::Table, Users::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_project_presence_project",
                        (ProjectPresence::Table, ProjectPresence::ProjectId),
                        (Projects::Table, Projects::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Nodes::Table)
                    .col(pk_uuid(Nodes::Id))
                    .col(uuid(Nodes::ProjectId))
                    .col(text(Nodes::Prompt))
                    .col(text_null(Nodes::Response))
                    .col(text_null(Nodes::Summary))
                    .col(string_len(Nodes::Status, 16).default("IDLE"))
                    .col(json_binary(Nodes::Position))
                    .col(json_binary_null(Nodes::Metadata))
                    .col(string_len_null(Nodes::LlmModel, 100))
                    .col(integer_null(Nodes::LlmTokens))
                    .col(double_null(Nodes::LlmCost))
                    .col(uuid_null(Nodes::CreatedBy))
                    .col(integer(Nodes::Version).default(1))
                    .col(timestamp_with_time_zone(Nodes::CreatedAt))
                    .col(timestamp_with_time_zone(Nodes::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Nodes::DeletedAt))
                    .foreign_key(&mut fk(
                        "fk_nodes_project",
                        (Nodes::Table, Nodes::ProjectId),
                        (Projects::Table, Projects::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_nodes_created_by",
                        (Nodes::Table, Nodes::CreatedBy),
                        (Users::Table, Users::Id),
                        SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Edges::Table)
                    .col(pk_uuid(Edges::Id))
                    .col(uuid(Edges::ProjectId))
                    .col(uuid(Edges::SourceId))
                    .col(uuid(Edges::TargetId))
                    .col(timestamp_with_time_zone(Edges::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_edges_project",
                        (Edges::Table, Edges::ProjectId),
                        (Projects::Table, Projects::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_edges_source",
                        (Edges::Table, Edges::SourceId),
                        (Nodes::Table, Nodes::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_edges_target",
                        (Edges::Table, Edges::TargetId),
                        (Nodes::Table, Nodes::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        let indexes = [
            index(
                "idx_projects_owner_id",
                Projects::Table,
                &["owner_id"],
                false,
            ),
            index(
                "idx_projects_owner_deleted",
                Projects::Table,
                &["owner_id", "deleted_at"],
                false,
            ),
            index(
                "idx_projects_is_public",
                Projects::Table,
                &["is_public"],
                false,
            ),
            index(
                "idx_projects_deleted_at",
                Projects::Table,
                &["deleted_at"],
                false,
            ),
            index(
                "idx_projects_updated_at",
                Projects::Table,
                &["updated_at", "id"],
                false,
            ),
            index(
                "uq_project_members_project_user",
                ProjectMembers::Table,
                &["project_id", "user_id"],
                true,
            ),
            index(
                "idx_project_members_user_id",
                ProjectMembers::Table,
                &["user_id"],
                false,
            ),
            index(
                "uq_project_presence_user_project",
                ProjectPresence::Table,
                &["user_id", "project_id"],
                true,
            ),
            index(
                "idx_project_presence_project_seen",
                ProjectPresence::Table,
                &["project_id", "last_seen"],
                false,
            ),
            index("idx_nodes_project_id", Nodes::Table, &["project_id"], false),
            index(
                "idx_nodes_project_deleted",
                Nodes::Table,
                &["project_id", "deleted_at"],
                false,
            ),
            index("idx_nodes_status", Nodes::Table, &["status"], false),
            index(
                "idx_nodes_project_deleted_status",
                Nodes::Table,
                &["project_id", "deleted_at", "status"],
                false,
            ),
            index("idx_nodes_created_by", Nodes::Table, &["created_by"], false),
            index("idx_edges_project_id", Edges::Table, &["project_id"], false),
            index(
                "uq_edges_source_target",
                Edges::Table,
                &["source_id", "target_id"],
                true,
            ),
            index("idx_edges_target_id", Edges::Table, &["target_id"], false),
        ];
        for idx in indexes {
            manager.create_index(idx).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Edges::Table.into_iden(),
            Nodes::Table.into_iden(),
            ProjectPresence::Table.into_iden(),
            ProjectMembers::Table.into_iden(),
            Projects::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
