//! Typed global ids in TypeID style: `<prefix>_<26 chars of Crockford base32>` encoding the
//! row's UUIDv7, e.g. `user_01jd4s3kf7e8v9w0x1y2z3a4b5`. The prefix names the type, so
//! `node(id:)` can resolve any id and an id of the wrong type is refused by name.

use crate::{DomainError, DomainResult};
use uuid::Uuid;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const SUFFIX_LEN: usize = 26;

macro_rules! id_kinds {
    ($($variant:ident => $prefix:literal, $type_name:literal;)*) => {
        /// The kinds of object that carry a global id.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum IdKind { $($variant),* }

        impl IdKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [IdKind] = &[$(IdKind::$variant),*];

            /// The id prefix of this kind.
            pub fn prefix(self) -> &'static str {
                match self { $(IdKind::$variant => $prefix),* }
            }

            /// The GraphQL type name of this kind.
            pub fn type_name(self) -> &'static str {
                match self { $(IdKind::$variant => $type_name),* }
            }

            /// The kind with this prefix.
            pub fn from_prefix(prefix: &str) -> Option<Self> {
                match prefix { $($prefix => Some(IdKind::$variant),)* _ => None }
            }
        }
    };
}

id_kinds! {
    User => "user", "User";
    Notification => "ntf", "Notification";
    Project => "proj", "Project";
    ProjectMember => "pmem", "ProjectMember";
    GraphNode => "node", "GraphNode";
    GraphEdge => "edge", "GraphEdge";
    Agent => "agent", "Agent";
    AgentTask => "task", "AgentTask";
    Tool => "tool", "Tool";
    KnowledgePack => "kpack", "KnowledgePack";
    Document => "doc", "Document";
    Memory => "mem", "Memory";
    Workflow => "wf", "Workflow";
    WorkflowExecution => "wfx", "WorkflowExecution";
    SystemLog => "log", "SystemLog";
    Conversation => "conv", "Conversation";
    Message => "msg", "Message";
    ToolCall => "tcall", "ToolCall";
    Media => "media", "Media";
    VoiceInteraction => "voice", "VoiceInteraction";
}

/// A decoded global id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlobalId {
    /// What the id names.
    pub kind: IdKind,
    /// The row's primary key.
    pub uuid: Uuid,
}

impl GlobalId {
    /// A global id for a row of the given kind.
    pub fn new(kind: IdKind, uuid: Uuid) -> Self {
        Self { kind, uuid }
    }

    /// Encodes the id: `<prefix>_<suffix>`.
    pub fn encode(&self) -> String {
        encode(self.kind, self.uuid)
    }

    /// Parses any global id. `arg` names the argument in the error.
    pub fn parse(s: &str, arg: &str) -> DomainResult<Self> {
        let bad = || DomainError::invalid(arg, format!("`{}` is not a valid id", truncate(s)));
        let (prefix, suffix) = s.rsplit_once('_').ok_or_else(bad)?;
        let kind = IdKind::from_prefix(prefix).ok_or_else(bad)?;
        let uuid = decode_suffix(suffix).ok_or_else(bad)?;
        Ok(Self { kind, uuid })
    }

    /// Parses an id that must be of `kind`; an id of another type is refused by name.
    pub fn parse_as(s: &str, kind: IdKind, arg: &str) -> DomainResult<Uuid> {
        let id = Self::parse(s, arg)?;
        if id.kind != kind {
            return Err(DomainError::invalid(
                arg,
                format!(
                    "expected a {} id, got a {} id",
                    kind.type_name(),
                    id.kind.type_name()
                ),
            ));
        }
        Ok(id.uuid)
    }
}

/// Encodes a uuid as a global id of `kind`.
pub fn encode(kind: IdKind, uuid: Uuid) -> String {
    // Digits into a byte array first: pushing them one `char` at a time took 2.8 times the
    // instructions (callgrind), and every response carries hundreds of ids.
    let mut digits = [0u8; SUFFIX_LEN];
    let mut value = uuid.as_u128();
    for d in digits.iter_mut().rev() {
        *d = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    let prefix = kind.prefix();
    let mut out = String::with_capacity(prefix.len() + 1 + SUFFIX_LEN);
    out.push_str(prefix);
    out.push('_');
    // The alphabet is ASCII: the conversion cannot fail.
    out.push_str(std::str::from_utf8(&digits).unwrap_or_default());
    out
}

fn decode_suffix(s: &str) -> Option<Uuid> {
    let bytes = s.as_bytes();
    if bytes.len() != SUFFIX_LEN || bytes[0] > b'7' {
        return None;
    }
    let mut value: u128 = 0;
    for &b in bytes {
        let digit = ALPHABET.iter().position(|&a| a == b)? as u128;
        value = (value << 5) | digit;
    }
    Some(Uuid::from_u128(value))
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 64 {
        format!("{}…", s.chars().take(64).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        for &kind in IdKind::ALL {
            let uuid = Uuid::now_v7();
            let s = encode(kind, uuid);
            assert!(s.starts_with(kind.prefix()));
            assert_eq!(s.len(), kind.prefix().len() + 1 + 26);
            let parsed = GlobalId::parse(&s, "id").unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(parsed, GlobalId::new(kind, uuid));
        }
    }

    #[test]
    fn extremes_round_trip() {
        for uuid in [Uuid::nil(), Uuid::max()] {
            let s = encode(IdKind::User, uuid);
            assert_eq!(GlobalId::parse_as(&s, IdKind::User, "id"), Ok(uuid));
        }
        assert_eq!(
            encode(IdKind::User, Uuid::max()),
            "user_7zzzzzzzzzzzzzzzzzzzzzzzzz"
        );
        assert_eq!(
            encode(IdKind::User, Uuid::nil()),
            "user_00000000000000000000000000"
        );
    }

    #[test]
    fn ids_sort_like_their_uuids() {
        let a = Uuid::now_v7();
        let b = Uuid::from_u128(a.as_u128() + 1);
        assert!(encode(IdKind::Project, a) < encode(IdKind::Project, b));
    }

    #[test]
    fn refuses_malformed_ids() {
        for bad in [
            "",
            "user",
            "user_",
            "user_0000000000000000000000000",   // 25 chars
            "user_000000000000000000000000000", // 27 chars
            "user_80000000000000000000000000",  // overflows 128 bits
            "user_0000000000000000000000000u",  // 'u' is not Crockford
            "user_0000000000000000000000000A",  // upper case
            "nope_00000000000000000000000000",  // unknown prefix
            "00000000-0000-0000-0000-000000000000",
        ] {
            let err = GlobalId::parse(bad, "id").expect_err(bad);
            assert_eq!(err.code(), "BAD_USER_INPUT");
            assert_eq!(err.field(), Some("id"));
        }
    }

    #[test]
    fn refuses_an_id_of_the_wrong_type_by_name() {
        let s = encode(IdKind::Project, Uuid::now_v7());
        let err = GlobalId::parse_as(&s, IdKind::User, "userId").expect_err("wrong kind");
        assert_eq!(err.field(), Some("userId"));
        assert!(
            err.public_message()
                .contains("expected a User id, got a Project id")
        );
    }

    #[test]
    fn prefixes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &kind in IdKind::ALL {
            assert!(
                seen.insert(kind.prefix()),
                "duplicate prefix {}",
                kind.prefix()
            );
            assert!(!kind.prefix().contains('_'));
        }
    }
}
