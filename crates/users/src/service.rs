//! The users service: sign-up, sign-in, session rotation, profiles and the user directory.
//!
//! Sessions: an access token (JWT, `access_ttl`) plus a refresh token (opaque, `refresh_ttl`)
//! that belongs to a *family* (one sign-in). Each refresh rotates the token; presenting a
//! rotated token again means it was stolen or replayed, and the whole family is revoked.

use chrono::{DateTime, Duration, Utc};
use plexus_core::db::{begin_write, contains_ci, now};
use plexus_core::error::is_unique_violation;
use plexus_core::page::{KeyValue, Ordering, PageArgs, fetch_page};
use plexus_core::{Actor, DomainError, DomainResult, Page, UserRole};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    ExprTrait, PaginatorTrait, QueryFilter, QuerySelect, Select, Set,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use uuid::Uuid;

use crate::entity::{refresh_tokens, users};
use crate::tokens::{self, TokenKeys, hash_refresh_token, new_refresh_token};
use crate::{password, validate};

/// Session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct AuthSettings {
    /// Lifetime of an access token.
    pub access_ttl: Duration,
    /// Lifetime of a refresh token.
    pub refresh_ttl: Duration,
    /// How long a checked access token's user (active, session version, role) is trusted
    /// without reading its row again; zero reads it on every request.
    pub actor_cache_ttl: std::time::Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(7),
            actor_cache_ttl: std::time::Duration::from_secs(1),
        }
    }
}

/// The access tokens checked recently, with their users: `authenticate` verifies a
/// token's signature and reads its user's row at most once per `ttl`. A cached token still
/// ends at its `exp`. Changes made through this service (signing out everywhere, a new
/// password) forget the user's tokens at once; changes made elsewhere (another instance,
/// SQL) take effect within `ttl`. Only tokens of active, undeleted users are kept.
#[derive(Debug, Default)]
struct ActorCache {
    ttl: std::time::Duration,
    entries: Mutex<HashMap<Box<str>, CachedActor>>,
}

#[derive(Debug, Clone, Copy)]
struct CachedActor {
    checked: Instant,
    user: Uuid,
    expires: i64,
    role: UserRole,
}

/// The most tokens the actor cache holds; past it, expired entries go, then all.
const ACTOR_CACHE_MAX: usize = 100_000;

impl ActorCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, CachedActor>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The actor of `token` if it was checked less than `ttl` ago and has not expired.
    fn get(&self, token: &str) -> Option<Actor> {
        if self.ttl.is_zero() {
            return None;
        }
        let now = Utc::now().timestamp();
        self.entries()
            .get(token)
            .filter(|e| {
                e.checked.elapsed() < self.ttl && e.expires + tokens::EXPIRY_LEEWAY_SECS >= now
            })
            .map(|e| Actor::User {
                id: e.user,
                role: e.role,
            })
    }

    fn put(&self, token: &str, claims: &tokens::AccessClaims, role: UserRole) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= ACTOR_CACHE_MAX {
            entries.retain(|_, e| e.checked.elapsed() < self.ttl);
            if entries.len() >= ACTOR_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(
            token.into(),
            CachedActor {
                checked: Instant::now(),
                user: claims.sub,
                expires: claims.exp,
                role,
            },
        );
    }

    fn forget(&self, user: Uuid) {
        self.entries().retain(|_, e| e.user != user);
    }
}

/// A signed-in session as handed to the client.
#[derive(Debug, Clone)]
pub struct Session {
    /// Bearer token for `Authorization: Bearer …`.
    pub access_token: String,
    /// When the access token stops working.
    pub access_expires_at: DateTime<Utc>,
    /// Opaque token for `refreshSession`, single use.
    pub refresh_token: String,
    /// The signed-in user.
    pub user: users::Model,
}

/// Fields of a new account.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub email: String,
    pub password: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// A change to the viewer's profile: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub username: Option<Option<String>>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub preferences: Option<Option<serde_json::Value>>,
}

/// Filter of the user directory.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive match in email, username, first or last name.
    pub search: Option<String>,
    /// Only users with this site role.
    pub role: Option<UserRole>,
    /// Only active (or only deactivated) users.
    pub is_active: Option<bool>,
}

/// Users and sessions.
#[derive(Debug, Clone)]
pub struct UsersService {
    db: DatabaseConnection,
    keys: Arc<TokenKeys>,
    settings: AuthSettings,
    actors: Arc<ActorCache>,
}

const BAD_CREDENTIALS: &str = "invalid email or password";

impl UsersService {
    /// A service over `db`, signing with `keys`.
    pub fn new(db: DatabaseConnection, keys: TokenKeys, settings: AuthSettings) -> Self {
        let actors = Arc::new(ActorCache {
            ttl: settings.actor_cache_ttl,
            ..Default::default()
        });
        Self {
            db,
            keys: Arc::new(keys),
            settings,
            actors,
        }
    }

    /// The database connection.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Creates an account and signs it in. Emails are unique case-insensitively.
    pub async fn register(&self, input: NewUser) -> DomainResult<Session> {
        let email = validate::email("email", &input.email)?;
        validate::password("password", &input.password)?;
        let username = input
            .username
            .as_deref()
            .map(|u| validate::username("username", u))
            .transpose()?;
        let first_name = validate::text("firstName", input.first_name.as_deref(), 100)?;
        let last_name = validate::text("lastName", input.last_name.as_deref(), 100)?;

        if self.find_by_email(&email).await?.is_some() {
            return Err(DomainError::Conflict(
                "an account with this email already exists".into(),
            ));
        }
        self.ensure_username_free(username.as_deref(), None).await?;
        let hash = password::hash(input.password).await?;
        let ts = now();
        let txn = begin_write(&self.db).await?;
        let user = new_user_row(NewRow {
            email,
            password_hash: hash,
            username,
            first_name,
            last_name,
            role: UserRole::User,
            email_verified: false,
            last_login_at: Some(ts),
        })
        .insert(&txn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                DomainError::Conflict(
                    "an account with this email or username already exists".into(),
                )
            } else {
                e.into()
            }
        })?;
        let session = self.start_session(&txn, user, Uuid::now_v7()).await?;
        txn.commit().await?;
        Ok(session)
    }

    /// Signs in with email and password. Unknown emails and wrong passwords get the same
    /// answer and cost the same time.
    pub async fn login(&self, email: &str, password: String) -> DomainResult<Session> {
        let bad = || DomainError::Unauthenticated(BAD_CREDENTIALS.into());
        if password.chars().count() > validate::MAX_PASSWORD {
            return Err(bad());
        }
        let user = match validate::email("email", email) {
            Ok(e) => self.find_by_email(&e).await?,
            Err(_) => None,
        };
        let Some(user) = user else {
            password::verify_dummy(password).await?;
            return Err(bad());
        };
        if !password::verify(password, user.password_hash.clone()).await? {
            return Err(bad());
        }
        if !user.is_active {
            return Err(DomainError::Unauthenticated(
                "this account is deactivated".into(),
            ));
        }
        let txn = begin_write(&self.db).await?;
        let mut am: users::ActiveModel = user.into();
        am.last_login_at = Set(Some(now()));
        let user = am.update(&txn).await?;
        let session = self.start_session(&txn, user, Uuid::now_v7()).await?;
        txn.commit().await?;
        Ok(session)
    }

    /// Exchanges a refresh token for a new session (rotation). A token that was already
    /// rotated revokes its whole family: it has been replayed.
    pub async fn refresh(&self, token: &str) -> DomainResult<Session> {
        let invalid = || DomainError::Unauthenticated("invalid refresh token".into());
        let hash = hash_refresh_token(token);
        let txn = begin_write(&self.db).await?;
        let Some(row) = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash))
            .one(&txn)
            .await?
        else {
            return Err(invalid());
        };
        let ts = now();
        if row.revoked_at.is_some() {
            if row.replaced_by.is_some() {
                revoke_family(&txn, row.family_id).await?;
                txn.commit().await?;
                tracing::warn!(user = %row.user_id, family = %row.family_id, "refresh token reuse: session family revoked");
                return Err(DomainError::Unauthenticated(
                    "refresh token was already used: the session has been revoked, sign in again"
                        .into(),
                ));
            }
            return Err(DomainError::Unauthenticated(
                "refresh token revoked: sign in again".into(),
            ));
        }
        if row.expires_at <= ts {
            return Err(DomainError::Unauthenticated(
                "refresh token expired: sign in again".into(),
            ));
        }
        let user = users::Entity::find_by_id(row.user_id).one(&txn).await?;
        let Some(user) = user.filter(|u| u.is_active && u.deleted_at.is_none()) else {
            revoke_family(&txn, row.family_id).await?;
            txn.commit().await?;
            return Err(invalid());
        };
        let new_id = Uuid::now_v7();
        // Conditional: of two concurrent refreshes with one token, only one rotates it.
        let rotated = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(ts))
            .col_expr(refresh_tokens::Column::ReplacedBy, Expr::value(new_id))
            .filter(refresh_tokens::Column::Id.eq(row.id))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        if rotated.rows_affected != 1 {
            revoke_family(&txn, row.family_id).await?;
            txn.commit().await?;
            return Err(DomainError::Unauthenticated(
                "refresh token was already used: the session has been revoked, sign in again"
                    .into(),
            ));
        }
        let session = self.issue(&txn, user, row.family_id, new_id).await?;
        txn.commit().await?;
        Ok(session)
    }

    /// Ends the session a refresh token belongs to. Ending an ended session succeeds.
    pub async fn logout(&self, token: &str) -> DomainResult<()> {
        let row = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash_refresh_token(token)))
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::Unauthenticated("invalid refresh token".into()))?;
        revoke_family(&self.db, row.family_id).await?;
        Ok(())
    }

    /// Ends every session of the actor and invalidates every access token issued so far.
    /// Returns how many sessions were open.
    pub async fn logout_everywhere(&self, actor: &Actor) -> DomainResult<u64> {
        let user_id = actor.require_user()?;
        let txn = begin_write(&self.db).await?;
        let families = self.end_all_sessions(&txn, user_id).await?;
        txn.commit().await?;
        self.actors.forget(user_id);
        Ok(families)
    }

    /// Changes the actor's password after checking the current one; every other session
    /// ends and a fresh one is returned.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: String,
        new: String,
    ) -> DomainResult<Session> {
        let user_id = actor.require_user()?;
        validate::password("newPassword", &new)?;
        let user = self.active_user(user_id).await?;
        if current.chars().count() > validate::MAX_PASSWORD
            || !password::verify(current, user.password_hash.clone()).await?
        {
            return Err(DomainError::invalid(
                "currentPassword",
                "current password is wrong",
            ));
        }
        let hash = password::hash(new).await?;
        let txn = begin_write(&self.db).await?;
        self.end_all_sessions(&txn, user_id).await?;
        let user = users::Entity::find_by_id(user_id)
            .one(&txn)
            .await?
            .ok_or_else(|| DomainError::not_found("user"))?;
        let mut am: users::ActiveModel = user.into();
        am.password_hash = Set(hash);
        am.updated_at = Set(now());
        let user = am.update(&txn).await?;
        let session = self.start_session(&txn, user, Uuid::now_v7()).await?;
        txn.commit().await?;
        self.actors.forget(user_id);
        Ok(session)
    }

    /// Resolves a bearer token into the actor. Invalid, expired or outdated tokens, and
    /// tokens of deactivated or deleted users, are `UNAUTHENTICATED`.
    pub async fn authenticate(&self, bearer: &str) -> DomainResult<Actor> {
        if let Some(actor) = self.actors.get(bearer) {
            return Ok(actor);
        }
        let claims = self.keys.verify(bearer)?;
        let user = users::Entity::find_by_id(claims.sub).one(&self.db).await?;
        let Some(user) = user.filter(|u| u.is_active && u.deleted_at.is_none()) else {
            return Err(DomainError::Unauthenticated("invalid access token".into()));
        };
        if user.session_version != claims.ver {
            return Err(DomainError::Unauthenticated(
                "access token was revoked: sign in again".into(),
            ));
        }
        let role = UserRole::parse(&user.role).ok_or_else(|| {
            DomainError::internal(format!("user {} has unknown role {}", user.id, user.role))
        })?;
        self.actors.put(bearer, &claims, role);
        Ok(Actor::User { id: user.id, role })
    }

    /// Users by id, for loaders (no visibility filter: relations point at real rows).
    pub async fn users_by_ids(&self, ids: &[Uuid]) -> DomainResult<Vec<users::Model>> {
        let select = users::Entity::find().filter(users::Column::Id.is_in(ids.iter().copied()));
        Ok(plexus_core::row::all(&self.db, select).await?)
    }

    /// The viewer's own row.
    pub async fn viewer(&self, actor: &Actor) -> DomainResult<Option<users::Model>> {
        match actor.user_id() {
            Some(id) => Ok(Some(self.active_user(id).await?)),
            None => Ok(None),
        }
    }

    /// One page of the user directory (site admins only), oldest account first.
    pub async fn list_users(
        &self,
        actor: &Actor,
        filter: &UserFilter,
        page: &PageArgs,
    ) -> DomainResult<Page<users::Model>> {
        require_admin(actor)?;
        let ordering = Ordering {
            name: "createdAt",
            columns: users::Column::Id,
            arity: 1,
            descending: false,
        };
        fetch_page(&self.db, directory(filter), ordering, page, |u| {
            vec![KeyValue::U(u.id)]
        })
        .await
    }

    /// The number of users matching `filter` (site admins only).
    pub async fn count_users(&self, actor: &Actor, filter: &UserFilter) -> DomainResult<u64> {
        require_admin(actor)?;
        Ok(directory(filter).count(&self.db).await?)
    }

    /// Updates the viewer's profile.
    pub async fn update_viewer(
        &self,
        actor: &Actor,
        patch: ProfilePatch,
    ) -> DomainResult<users::Model> {
        let user_id = actor.require_user()?;
        let user = self.active_user(user_id).await?;
        let mut am: users::ActiveModel = user.into();
        if let Some(u) = patch.username {
            let u = u.map(|u| validate::username("username", &u)).transpose()?;
            self.ensure_username_free(u.as_deref(), Some(user_id))
                .await?;
            am.username = Set(u);
        }
        if let Some(v) = patch.first_name {
            am.first_name = Set(validate::text("firstName", v.as_deref(), 100)?);
        }
        if let Some(v) = patch.last_name {
            am.last_name = Set(validate::text("lastName", v.as_deref(), 100)?);
        }
        if let Some(v) = patch.avatar_url {
            am.avatar_url = Set(validate::url("avatarUrl", v.as_deref())?);
        }
        if let Some(v) = patch.preferences {
            if let Some(p) = &v {
                if !p.is_object() {
                    return Err(DomainError::invalid(
                        "preferences",
                        "preferences must be a JSON object",
                    ));
                }
                if p.to_string().len() > 16 * 1024 {
                    return Err(DomainError::invalid(
                        "preferences",
                        "preferences must be at most 16 KiB",
                    ));
                }
            }
            am.preferences = Set(v);
        }
        am.updated_at = Set(now());
        am.update(&self.db).await.map_err(|e| {
            if is_unique_violation(&e) {
                DomainError::Conflict("this username is taken".into())
            } else {
                e.into()
            }
        })
    }

    async fn active_user(&self, id: Uuid) -> DomainResult<users::Model> {
        users::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or_else(|| DomainError::not_found("user"))
    }

    async fn find_by_email(&self, email: &str) -> DomainResult<Option<users::Model>> {
        Ok(users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .filter(users::Column::DeletedAt.is_null())
            .one(&self.db)
            .await?)
    }

    async fn ensure_username_free(
        &self,
        username: Option<&str>,
        except: Option<Uuid>,
    ) -> DomainResult<()> {
        let Some(username) = username else {
            return Ok(());
        };
        let mut q = users::Entity::find().filter(users::Column::Username.eq(username));
        if let Some(id) = except {
            q = q.filter(users::Column::Id.ne(id));
        }
        if q.count(&self.db).await? > 0 {
            return Err(DomainError::Conflict("this username is taken".into()));
        }
        Ok(())
    }

    async fn end_all_sessions(
        &self,
        txn: &impl ConnectionTrait,
        user_id: Uuid,
    ) -> DomainResult<u64> {
        let families: Vec<Uuid> = refresh_tokens::Entity::find()
            .select_only()
            .column(refresh_tokens::Column::FamilyId)
            .distinct()
            .filter(refresh_tokens::Column::UserId.eq(user_id))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .filter(refresh_tokens::Column::ExpiresAt.gt(now()))
            .into_tuple()
            .all(txn)
            .await?;
        refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now()))
            .filter(refresh_tokens::Column::UserId.eq(user_id))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(txn)
            .await?;
        users::Entity::update_many()
            .col_expr(
                users::Column::SessionVersion,
                Expr::col(users::Column::SessionVersion).add(1),
            )
            .filter(users::Column::Id.eq(user_id))
            .exec(txn)
            .await?;
        Ok(families.len() as u64)
    }

    async fn start_session(
        &self,
        txn: &impl ConnectionTrait,
        user: users::Model,
        family: Uuid,
    ) -> DomainResult<Session> {
        self.issue(txn, user, family, Uuid::now_v7()).await
    }

    async fn issue(
        &self,
        txn: &impl ConnectionTrait,
        user: users::Model,
        family: Uuid,
        token_id: Uuid,
    ) -> DomainResult<Session> {
        let (refresh_token, hash) = new_refresh_token();
        let ts = now();
        refresh_tokens::ActiveModel {
            id: Set(token_id),
            user_id: Set(user.id),
            token_hash: Set(hash),
            family_id: Set(family),
            expires_at: Set(ts + self.settings.refresh_ttl),
            revoked_at: Set(None),
            replaced_by: Set(None),
            created_at: Set(ts),
        }
        .insert(txn)
        .await?;
        // Whole seconds, exactly the JWT's `exp`.
        let expires = (Utc::now() + self.settings.access_ttl).timestamp();
        let access_expires_at = DateTime::from_timestamp(expires, 0).unwrap_or_else(Utc::now);
        let access_token = self
            .keys
            .issue(user.id, user.session_version, access_expires_at)?;
        Ok(Session {
            access_token,
            access_expires_at,
            refresh_token,
            user,
        })
    }
}

async fn revoke_family(db: &impl ConnectionTrait, family: Uuid) -> DomainResult<()> {
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now()))
        .filter(refresh_tokens::Column::FamilyId.eq(family))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

fn require_admin(actor: &Actor) -> DomainResult<()> {
    actor.require_user()?;
    if actor.is_admin() {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "only site administrators may list users".into(),
        ))
    }
}

fn directory(filter: &UserFilter) -> Select<users::Entity> {
    let mut q = users::Entity::find().filter(users::Column::DeletedAt.is_null());
    if let Some(role) = filter.role {
        q = q.filter(users::Column::Role.eq(role.as_str()));
    }
    if let Some(active) = filter.is_active {
        q = q.filter(users::Column::IsActive.eq(active));
    }
    if let Some(s) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let like = |col: users::Column| contains_ci(col, s);
        q = q.filter(
            Condition::any()
                .add(like(users::Column::Email))
                .add(like(users::Column::Username))
                .add(like(users::Column::FirstName))
                .add(like(users::Column::LastName)),
        );
    }
    q
}

/// Whether `actor` may see `user` at all: deleted accounts exist only for site admins.
pub fn can_see(actor: &Actor, user: &users::Model) -> bool {
    user.deleted_at.is_none() || actor.is_admin()
}

impl UsersService {
    /// Creates an account with a given role unless one with this email exists (seeding).
    /// Returns the account and whether it was created.
    pub async fn ensure_user(
        &self,
        email: &str,
        password: &str,
        role: UserRole,
        first: &str,
        last: &str,
    ) -> DomainResult<(users::Model, bool)> {
        let email = validate::email("email", email)?;
        if let Some(existing) = self.find_by_email(&email).await? {
            return Ok((existing, false));
        }
        let hash = password::hash(password.to_string()).await?;
        let user = new_user_row(NewRow {
            email,
            password_hash: hash,
            username: None,
            first_name: Some(first.to_string()),
            last_name: Some(last.to_string()),
            role,
            email_verified: true,
            last_login_at: None,
        })
        .insert(&self.db)
        .await?;
        Ok((user, true))
    }
}

struct NewRow {
    email: String,
    password_hash: String,
    username: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    role: UserRole,
    email_verified: bool,
    last_login_at: Option<chrono::DateTime<chrono::FixedOffset>>,
}

fn new_user_row(r: NewRow) -> users::ActiveModel {
    let ts = now();
    users::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(r.email),
        username: Set(r.username),
        password_hash: Set(r.password_hash),
        first_name: Set(r.first_name),
        last_name: Set(r.last_name),
        avatar_url: Set(None),
        role: Set(r.role.as_str().to_string()),
        is_active: Set(true),
        email_verified: Set(r.email_verified),
        preferences: Set(None),
        total_tokens_used: Set(0),
        last_login_at: Set(r.last_login_at),
        session_version: Set(0),
        created_at: Set(ts),
        updated_at: Set(ts),
        deleted_at: Set(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(user: Uuid, exp: i64) -> tokens::AccessClaims {
        tokens::AccessClaims {
            sub: user,
            iat: exp - 900,
            exp,
            ver: 1,
            typ: "access".into(),
        }
    }

    #[test]
    fn cached_tokens_end_at_their_expiry_and_with_their_user() {
        let cache = ActorCache {
            ttl: std::time::Duration::from_secs(3600),
            ..ActorCache::default()
        };
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let now = Utc::now().timestamp();
        cache.put("alice-live", &claims(alice, now + 60), UserRole::User);
        cache.put("alice-old", &claims(alice, now - 60), UserRole::User);
        cache.put("bob", &claims(bob, now + 60), UserRole::Admin);
        assert!(matches!(
            cache.get("alice-live"),
            Some(Actor::User { id, role: UserRole::User }) if id == alice
        ));
        // Past its expiry (and the leeway) a token is verified again, which refuses it.
        assert!(cache.get("alice-old").is_none());
        // Only the exact token hits.
        assert!(cache.get("alice-live ").is_none());
        cache.forget(alice);
        assert!(cache.get("alice-live").is_none());
        assert!(cache.get("bob").is_some());
        // A zero window caches nothing.
        let off = ActorCache::default();
        off.put("bob", &claims(bob, now + 60), UserRole::Admin);
        assert!(off.get("bob").is_none());
    }
}
