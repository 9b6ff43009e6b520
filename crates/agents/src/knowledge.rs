//! Documents of knowledge packs and `searchDocuments`: text relevance by each database's
//! full-text search (PostgreSQL stored `tsvector`s with a GIN index and `ts_rank`; SQLite FTS5 and
//! `bm25` — migration 6) and, with an embedding, cosine similarity by brute force over the
//! stored vectors; with both, the mean of the normalised text rank and the cosine.
//! Embeddings are stored as little-endian `f32` bytes.

use plexus_core::db::{begin_write, now};
use plexus_core::row;
use plexus_core::{Actor, DomainError, DomainResult};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, Set, Statement,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use crate::entity::{documents, knowledge_packs};
use crate::policy::require_owner;
use crate::service::{AgentsService, check_object, check_text, visible_packs};

/// Largest embedding accepted.
pub const MAX_DIMENSIONS: usize = 4096;
/// Most hits one search returns.
pub const MAX_HITS: u64 = 100;
/// Most words a text query may have.
pub const MAX_TERMS: usize = 32;

/// A new document.
#[derive(Debug, Clone, Default)]
pub struct NewDocument {
    pub knowledge_pack_id: Uuid,
    pub source: String,
    pub title: Option<String>,
    pub author: Option<String>,
    pub content: String,
    pub metadata: Option<Value>,
    pub embedding: Option<Vec<f32>>,
}

/// A change to a document.
#[derive(Debug, Clone, Default)]
pub struct DocumentPatch {
    pub source: Option<String>,
    pub title: Option<Option<String>>,
    pub author: Option<Option<String>>,
    pub content: Option<String>,
    pub metadata: Option<Option<Value>>,
    pub embedding: Option<Option<Vec<f32>>>,
}

/// A search.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub query: Option<String>,
    pub embedding: Option<Vec<f32>>,
    pub knowledge_pack_ids: Option<Vec<Uuid>>,
    pub limit: Option<u64>,
}

/// Encodes an embedding for storage.
pub fn encode_embedding(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes a stored embedding.
pub fn decode_embedding(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn check_embedding(v: &[f32]) -> DomainResult<()> {
    if v.is_empty() || v.len() > MAX_DIMENSIONS {
        return Err(DomainError::invalid(
            "embedding",
            format!("an embedding has 1 to {MAX_DIMENSIONS} dimensions"),
        ));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(DomainError::invalid(
            "embedding",
            "embedding values must be finite",
        ));
    }
    Ok(())
}

/// Cosine similarity of two vectors of equal length (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Lower-case alphanumeric terms of a text.
pub fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

async fn own_pack(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> DomainResult<knowledge_packs::Model> {
    let pack = knowledge_packs::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| DomainError::not_found("knowledge pack"))?;
    require_owner(actor, pack.owner_id, "knowledge pack")?;
    Ok(pack)
}

async fn own_document(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> DomainResult<documents::Model> {
    let doc = documents::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| DomainError::not_found("document"))?;
    own_pack(conn, actor, doc.knowledge_pack_id)
        .await
        .map_err(|_| DomainError::not_found("document"))?;
    Ok(doc)
}

fn check_doc(
    source: Option<&str>,
    content: Option<&str>,
    metadata: Option<&Value>,
) -> DomainResult<()> {
    if let Some(s) = source {
        check_text("source", s, 1, 2_000)?;
    }
    if let Some(c) = content {
        check_text("content", c, 1, 1_000_000)?;
    }
    if let Some(m) = metadata {
        check_object("metadata", m)?;
    }
    Ok(())
}

impl AgentsService {
    /// Adds a document to one of the actor's packs.
    pub async fn add_document(
        &self,
        actor: &Actor,
        input: NewDocument,
    ) -> DomainResult<documents::Model> {
        actor.require_user()?;
        check_doc(
            Some(&input.source),
            Some(&input.content),
            input.metadata.as_ref(),
        )?;
        if let Some(e) = &input.embedding {
            check_embedding(e)?;
        }
        let txn = begin_write(&self.db).await?;
        own_pack(&txn, actor, input.knowledge_pack_id).await?;
        let ts = now();
        let doc = documents::ActiveModel {
            id: Set(Uuid::now_v7()),
            knowledge_pack_id: Set(input.knowledge_pack_id),
            source: Set(input.source),
            title: Set(input.title),
            author: Set(input.author),
            content: Set(input.content),
            metadata: Set(input.metadata),
            is_indexed: Set(input.embedding.is_some()),
            embedding: Set(input.embedding.as_deref().map(encode_embedding)),
            created_at: Set(ts),
            updated_at: Set(ts),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(doc)
    }

    /// Changes a document of one of the actor's packs.
    pub async fn update_document(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: DocumentPatch,
    ) -> DomainResult<documents::Model> {
        actor.require_user()?;
        check_doc(
            patch.source.as_deref(),
            patch.content.as_deref(),
            patch.metadata.as_ref().and_then(Option::as_ref),
        )?;
        if let Some(Some(e)) = &patch.embedding {
            check_embedding(e)?;
        }
        let txn = begin_write(&self.db).await?;
        let doc = own_document(&txn, actor, id).await?;
        let mut am: documents::ActiveModel = doc.into();
        if let Some(v) = patch.source {
            am.source = Set(v);
        }
        if let Some(v) = patch.title {
            am.title = Set(v);
        }
        if let Some(v) = patch.author {
            am.author = Set(v);
        }
        if let Some(v) = patch.content {
            am.content = Set(v);
        }
        if let Some(v) = patch.metadata {
            am.metadata = Set(v);
        }
        if let Some(v) = patch.embedding {
            am.is_indexed = Set(v.is_some());
            am.embedding = Set(v.as_deref().map(encode_embedding));
        }
        am.updated_at = Set(now());
        let doc = am.update(&txn).await?;
        txn.commit().await?;
        Ok(doc)
    }

    /// Deletes a document of one of the actor's packs.
    pub async fn delete_document(&self, actor: &Actor, id: Uuid) -> DomainResult<Uuid> {
        actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        own_document(&txn, actor, id).await?;
        documents::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await?;
        Ok(id)
    }

    /// A document the actor may see (its pack is theirs or shared), or `None`.
    pub async fn document(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> DomainResult<Option<documents::Model>> {
        let Some(doc) = documents::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        let visible = !self
            .packs_by_ids(actor, &[doc.knowledge_pack_id])
            .await?
            .is_empty();
        Ok(visible.then_some(doc))
    }

    /// Knowledge packs by id that `actor` may see.
    pub async fn packs_by_ids(
        &self,
        actor: &Actor,
        ids: &[Uuid],
    ) -> DomainResult<Vec<knowledge_packs::Model>> {
        let Some(user) = actor.user_id() else {
            return Ok(vec![]);
        };
        Ok(visible_packs(user)
            .filter(knowledge_packs::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?)
    }

    /// The documents of `packs` matching any of `terms`, best first, with their text
    /// relevance: PostgreSQL full-text search over the stored weighted vectors
    /// (`documents_search`, GIN) ranked by `ts_rank`, or SQLite FTS5 ranked by `bm25`
    /// (title weighted double). One statement.
    async fn text_ranks(
        &self,
        packs: &[Uuid],
        terms: &[String],
        limit: Option<u64>,
    ) -> DomainResult<Vec<(Uuid, f64)>> {
        let backend = self.db.get_database_backend();
        let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
        let (sql, query) = match backend {
            DbBackend::Postgres => {
                let list = row::placeholders(backend, 2, packs.len());
                let sql = format!(
                    "SELECT d.id AS id, ts_rank(s.vector, q)::float8 AS rank \
                     FROM to_tsquery('simple'::regconfig, $1) AS q \
                     JOIN documents_search s ON s.vector @@ q \
                     JOIN documents d ON d.id = s.doc_id \
                     WHERE d.knowledge_pack_id IN ({list}) \
                     ORDER BY rank DESC, d.id{limit}"
                );
                // Terms are alphanumeric (see `terms`), so quoting them is enough.
                let q = terms
                    .iter()
                    .map(|t| format!("'{t}'"))
                    .collect::<Vec<_>>()
                    .join(" | ");
                (sql, q)
            }
            _ => {
                let list = row::placeholders(backend, 2, packs.len());
                // CROSS JOIN keeps this join order (SQLite does not reorder it): the FTS
                // index drives, instead of re-running the match for every document.
                let sql = format!(
                    "SELECT d.id AS id, -bm25(documents_fts, 2.0, 1.0) AS rank \
                     FROM documents_fts \
                     CROSS JOIN documents_fts_map m ON m.fts_rowid = documents_fts.rowid \
                     CROSS JOIN documents d ON d.id = m.doc_id \
                     WHERE documents_fts MATCH ? AND d.knowledge_pack_id IN ({list}) \
                     ORDER BY rank DESC, d.id{limit}"
                );
                let q = terms
                    .iter()
                    .map(|t| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                (sql, q)
            }
        };
        let mut values: Vec<sea_orm::Value> = vec![query.into()];
        values.extend(packs.iter().map(|p| sea_orm::Value::from(*p)));
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get::<Uuid>("", "id")?, r.try_get::<f64>("", "rank")?)))
            .collect()
    }

    /// Scores every document of `packs` that has an embedding by cosine similarity to
    /// `want` — averaged with its normalised text relevance when `text` is given — reading
    /// only ids and embeddings. Returns the `limit` best `(score, id)`.
    async fn nearest(
        &self,
        packs: &[Uuid],
        want: &[f32],
        text: Option<&HashMap<Uuid, f64>>,
        limit: usize,
    ) -> DomainResult<Vec<(f64, Uuid)>> {
        let rows: Vec<(Uuid, Option<Vec<u8>>)> = documents::Entity::find()
            .filter(documents::Column::KnowledgePackId.is_in(packs.iter().copied()))
            .filter(documents::Column::Embedding.is_not_null())
            .select_only()
            .column(documents::Column::Id)
            .column(documents::Column::Embedding)
            .into_tuple()
            .all(&self.db)
            .await?;
        let max_text = text
            .map(|t| t.values().copied().fold(0.0, f64::max))
            .unwrap_or(0.0);
        let mut scored = Vec::with_capacity(rows.len());
        for (id, bytes) in rows {
            let Some(bytes) = bytes else { continue };
            let have = decode_embedding(&bytes);
            if have.len() != want.len() {
                return Err(DomainError::invalid(
                    "embedding",
                    format!(
                        "the embedding has {} dimensions, the documents {}",
                        want.len(),
                        have.len()
                    ),
                ));
            }
            let cos = cosine(want, &have);
            let score = match text {
                None => cos,
                Some(text) => {
                    let t = text.get(&id).copied().unwrap_or(0.0);
                    let t = if max_text > 0.0 { t / max_text } else { 0.0 };
                    (t + cos) / 2.0
                }
            };
            scored.push((score, id));
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.truncate(limit);
        Ok(scored)
    }

    /// Ranks documents of the packs the actor sees (own and shared; active ones) by text
    /// relevance and/or cosine similarity. Returns `(score, document)`, best first.
    pub async fn search_documents(
        &self,
        actor: &Actor,
        search: Search,
    ) -> DomainResult<Vec<(f64, documents::Model)>> {
        let user = actor.require_user()?;
        let query = search.query.as_deref().map(terms).unwrap_or_default();
        if query.is_empty() && search.embedding.is_none() {
            return Err(DomainError::invalid(
                "query",
                "give a query, an embedding, or both",
            ));
        }
        if query.len() > MAX_TERMS {
            return Err(DomainError::invalid(
                "query",
                format!("a query has at most {MAX_TERMS} words"),
            ));
        }
        if let Some(e) = &search.embedding {
            check_embedding(e)?;
        }
        let limit = search.limit.unwrap_or(10);
        if limit == 0 || limit > MAX_HITS {
            return Err(DomainError::invalid(
                "limit",
                format!("limit is 1 to {MAX_HITS}"),
            ));
        }
        let mut packs = visible_packs(user).filter(knowledge_packs::Column::IsActive.eq(true));
        if let Some(ids) = &search.knowledge_pack_ids {
            let wanted: HashSet<Uuid> = ids.iter().copied().collect();
            packs = packs.filter(knowledge_packs::Column::Id.is_in(wanted));
        }
        let pack_ids: Vec<Uuid> = packs
            .select_only()
            .column(knowledge_packs::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?;
        if pack_ids.is_empty() {
            return Ok(vec![]);
        }
        let ranked: Vec<(f64, Uuid)> = match &search.embedding {
            None => self
                .text_ranks(&pack_ids, &query, Some(limit))
                .await?
                .into_iter()
                .map(|(id, rank)| (rank, id))
                .collect(),
            Some(want) => {
                let text: Option<HashMap<Uuid, f64>> = if query.is_empty() {
                    None
                } else {
                    Some(
                        self.text_ranks(&pack_ids, &query, None)
                            .await?
                            .into_iter()
                            .collect(),
                    )
                };
                self.nearest(&pack_ids, want, text.as_ref(), limit as usize)
                    .await?
            }
        };
        let docs = documents::Entity::find()
            .filter(documents::Column::Id.is_in(ranked.iter().map(|(_, id)| *id)))
            .all(&self.db)
            .await?;
        let mut by_id: HashMap<Uuid, documents::Model> =
            docs.into_iter().map(|d| (d.id, d)).collect();
        Ok(ranked
            .into_iter()
            .filter_map(|(score, id)| by_id.remove(&id).map(|d| (score, d)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_round_trip_and_cosine() {
        let v = vec![0.5f32, -1.25, 3.0];
        assert_eq!(decode_embedding(&encode_embedding(&v)), v);
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-9);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-9);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
