//! Documents of knowledge packs and `searchDocuments`: a portable text relevance (term
//! frequency over title and content, computed in Rust after a `LIKE` prefilter, the same
//! on SQLite and PostgreSQL) and, with an embedding, cosine similarity by brute force;
//! with both, the mean of the normalised text score and the cosine. Embeddings are stored
//! as little-endian `f32` bytes.

use plexus_core::db::{begin_write, contains_ci, now};
use plexus_core::{Actor, DomainError, DomainResult};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use serde_json::Value;
use std::collections::HashSet;
use uuid::Uuid;

use crate::entity::{documents, knowledge_packs};
use crate::policy::require_owner;
use crate::service::{AgentsService, check_object, check_text, visible_packs};

/// Largest embedding accepted.
pub const MAX_DIMENSIONS: usize = 4096;
/// Most hits one search returns.
pub const MAX_HITS: u64 = 100;

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

/// Text relevance: for each query term, `ln(1 + occurrences)` (title occurrences count
/// double), summed and scaled by the share of query terms the document contains.
pub fn text_score(query: &[String], title: Option<&str>, content: &str) -> f64 {
    if query.is_empty() {
        return 0.0;
    }
    let body = terms(content);
    let head = title.map(terms).unwrap_or_default();
    let mut sum = 0.0;
    let mut matched = 0usize;
    for q in query {
        let n =
            body.iter().filter(|t| *t == q).count() + 2 * head.iter().filter(|t| *t == q).count();
        if n > 0 {
            matched += 1;
            sum += (1.0 + n as f64).ln();
        }
    }
    sum * matched as f64 / query.len() as f64
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

    /// Embedding-only search: reads ids and embeddings, then loads the best documents.
    async fn nearest(
        &self,
        q: sea_orm::Select<documents::Entity>,
        want: &[f32],
        limit: usize,
    ) -> DomainResult<Vec<(f64, documents::Model)>> {
        let rows: Vec<(Uuid, Option<Vec<u8>>)> = q
            .select_only()
            .column(documents::Column::Id)
            .column(documents::Column::Embedding)
            .into_tuple()
            .all(&self.db)
            .await?;
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
            scored.push((cosine(want, &have), id));
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.truncate(limit);
        let docs = documents::Entity::find()
            .filter(documents::Column::Id.is_in(scored.iter().map(|(_, id)| *id)))
            .all(&self.db)
            .await?;
        let mut by_id: std::collections::HashMap<Uuid, documents::Model> =
            docs.into_iter().map(|d| (d.id, d)).collect();
        Ok(scored
            .into_iter()
            .filter_map(|(s, id)| by_id.remove(&id).map(|d| (s, d)))
            .collect())
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
        let mut q =
            documents::Entity::find().filter(documents::Column::KnowledgePackId.is_in(pack_ids));
        if search.embedding.is_some() {
            q = q.filter(documents::Column::Embedding.is_not_null());
        } else {
            let mut any = Condition::any();
            for t in &query {
                any = any
                    .add(contains_ci(
                        (documents::Entity, documents::Column::Content),
                        t,
                    ))
                    .add(contains_ci(
                        (documents::Entity, documents::Column::Title),
                        t,
                    ));
            }
            q = q.filter(any);
        }
        if let (true, Some(want)) = (query.is_empty(), &search.embedding) {
            return self.nearest(q, want, limit as usize).await;
        }
        let docs = q.all(&self.db).await?;
        let mut scored = Vec::with_capacity(docs.len());
        let mut max_text: f64 = 0.0;
        for doc in docs {
            let text = text_score(&query, doc.title.as_deref(), &doc.content);
            max_text = max_text.max(text);
            let cos = match (&search.embedding, &doc.embedding) {
                (Some(want), Some(bytes)) => {
                    let have = decode_embedding(bytes);
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
                    Some(cosine(want, &have))
                }
                _ => None,
            };
            scored.push((text, cos, doc));
        }
        let mut hits: Vec<(f64, documents::Model)> = scored
            .into_iter()
            .map(|(text, cos, doc)| {
                let score = match (query.is_empty(), cos) {
                    (true, Some(c)) => c,
                    (false, None) => text,
                    (false, Some(c)) => {
                        let t = if max_text > 0.0 { text / max_text } else { 0.0 };
                        (t + c) / 2.0
                    }
                    (true, None) => 0.0,
                };
                (score, doc)
            })
            .filter(|(s, _)| *s > 0.0 || search.embedding.is_some())
            .collect();
        hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        hits.truncate(limit as usize);
        Ok(hits)
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

    #[test]
    fn text_scores_rank_more_and_titled_matches_higher() {
        let q = terms("rust graph");
        let both = text_score(&q, None, "rust and a graph");
        let one = text_score(&q, None, "rust only");
        let titled = text_score(&q, Some("Rust graph"), "rust and a graph");
        assert!(titled > both && both > one && one > 0.0);
        assert_eq!(text_score(&q, None, "nothing here"), 0.0);
    }
}
