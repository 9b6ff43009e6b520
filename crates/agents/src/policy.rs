//! Who may see and change what, as pure functions: agents, tasks, memories, packs and
//! workflows belong to their owner alone (anyone else gets `NOT_FOUND`, so existence does
//! not leak); tools and knowledge packs of site admins form a shared registry everyone sees
//! but only their owner changes.

use plexus_core::{Actor, DomainError, DomainResult};
use uuid::Uuid;

/// True when `actor` owns a row owned by `owner`.
pub fn owns(actor: &Actor, owner: Uuid) -> bool {
    actor.user_id() == Some(owner)
}

/// True when `actor` may see a shared-registry row (tool, knowledge pack) owned by `owner`,
/// whose owner is a site admin when `owner_is_admin`.
pub fn sees_shared(actor: &Actor, owner: Uuid, owner_is_admin: bool) -> bool {
    owns(actor, owner) || (owner_is_admin && actor.user_id().is_some())
}

/// `NOT_FOUND` (naming `what`) unless `actor` owns the row.
pub fn require_owner(actor: &Actor, owner: Uuid, what: &str) -> DomainResult<()> {
    if owns(actor, owner) {
        Ok(())
    } else {
        Err(DomainError::not_found(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_core::UserRole;

    #[test]
    fn ownership_and_the_shared_registry() {
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let user = Actor::User {
            id: me,
            role: UserRole::User,
        };
        let admin = Actor::User {
            id: other,
            role: UserRole::Admin,
        };
        assert!(owns(&user, me));
        assert!(!owns(&user, other));
        assert!(
            !owns(&admin, me),
            "site admins do not see other users' agents"
        );
        assert!(sees_shared(&user, other, true));
        assert!(!sees_shared(&user, other, false));
        assert!(!sees_shared(&Actor::Anonymous, other, true));
        assert_eq!(
            require_owner(&user, other, "agent").unwrap_err().code(),
            "NOT_FOUND"
        );
    }
}
