//! The media service: uploads (sniffed, size-limited, streamed to storage, hashed),
//! attachments to projects, nodes and conversations, who may see a file, and voice
//! interactions.
//!
//! Who sees a file: its owner; members of the project it is attached to (directly or
//! through a node); anyone when that project is public; for a conversation attachment,
//! whoever may read the conversation (its owner; its project's members). Everyone else —
//! and everyone once it is deleted — gets `NOT_FOUND`. Attaching needs edit rights on the
//! project or node (EDITOR and above) or write access to the conversation (MEMBER and
//! above in its project). Only the owner changes or deletes a file.
//!
//! An upload is staged in storage first; its row is written and the staged bytes are
//! published under the row's key inside one transaction, so a failure at any step leaves
//! neither a file nor a row.

use plexus_core::db::{begin_write, now};
use plexus_core::page::{
    ChildPage, KeyValue, Ordering, PageArgs, count_children, fetch_child_pages, fetch_page,
};
use plexus_core::{Actor, DomainError, DomainResult, IdKind, Page};
use plexus_graph::service::node_access;
use plexus_projects::service::access_on;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect, Select, Set,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};
use uuid::Uuid;

use crate::entity::{media, voice_interactions as voice};
use crate::sniff::{MediaKind, SNIFF_LEN, allowed, sniff};
use crate::storage::{self, ByteReader, Storage};

/// Upload limits.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Accepted MIME types (`type/subtype` or `type/*`), matched against the sniffed type.
    pub allowed_types: Vec<String>,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            max_bytes: 25 * 1024 * 1024,
            allowed_types: crate::sniff::DEFAULT_ALLOWED
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// Where a file hangs: `None` leaves a field alone (updates), `Some(None)` detaches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attachment {
    pub project_id: Option<Uuid>,
    pub node_id: Option<Uuid>,
    pub conversation_id: Option<Uuid>,
}

/// A file to upload (its bytes come separately, as a reader).
#[derive(Debug, Clone, Default)]
pub struct NewUpload {
    /// The client's file name (kept for display and downloads only).
    pub original_name: String,
    pub alt: Option<String>,
    pub metadata: Option<Value>,
    pub attach: Attachment,
}

/// A change to a file: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct MediaPatch {
    pub alt: Option<Option<String>>,
    pub metadata: Option<Option<Value>>,
    pub project_id: Option<Option<Uuid>>,
    pub node_id: Option<Option<Uuid>>,
    pub conversation_id: Option<Option<Uuid>>,
}

/// Which files a list shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct MediaFilter {
    pub kind: Option<MediaKind>,
    /// Files of this project (the viewer must see it); without project or node: the
    /// viewer's own files.
    pub project_id: Option<Uuid>,
    /// Files of this node (the viewer must see it).
    pub node_id: Option<Uuid>,
}

/// Speech-to-text or text-to-speech (`VoiceKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoiceKind {
    SpeechToText,
    TextToSpeech,
}

impl VoiceKind {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SpeechToText => "SPEECH_TO_TEXT",
            Self::TextToSpeech => "TEXT_TO_SPEECH",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::SpeechToText, Self::TextToSpeech]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where a voice interaction is (`VoiceStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VoiceStatus {
    Pending,
    Processing,
    #[default]
    Completed,
    Failed,
}

impl VoiceStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Processing => "PROCESSING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Processing,
            Self::Completed,
            Self::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A voice interaction to record.
#[derive(Debug, Clone)]
pub struct NewVoice {
    pub kind: VoiceKind,
    pub node_id: Option<Uuid>,
    pub text: Option<String>,
    /// An external audio URL (when no audio file is uploaded).
    pub audio_url: Option<String>,
    pub duration_seconds: Option<f64>,
    pub status: VoiceStatus,
    pub error: Option<String>,
    pub language: Option<String>,
    pub metadata: Option<Value>,
}

/// The media service.
#[derive(Debug, Clone)]
pub struct MediaService {
    db: DatabaseConnection,
    storage: Arc<dyn Storage>,
    settings: Arc<MediaSettings>,
}

/// The bytes of an upload, staged and checked, not yet visible.
struct StagedFile {
    staged_id: String,
    mime: &'static str,
    size: u64,
    sha256: String,
}

/// The download path of a file (`GET /media/{id}`).
pub fn media_url(id: Uuid) -> String {
    format!("/media/{}", plexus_core::id::encode(IdKind::Media, id))
}

/// The thumbnail path of an image (`GET /media/{id}/thumbnail`).
pub fn thumbnail_url(id: Uuid) -> String {
    format!("{}/thumbnail", media_url(id))
}

/// The storage key of a file's thumbnail.
fn thumbnail_key(m: &media::Model) -> String {
    format!("{}.thumb", m.filename)
}

fn check_text(field: &str, v: &str, max: usize) -> DomainResult<()> {
    plexus_core::validate::check_text(field, v, 0, max)
}

fn check_metadata(v: &Value) -> DomainResult<()> {
    plexus_core::validate::check_object_within("metadata", v, 64 * 1024)
}

/// The client's file name without directories or control characters, at most 255
/// characters; "file" when nothing is left.
pub fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        "file".into()
    } else {
        cleaned
    }
}

/// What a file can be attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttachedTo {
    Project,
    Node,
    Conversation,
}

impl AttachedTo {
    fn column(self) -> media::Column {
        match self {
            Self::Project => media::Column::ProjectId,
            Self::Node => media::Column::NodeId,
            Self::Conversation => media::Column::ConversationId,
        }
    }
}

fn live() -> Select<media::Entity> {
    media::Entity::find().filter(media::Column::DeletedAt.is_null())
}

/// The actor's access to a live conversation, or `None` when it may not read it.
async fn conversation_access(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> DomainResult<Option<plexus_conversations::ConversationAccess>> {
    match plexus_conversations::service::conversation_on(conn, actor, id).await {
        Ok((_, a)) => Ok(Some(a)),
        Err(DomainError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Checks that `actor` may attach a file as `a` says; returns the attachment to store (a
/// node's project is filled in).
async fn check_attach(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    a: Attachment,
) -> DomainResult<Attachment> {
    actor.require_user()?;
    let mut out = a;
    if let Some(node) = a.node_id {
        let (node, access) =
            node_access(conn, actor, node, false)
                .await
                .map_err(|e| match e.code() {
                    "NOT_FOUND" => DomainError::invalid("nodeId", "node not found"),
                    _ => e,
                })?;
        access.require(access.caps.edit, "attach files to nodes")?;
        if a.project_id.is_some_and(|p| p != node.project_id) {
            return Err(DomainError::invalid(
                "projectId",
                "the node belongs to another project",
            ));
        }
        out.project_id = Some(node.project_id);
    } else if let Some(project) = a.project_id {
        let access = access_on(conn, actor, project)
            .await
            .map_err(|e| match e.code() {
                "NOT_FOUND" => DomainError::invalid("projectId", "project not found"),
                _ => e,
            })?;
        access.require(access.caps.edit, "attach files to this project")?;
    }
    if let Some(conv) = a.conversation_id {
        let Some(access) = conversation_access(conn, actor, conv).await? else {
            return Err(DomainError::invalid(
                "conversationId",
                "conversation not found",
            ));
        };
        access.require(access.write, "attach files to it")?;
    }
    Ok(out)
}

/// Whether `actor` may see the (live) file `m`.
async fn can_view(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    m: &media::Model,
) -> DomainResult<bool> {
    if m.deleted_at.is_some() {
        return Ok(false);
    }
    if actor.user_id() == Some(m.owner_id) {
        return Ok(true);
    }
    if let Some(node) = m.node_id {
        return match node_access(conn, actor, node, false).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == "NOT_FOUND" => Ok(false),
            Err(e) => Err(e),
        };
    }
    if let Some(project) = m.project_id {
        return match access_on(conn, actor, project).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == "NOT_FOUND" => Ok(false),
            Err(e) => Err(e),
        };
    }
    if let Some(conv) = m.conversation_id {
        return Ok(conversation_access(conn, actor, conv).await?.is_some());
    }
    Ok(false)
}

impl MediaService {
    /// A service over `db`, keeping bytes in `storage`.
    pub fn new(db: DatabaseConnection, storage: Arc<dyn Storage>, settings: MediaSettings) -> Self {
        Self {
            db,
            storage,
            settings: Arc::new(settings),
        }
    }

    /// The upload limits.
    pub fn settings(&self) -> &MediaSettings {
        &self.settings
    }

    /// Streams `content` into a staging object: sniffs its type from the first bytes (and
    /// refuses types not on the allow-list before storing anything), enforces the size
    /// limit and hashes it. Nothing is staged on error.
    async fn stage<R: AsyncRead + Unpin + Send>(
        &self,
        field: &str,
        content: &mut R,
    ) -> DomainResult<StagedFile> {
        let io_err = |e: std::io::Error| DomainError::internal(format!("media storage: {e}"));
        let mut head = vec![0u8; SNIFF_LEN];
        let mut filled = 0;
        while filled < head.len() {
            let n = content.read(&mut head[filled..]).await.map_err(io_err)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        head.truncate(filled);
        if head.is_empty() {
            return Err(DomainError::invalid(field, "the file is empty"));
        }
        let mime = sniff(&head);
        if !allowed(mime, &self.settings.allowed_types) {
            return Err(DomainError::invalid(
                field,
                format!("files of type {mime} are not accepted"),
            ));
        }
        let max = self.settings.max_bytes;
        let too_large =
            || DomainError::invalid(field, format!("the file is larger than {max} bytes"));
        if head.len() as u64 > max {
            return Err(too_large());
        }
        let mut staged = self.storage.stage().await.map_err(io_err)?;
        let id = staged.id.clone();
        let result: DomainResult<(u64, String)> = async {
            let mut hasher = Sha256::new();
            hasher.update(&head);
            storage::write_all(&mut staged, &head)
                .await
                .map_err(io_err)?;
            let mut size = head.len() as u64;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = content.read(&mut buf).await.map_err(io_err)?;
                if n == 0 {
                    break;
                }
                size += n as u64;
                if size > max {
                    return Err(too_large());
                }
                hasher.update(&buf[..n]);
                storage::write_all(&mut staged, &buf[..n])
                    .await
                    .map_err(io_err)?;
            }
            storage::finish(&mut staged).await.map_err(io_err)?;
            let digest = hasher.finalize();
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            Ok((size, hex))
        }
        .await;
        drop(staged);
        match result {
            Ok((size, sha256)) => Ok(StagedFile {
                staged_id: id,
                mime,
                size,
                sha256,
            }),
            Err(e) => {
                self.storage.discard(&id).await;
                Err(e)
            }
        }
    }

    /// Inserts the row of a staged file.
    async fn insert_row(
        conn: &impl ConnectionTrait,
        owner: Uuid,
        file: &StagedFile,
        input: &NewUpload,
        attach: Attachment,
    ) -> DomainResult<media::Model> {
        let id = Uuid::now_v7();
        let ts = now();
        Ok(media::ActiveModel {
            id: Set(id),
            owner_id: Set(owner),
            kind: Set(MediaKind::of_mime(file.mime).as_str().to_string()),
            filename: Set(id.to_string()),
            original_name: Set(clean_name(&input.original_name)),
            mime_type: Set(file.mime.to_string()),
            size_bytes: Set(file.size as i64),
            sha256: Set(file.sha256.clone()),
            url: Set(media_url(id)),
            thumbnail_url: Set(crate::thumbnail::supported(file.mime).then(|| thumbnail_url(id))),
            alt: Set(input.alt.clone()),
            metadata: Set(input.metadata.clone()),
            project_id: Set(attach.project_id),
            node_id: Set(attach.node_id),
            conversation_id: Set(attach.conversation_id),
            created_at: Set(ts),
            updated_at: Set(ts),
            deleted_at: Set(None),
        }
        .insert(conn)
        .await?)
    }

    /// Publishes the staged bytes under the row's key and commits; on any failure the
    /// transaction rolls back and the bytes are removed.
    async fn publish_and_commit(
        &self,
        txn: sea_orm::DatabaseTransaction,
        staged: &StagedFile,
        key: &str,
    ) -> DomainResult<()> {
        if let Err(e) = self.storage.publish(&staged.staged_id, key).await {
            self.storage.discard(&staged.staged_id).await;
            return Err(DomainError::internal(format!("media storage: {e}")));
        }
        if let Err(e) = txn.commit().await {
            if let Err(e) = self.storage.delete(key).await {
                tracing::warn!(error = %e, key, "cannot remove the file of a failed upload");
            }
            return Err(e.into());
        }
        Ok(())
    }

    fn check_upload_input(input: &NewUpload) -> DomainResult<()> {
        if let Some(a) = &input.alt {
            check_text("alt", a, 2000)?;
        }
        if let Some(m) = &input.metadata {
            check_metadata(m)?;
        }
        Ok(())
    }

    /// Uploads a file for the actor, attached as `input.attach` says.
    pub async fn upload<R: AsyncRead + Unpin + Send>(
        &self,
        actor: &Actor,
        input: NewUpload,
        content: R,
    ) -> DomainResult<media::Model> {
        let mut rows = self
            .upload_many(actor, vec![(input, content)], "file")
            .await?;
        rows.pop()
            .ok_or_else(|| DomainError::internal("an upload produced no row"))
    }

    /// Uploads several files for the actor, all or nothing: every file is staged and
    /// checked first, then the rows are written and the files published in one
    /// transaction. `field` names the input in errors.
    pub async fn upload_many<R: AsyncRead + Unpin + Send>(
        &self,
        actor: &Actor,
        files: Vec<(NewUpload, R)>,
        field: &str,
    ) -> DomainResult<Vec<media::Model>> {
        let user = actor.require_user()?;
        for (input, _) in &files {
            Self::check_upload_input(input)?;
            // Refuse a bad attachment before reading any bytes; checked again when writing.
            check_attach(&self.db, actor, input.attach).await?;
        }
        let mut staged: Vec<(NewUpload, StagedFile)> = Vec::with_capacity(files.len());
        for (input, mut content) in files {
            match self.stage(field, &mut content).await {
                Ok(s) => staged.push((input, s)),
                Err(e) => {
                    for (_, s) in &staged {
                        self.storage.discard(&s.staged_id).await;
                    }
                    return Err(e);
                }
            }
        }
        let discard_all = |staged: &Vec<(NewUpload, StagedFile)>| {
            let ids: Vec<String> = staged.iter().map(|(_, s)| s.staged_id.clone()).collect();
            let storage = self.storage.clone();
            async move {
                for id in ids {
                    storage.discard(&id).await;
                }
            }
        };
        let result = async {
            let txn = begin_write(&self.db).await?;
            let mut rows = Vec::with_capacity(staged.len());
            for (input, s) in &staged {
                let attach = check_attach(&txn, actor, input.attach).await?;
                rows.push(Self::insert_row(&txn, user, s, input, attach).await?);
            }
            Ok::<_, DomainError>((txn, rows))
        }
        .await;
        let (txn, rows) = match result {
            Ok(v) => v,
            Err(e) => {
                discard_all(&staged).await;
                return Err(e);
            }
        };
        let mut published: Vec<&str> = Vec::with_capacity(rows.len());
        for ((_, s), row) in staged.iter().zip(&rows) {
            if let Err(e) = self.storage.publish(&s.staged_id, &row.filename).await {
                for key in published {
                    let _ = self.storage.delete(key).await;
                }
                discard_all(&staged).await;
                return Err(DomainError::internal(format!("media storage: {e}")));
            }
            published.push(&row.filename);
        }
        if let Err(e) = txn.commit().await {
            for key in published {
                if let Err(e) = self.storage.delete(key).await {
                    tracing::warn!(error = %e, key, "cannot remove the file of a failed upload");
                }
            }
            return Err(e.into());
        }
        Ok(rows)
    }

    /// A live file the actor may see, or `None`.
    pub async fn visible(&self, actor: &Actor, id: Uuid) -> DomainResult<Option<media::Model>> {
        let Some(m) = live()
            .filter(media::Column::Id.eq(id))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(can_view(&self.db, actor, &m).await?.then_some(m))
    }

    /// The actor's own live file (`NOT_FOUND` when it cannot see it, `FORBIDDEN` when it
    /// can but does not own it).
    async fn own(
        &self,
        conn: &impl ConnectionTrait,
        actor: &Actor,
        id: Uuid,
    ) -> DomainResult<media::Model> {
        let user = actor.require_user()?;
        let m = live()
            .filter(media::Column::Id.eq(id))
            .one(conn)
            .await?
            .ok_or_else(|| DomainError::not_found("media"))?;
        if m.owner_id == user {
            return Ok(m);
        }
        if can_view(conn, actor, &m).await? {
            Err(DomainError::Forbidden(
                "only the owner of a file can change it".into(),
            ))
        } else {
            Err(DomainError::not_found("media"))
        }
    }

    /// Changes the alt text, metadata or attachment of one of the actor's files.
    pub async fn update(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: MediaPatch,
    ) -> DomainResult<media::Model> {
        if let Some(Some(a)) = &patch.alt {
            check_text("alt", a, 2000)?;
        }
        if let Some(Some(m)) = &patch.metadata {
            check_metadata(m)?;
        }
        let txn = begin_write(&self.db).await?;
        let m = self.own(&txn, actor, id).await?;
        let mut am: media::ActiveModel = m.clone().into();
        let attaching = patch.project_id.is_some()
            || patch.node_id.is_some()
            || patch.conversation_id.is_some();
        if attaching {
            let mut want = Attachment {
                project_id: patch.project_id.unwrap_or(m.project_id),
                node_id: patch.node_id.unwrap_or(m.node_id),
                conversation_id: patch.conversation_id.unwrap_or(m.conversation_id),
            };
            // Detaching from a node without naming a project leaves the project too.
            if patch.node_id == Some(None) && patch.project_id.is_none() {
                want.project_id = None;
            }
            let a = check_attach(&txn, actor, want).await?;
            am.project_id = Set(a.project_id);
            am.node_id = Set(a.node_id);
            am.conversation_id = Set(a.conversation_id);
        }
        if let Some(a) = patch.alt {
            am.alt = Set(a);
        }
        if let Some(meta) = patch.metadata {
            am.metadata = Set(meta);
        }
        am.updated_at = Set(now());
        let m = am.update(&txn).await?;
        txn.commit().await?;
        Ok(m)
    }

    /// Soft-deletes one of the actor's files: it disappears from every read and download;
    /// the bytes stay until the purge.
    pub async fn delete(&self, actor: &Actor, id: Uuid) -> DomainResult<Uuid> {
        let txn = begin_write(&self.db).await?;
        self.own(&txn, actor, id).await?;
        media::Entity::update_many()
            .col_expr(media::Column::DeletedAt, Expr::value(now()))
            .col_expr(media::Column::UpdatedAt, Expr::value(now()))
            .filter(media::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(id)
    }

    /// Removes files deleted more than `days` days ago, bytes first; returns how many.
    pub async fn purge_deleted(&self, days: u32) -> DomainResult<u64> {
        let before = now() - chrono::Duration::days(i64::from(days));
        let rows = media::Entity::find()
            .filter(media::Column::DeletedAt.lte(before))
            .limit(1000)
            .all(&self.db)
            .await?;
        let mut n = 0;
        for m in rows {
            if let Err(e) = self.storage.delete(&m.filename).await {
                tracing::warn!(error = %e, key = m.filename, "cannot remove a deleted file");
                continue;
            }
            if let Err(e) = self.storage.delete(&thumbnail_key(&m)).await {
                tracing::warn!(error = %e, key = m.filename, "cannot remove a thumbnail");
            }
            media::Entity::delete_by_id(m.id).exec(&self.db).await?;
            n += 1;
        }
        Ok(n)
    }

    fn list_query(&self, filter: MediaFilter) -> Select<media::Entity> {
        let mut q = live();
        if let Some(k) = filter.kind {
            q = q.filter(media::Column::Kind.eq(k.as_str()));
        }
        q
    }

    async fn scoped(
        &self,
        actor: &Actor,
        filter: MediaFilter,
    ) -> DomainResult<Select<media::Entity>> {
        let q = self.list_query(filter);
        if let Some(node) = filter.node_id {
            node_access(&self.db, actor, node, false).await?;
            let mut q = q.filter(media::Column::NodeId.eq(node));
            if let Some(p) = filter.project_id {
                q = q.filter(media::Column::ProjectId.eq(p));
            }
            return Ok(q);
        }
        if let Some(project) = filter.project_id {
            access_on(&self.db, actor, project).await?;
            return Ok(q.filter(media::Column::ProjectId.eq(project)));
        }
        let user = actor.require_user()?;
        Ok(q.filter(media::Column::OwnerId.eq(user)))
    }

    /// One page of files, in upload order: of a node or project the actor can see, or the
    /// actor's own.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: MediaFilter,
        page: &PageArgs,
    ) -> DomainResult<Page<media::Model>> {
        let q = self.scoped(actor, filter).await?;
        let o = Ordering {
            name: "id",
            columns: media::Column::Id,
            arity: 1,
            descending: false,
        };
        fetch_page(&self.db, q, o, page, |m| vec![KeyValue::U(m.id)]).await
    }

    /// How many files a list holds.
    pub async fn count(&self, actor: &Actor, filter: MediaFilter) -> DomainResult<u64> {
        Ok(self.scoped(actor, filter).await?.count(&self.db).await?)
    }

    /// One page of live files per parent — project, node or conversation — in upload
    /// order (one statement; callers check the parent).
    pub async fn attached_pages(
        &self,
        to: AttachedTo,
        ids: &[Uuid],
        page: ChildPage,
    ) -> DomainResult<HashMap<Uuid, Page<media::Model>>> {
        fetch_child_pages(&self.db, live(), to.column(), media::Column::Id, ids, page).await
    }

    /// Live file counts per parent (one statement).
    pub async fn attached_counts(
        &self,
        to: AttachedTo,
        ids: &[Uuid],
    ) -> DomainResult<HashMap<Uuid, u64>> {
        count_children(&self.db, live(), to.column(), media::Column::Id, ids).await
    }

    /// Reads `len` bytes of a file from `offset` (after an access check by the caller).
    pub async fn open(
        &self,
        m: &media::Model,
        offset: u64,
        len: u64,
    ) -> DomainResult<Option<ByteReader>> {
        self.storage
            .read(&m.filename, offset, len)
            .await
            .map_err(|e| DomainError::internal(format!("media storage: {e}")))
    }

    /// The PNG thumbnail of an image the caller may see (after an access check by the
    /// caller): made on first request from the stored file and kept beside it. `None` for
    /// files without one (not an image, or one that does not decode).
    pub async fn thumbnail(&self, m: &media::Model) -> DomainResult<Option<Vec<u8>>> {
        if m.thumbnail_url.is_none() {
            return Ok(None);
        }
        let io_err = |e: std::io::Error| DomainError::internal(format!("media storage: {e}"));
        let key = thumbnail_key(m);
        if let Some(mut r) = self.storage.read(&key, 0, u64::MAX).await.map_err(io_err)? {
            let mut out = Vec::new();
            r.read_to_end(&mut out).await.map_err(io_err)?;
            return Ok(Some(out));
        }
        let size = u64::try_from(m.size_bytes).unwrap_or(0);
        let Some(mut r) = self
            .storage
            .read(&m.filename, 0, size)
            .await
            .map_err(io_err)?
        else {
            return Ok(None);
        };
        let mut original = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        r.read_to_end(&mut original).await.map_err(io_err)?;
        let made = tokio::task::spawn_blocking(move || {
            crate::thumbnail::make(&original, crate::thumbnail::THUMBNAIL_SIZE)
        })
        .await
        .map_err(DomainError::internal)?;
        let thumb = match made {
            Ok(t) => t,
            Err(e) => {
                tracing::info!(media = %m.id, error = %e, "no thumbnail: the image does not decode");
                return Ok(None);
            }
        };
        let mut staged = self.storage.stage().await.map_err(io_err)?;
        let id = staged.id.clone();
        let written = async {
            storage::write_all(&mut staged, &thumb).await?;
            storage::finish(&mut staged).await
        }
        .await;
        drop(staged);
        match written {
            Ok(()) => {
                if let Err(e) = self.storage.publish(&id, &key).await {
                    tracing::warn!(error = %e, "cannot keep a thumbnail");
                    self.storage.discard(&id).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot keep a thumbnail");
                self.storage.discard(&id).await;
            }
        }
        Ok(Some(thumb))
    }

    // ---- voice -------------------------------------------------------------------------

    /// Records a voice interaction of the actor, with an optional audio file uploaded in
    /// the same transaction (attached to the node, when there is one). A node needs edit
    /// rights (EDITOR and above).
    pub async fn record_voice<R: AsyncRead + Unpin + Send>(
        &self,
        actor: &Actor,
        input: NewVoice,
        audio: Option<(String, R)>,
    ) -> DomainResult<(voice::Model, Option<media::Model>)> {
        let user = actor.require_user()?;
        if let Some(t) = &input.text {
            check_text("text", t, 100_000)?;
        }
        if let Some(u) = &input.audio_url {
            check_text("audioUrl", u, 2048)?;
            if !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with("/media/"))
            {
                return Err(DomainError::invalid(
                    "audioUrl",
                    "audioUrl must be an http(s) URL",
                ));
            }
        }
        if audio.is_some() && input.audio_url.is_some() {
            return Err(DomainError::invalid(
                "audioUrl",
                "give either an audio file or audioUrl, not both",
            ));
        }
        if input
            .duration_seconds
            .is_some_and(|d| !d.is_finite() || d < 0.0)
        {
            return Err(DomainError::invalid(
                "durationSeconds",
                "durationSeconds must be a non-negative number",
            ));
        }
        if let Some(e) = &input.error {
            check_text("error", e, 10_000)?;
        }
        let language = input.language.clone().unwrap_or_else(|| "en".into());
        let lang_ok = !language.is_empty()
            && language.len() <= 16
            && language
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !lang_ok {
            return Err(DomainError::invalid(
                "language",
                "language must be a language tag such as `en` or `fr-CA`",
            ));
        }
        if let Some(m) = &input.metadata {
            check_metadata(m)?;
        }
        let attach = Attachment {
            node_id: input.node_id,
            ..Default::default()
        };
        if input.node_id.is_some() {
            check_attach(&self.db, actor, attach).await?;
        }
        let staged = match audio {
            Some((name, mut content)) => {
                let s = self.stage("audio", &mut content).await?;
                let audio_like =
                    MediaKind::of_mime(s.mime) == MediaKind::Audio || s.mime == "video/webm";
                if !audio_like {
                    self.storage.discard(&s.staged_id).await;
                    return Err(DomainError::invalid(
                        "audio",
                        format!("audio must be an audio file, not {}", s.mime),
                    ));
                }
                Some((name, s))
            }
            None => None,
        };
        let result = async {
            let txn = begin_write(&self.db).await?;
            let attach = if input.node_id.is_some() {
                check_attach(&txn, actor, attach).await?
            } else {
                attach
            };
            let media_row = match &staged {
                Some((name, s)) => {
                    let upload = NewUpload {
                        original_name: name.clone(),
                        ..Default::default()
                    };
                    Some(Self::insert_row(&txn, user, s, &upload, attach).await?)
                }
                None => None,
            };
            let row = voice::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(user),
                node_id: Set(input.node_id),
                kind: Set(input.kind.as_str().to_string()),
                text: Set(input.text.clone()),
                audio_media_id: Set(media_row.as_ref().map(|m| m.id)),
                audio_url: Set(media_row
                    .as_ref()
                    .map(|m| m.url.clone())
                    .or(input.audio_url.clone())),
                duration_seconds: Set(input.duration_seconds),
                status: Set(input.status.as_str().to_string()),
                error: Set(input.error.clone()),
                language: Set(language.clone()),
                metadata: Set(input.metadata.clone()),
                created_at: Set(now()),
            }
            .insert(&txn)
            .await?;
            Ok::<_, DomainError>((txn, row, media_row))
        }
        .await;
        let (txn, row, media_row) = match result {
            Ok(v) => v,
            Err(e) => {
                if let Some((_, s)) = &staged {
                    self.storage.discard(&s.staged_id).await;
                }
                return Err(e);
            }
        };
        match (&staged, &media_row) {
            (Some((_, s)), Some(m)) => self.publish_and_commit(txn, s, &m.filename).await?,
            _ => txn.commit().await?,
        }
        Ok((row, media_row))
    }

    /// One page of the actor's voice interactions, optionally on one node, in creation
    /// order.
    pub async fn list_voice(
        &self,
        actor: &Actor,
        node_id: Option<Uuid>,
        page: &PageArgs,
    ) -> DomainResult<Page<voice::Model>> {
        let q = Self::voice_query(actor.require_user()?, node_id);
        let o = Ordering {
            name: "id",
            columns: voice::Column::Id,
            arity: 1,
            descending: false,
        };
        fetch_page(&self.db, q, o, page, |v| vec![KeyValue::U(v.id)]).await
    }

    fn voice_query(user: Uuid, node_id: Option<Uuid>) -> Select<voice::Entity> {
        let mut q = voice::Entity::find().filter(voice::Column::UserId.eq(user));
        if let Some(n) = node_id {
            q = q.filter(voice::Column::NodeId.eq(n));
        }
        q
    }

    /// How many voice interactions of the actor a list holds.
    pub async fn count_voice(&self, actor: &Actor, node_id: Option<Uuid>) -> DomainResult<u64> {
        Ok(Self::voice_query(actor.require_user()?, node_id)
            .count(&self.db)
            .await?)
    }

    /// One page of voice interactions per node, everyone's (one statement; callers check
    /// the node).
    pub async fn node_voice_pages(
        &self,
        ids: &[Uuid],
        page: ChildPage,
    ) -> DomainResult<HashMap<Uuid, Page<voice::Model>>> {
        use voice::Column as C;
        fetch_child_pages(&self.db, voice::Entity::find(), C::NodeId, C::Id, ids, page).await
    }

    /// Voice interaction counts per node (one statement).
    pub async fn node_voice_counts(&self, ids: &[Uuid]) -> DomainResult<HashMap<Uuid, u64>> {
        use voice::Column as C;
        count_children(&self.db, voice::Entity::find(), C::NodeId, C::Id, ids).await
    }

    /// A voice interaction the actor may see (its own, or one on a node it can see).
    pub async fn voice(&self, actor: &Actor, id: Uuid) -> DomainResult<Option<voice::Model>> {
        let Some(v) = voice::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        if actor.user_id() == Some(v.user_id) {
            return Ok(Some(v));
        }
        if let Some(node) = v.node_id
            && node_access(&self.db, actor, node, false).await.is_ok()
        {
            return Ok(Some(v));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_lose_their_directories() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\me\\cat.png"), "cat.png");
        assert_eq!(clean_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(clean_name(""), "file");
        assert_eq!(clean_name("dir/.."), "file");
        assert_eq!(clean_name(&"x".repeat(300)).chars().count(), 255);
    }

    #[test]
    fn stored_values_round_trip() {
        for k in [VoiceKind::SpeechToText, VoiceKind::TextToSpeech] {
            assert_eq!(VoiceKind::parse(k.as_str()), Some(k));
        }
        for s in [
            VoiceStatus::Pending,
            VoiceStatus::Processing,
            VoiceStatus::Completed,
            VoiceStatus::Failed,
        ] {
            assert_eq!(VoiceStatus::parse(s.as_str()), Some(s));
        }
    }
}
