//! What resolvers know about the request: the shared services, and who is asking.
//!
//! The actor is resolved lazily and once per request: a request that never needs it never
//! touches the database for it, and an invalid bearer token fails every resolver that
//! asks — `UNAUTHENTICATED`, never a silent anonymous request — while `login` and
//! `refreshSession` still work for a client whose access token has just expired.

use async_graphql::Context;
use plexus_core::page::PageLimits;
use plexus_core::{Actor, DomainError};
use plexus_users::UsersService;
use std::sync::Arc;
use tokio::sync::OnceCell;

use crate::error::{ApiResult, internal};
use crate::ratelimit::AuthLimiter;

/// Services shared by every request (schema data).
#[derive(Debug, Clone)]
pub struct ApiState {
    /// Users and sessions.
    pub users: UsersService,
    /// Projects, members and presence.
    pub projects: plexus_projects::ProjectsService,
    /// Live presence (heartbeats and cursors, coalesced in memory).
    pub presence: crate::presence::PresenceHub,
    /// The canvas graph.
    pub graph: plexus_graph::GraphService,
    /// Where committed changes are announced to subscribers.
    pub bus: std::sync::Arc<dyn plexus_core::events::EventBus>,
    /// Agents, tools, knowledge and the task queue.
    pub agents: plexus_agents::AgentsService,
    /// Conversations, messages and tool calls.
    pub conversations: plexus_conversations::ConversationsService,
    /// Media files, storage and voice interactions.
    pub media: plexus_media::MediaService,
    /// Connection page sizes.
    pub page_limits: PageLimits,
    /// Sign-in and sign-up throttling.
    pub limiter: Arc<AuthLimiter>,
}

#[derive(Debug, Clone)]
enum Credentials {
    None,
    Bearer(String),
    Malformed,
}

/// The credentials of one request and the actor they resolve to (request data).
#[derive(Debug)]
pub struct RequestAuth {
    credentials: Credentials,
    actor: OnceCell<Result<Actor, DomainError>>,
}

impl RequestAuth {
    /// A request without credentials.
    pub fn anonymous() -> Self {
        Self {
            credentials: Credentials::None,
            actor: OnceCell::new(),
        }
    }

    /// From the value of an `Authorization` header (`Bearer <token>`), or its absence.
    pub fn from_header(value: Option<&str>) -> Self {
        let credentials = match value.map(str::trim) {
            None => Credentials::None,
            Some(v) => match v.split_once(' ') {
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
                {
                    Credentials::Bearer(token.trim().to_string())
                }
                _ => Credentials::Malformed,
            },
        };
        Self {
            credentials,
            actor: OnceCell::new(),
        }
    }

    /// The actor, resolved on first use.
    pub async fn actor(&self, users: &UsersService) -> Result<Actor, DomainError> {
        if let Some(actor) = self.actor.get() {
            return actor.clone();
        }
        // Boxed: signing in is a large future, and every resolver that asks for the actor
        // would otherwise carry its size in its own (async-graphql allocates and copies
        // each field's future whole, however small the field).
        Box::pin(self.actor.get_or_init(|| async {
            match &self.credentials {
                Credentials::None => Ok(Actor::Anonymous),
                Credentials::Malformed => Err(DomainError::Unauthenticated(
                    "the Authorization header must be `Bearer <access token>`".into(),
                )),
                Credentials::Bearer(token) => users.authenticate(token).await,
            }
        }))
        .await
        .clone()
    }
}

/// The shared services.
pub fn state<'a>(ctx: &Context<'a>) -> ApiResult<&'a ApiState> {
    ctx.data::<ApiState>().map_err(internal)
}

/// Who is asking. Fails with `UNAUTHENTICATED` when the request carried a bad token.
pub async fn actor(ctx: &Context<'_>) -> ApiResult<Actor> {
    let st = state(ctx)?;
    let auth = ctx.data::<RequestAuth>().map_err(internal)?;
    Ok(auth.actor(&st.users).await?)
}

/// The request's loaders.
pub fn loaders<'a>(ctx: &Context<'a>) -> ApiResult<&'a std::sync::Arc<crate::Loaders>> {
    ctx.data::<std::sync::Arc<crate::Loaders>>()
        .map_err(internal)
}

/// Announces a committed change of a project to its subscribers.
pub async fn publish(
    ctx: &Context<'_>,
    project: uuid::Uuid,
    kind: plexus_core::events::EventKind,
    ids: Vec<uuid::Uuid>,
) -> ApiResult<()> {
    publish_to(ctx, plexus_core::events::Topic::Project(project), kind, ids).await
}

/// Announces a committed change to the subscribers of `topic`.
pub async fn publish_to(
    ctx: &Context<'_>,
    topic: plexus_core::events::Topic,
    kind: plexus_core::events::EventKind,
    ids: Vec<uuid::Uuid>,
) -> ApiResult<()> {
    let by = actor(ctx).await?.user_id();
    state(ctx)?
        .bus
        .publish(plexus_core::events::Event::now(topic, kind, by, ids));
    Ok(())
}

/// Announces a committed chunk of streamed text: `chunk` was appended to `id`'s text,
/// which is now `text` (read back in the transaction that appended it).
pub async fn publish_chunk(
    ctx: &Context<'_>,
    topic: plexus_core::events::Topic,
    kind: plexus_core::events::EventKind,
    id: uuid::Uuid,
    text: &str,
    chunk: &str,
) -> ApiResult<()> {
    let by = actor(ctx).await?.user_id();
    let end = text.chars().count() as u64;
    let start = end.saturating_sub(chunk.chars().count() as u64);
    state(ctx)?.bus.publish(plexus_core::events::Event::chunk(
        topic, kind, by, id, start, end,
    ));
    Ok(())
}

/// Runs a service call that may create notifications; once it has succeeded (its
/// transaction committed), announces each to its recipient's `notificationEvents`.
pub async fn notifying<T>(
    ctx: &Context<'_>,
    call: impl std::future::Future<Output = Result<T, DomainError>>,
) -> ApiResult<T> {
    let (out, created) = plexus_users::notifications::collecting(call).await;
    let out = out?;
    let st = state(ctx)?;
    let by = actor(ctx).await?.user_id();
    for (user, id) in created {
        st.bus.publish(plexus_core::events::Event::now(
            plexus_core::events::Topic::User(user),
            plexus_core::events::EventKind::NotificationAdded,
            by,
            vec![id],
        ));
    }
    Ok(out)
}
