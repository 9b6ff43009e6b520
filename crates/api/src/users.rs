//! GraphQL for users and authentication: `User`, `viewer`, `user`, `users`, and the
//! sign-up/sign-in/session mutations.

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use plexus_core::{Actor, GlobalId, IdKind, PageRequest};
use plexus_users::entity::users;
use plexus_users::service::{NewUser, ProfilePatch};
use plexus_users::{Session, UserFilter};

use crate::connection::Connection;
use crate::context::{actor, loaders, state};
use crate::error::ApiResult;
use crate::ratelimit::{throttled_login, throttled_register};

/// A person with an account.
///
/// Resolved through [`crate::eager`]: its public profile fields are answered without a
/// future each; `UserObject` below holds the data and every resolver.
#[derive(Clone)]
pub struct User(UserObject);

/// A `User`'s data, and its GraphQL fields.
#[derive(Clone)]
struct UserObject {
    model: std::sync::Arc<users::Model>,
    /// The viewer may see this user's private fields (self or site admin).
    private: bool,
}

crate::eager::eager_object!(User => UserObject);

impl crate::eager::Eager for UserObject {
    fn eager(&self, field: &async_graphql::parser::types::Field) -> Option<async_graphql::Value> {
        use async_graphql::InputType;
        let m = &self.model;
        Some(match field.name.node.as_str() {
            "id" => self.global_id().to_value(),
            "username" => m.username.to_value(),
            "firstName" => m.first_name.to_value(),
            "lastName" => m.last_name.to_value(),
            "displayName" => self.shown_name().to_value(),
            "avatarUrl" => m.avatar_url.to_value(),
            _ => return None,
        })
    }
}

impl crate::eager::Many for UserObject {}

impl User {
    /// The user as `actor` sees it.
    pub fn new(model: impl Into<std::sync::Arc<users::Model>>, actor: &Actor) -> Self {
        let model = model.into();
        let private = actor.is_self_or_admin(model.id);
        Self(UserObject { model, private })
    }
}

impl UserObject {
    fn private<T>(&self, value: T) -> Option<T> {
        self.private.then_some(value)
    }

    fn global_id(&self) -> ID {
        ID(GlobalId::new(IdKind::User, self.model.id).encode())
    }

    /// Full name, else username, else "User".
    fn shown_name(&self) -> String {
        let m = &self.model;
        let full = [m.first_name.as_deref(), m.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if !full.is_empty() {
            full
        } else {
            m.username.clone().unwrap_or_else(|| "User".into())
        }
    }
}

/// A person with an account. Private fields are null unless the viewer is this user or a
/// site administrator.
#[Object(name = "User")]
impl UserObject {
    /// Global id (`user_…`).
    pub async fn id(&self) -> ID {
        self.global_id()
    }
    /// Email address, lower-cased (private).
    async fn email(&self) -> Option<&str> {
        self.private(self.model.email.as_str())
    }
    /// Unique public handle.
    async fn username(&self) -> Option<&str> {
        self.model.username.as_deref()
    }
    /// Given name.
    async fn first_name(&self) -> Option<&str> {
        self.model.first_name.as_deref()
    }
    /// Family name.
    async fn last_name(&self) -> Option<&str> {
        self.model.last_name.as_deref()
    }
    /// A name to show: full name, else username, else "User".
    async fn display_name(&self) -> String {
        self.shown_name()
    }
    /// Picture URL.
    async fn avatar_url(&self) -> Option<&str> {
        self.model.avatar_url.as_deref()
    }
    /// Site-wide role.
    async fn role(&self) -> UserRole {
        UserRole::from_db(&self.model.role)
    }
    /// False when the account is deactivated.
    async fn is_active(&self) -> bool {
        self.model.is_active
    }
    /// True once the email address has been confirmed (private).
    async fn email_verified(&self) -> Option<bool> {
        self.private(self.model.email_verified)
    }
    /// Free-form UI preferences (private).
    async fn preferences(&self) -> Option<Json<serde_json::Value>> {
        self.private(())
            .and(self.model.preferences.clone().map(Json))
    }
    /// LLM tokens used by this user's assistant messages (private).
    async fn total_tokens_used(&self) -> Option<i64> {
        self.private(self.model.total_tokens_used)
    }
    /// Last successful sign-in (private).
    async fn last_login_at(&self) -> Option<DateTime<Utc>> {
        self.private(())
            .and(self.model.last_login_at.map(|t| t.to_utc()))
    }
    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }
    /// When the profile last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }
    /// When the account was deleted; only site administrators see deleted accounts.
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.model.deleted_at.map(|t| t.to_utc())
    }
}

/// Site-wide role of a user.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum UserRole {
    /// An ordinary user.
    User,
    /// A site administrator: sees every user and the system logs.
    Admin,
    /// A paying user.
    Premium,
}

impl UserRole {
    fn from_db(s: &str) -> Self {
        match plexus_core::UserRole::parse(s) {
            Some(plexus_core::UserRole::Admin) => Self::Admin,
            Some(plexus_core::UserRole::Premium) => Self::Premium,
            _ => Self::User,
        }
    }

    fn to_core(self) -> plexus_core::UserRole {
        match self {
            Self::User => plexus_core::UserRole::User,
            Self::Admin => plexus_core::UserRole::Admin,
            Self::Premium => plexus_core::UserRole::Premium,
        }
    }
}

/// A signed-in session.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer <accessToken>`; valid for 15 minutes.
    pub access_token: String,
    /// Exchange with `refreshSession` for a new session; single use, valid for 7 days.
    pub refresh_token: String,
    /// When `accessToken` stops working.
    pub access_token_expires_at: DateTime<Utc>,
    /// The signed-in user.
    pub user: User,
}

impl From<Session> for AuthPayload {
    fn from(s: Session) -> Self {
        let actor = Actor::User {
            id: s.user.id,
            role: plexus_core::UserRole::User,
        };
        Self {
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            access_token_expires_at: s.access_expires_at,
            user: User::new(s.user, &actor),
        }
    }
}

/// A new account.
#[derive(InputObject)]
pub struct RegisterInput {
    /// Email address; unique, compared case-insensitively.
    pub email: String,
    /// At least 8 characters.
    pub password: String,
    /// Optional unique handle: 3–32 letters, digits, `_`, `.`, `-`.
    pub username: Option<String>,
    /// Given name (at most 100 characters).
    pub first_name: Option<String>,
    /// Family name (at most 100 characters).
    pub last_name: Option<String>,
}

/// Credentials for signing in.
#[derive(InputObject)]
pub struct LoginInput {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A refresh token to exchange.
#[derive(InputObject)]
pub struct RefreshSessionInput {
    /// The refresh token of the current session.
    pub refresh_token: String,
}

/// The session to end.
#[derive(InputObject)]
pub struct LogoutInput {
    /// The refresh token of the session to end.
    pub refresh_token: String,
}

/// Result of `logout`.
#[derive(SimpleObject)]
pub struct LogoutPayload {
    /// True when the session is ended (also when it already was).
    pub success: bool,
}

/// Result of `logoutEverywhere`.
#[derive(SimpleObject)]
pub struct LogoutEverywherePayload {
    /// True when every session has ended.
    pub success: bool,
    /// How many sessions were open.
    pub revoked_session_count: u64,
}

/// Changes to the viewer's profile. Omitted fields stay; `null` clears a field.
#[derive(InputObject)]
pub struct UpdateViewerInput {
    /// New handle, or null to remove it.
    pub username: MaybeUndefined<String>,
    /// New given name, or null.
    pub first_name: MaybeUndefined<String>,
    /// New family name, or null.
    pub last_name: MaybeUndefined<String>,
    /// New picture URL (http or https), or null.
    pub avatar_url: MaybeUndefined<String>,
    /// New preferences (a JSON object, at most 16 KiB), or null.
    pub preferences: MaybeUndefined<Json<serde_json::Value>>,
}

/// Result of `updateViewer`.
#[derive(SimpleObject)]
pub struct UpdateViewerPayload {
    /// The updated viewer.
    pub user: User,
}

/// A password change.
#[derive(InputObject)]
pub struct ChangePasswordInput {
    /// The password in use now.
    pub current_password: String,
    /// The new password, at least 8 characters.
    pub new_password: String,
}

/// Result of `changePassword`: every other session has ended; this is the new one.
#[derive(SimpleObject)]
pub struct ChangePasswordPayload {
    /// The fresh session replacing the ones that ended.
    pub session: AuthPayload,
}

/// Filter of the user directory.
#[derive(InputObject, Default)]
pub struct UserFilterInput {
    /// Case-insensitive text found in email, username, first or last name.
    pub search: Option<String>,
    /// Only users with this role.
    pub role: Option<UserRole>,
    /// Only active (true) or deactivated (false) users.
    pub is_active: Option<bool>,
}

pub(crate) fn patch<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// Queries about users.
#[derive(Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
    /// The signed-in user, or null for anonymous requests.
    async fn viewer(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let actor = actor(ctx).await?;
        let user = state(ctx)?.users.viewer(&actor).await?;
        Ok(user.map(|u| User::new(u, &actor)))
    }

    /// A user by id; null when there is none (deleted accounts only exist for site admins).
    async fn user(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<User>> {
        let uuid = GlobalId::parse_as(&id, IdKind::User, "id")?;
        load_user(ctx, uuid).await
    }

    /// Every user, oldest account first (site administrators only).
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<UserFilterInput>,
    ) -> ApiResult<Connection<User>> {
        let actor = actor(ctx).await?;
        let st = state(ctx)?;
        let args = PageRequest {
            first,
            after,
            last,
            before,
        }
        .resolve(st.page_limits, "createdAt", 1)?;
        let f = filter.unwrap_or_default();
        let filter = UserFilter {
            search: f.search,
            role: f.role.map(UserRole::to_core),
            is_active: f.is_active,
        };
        let page = st.users.list_users(&actor, &filter, &args).await?;
        let users = st.users.clone();
        Ok(Connection::new(
            page.map(|u| User::new(u, &actor)),
            move || {
                let (users, filter) = (users.clone(), filter.clone());
                async move { users.count_users(&actor, &filter).await }
            },
        ))
    }
}

/// A user through the request's loader, as the actor may see it.
pub async fn load_user(ctx: &Context<'_>, id: uuid::Uuid) -> ApiResult<Option<User>> {
    let actor = actor(ctx).await?;
    let user = loaders(ctx)?.users.load_one(id).await?;
    Ok(user
        .filter(|u| plexus_users::service::can_see(&actor, u))
        .map(|u| User::new(u, &actor)))
}

/// Sign-up, sign-in, sessions and the viewer's profile.
#[derive(Default)]
pub struct UsersMutation;

#[Object]
impl UsersMutation {
    /// Creates an account and signs it in. Attempts per client address are rate-limited
    /// (`RATE_LIMITED` with `extensions.retryAfterSeconds`).
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> ApiResult<AuthPayload> {
        let users = &state(ctx)?.users;
        let session = throttled_register(
            ctx,
            users.register(NewUser {
                email: input.email,
                password: input.password,
                username: input.username,
                first_name: input.first_name,
                last_name: input.last_name,
            }),
        )
        .await?;
        Ok(session.into())
    }

    /// Signs in with email and password. Failures per account and attempts per client
    /// address are rate-limited (`RATE_LIMITED` with `extensions.retryAfterSeconds`), alike
    /// for unknown and known emails.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> ApiResult<AuthPayload> {
        let users = &state(ctx)?.users;
        let login = users.login(&input.email, input.password);
        Ok(throttled_login(ctx, &input.email, login).await?.into())
    }

    /// Exchanges a refresh token for a new session. Each refresh token works once; using
    /// one twice ends the session (it was stolen or replayed).
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        input: RefreshSessionInput,
    ) -> ApiResult<AuthPayload> {
        Ok(state(ctx)?
            .users
            .refresh(&input.refresh_token)
            .await?
            .into())
    }

    /// Ends one session.
    async fn logout(&self, ctx: &Context<'_>, input: LogoutInput) -> ApiResult<LogoutPayload> {
        state(ctx)?.users.logout(&input.refresh_token).await?;
        Ok(LogoutPayload { success: true })
    }

    /// Ends every session of the viewer; access tokens issued so far stop working.
    async fn logout_everywhere(&self, ctx: &Context<'_>) -> ApiResult<LogoutEverywherePayload> {
        let actor = actor(ctx).await?;
        let n = state(ctx)?.users.logout_everywhere(&actor).await?;
        Ok(LogoutEverywherePayload {
            success: true,
            revoked_session_count: n,
        })
    }

    /// Updates the viewer's profile.
    async fn update_viewer(
        &self,
        ctx: &Context<'_>,
        input: UpdateViewerInput,
    ) -> ApiResult<UpdateViewerPayload> {
        let actor = actor(ctx).await?;
        let p = ProfilePatch {
            username: patch(input.username),
            first_name: patch(input.first_name),
            last_name: patch(input.last_name),
            avatar_url: patch(input.avatar_url),
            preferences: patch(input.preferences).map(|p| p.map(|j| j.0)),
        };
        let user = state(ctx)?.users.update_viewer(&actor, p).await?;
        Ok(UpdateViewerPayload {
            user: User::new(user, &actor),
        })
    }

    /// Changes the viewer's password; every other session ends.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        input: ChangePasswordInput,
    ) -> ApiResult<ChangePasswordPayload> {
        let actor = actor(ctx).await?;
        let s = state(ctx)?
            .users
            .change_password(&actor, input.current_password, input.new_password)
            .await?;
        Ok(ChangePasswordPayload { session: s.into() })
    }
}
