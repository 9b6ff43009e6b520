//! Users, refresh tokens and notifications (crate `users`).
//!
//! Notifications get their `project_id`/`node_id` columns with the projects and graph
//! migrations, which can reference those tables (`ALTER TABLE … ADD COLUMN … REFERENCES`
//! works on both backends).

use crate::util::index;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    Email,
    Username,
    PasswordHash,
    FirstName,
    LastName,
    AvatarUrl,
    Role,
    IsActive,
    EmailVerified,
    Preferences,
    TotalTokensUsed,
    LastLoginAt,
    SessionVersion,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    TokenHash,
    FamilyId,
    ExpiresAt,
    RevokedAt,
    ReplacedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    Type,
    Title,
    Message,
    Data,
    Read,
    ReadAt,
    Priority,
    ExpiresAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(string_len_uniq(Users::Email, 254))
                    .col(string_len_null(Users::Username, 32).unique_key())
                    .col(string(Users::PasswordHash))
                    .col(string_len_null(Users::FirstName, 100))
                    .col(string_len_null(Users::LastName, 100))
                    .col(string_len_null(Users::AvatarUrl, 2048))
                    .col(string_len(Users::Role, 16).default("USER"))
                    .col(boolean(Users::IsActive).default(true))
                    .col(boolean(Users::EmailVerified).default(false))
                    .col(json_binary_null(Users::Preferences))
                    .col(big_integer(Users::TotalTokensUsed).default(0))
                    .col(timestamp_with_time_zone_null(Users::LastLoginAt))
                    .col(integer(Users::SessionVersion).default(0))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Users::DeletedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_users_deleted_at",
                Users::Table,
                &["deleted_at"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(pk_uuid(RefreshTokens::Id))
                    .col(uuid(RefreshTokens::UserId))
                    .col(string_len_uniq(RefreshTokens::TokenHash, 64))
                    .col(uuid(RefreshTokens::FamilyId))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .col(uuid_null(RefreshTokens::ReplacedBy))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_tokens_user")
                            .from(RefreshTokens::Table, RefreshTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("idx_refresh_tokens_user_id", &["user_id"][..]),
            ("idx_refresh_tokens_family_id", &["family_id"][..]),
            ("idx_refresh_tokens_expires_at", &["expires_at"][..]),
        ] {
            manager
                .create_index(index(name, RefreshTokens::Table, cols, false))
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(pk_uuid(Notifications::Id))
                    .col(uuid(Notifications::UserId))
                    .col(string_len(Notifications::Type, 32))
                    .col(string_len(Notifications::Title, 200))
                    .col(text(Notifications::Message))
                    .col(json_binary_null(Notifications::Data))
                    .col(boolean(Notifications::Read).default(false))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    .col(string_len(Notifications::Priority, 16).default("MEDIUM"))
                    .col(timestamp_with_time_zone_null(Notifications::ExpiresAt))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notifications_user")
                            .from(Notifications::Table, Notifications::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("idx_notifications_user_read", &["user_id", "read"][..]),
            (
                "idx_notifications_user_created_at",
                &["user_id", "created_at"][..],
            ),
            ("idx_notifications_type", &["type"][..]),
            ("idx_notifications_expires_at", &["expires_at"][..]),
        ] {
            manager
                .create_index(index(name, Notifications::Table, cols, false))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Notifications::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
