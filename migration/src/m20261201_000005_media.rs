//! Media (crate `media`): uploaded files attached to a project, a canvas node or a
//! conversation, and voice interactions — from the NonLinear Media / VoiceInteraction and
//! the chat File models.
//!
//! `filename` is the storage key (never the client's name, which is `original_name`);
//! `sha256` is the hex digest of the stored bytes.

use crate::util::{fk, index};
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_users::Users;
use crate::m20261122_000002_projects_graph::{Nodes, Projects};
use crate::m20261122_000004_conversations::Conversations;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Media {
    Table,
    Id,
    OwnerId,
    Kind,
    Filename,
    OriginalName,
    MimeType,
    SizeBytes,
    Sha256,
    Url,
    ThumbnailUrl,
    Alt,
    Metadata,
    ProjectId,
    NodeId,
    ConversationId,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum VoiceInteractions {
    Table,
    Id,
    UserId,
    NodeId,
    Kind,
    Text,
    AudioMediaId,
    AudioUrl,
    DurationSeconds,
    Status,
    Error,
    Language,
    Metadata,
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
                .table(Media::Table)
                .col(pk_uuid(Media::Id))
                .col(uuid(Media::OwnerId))
                .col(string_len(Media::Kind, 16))
                .col(string_len(Media::Filename, 255))
                .col(string_len(Media::OriginalName, 255))
                .col(string_len(Media::MimeType, 127))
                .col(big_integer(Media::SizeBytes))
                .col(string_len(Media::Sha256, 64))
                .col(text(Media::Url))
                .col(text_null(Media::ThumbnailUrl))
                .col(text_null(Media::Alt))
                .col(json_binary_null(Media::Metadata))
                .col(uuid_null(Media::ProjectId))
                .col(uuid_null(Media::NodeId))
                .col(uuid_null(Media::ConversationId))
                .col(timestamp_with_time_zone(Media::CreatedAt))
                .col(timestamp_with_time_zone(Media::UpdatedAt))
                .col(timestamp_with_time_zone_null(Media::DeletedAt))
                .foreign_key(&mut fk(
                    "fk_media_owner",
                    (Media::Table, Media::OwnerId),
                    (Users::Table, Users::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_media_project",
                    (Media::Table, Media::ProjectId),
                    (Projects::Table, Projects::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_media_node",
                    (Media::Table, Media::NodeId),
                    (Nodes::Table, Nodes::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_media_conversation",
                    (Media::Table, Media::ConversationId),
                    (Conversations::Table, Conversations::Id),
                    Cascade,
                ))
                .to_owned(),
            Table::create()
                .table(VoiceInteractions::Table)
                .col(pk_uuid(VoiceInteractions::Id))
                .col(uuid(VoiceInteractions::UserId))
                .col(uuid_null(VoiceInteractions::NodeId))
                .col(string_len(VoiceInteractions::Kind, 16))
                .col(text_null(VoiceInteractions::Text))
                .col(uuid_null(VoiceInteractions::AudioMediaId))
                .col(text_null(VoiceInteractions::AudioUrl))
                .col(double_null(VoiceInteractions::DurationSeconds))
                .col(string_len(VoiceInteractions::Status, 16).default("COMPLETED"))
                .col(text_null(VoiceInteractions::Error))
                .col(string_len(VoiceInteractions::Language, 16).default("en"))
                .col(json_binary_null(VoiceInteractions::Metadata))
                .col(timestamp_with_time_zone(VoiceInteractions::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_voice_interactions_user",
                    (VoiceInteractions::Table, VoiceInteractions::UserId),
                    (Users::Table, Users::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_voice_interactions_node",
                    (VoiceInteractions::Table, VoiceInteractions::NodeId),
                    (Nodes::Table, Nodes::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_voice_interactions_audio_media",
                    (VoiceInteractions::Table, VoiceInteractions::AudioMediaId),
                    (Media::Table, Media::Id),
                    SetNull,
                ))
                .to_owned(),
        ];
        for t in tables {
            manager.create_table(t).await?;
        }
        let indexes = [
            index(
                "idx_media_owner_id",
                Media::Table,
                &["owner_id", "id"],
                false,
            ),
            index(
                "idx_media_project_id",
                Media::Table,
                &["project_id", "id"],
                false,
            ),
            index("idx_media_node_id", Media::Table, &["node_id", "id"], false),
            index(
                "idx_media_conversation_id",
                Media::Table,
                &["conversation_id", "id"],
                false,
            ),
            index("idx_media_deleted_at", Media::Table, &["deleted_at"], false),
            index(
                "idx_voice_interactions_user_id",
                VoiceInteractions::Table,
                &["user_id", "id"],
                false,
            ),
            index(
                "idx_voice_interactions_node_id",
                VoiceInteractions::Table,
                &["node_id", "id"],
                false,
            ),
            index(
                "idx_voice_interactions_audio_media_id",
                VoiceInteractions::Table,
                &["audio_media_id"],
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
            VoiceInteractions::Table.into_iden(),
            Media::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
