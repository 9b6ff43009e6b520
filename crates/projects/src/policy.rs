//! The project role matrix (NonLinear seed) as pure functions, so queries, nested fields,
//! mutations and subscription deliveries all decide the same way.
//!
//! | role   | view | edit | add node | delete node | manage members | delete project |
//! |--------|------|------|----------|-------------|----------------|----------------|
//! | OWNER  | ✓    | ✓    | ✓        | ✓           | ✓              | ✓              |
//! | ADMIN  | ✓    | ✓    | ✓        | ✓           | ✓              |                |
//! | EDITOR | ✓    | ✓    | ✓        | ✓           |                |                |
//! | MEMBER | ✓    |      |          |             |                |                |
//! | VIEWER | ✓    |      |          |             |                |                |
//!
//! Outsiders see public projects and nothing else. Nobody grants a role above their own;
//! the OWNER is never removed or demoted except by a transfer of ownership.

use plexus_core::{DomainError, DomainResult};

/// A member's role in a project, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProjectRole {
    /// Reads only.
    Viewer,
    /// Reads, and takes part in the project's conversations.
    Member,
    /// Edits the project and its nodes.
    Editor,
    /// Edits, and manages members.
    Admin,
    /// Everything, including deleting the project. Exactly one per project.
    Owner,
}

impl ProjectRole {
    /// Every role, least powerful first.
    pub const ALL: [ProjectRole; 5] = [
        Self::Viewer,
        Self::Member,
        Self::Editor,
        Self::Admin,
        Self::Owner,
    ];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "OWNER",
            Self::Admin => "ADMIN",
            Self::Editor => "EDITOR",
            Self::Member => "MEMBER",
            Self::Viewer => "VIEWER",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What the viewer may do with a project (`Project.viewerCan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub view: bool,
    pub edit: bool,
    pub add_node: bool,
    pub delete_node: bool,
    pub manage_members: bool,
    pub delete: bool,
}

/// The capabilities of someone with `role` (none for outsiders) on a project.
pub fn capabilities(role: Option<ProjectRole>, is_public: bool) -> Capabilities {
    use ProjectRole::*;
    let at_least = |min: ProjectRole| role.is_some_and(|r| r >= min);
    Capabilities {
        view: role.is_some() || is_public,
        edit: at_least(Editor),
        add_node: at_least(Editor),
        delete_node: at_least(Editor),
        manage_members: at_least(Admin),
        delete: at_least(Owner),
    }
}

/// Whether `actor` may give `granted` to someone (add or change a member).
pub fn check_grant(actor: ProjectRole, granted: ProjectRole) -> DomainResult<()> {
    if granted == ProjectRole::Owner {
        return Err(DomainError::invalid(
            "role",
            "OWNER cannot be granted: use transferProjectOwnership",
        ));
    }
    if granted > actor {
        return Err(DomainError::Forbidden(format!(
            "a {} cannot grant the {} role",
            actor.as_str(),
            granted.as_str()
        )));
    }
    Ok(())
}

/// Whether `actor` may change or remove a member who has `target` today.
pub fn check_manage(actor: ProjectRole, target: ProjectRole) -> DomainResult<()> {
    if target == ProjectRole::Owner {
        return Err(DomainError::Forbidden(
            "the owner cannot be removed or demoted: transfer ownership first".into(),
        ));
    }
    if actor != ProjectRole::Owner && target >= actor {
        return Err(DomainError::Forbidden(format!(
            "a {} cannot change a member who is {}",
            actor.as_str(),
            target.as_str()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ProjectRole::*;
    use super::*;

    #[test]
    fn the_seed_matrix_holds() {
        // role, view, edit, add node, delete node, manage members, delete project
        let matrix = [
            (Some(Owner), [true, true, true, true, true, true]),
            (Some(Admin), [true, true, true, true, true, false]),
            (Some(Editor), [true, true, true, true, false, false]),
            (Some(Member), [true, false, false, false, false, false]),
            (Some(Viewer), [true, false, false, false, false, false]),
            (None, [false, false, false, false, false, false]),
        ];
        for (role, want) in matrix {
            let c = capabilities(role, false);
            assert_eq!(
                [
                    c.view,
                    c.edit,
                    c.add_node,
                    c.delete_node,
                    c.manage_members,
                    c.delete
                ],
                want,
                "{role:?}"
            );
        }
        let public = capabilities(None, true);
        assert_eq!(
            public,
            Capabilities {
                view: true,
                ..Default::default()
            }
        );
    }

    #[test]
    fn nobody_grants_above_their_own_role_and_owner_is_never_granted() {
        assert!(check_grant(Admin, Admin).is_ok());
        assert!(check_grant(Admin, Editor).is_ok());
        assert_eq!(
            check_grant(Owner, Owner).unwrap_err().code(),
            "BAD_USER_INPUT"
        );
        assert_eq!(check_grant(Editor, Admin).unwrap_err().code(), "FORBIDDEN");
    }

    #[test]
    fn only_lower_roles_are_managed_and_the_owner_never() {
        assert!(check_manage(Owner, Admin).is_ok());
        assert!(check_manage(Admin, Editor).is_ok());
        assert_eq!(check_manage(Admin, Admin).unwrap_err().code(), "FORBIDDEN");
        assert_eq!(check_manage(Admin, Owner).unwrap_err().code(), "FORBIDDEN");
        assert_eq!(check_manage(Owner, Owner).unwrap_err().code(), "FORBIDDEN");
    }

    #[test]
    fn roles_round_trip() {
        for r in ProjectRole::ALL {
            assert_eq!(ProjectRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(ProjectRole::parse("owner"), None);
    }
}
