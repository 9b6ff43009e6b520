//! The node status machine: IDLE → GENERATING → COMPLETED | ERROR; COMPLETED | ERROR |
//! STALE → GENERATING; any → STALE (propagation).

use plexus_core::{DomainError, DomainResult};

/// Where a node is in its generation life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeStatus {
    Idle,
    Generating,
    Completed,
    Error,
    Stale,
}

impl NodeStatus {
    /// Every status.
    pub const ALL: [NodeStatus; 5] = [
        Self::Idle,
        Self::Generating,
        Self::Completed,
        Self::Error,
        Self::Stale,
    ];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "IDLE",
            Self::Generating => "GENERATING",
            Self::Completed => "COMPLETED",
            Self::Error => "ERROR",
            Self::Stale => "STALE",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether a node may go from `self` to `to`.
    pub fn can_become(self, to: NodeStatus) -> bool {
        use NodeStatus::*;
        self == to
            || to == Stale
            || matches!(
                (self, to),
                (Idle | Completed | Error | Stale, Generating) | (Generating, Completed | Error)
            )
    }

    /// `CONFLICT` unless the transition is allowed.
    pub fn check(self, to: NodeStatus) -> DomainResult<()> {
        if self.can_become(to) {
            Ok(())
        } else {
            Err(DomainError::Conflict(format!(
                "a {} node cannot become {}",
                self.as_str(),
                to.as_str()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NodeStatus::*;

    #[test]
    fn the_machine() {
        let allowed = [
            (Idle, Generating),
            (Generating, Completed),
            (Generating, Error),
            (Completed, Generating),
            (Error, Generating),
            (Stale, Generating),
            (Idle, Stale),
            (Generating, Stale),
            (Completed, Stale),
        ];
        for from in super::NodeStatus::ALL {
            for to in super::NodeStatus::ALL {
                let want = from == to || allowed.contains(&(from, to)) || to == Stale;
                assert_eq!(from.can_become(to), want, "{from:?} -> {to:?}");
            }
        }
        assert_eq!(Idle.check(Completed).unwrap_err().code(), "CONFLICT");
        assert_eq!(Completed.check(Idle).unwrap_err().code(), "CONFLICT");
    }
}
