//! GraphQL for media: `Media` (uploads following the GraphQL multipart request spec),
//! `VoiceInteraction`, their lists and mutations. Who may attach and see a file is decided
//! by the media service; nested lists load through the request's loaders. The bytes are
//! served by `GET /media/{id}` (the `url` field).

use async_graphql::{
    Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject, Upload,
};
use chrono::{DateTime, Utc};
use plexus_core::page::PageRequest;
use plexus_core::{DomainError, IdKind};
use plexus_media::entity::{media, voice_interactions};
use plexus_media::service::{
    Attachment, MediaFilter, MediaPatch, NewUpload, NewVoice, VoiceKind as DomainVoiceKind,
    VoiceStatus as DomainVoiceStatus,
};
use serde_json::Value;
use uuid::Uuid;

use crate::common::{gid, uuid_of};
use crate::connection::Connection;
use crate::context::{actor, loaders, state};
use crate::error::ApiResult;
use crate::graph::GraphNode;
use crate::projects::{DeletePayload, Project, child_page, counter};
use crate::users::{User, patch};

/// What kind of file a medium is (from its sniffed type).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MediaKind {
    /// A picture (PNG, JPEG, GIF, WebP).
    Image,
    /// A video.
    Video,
    /// A document (PDF, text, …).
    Document,
    /// A sound recording.
    Audio,
    /// A link to something elsewhere.
    Link,
}

impl From<plexus_media::MediaKind> for MediaKind {
    fn from(k: plexus_media::MediaKind) -> Self {
        use plexus_media::MediaKind as K;
        match k {
            K::Image => Self::Image,
            K::Video => Self::Video,
            K::Document => Self::Document,
            K::Audio => Self::Audio,
            K::Link => Self::Link,
        }
    }
}

impl From<MediaKind> for plexus_media::MediaKind {
    fn from(k: MediaKind) -> Self {
        match k {
            MediaKind::Image => Self::Image,
            MediaKind::Video => Self::Video,
            MediaKind::Document => Self::Document,
            MediaKind::Audio => Self::Audio,
            MediaKind::Link => Self::Link,
        }
    }
}

fn opt_id(id: &Option<ID>, kind: IdKind, arg: &str) -> ApiResult<Option<Uuid>> {
    id.as_ref().map(|i| uuid_of(i, kind, arg)).transpose()
}

fn patch_id(v: MaybeUndefined<ID>, kind: IdKind, arg: &str) -> ApiResult<Option<Option<Uuid>>> {
    Ok(match patch(v) {
        None => None,
        Some(None) => Some(None),
        Some(Some(id)) => Some(Some(uuid_of(&id, kind, arg)?)),
    })
}

/// An uploaded file: an image or document on a canvas node, a project file, a chat
/// attachment.
#[derive(Clone)]
pub struct Media {
    model: media::Model,
}

impl Media {
    /// Wraps a file the viewer may see.
    pub fn new(model: media::Model) -> Self {
        Self { model }
    }

    /// A file as the viewer may see it, or `None`.
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<Media>> {
        let actor = actor(ctx).await?;
        Ok(state(ctx)?.media.visible(&actor, id).await?.map(Media::new))
    }
}

/// An uploaded file: an image or document on a canvas node, a project file, a chat
/// attachment.
#[Object]
impl Media {
    /// Global id (`media_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::Media, self.model.id)
    }
    /// What kind of file it is.
    async fn kind(&self) -> MediaKind {
        plexus_media::MediaKind::parse(&self.model.kind)
            .unwrap_or(plexus_media::MediaKind::Document)
            .into()
    }
    /// Its MIME type, sniffed from its bytes (never the client's claim).
    async fn mime_type(&self) -> &str {
        &self.model.mime_type
    }
    /// Its size in bytes.
    async fn size_bytes(&self) -> i64 {
        self.model.size_bytes
    }
    /// The file name it was uploaded with (without directories).
    async fn original_name(&self) -> &str {
        &self.model.original_name
    }
    /// Where to download it: `GET` this path with the viewer's bearer token (supports
    /// `Range`).
    async fn url(&self) -> &str {
        &self.model.url
    }
    /// Where to download a PNG preview (at most 256 pixels on its longest side) of a PNG,
    /// JPEG, GIF or WebP image, with the same access as `url`; null for other files.
    async fn thumbnail_url(&self) -> Option<&str> {
        self.model.thumbnail_url.as_deref()
    }
    /// Alternative text, for accessibility.
    async fn alt(&self) -> Option<&str> {
        self.model.alt.as_deref()
    }
    /// Free-form metadata (dimensions, duration, …).
    async fn metadata(&self) -> Option<Json<Value>> {
        self.model.metadata.clone().map(Json)
    }
    /// Hex SHA-256 of its bytes (also its `ETag`).
    async fn sha256(&self) -> &str {
        &self.model.sha256
    }
    /// Who uploaded it.
    async fn owner(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        crate::users::load_user(ctx, self.model.owner_id).await
    }
    /// The project it is attached to (directly or through its node), if visible.
    async fn project(&self, ctx: &Context<'_>) -> ApiResult<Option<Project>> {
        match self.model.project_id {
            Some(id) => Project::load(ctx, id).await,
            None => Ok(None),
        }
    }
    /// The canvas node it is attached to, if visible.
    async fn node(&self, ctx: &Context<'_>) -> ApiResult<Option<GraphNode>> {
        match self.model.node_id {
            Some(id) => GraphNode::load(ctx, id).await,
            None => Ok(None),
        }
    }
    /// Global id of the conversation it is attached to, if any.
    async fn conversation_id(&self) -> Option<ID> {
        self.model
            .conversation_id
            .map(|c| gid(IdKind::Conversation, c))
    }
    /// When it was uploaded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// When its details last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }
}

/// Speech-to-text or text-to-speech.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum VoiceKind {
    /// Speech transcribed to text.
    SpeechToText,
    /// Text spoken aloud.
    TextToSpeech,
}

impl From<VoiceKind> for DomainVoiceKind {
    fn from(k: VoiceKind) -> Self {
        match k {
            VoiceKind::SpeechToText => Self::SpeechToText,
            VoiceKind::TextToSpeech => Self::TextToSpeech,
        }
    }
}

/// Where a voice interaction is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum VoiceStatus {
    /// Waiting to be processed.
    Pending,
    /// Being processed.
    Processing,
    /// Done.
    Completed,
    /// Processing failed (see `error`).
    Failed,
}

impl From<VoiceStatus> for DomainVoiceStatus {
    fn from(s: VoiceStatus) -> Self {
        match s {
            VoiceStatus::Pending => Self::Pending,
            VoiceStatus::Processing => Self::Processing,
            VoiceStatus::Completed => Self::Completed,
            VoiceStatus::Failed => Self::Failed,
        }
    }
}

/// A voice interaction: something said and transcribed, or text spoken aloud.
#[derive(Clone)]
pub struct VoiceInteraction {
    model: voice_interactions::Model,
}

impl VoiceInteraction {
    /// Wraps an interaction the viewer may see.
    pub fn new(model: voice_interactions::Model) -> Self {
        Self { model }
    }

    /// An interaction as the viewer may see it (its own, or on a node it can see).
    pub async fn load(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<VoiceInteraction>> {
        let actor = actor(ctx).await?;
        Ok(state(ctx)?
            .media
            .voice(&actor, id)
            .await?
            .map(VoiceInteraction::new))
    }
}

/// A voice interaction: something said and transcribed, or text spoken aloud.
#[Object]
impl VoiceInteraction {
    /// Global id (`voice_…`).
    pub async fn id(&self) -> ID {
        gid(IdKind::VoiceInteraction, self.model.id)
    }
    /// Speech-to-text or text-to-speech.
    async fn kind(&self) -> VoiceKind {
        match DomainVoiceKind::parse(&self.model.kind) {
            Some(DomainVoiceKind::TextToSpeech) => VoiceKind::TextToSpeech,
            _ => VoiceKind::SpeechToText,
        }
    }
    /// The text (transcribed or to speak).
    async fn text(&self) -> Option<&str> {
        self.model.text.as_deref()
    }
    /// Where the audio is: the uploaded file's download path, or an external URL.
    async fn audio_url(&self) -> Option<&str> {
        self.model.audio_url.as_deref()
    }
    /// The uploaded audio file, if there is one the viewer may see.
    async fn audio(&self, ctx: &Context<'_>) -> ApiResult<Option<Media>> {
        match self.model.audio_media_id {
            Some(id) => Media::load(ctx, id).await,
            None => Ok(None),
        }
    }
    /// Length of the audio, in seconds.
    async fn duration_seconds(&self) -> Option<f64> {
        self.model.duration_seconds
    }
    /// Where processing is.
    async fn status(&self) -> VoiceStatus {
        match DomainVoiceStatus::parse(&self.model.status) {
            Some(DomainVoiceStatus::Pending) => VoiceStatus::Pending,
            Some(DomainVoiceStatus::Processing) => VoiceStatus::Processing,
            Some(DomainVoiceStatus::Failed) => VoiceStatus::Failed,
            _ => VoiceStatus::Completed,
        }
    }
    /// Why processing failed.
    async fn error(&self) -> Option<&str> {
        self.model.error.as_deref()
    }
    /// The language (a tag such as `en`).
    async fn language(&self) -> &str {
        &self.model.language
    }
    /// Free-form metadata.
    async fn metadata(&self) -> Option<Json<Value>> {
        self.model.metadata.clone().map(Json)
    }
    /// Who spoke or listened.
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        crate::users::load_user(ctx, self.model.user_id).await
    }
    /// The canvas node it belongs to, if visible.
    async fn node(&self, ctx: &Context<'_>) -> ApiResult<Option<GraphNode>> {
        match self.model.node_id {
            Some(id) => GraphNode::load(ctx, id).await,
            None => Ok(None),
        }
    }
    /// When it was recorded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
}

/// The files attached to a project, node or conversation, in upload order (the caller
/// has checked the parent is visible, so its files are).
pub(crate) async fn attached_media(
    ctx: &Context<'_>,
    to: plexus_media::service::AttachedTo,
    parent: Uuid,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> ApiResult<Connection<Media>> {
    use plexus_media::service::AttachedTo as A;
    let page = child_page(ctx, first, after, last, before)?;
    let l = loaders(ctx)?.clone();
    let pages = match to {
        A::Project => &l.project_media,
        A::Node => &l.node_media,
        A::Conversation => &l.conversation_media,
    };
    let p = pages.load_one((parent, page)).await?.unwrap_or_default();
    Ok(Connection::new(
        p.map(Media::new),
        counter(l, parent, move |l, id| async move {
            let counts = match to {
                A::Project => &l.project_media_counts,
                A::Node => &l.node_media_counts,
                A::Conversation => &l.conversation_media_counts,
            };
            counts.load_one(id).await
        }),
    ))
}

/// Voice interactions on a node, everyone's, in creation order.
pub(crate) async fn node_voice(
    ctx: &Context<'_>,
    node: Uuid,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> ApiResult<Connection<VoiceInteraction>> {
    let page = child_page(ctx, first, after, last, before)?;
    let l = loaders(ctx)?.clone();
    let p = l
        .node_voice
        .load_one((node, page))
        .await?
        .unwrap_or_default();
    Ok(Connection::new(
        p.map(VoiceInteraction::new),
        counter(l, node, |l, id| async move {
            l.node_voice_counts.load_one(id).await
        }),
    ))
}

/// Which files to list.
#[derive(InputObject, Default)]
pub struct MediaFilterInput {
    /// Only this kind.
    pub kind: Option<MediaKind>,
    /// Files of this project (which the viewer must see).
    pub project_id: Option<ID>,
    /// Files of this node (which the viewer must see).
    pub node_id: Option<ID>,
}

/// Media queries.
#[derive(Default)]
pub struct MediaQuery;

#[Object]
impl MediaQuery {
    /// Files in upload order: of a project or node the viewer can see, or (without either)
    /// the viewer's own uploads.
    async fn media(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<MediaFilterInput>,
    ) -> ApiResult<Connection<Media>> {
        let actor = actor(ctx).await?;
        let st = state(ctx)?;
        let args = PageRequest {
            first,
            after,
            last,
            before,
        }
        .resolve(st.page_limits, "id", 1)?;
        let f = filter.unwrap_or_default();
        let filter = MediaFilter {
            kind: f.kind.map(Into::into),
            project_id: opt_id(&f.project_id, IdKind::Project, "projectId")?,
            node_id: opt_id(&f.node_id, IdKind::GraphNode, "nodeId")?,
        };
        let page = st.media.list(&actor, filter, &args).await?;
        let svc = st.media.clone();
        Ok(Connection::new(page.map(Media::new), move || {
            let svc = svc.clone();
            async move { svc.count(&actor, filter).await }
        }))
    }

    /// The viewer's voice interactions, in creation order (optionally on one node).
    async fn voice_interactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        node_id: Option<ID>,
    ) -> ApiResult<Connection<VoiceInteraction>> {
        let actor = actor(ctx).await?;
        let st = state(ctx)?;
        let args = PageRequest {
            first,
            after,
            last,
            before,
        }
        .resolve(st.page_limits, "id", 1)?;
        let node = opt_id(&node_id, IdKind::GraphNode, "nodeId")?;
        let page = st.media.list_voice(&actor, node, &args).await?;
        let svc = st.media.clone();
        Ok(Connection::new(
            page.map(VoiceInteraction::new),
            move || {
                let svc = svc.clone();
                async move { svc.count_voice(&actor, node).await }
            },
        ))
    }
}

/// A file to upload (a multipart request: see the GraphQL multipart request spec; send an
/// `apollo-require-preflight` or `x-plexus-csrf` header).
#[derive(InputObject)]
pub struct UploadMediaInput {
    /// The file. Its type is sniffed from its bytes; size and types are limited.
    pub file: Upload,
    /// Alternative text.
    pub alt: Option<String>,
    /// Attach to this project (needs edit rights).
    pub project_id: Option<ID>,
    /// Attach to this node (needs edit rights; implies its project).
    pub node_id: Option<ID>,
    /// Attach to this conversation (needs write access to it).
    pub conversation_id: Option<ID>,
    /// Free-form metadata (an object).
    pub metadata: Option<Json<Value>>,
}

/// Result of `uploadMedia`.
#[derive(SimpleObject)]
pub struct UploadMediaPayload {
    /// The stored file.
    pub media: Media,
}

/// Several files to upload at once, all or nothing, attached to the same place
/// (a multipart request, like `uploadMedia`).
#[derive(InputObject)]
pub struct UploadMediaFilesInput {
    /// The files (at most 10).
    pub files: Vec<Upload>,
    /// Attach to this project (needs edit rights).
    pub project_id: Option<ID>,
    /// Attach to this node (needs edit rights; implies its project).
    pub node_id: Option<ID>,
    /// Attach to this conversation (needs write access to it).
    pub conversation_id: Option<ID>,
}

/// Result of `uploadMediaFiles`.
#[derive(SimpleObject)]
pub struct UploadMediaFilesPayload {
    /// The stored files, in the order given.
    pub media: Vec<Media>,
}

/// A change to one of the viewer's files; omitted fields stay, null clears.
#[derive(InputObject)]
pub struct UpdateMediaInput {
    /// The file.
    pub id: ID,
    /// Alternative text.
    #[graphql(default)]
    pub alt: MaybeUndefined<String>,
    /// Free-form metadata (an object).
    #[graphql(default)]
    pub metadata: MaybeUndefined<Json<Value>>,
    /// Attach to this project, or null to detach.
    #[graphql(default)]
    pub project_id: MaybeUndefined<ID>,
    /// Attach to this node, or null to detach (also from its project unless `projectId`
    /// is given).
    #[graphql(default)]
    pub node_id: MaybeUndefined<ID>,
    /// Attach to this conversation, or null to detach.
    #[graphql(default)]
    pub conversation_id: MaybeUndefined<ID>,
}

/// Result of `updateMedia`.
#[derive(SimpleObject)]
pub struct UpdateMediaPayload {
    /// The changed file.
    pub media: Media,
}

/// The file to delete.
#[derive(InputObject)]
pub struct DeleteMediaInput {
    /// One of the viewer's files.
    pub id: ID,
}

/// A voice interaction to record, with an optional audio file (multipart).
#[derive(InputObject)]
pub struct RecordVoiceInteractionInput {
    /// Speech-to-text or text-to-speech.
    pub kind: VoiceKind,
    /// The canvas node it belongs to (needs edit rights).
    pub node_id: Option<ID>,
    /// The text (transcribed or to speak).
    pub text: Option<String>,
    /// The recording, uploaded (must sniff as audio).
    pub audio: Option<Upload>,
    /// Or where the recording is (an http(s) URL).
    pub audio_url: Option<String>,
    /// Length of the recording, in seconds.
    pub duration_seconds: Option<f64>,
    /// Where processing is (default COMPLETED).
    #[graphql(default_with = "VoiceStatus::Completed")]
    pub status: VoiceStatus,
    /// Why processing failed.
    pub error: Option<String>,
    /// The language tag (default `en`).
    pub language: Option<String>,
    /// Free-form metadata (an object).
    pub metadata: Option<Json<Value>>,
}

/// Result of `recordVoiceInteraction`.
#[derive(SimpleObject)]
pub struct RecordVoiceInteractionPayload {
    /// The recorded interaction.
    pub voice_interaction: VoiceInteraction,
}

/// Reads a spooled upload from its start with positional reads, so that copies of one
/// upload (one file in several places of a request shares one file descriptor, and so
/// one read position) each read the whole file. Local temporary files answer at once.
pub struct UploadReader {
    file: std::fs::File,
    pos: u64,
}

impl tokio::io::AsyncRead for UploadReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let pos = self.pos;
        let n = read_at(&self.file, buf.initialize_unfilled(), pos)?;
        buf.advance(n);
        self.pos += n as u64;
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(unix)]
fn read_at(file: &std::fs::File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, pos)
}

#[cfg(not(unix))]
fn read_at(mut file: &std::fs::File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(pos))?;
    file.read(buf)
}

/// The file behind an `Upload` argument and its client-side name.
fn upload_file(
    ctx: &Context<'_>,
    upload: &Upload,
    field: &str,
) -> ApiResult<(String, UploadReader)> {
    let value = upload
        .value(ctx)
        .map_err(|_| DomainError::invalid(field, "the upload is missing from the request"))?;
    Ok((
        value.filename,
        UploadReader {
            file: value.content,
            pos: 0,
        },
    ))
}

/// Media mutations.
#[derive(Default)]
pub struct MediaMutation;

#[Object]
impl MediaMutation {
    /// Uploads a file (GraphQL multipart request), optionally attached to a project, node
    /// or conversation. Nothing is stored when it is refused or fails half-way.
    async fn upload_media(
        &self,
        ctx: &Context<'_>,
        input: UploadMediaInput,
    ) -> ApiResult<UploadMediaPayload> {
        let actor = actor(ctx).await?;
        actor.require_user()?;
        let attach = Attachment {
            project_id: opt_id(&input.project_id, IdKind::Project, "projectId")?,
            node_id: opt_id(&input.node_id, IdKind::GraphNode, "nodeId")?,
            conversation_id: opt_id(
                &input.conversation_id,
                IdKind::Conversation,
                "conversationId",
            )?,
        };
        let (name, file) = upload_file(ctx, &input.file, "file")?;
        let m = state(ctx)?
            .media
            .upload(
                &actor,
                NewUpload {
                    original_name: name,
                    alt: input.alt,
                    metadata: input.metadata.map(|j| j.0),
                    attach,
                },
                file,
            )
            .await?;
        Ok(UploadMediaPayload {
            media: Media::new(m),
        })
    }

    /// Uploads several files at once (GraphQL multipart request, a file list): all are
    /// stored, or none.
    async fn upload_media_files(
        &self,
        ctx: &Context<'_>,
        input: UploadMediaFilesInput,
    ) -> ApiResult<UploadMediaFilesPayload> {
        let actor = actor(ctx).await?;
        actor.require_user()?;
        if input.files.is_empty() || input.files.len() > 10 {
            return Err(DomainError::invalid("files", "give 1 to 10 files").into());
        }
        let attach = Attachment {
            project_id: opt_id(&input.project_id, IdKind::Project, "projectId")?,
            node_id: opt_id(&input.node_id, IdKind::GraphNode, "nodeId")?,
            conversation_id: opt_id(
                &input.conversation_id,
                IdKind::Conversation,
                "conversationId",
            )?,
        };
        let mut files = Vec::with_capacity(input.files.len());
        for u in &input.files {
            let (name, file) = upload_file(ctx, u, "files")?;
            files.push((
                NewUpload {
                    original_name: name,
                    attach,
                    ..Default::default()
                },
                file,
            ));
        }
        let rows = state(ctx)?
            .media
            .upload_many(&actor, files, "files")
            .await?;
        Ok(UploadMediaFilesPayload {
            media: rows.into_iter().map(Media::new).collect(),
        })
    }

    /// Changes the alt text, metadata or attachment of one of the viewer's files.
    async fn update_media(
        &self,
        ctx: &Context<'_>,
        input: UpdateMediaInput,
    ) -> ApiResult<UpdateMediaPayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.id, IdKind::Media, "id")?;
        let p = MediaPatch {
            alt: patch(input.alt),
            metadata: patch(input.metadata).map(|o| o.map(|j| j.0)),
            project_id: patch_id(input.project_id, IdKind::Project, "projectId")?,
            node_id: patch_id(input.node_id, IdKind::GraphNode, "nodeId")?,
            conversation_id: patch_id(
                input.conversation_id,
                IdKind::Conversation,
                "conversationId",
            )?,
        };
        let m = state(ctx)?.media.update(&actor, id, p).await?;
        Ok(UpdateMediaPayload {
            media: Media::new(m),
        })
    }

    /// Deletes one of the viewer's files (soft: it vanishes at once, its bytes are purged
    /// later).
    async fn delete_media(
        &self,
        ctx: &Context<'_>,
        input: DeleteMediaInput,
    ) -> ApiResult<DeletePayload> {
        let actor = actor(ctx).await?;
        let id = uuid_of(&input.id, IdKind::Media, "id")?;
        let id = state(ctx)?.media.delete(&actor, id).await?;
        Ok(DeletePayload {
            deleted_id: gid(IdKind::Media, id),
        })
    }

    /// Records a voice interaction of the viewer, with an optional audio upload.
    async fn record_voice_interaction(
        &self,
        ctx: &Context<'_>,
        input: RecordVoiceInteractionInput,
    ) -> ApiResult<RecordVoiceInteractionPayload> {
        let actor = actor(ctx).await?;
        actor.require_user()?;
        let node_id = opt_id(&input.node_id, IdKind::GraphNode, "nodeId")?;
        let audio = match &input.audio {
            Some(u) => Some(upload_file(ctx, u, "audio")?),
            None => None,
        };
        let (v, _) = state(ctx)?
            .media
            .record_voice(
                &actor,
                NewVoice {
                    kind: input.kind.into(),
                    node_id,
                    text: input.text,
                    audio_url: input.audio_url,
                    duration_seconds: input.duration_seconds,
                    status: input.status.into(),
                    error: input.error,
                    language: input.language,
                    metadata: input.metadata.map(|j| j.0),
                },
                audio,
            )
            .await?;
        Ok(RecordVoiceInteractionPayload {
            voice_interaction: VoiceInteraction::new(v),
        })
    }
}
