//! Who may read and write a conversation, as a pure function.
//!
//! A conversation belongs to its owner, who may do everything with it. One in a project is
//! also readable by every member of the project and writable (messages, tool calls) by
//! MEMBER and above; its ADMIN and OWNER may also rename, archive or delete it. VIEWERs
//! only read. Anyone else gets `NOT_FOUND`, so existence does not leak.

use plexus_core::{Actor, DomainError, DomainResult};
use plexus_projects::ProjectRole;
use uuid::Uuid;

/// What the actor may do with one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConversationAccess {
    /// See it, its messages and its tool calls.
    pub read: bool,
    /// Send messages and record tool calls.
    pub write: bool,
    /// Rename, archive or delete it.
    pub manage: bool,
}

/// The access of `actor` to a conversation owned by `owner`, given the actor's role in the
/// conversation's project (`None` when it has no project or the actor is no member).
pub fn access(actor: &Actor, owner: Uuid, project_role: Option<ProjectRole>) -> ConversationAccess {
    if actor.user_id() == Some(owner) {
        return ConversationAccess {
            read: true,
            write: true,
            manage: true,
        };
    }
    let at_least = |min: ProjectRole| project_role.is_some_and(|r| r >= min);
    ConversationAccess {
        read: project_role.is_some(),
        write: at_least(ProjectRole::Member),
        manage: at_least(ProjectRole::Admin),
    }
}

impl ConversationAccess {
    /// `NOT_FOUND` unless readable, then `FORBIDDEN` unless `allowed`.
    pub fn require(&self, allowed: bool, what: &str) -> DomainResult<()> {
        if !self.read {
            return Err(DomainError::not_found("conversation"));
        }
        if !allowed {
            return Err(DomainError::Forbidden(format!(
                "you may read this conversation but not {what}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_core::UserRole;

    #[test]
    fn the_access_matrix() {
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let actor = Actor::User {
            id: me,
            role: UserRole::User,
        };
        let all = ConversationAccess {
            read: true,
            write: true,
            manage: true,
        };
        assert_eq!(access(&actor, me, None), all);
        assert_eq!(access(&actor, me, Some(ProjectRole::Viewer)), all);
        let cases = [
            (None, (false, false, false)),
            (Some(ProjectRole::Viewer), (true, false, false)),
            (Some(ProjectRole::Member), (true, true, false)),
            (Some(ProjectRole::Editor), (true, true, false)),
            (Some(ProjectRole::Admin), (true, true, true)),
            (Some(ProjectRole::Owner), (true, true, true)),
        ];
        for (role, (read, write, manage)) in cases {
            let a = access(&actor, other, role);
            assert_eq!(
                (a.read, a.write, a.manage),
                (read, write, manage),
                "{role:?}"
            );
        }
        let admin = Actor::User {
            id: me,
            role: UserRole::Admin,
        };
        assert!(
            !access(&admin, other, None).read,
            "site admins do not read others' chats"
        );
        assert!(!access(&Actor::Anonymous, other, None).read);
        let viewer = access(&actor, other, Some(ProjectRole::Viewer));
        assert_eq!(
            viewer.require(viewer.write, "write").unwrap_err().code(),
            "FORBIDDEN"
        );
        let none = access(&actor, other, None);
        assert_eq!(none.require(true, "read").unwrap_err().code(), "NOT_FOUND");
    }
}
