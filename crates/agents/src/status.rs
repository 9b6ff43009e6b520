//! The agent task state machine: PENDING → RUNNING → COMPLETED | FAILED; PENDING | RUNNING →
//! CANCELLED; COMPLETED, FAILED and CANCELLED are final.

use plexus_core::{DomainError, DomainResult};

/// Where a task is in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    /// Every status.
    pub const ALL: [TaskStatus; 5] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True for COMPLETED, FAILED and CANCELLED.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// Whether a task may go from `self` to `to`.
    pub fn can_become(self, to: TaskStatus) -> bool {
        use TaskStatus::*;
        matches!(
            (self, to),
            (Pending, Running) | (Running, Completed | Failed) | (Pending | Running, Cancelled)
        )
    }

    /// `CONFLICT` unless the transition is allowed.
    pub fn check(self, to: TaskStatus) -> DomainResult<()> {
        if self.can_become(to) {
            return Ok(());
        }
        let why = if self.is_terminal() {
            format!("the task is {} and final", self.as_str())
        } else {
            format!("a {} task cannot become {}", self.as_str(), to.as_str())
        };
        Err(DomainError::Conflict(why))
    }
}

#[cfg(test)]
mod tests {
    use super::TaskStatus::{self, *};

    #[test]
    fn the_machine() {
        let allowed = [
            (Pending, Running),
            (Running, Completed),
            (Running, Failed),
            (Pending, Cancelled),
            (Running, Cancelled),
        ];
        for from in TaskStatus::ALL {
            for to in TaskStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
                if from.is_terminal() {
                    let e = from.check(to).expect_err("terminal");
                    assert_eq!(e.code(), "CONFLICT");
                }
            }
        }
        for s in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(s.as_str()), Some(s));
        }
    }
}
