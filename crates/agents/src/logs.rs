//! System logs: any signed-in user (or the server itself) writes them; only site admins
//! read them. A retention purge removes old rows.

use plexus_core::db::now;
use plexus_core::page::{KeyValue, Ordering, PageArgs, fetch_page};
use plexus_core::{Actor, DomainError, DomainResult, Page};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    Select, Set,
};
use serde_json::Value;
use uuid::Uuid;

use crate::entity::system_logs;
use crate::service::{AgentsService, check_object, check_text};

/// How serious a log entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// Every level.
    pub const ALL: [LogLevel; 4] = [Self::Debug, Self::Info, Self::Warn, Self::Error];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// Which logs to list.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub level: Option<LogLevel>,
    pub category: Option<String>,
    pub since: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// Writes a log entry through `conn` (inside the caller's transaction, if any).
pub async fn write_log(
    conn: &impl ConnectionTrait,
    actor_id: Option<Uuid>,
    level: LogLevel,
    category: &str,
    message: &str,
    metadata: Option<Value>,
) -> DomainResult<system_logs::Model> {
    Ok(system_logs::ActiveModel {
        id: Set(Uuid::now_v7()),
        level: Set(level.as_str().to_string()),
        category: Set(category.to_string()),
        message: Set(message.to_string()),
        metadata: Set(metadata),
        actor_id: Set(actor_id),
        created_at: Set(now()),
    }
    .insert(conn)
    .await?)
}

fn require_admin(actor: &Actor) -> DomainResult<()> {
    actor.require_user()?;
    if actor.is_admin() {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "only site administrators may read system logs".into(),
        ))
    }
}

fn log_list(filter: &LogFilter) -> Select<system_logs::Entity> {
    let mut q = system_logs::Entity::find();
    if let Some(l) = filter.level {
        q = q.filter(system_logs::Column::Level.eq(l.as_str()));
    }
    if let Some(c) = &filter.category {
        q = q.filter(system_logs::Column::Category.eq(c.as_str()));
    }
    if let Some(s) = filter.since {
        q = q.filter(system_logs::Column::CreatedAt.gte(s));
    }
    q
}

impl AgentsService {
    /// Writes a log entry on behalf of a signed-in user.
    pub async fn write_log(
        &self,
        actor: &Actor,
        level: LogLevel,
        category: &str,
        message: &str,
        metadata: Option<Value>,
    ) -> DomainResult<system_logs::Model> {
        let user = actor.require_user()?;
        check_text("category", category.trim(), 1, 100)?;
        check_text("message", message, 1, 10_000)?;
        if let Some(m) = &metadata {
            check_object("metadata", m)?;
        }
        write_log(
            &self.db,
            Some(user),
            level,
            category.trim(),
            message,
            metadata,
        )
        .await
    }

    /// Writes one of the server's own notable events (no actor): auth lockouts and the
    /// like.
    pub async fn log_server_event(
        &self,
        level: LogLevel,
        category: &str,
        message: &str,
        metadata: Option<Value>,
    ) -> DomainResult<system_logs::Model> {
        write_log(&self.db, None, level, category, message, metadata).await
    }

    /// One log entry (site admins only; `NOT_FOUND` for anyone else).
    pub async fn log_entry(&self, actor: &Actor, id: Uuid) -> DomainResult<system_logs::Model> {
        if !actor.is_admin() {
            return Err(DomainError::not_found("log entry"));
        }
        system_logs::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::not_found("log entry"))
    }

    /// One page of logs, newest first (site admins only).
    pub async fn list_logs(
        &self,
        actor: &Actor,
        filter: &LogFilter,
        page: &PageArgs,
    ) -> DomainResult<Page<system_logs::Model>> {
        require_admin(actor)?;
        let o = Ordering {
            name: "id",
            columns: system_logs::Column::Id,
            arity: 1,
            descending: true,
        };
        fetch_page(&self.db, log_list(filter), o, page, |l| {
            vec![KeyValue::U(l.id)]
        })
        .await
    }

    /// How many logs a list holds (site admins only).
    pub async fn count_logs(&self, actor: &Actor, filter: &LogFilter) -> DomainResult<u64> {
        require_admin(actor)?;
        Ok(log_list(filter).count(&self.db).await?)
    }

    /// Deletes logs older than `days`; returns how many.
    pub async fn purge_logs(&self, days: u32) -> DomainResult<u64> {
        let cutoff = now() - chrono::Duration::days(i64::from(days));
        Ok(system_logs::Entity::delete_many()
            .filter(system_logs::Column::CreatedAt.lt(cutoff))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}
