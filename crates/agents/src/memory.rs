//! Agent memories: upserted on (agent, kind, key), never returned once expired, purged
//! periodically.

use plexus_core::db::{begin_write, now};
use plexus_core::page::{ChildPage, KeyValue, Ordering, PageArgs, fetch_child_pages, fetch_page};
use plexus_core::{Actor, DomainError, DomainResult, Page};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, Select, Set};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

use crate::entity::memories;
use crate::service::{AgentsService, check_object, check_size, check_text, own_agent};

/// What kind of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryKind {
    ShortTerm,
    LongTerm,
    Episodic,
}

impl MemoryKind {
    /// Every kind.
    pub const ALL: [MemoryKind; 3] = [Self::ShortTerm, Self::LongTerm, Self::Episodic];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ShortTerm => "SHORT_TERM",
            Self::LongTerm => "LONG_TERM",
            Self::Episodic => "EPISODIC",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A memory to store.
#[derive(Debug, Clone)]
pub struct Remember {
    pub agent_id: Uuid,
    pub kind: MemoryKind,
    pub key: String,
    pub value: Value,
    pub metadata: Option<Value>,
    pub expires_at: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// Memories that have not expired.
fn live() -> Select<memories::Entity> {
    memories::Entity::find().filter(
        Condition::any()
            .add(memories::Column::ExpiresAt.is_null())
            .add(memories::Column::ExpiresAt.gt(now())),
    )
}

impl AgentsService {
    /// Stores a memory of the actor's agent, replacing the one with the same kind and key.
    pub async fn remember(&self, actor: &Actor, input: Remember) -> DomainResult<memories::Model> {
        actor.require_user()?;
        check_text("key", input.key.trim(), 1, 255)?;
        check_size("value", &input.value)?;
        if let Some(m) = &input.metadata {
            check_object("metadata", m)?;
        }
        if input.expires_at.is_some_and(|t| t <= now()) {
            return Err(DomainError::invalid(
                "expiresAt",
                "expiresAt must be in the future",
            ));
        }
        let txn = begin_write(&self.db).await?;
        own_agent(&txn, actor, input.agent_id).await?;
        let ts = now();
        let key = input.key.trim().to_string();
        use memories::Column as C;
        memories::Entity::insert(memories::ActiveModel {
            id: Set(Uuid::now_v7()),
            agent_id: Set(input.agent_id),
            kind: Set(input.kind.as_str().to_string()),
            key: Set(key.clone()),
            value: Set(input.value),
            metadata: Set(input.metadata),
            expires_at: Set(input.expires_at),
            created_at: Set(ts),
            updated_at: Set(ts),
        })
        .on_conflict(
            OnConflict::columns([C::AgentId, C::Kind, C::Key])
                .update_columns([C::Value, C::Metadata, C::ExpiresAt, C::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        let memory = memories::Entity::find()
            .filter(C::AgentId.eq(input.agent_id))
            .filter(C::Kind.eq(input.kind.as_str()))
            .filter(C::Key.eq(key))
            .one(&txn)
            .await?
            .ok_or_else(|| DomainError::internal("an upserted memory vanished"))?;
        txn.commit().await?;
        Ok(memory)
    }

    /// A live memory of one of the actor's agents, or `None`.
    pub async fn memory(&self, actor: &Actor, id: Uuid) -> DomainResult<Option<memories::Model>> {
        let Some(m) = live()
            .filter(memories::Column::Id.eq(id))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(own_agent(&self.db, actor, m.agent_id).await.ok().map(|_| m))
    }

    /// Deletes a memory of one of the actor's agents.
    pub async fn forget(&self, actor: &Actor, id: Uuid) -> DomainResult<Uuid> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        let memory = memories::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(|| DomainError::not_found("memory"))?;
        own_agent(&txn, actor, memory.agent_id)
            .await
            .map_err(|_| DomainError::not_found("memory"))?;
        memories::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await?;
        Ok(id)
    }

    fn memory_list(agent_id: Uuid, kind: Option<MemoryKind>) -> Select<memories::Entity> {
        let mut q = live().filter(memories::Column::AgentId.eq(agent_id));
        if let Some(k) = kind {
            q = q.filter(memories::Column::Kind.eq(k.as_str()));
        }
        q
    }

    /// One page of the live memories of the actor's agent, in creation order.
    pub async fn list_memories(
        &self,
        actor: &Actor,
        agent_id: Uuid,
        kind: Option<MemoryKind>,
        page: &PageArgs,
    ) -> DomainResult<Page<memories::Model>> {
        own_agent(&self.db, actor, agent_id).await?;
        let o = Ordering {
            name: "id",
            columns: memories::Column::Id,
            arity: 1,
            descending: false,
        };
        let q = Self::memory_list(agent_id, kind);
        fetch_page(&self.db, q, o, page, |m| vec![KeyValue::U(m.id)]).await
    }

    /// How many live memories a list holds.
    pub async fn count_memories(
        &self,
        agent_id: Uuid,
        kind: Option<MemoryKind>,
    ) -> DomainResult<u64> {
        Ok(Self::memory_list(agent_id, kind).count(&self.db).await?)
    }

    /// One page of live memories per agent (one statement).
    pub async fn memory_pages(
        &self,
        agent_ids: &[Uuid],
        page: ChildPage,
    ) -> DomainResult<HashMap<Uuid, Page<memories::Model>>> {
        use memories::Column as C;
        fetch_child_pages(&self.db, live(), C::AgentId, C::Id, agent_ids, page).await
    }

    /// Deletes expired memories; returns how many.
    pub async fn purge_expired_memories(&self) -> DomainResult<u64> {
        Ok(memories::Entity::delete_many()
            .filter(memories::Column::ExpiresAt.lte(now()))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}
