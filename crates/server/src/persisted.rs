//! Persisted operations: the Automatic Persisted Queries cache (Apollo's protocol) and the
//! allow-list manifest of `PLEXUS_PERSISTED_ONLY`.

use async_graphql::ServerError;
use async_graphql::parser::types::ExecutableDocument;
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

/// Queries of more than this many bytes are parsed on every request: not worth a slot.
pub const DOCUMENT_MAX_QUERY_BYTES: usize = 16 * 1024;
/// The most query text the document cache is keyed by, whatever its entry count (a parsed
/// document takes several times its text).
pub const DOCUMENT_MAX_TOTAL_BYTES: usize = 4 * 1024 * 1024;

/// A least-recently-used map bounded in entries and in the bytes its entries weigh, behind
/// a mutex; `None` when its size is 0 (off).
#[derive(Debug)]
struct Bounded<K: std::hash::Hash + Eq, V> {
    inner: Option<Mutex<Slots<K, V>>>,
    max_weight: usize,
    max_total: usize,
}

#[derive(Debug)]
struct Slots<K: std::hash::Hash + Eq, V> {
    entries: LruCache<K, (V, usize)>,
    total: usize,
}

impl<K: std::hash::Hash + Eq, V: Clone> Bounded<K, V> {
    fn new(size: usize, max_weight: usize, max_total: usize) -> Self {
        Self {
            inner: NonZeroUsize::new(size).map(|n| {
                Mutex::new(Slots {
                    entries: LruCache::new(n),
                    total: 0,
                })
            }),
            max_weight,
            max_total,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Slots<K, V>) -> T) -> Option<T> {
        let m = self.inner.as_ref()?;
        let mut guard = match m.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        Some(f(&mut guard))
    }

    fn get<Q: std::hash::Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
    {
        self.with(|c| c.entries.get(key).map(|(v, _)| v.clone()))
            .flatten()
    }

    /// Stores `value` under `key` unless it weighs more than one entry may, evicting the
    /// least recently used entries while the total would exceed its bound.
    fn insert(&self, key: K, value: V, weight: usize) {
        if weight > self.max_weight {
            return;
        }
        self.with(|c| {
            if c.entries.contains(&key) {
                return;
            }
            while c.total + weight > self.max_total {
                match c.entries.pop_lru() {
                    Some((_, (_, w))) => c.total -= w,
                    None => break,
                }
            }
            if let Some((_, (_, w))) = c.entries.push(key, (value, weight)) {
                c.total -= w;
            }
            c.total += weight;
        });
    }

    /// Whether it stores anything at all (its size is not 0).
    fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    fn len(&self) -> usize {
        self.with(|c| c.entries.len()).unwrap_or(0)
    }

    fn total(&self) -> usize {
        self.with(|c| c.total).unwrap_or(0)
    }
}

/// The APQ store: queries by hash, least recently used evicted first, bounded in entries
/// (`PLEXUS_APQ_CACHE_SIZE`) and in bytes (`APQ_MAX_TOTAL_BYTES`).
#[derive(Debug)]
pub struct ApqCache(Bounded<Hash, Arc<str>>);

impl ApqCache {
    /// A cache holding at most `size` queries; 0 turns APQ off.
    pub fn new(size: usize) -> Self {
        Self(Bounded::new(size, APQ_MAX_QUERY_BYTES, APQ_MAX_TOTAL_BYTES))
    }

    /// Whether APQ is on.
    pub fn enabled(&self) -> bool {
        self.0.enabled()
    }

    /// The query stored under `hash`.
    pub fn get(&self, hash: &Hash) -> Option<Arc<str>> {
        self.0.get(hash)
    }

    /// Stores `query` (whose hash the caller has verified), unless it is too long.
    pub fn insert(&self, hash: Hash, query: &str) {
        self.0.insert(hash, Arc::from(query), query.len());
    }

    /// How many queries are stored.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// How many bytes of query text are stored.
    pub fn bytes(&self) -> usize {
        self.0.total()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parsed documents by query text (`PLEXUS_DOCUMENT_CACHE_SIZE` entries). Parsing is a
/// fifth of the server's instructions for a small query such as `node(id)`, and clients
/// send the same few documents with different variables, so a repeated query is cloned
/// from here instead of parsed again. Only documents that parsed are stored.
///
/// Each entry also remembers whether its document has passed async-graphql's full
/// (`Strict`) validation once. Every rule of it but one depends on the document alone, so
/// such a document is validated again with `ValidationMode::Variables`: only the values of
/// arguments, which variables can change, and the depth and complexity limits
/// (`vendor/README.md`).
#[derive(Debug)]
pub struct DocumentCache(Bounded<Box<str>, Parsed>);

/// A document from the cache.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The parsed document.
    pub doc: ExecutableDocument,
    /// Whether it has passed full validation against this server's schema.
    pub validated: bool,
}

impl DocumentCache {
    /// A cache holding at most `size` documents; 0 turns it off.
    pub fn new(size: usize) -> Self {
        Self(Bounded::new(
            size,
            DOCUMENT_MAX_QUERY_BYTES,
            DOCUMENT_MAX_TOTAL_BYTES,
        ))
    }

    /// Parses `query`, or clones its document parsed before.
    pub fn parse(&self, query: &str) -> Result<Parsed, ServerError> {
        if let Some(parsed) = self.0.get(query) {
            return Ok(parsed);
        }
        let parsed = Parsed {
            doc: async_graphql::parser::parse_query(query)?,
            validated: false,
        };
        self.0.insert(query.into(), parsed.clone(), query.len());
        Ok(parsed)
    }

    /// Records that `query`'s document passed full validation (if it is stored).
    pub fn validated(&self, query: &str) {
        self.0.with(|c| {
            if let Some((parsed, _)) = c.entries.peek_mut(query) {
                parsed.validated = true;
            }
        });
    }

    /// Whether documents are stored at all.
    pub fn enabled(&self) -> bool {
        self.0.enabled()
    }

    /// How many documents are stored.
    pub fn len(&self) -> usize {
        self.0.len()
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
    fn documents_are_parsed_once_and_bounded() {
        let cache = DocumentCache::new(2);
        let first = cache.parse(Q).unwrap();
        assert_eq!(cache.len(), 1);
        assert!(!first.validated);
        // A hit gives the same document (the parser's positions included).
        let again = cache.parse(Q).unwrap();
        assert_eq!(format!("{:?}", first.doc), format!("{:?}", again.doc));
        assert_eq!(cache.len(), 1);
        // Once validated, it says so on every hit; other documents are not.
        cache.validated(Q);
        assert!(cache.parse(Q).unwrap().validated);
        cache.validated("{ never: __typename }");
        assert_eq!(cache.len(), 1, "marking stores nothing");
        // Parse errors are reported every time and never stored.
        assert!(cache.parse("{ broken").is_err());
        assert!(cache.parse("{ broken").is_err());
        assert_eq!(cache.len(), 1);
        // The least recently used document gives way.
        cache.parse("{ a: __typename }").unwrap();
        cache.parse("{ b: __typename }").unwrap();
        assert_eq!(cache.len(), 2);
        // A query too long for a slot is parsed but not kept.
        let long = format!(
            "{{ {} }}",
            "__typename ".repeat(DOCUMENT_MAX_QUERY_BYTES / 10)
        );
        assert!(cache.parse(&long).is_ok());
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.0.total(), 2 * "{ a: __typename }".len());
        // An evicted document comes back unvalidated.
        assert!(!cache.parse(Q).unwrap().validated);
        // Size 0 turns it off.
        let off = DocumentCache::new(0);
        assert!(off.parse(Q).is_ok());
        off.validated(Q);
        assert!(!off.parse(Q).unwrap().validated);
        assert!(off.is_empty() && !off.enabled());
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
