//! Who is asking: the actor every service decision is made for.

use uuid::Uuid;

/// Site-wide role of a user (`UserRole` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserRole {
    /// An ordinary user.
    User,
    /// A paying user; same permissions as `User` today.
    Premium,
    /// A site administrator: sees every user and the system logs.
    Admin,
}

impl UserRole {
    /// The value stored in the database and shown in the schema.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Premium => "PREMIUM",
            Self::Admin => "ADMIN",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "USER" => Some(Self::User),
            "PREMIUM" => Some(Self::Premium),
            "ADMIN" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// The authenticated principal of a request, or nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// No credentials were presented: only public data is visible.
    Anonymous,
    /// A signed-in user.
    User { id: Uuid, role: UserRole },
}

impl Actor {
    /// The user id, if signed in.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Self::Anonymous => None,
            Self::User { id, .. } => Some(*id),
        }
    }

    /// The user id, or `UNAUTHENTICATED`.
    pub fn require_user(&self) -> crate::DomainResult<Uuid> {
        self.user_id()
            .ok_or_else(|| crate::DomainError::Unauthenticated("sign in to do this".into()))
    }

    /// True for site administrators.
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Self::User {
                role: UserRole::Admin,
                ..
            }
        )
    }

    /// True when the actor is the given user or a site administrator.
    pub fn is_self_or_admin(&self, user_id: Uuid) -> bool {
        self.user_id() == Some(user_id) || self.is_admin()
    }
}
