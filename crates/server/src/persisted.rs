//! Persisted operations: the Automatic Persisted Queries cache (Apollo's protocol) and the
//! allow-list manifest of `PLEXUS_PERSISTED_ONLY`.

use lru::LruCache;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// SHA-256 of a query text.
pub fn sha256(text: &str) -> Hash {
    Sha256::digest(text.as_bytes()).into()
}

/// Parses 64 hex digits (either case) into a digest.
pub fn parse_hex(s: &str) -> Option<Hash> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Queries longer than this are run but not stored.
pub const APQ_MAX_QUERY_BYTES: usize = 64 * 1024;
/// The most query text the APQ cache holds, whatever its entry count.
pub const APQ_MAX_TOTAL_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug)]
struct Lru {
    entries: LruCache<Hash, Arc<str>>,
    bytes: usize,
}

/// The APQ store: queries by hash, least recently used evicted first, bounded in entries
/// (`PLEXUS_APQ_CACHE_SIZE`) and in bytes (`APQ_MAX_TOTAL_BYTES`).
#[derive(Debug)]
pub struct ApqCache {
    inner: Option<Mutex<Lru>>,
}

impl ApqCache {
    /// A cache holding at most `size` queries; 0 turns APQ off.
    pub fn new(size: usize) -> Self {
        Self {
            inner: NonZeroUsize::new(size).map(|n| {
                Mutex::new(Lru {
                    entries: LruCache::new(n),
                    bytes: 0,
                })
            }),
        }
    }

    /// Whether APQ is on.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Lru) -> T) -> Option<T> {
        let m = self.inner.as_ref()?;
        let mut guard = match m.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        Some(f(&mut guard))
    }

    /// The query stored under `hash`.
    pub fn get(&self, hash: &Hash) -> Option<Arc<str>> {
        self.with(|c| c.entries.get(hash).cloned()).flatten()
    }

    /// Stores `query` (whose hash the caller has verified), unless it is too long.
    pub fn insert(&self, hash: Hash, query: &str) {
        if query.len() > APQ_MAX_QUERY_BYTES {
            return;
        }
        self.with(|c| {
            if c.entries.get(&hash).is_some() {
                return;
            }
            while c.bytes + query.len() > APQ_MAX_TOTAL_BYTES {
                match c.entries.pop_lru() {
                    Some((_, q)) => c.bytes -= q.len(),
                    None => break,
                }
            }
            if let Some((_, q)) = c.entries.push(hash, Arc::from(query)) {
                c.bytes -= q.len();
            }
            c.bytes += query.len();
        });
    }

    /// How many queries are stored.
    pub fn len(&self) -> usize {
        self.with(|c| c.entries.len()).unwrap_or(0)
    }

    /// How many bytes of query text are stored.
    pub fn bytes(&self) -> usize {
        self.with(|c| c.bytes).unwrap_or(0)
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The operations a persisted-only server runs.
#[derive(Default)]
pub struct Manifest {
    by_id: HashMap<String, Arc<str>>,
    by_hash: HashMap<Hash, Arc<str>>,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Manifest({} operations)", self.by_id.len())
    }
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "PLEXUS_PERSISTED_MANIFEST: cannot read {}: {e}",
                path.display()
            )
        })?;
        Self::parse(&text)
            .map_err(|e| format!("PLEXUS_PERSISTED_MANIFEST ({}): {e}", path.display()))
    }

    /// Parses a manifest: `{ "<id>": "<query>", … }` (GraphQL Code Generator, Relay) or
    /// Apollo's `{ "format": "apollo-persisted-query-manifest", "version": 1, "operations":
    /// [{ "id", "body", … }] }`. Every body must parse as GraphQL.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let Value::Object(obj) = value else {
            return Err("the manifest must be a JSON object".into());
        };
        let mut entries: Vec<(String, String)> = Vec::new();
        if let Some(format) = obj.get("format") {
            if format != "apollo-persisted-query-manifest" {
                return Err(format!(
                    "unknown `format` {format}; expected \"apollo-persisted-query-manifest\""
                ));
            }
            if obj.get("version").and_then(Value::as_u64) != Some(1) {
                return Err("an Apollo manifest must have `\"version\": 1`".into());
            }
            let Some(ops) = obj.get("operations").and_then(Value::as_array) else {
                return Err("an Apollo manifest needs an `operations` array".into());
            };
            for (i, op) in ops.iter().enumerate() {
                let id = op.get("id").and_then(Value::as_str);
                let body = op.get("body").and_then(Value::as_str);
                match (id, body) {
                    (Some(id), Some(body)) => entries.push((id.to_string(), body.to_string())),
                    _ => {
                        return Err(format!(
                            "operations[{i}] needs string `id` and `body` fields"
                        ));
                    }
                }
            }
        } else {
            for (id, body) in obj {
                let Value::String(body) = body else {
                    return Err(format!(
                        "entry `{id}` must map to a query string (or use the Apollo format)"
                    ));
                };
                entries.push((id, body));
            }
        }
        if entries.is_empty() {
            return Err("the manifest holds no operations".into());
        }
        let mut m = Manifest::default();
        for (id, body) in entries {
            if let Err(e) = async_graphql::parser::parse_query(&body) {
                return Err(format!("operation `{id}` is not valid GraphQL: {e}"));
            }
            let body: Arc<str> = Arc::from(body);
            m.by_hash.insert(sha256(&body), body.clone());
            if m.by_id.insert(id.clone(), body).is_some() {
                return Err(format!("operation id `{id}` appears twice"));
            }
        }
        Ok(m)
    }

    /// The operation with this id, or whose body has this SHA-256 (hex).
    pub fn get(&self, id: &str) -> Option<Arc<str>> {
        if let Some(body) = self.by_id.get(id) {
            return Some(body.clone());
        }
        parse_hex(id).and_then(|h| self.by_hash.get(&h).cloned())
    }

    /// The operation whose body has this SHA-256.
    pub fn by_hash(&self, hash: &Hash) -> Option<Arc<str>> {
        self.by_hash.get(hash).cloned()
    }

    /// How many operations it allows.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when it allows nothing.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const Q: &str = "{ __typename }";

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hex_round_trips() {
        let h = sha256(Q);
        assert_eq!(parse_hex(&hex(&h)), Some(h));
        assert_eq!(parse_hex(&hex(&h).to_uppercase()), Some(h));
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn both_manifest_forms_parse() {
        let m = Manifest::parse(&format!(r#"{{ "abc": "{Q}" }}"#)).unwrap();
        assert_eq!(m.get("abc").as_deref(), Some(Q));
        assert_eq!(m.get(&hex(&sha256(Q))).as_deref(), Some(Q));
        let apollo = format!(
            r#"{{ "format": "apollo-persisted-query-manifest", "version": 1,
                 "operations": [{{ "id": "x1", "name": "T", "type": "query", "body": "{Q}" }}] }}"#
        );
        let m = Manifest::parse(&apollo).unwrap();
        assert_eq!(m.by_hash(&sha256(Q)).as_deref(), Some(Q));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn bad_manifests_say_why() {
        for (text, needle) in [
            ("[]", "JSON object"),
            ("{", "not valid JSON"),
            ("{}", "no operations"),
            (r#"{"a": 1}"#, "query string"),
            (r#"{"a": "{ x"}"#, "not valid GraphQL"),
            (r#"{"format": "other"}"#, "unknown `format`"),
            (
                r#"{"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}"#,
                "version",
            ),
            (
                r#"{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id": "a"}]}"#,
                "operations[0]",
            ),
        ] {
            let e = Manifest::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn the_cache_is_bounded_lru() {
        let c = ApqCache::new(2);
        let (a, b, d) = (sha256("a"), sha256("b"), sha256("d"));
        c.insert(a, "a");
        c.insert(b, "b");
        assert!(c.get(&a).is_some());
        c.insert(d, "d");
        assert!(c.get(&b).is_none(), "least recently used is evicted");
        assert!(c.get(&a).is_some() && c.get(&d).is_some());
        assert!(!ApqCache::new(0).enabled());
        assert_eq!(c.bytes(), 2);
        let big = "x".repeat(APQ_MAX_QUERY_BYTES + 1);
        c.insert(sha256(&big), &big);
        assert!(c.get(&sha256(&big)).is_none(), "too long to keep");
        let c = ApqCache::new(1000);
        let q = "y".repeat(APQ_MAX_QUERY_BYTES);
        for i in 0..300 {
            let text = format!("{i}{q}");
            c.insert(
                sha256(&text[..APQ_MAX_QUERY_BYTES]),
                &text[..APQ_MAX_QUERY_BYTES],
            );
        }
        assert!(c.bytes() <= APQ_MAX_TOTAL_BYTES, "{}", c.bytes());
    }
}
