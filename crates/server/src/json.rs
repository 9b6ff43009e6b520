//! A GraphQL response as JSON bytes: the same bytes as `serde_json::to_vec`, written
//! without serde_json's byte-at-a-time string escaping where a string needs none.
//!
//! serde_json looks up every byte of every string in its escape table and branches on it
//! (`format_escaped_str_contents`): 6.4% of a dashboard's instructions and 5.2% of a
//! canvas's (callgrind), whose answers are mostly ids, enum values and response keys. Here
//! a string (object keys too: response keys, or a `JSON` value's own keys) is first
//! checked eight bytes at a time, and one that needs no escape is copied as is; one that
//! does goes through serde_json as before. Errors, extensions, numbers and binary values
//! are serde_json's own output. A dashboard: 42.3 M → 41.0 M instructions.

use async_graphql::{BatchResponse, Response, Value};

/// `body` as JSON: byte for byte what `serde_json::to_vec(body)` gives.
pub fn to_vec(body: &BatchResponse) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    match body {
        BatchResponse::Single(r) => response(&mut out, r)?,
        BatchResponse::Batch(rs) => {
            out.push(b'[');
            for (i, r) in rs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                response(&mut out, r)?;
            }
            out.push(b']');
        }
    }
    Ok(out)
}

/// A subscription's message carrying `resp` (graphql-transport-ws `next`, the legacy
/// protocol's `data`): `{"id":…,"type":…,"payload":…}`, the payload written as
/// [`to_vec`] writes a response. Each subscriber's event goes out this way; going through
/// `serde_json::Value` first copied the whole answer into a second tree.
pub fn message(id: &str, kind: &str, resp: &Response) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"{\"id\":");
    string(&mut out, id)?;
    out.extend_from_slice(b",\"type\":");
    string(&mut out, kind)?;
    out.extend_from_slice(b",\"payload\":");
    response(&mut out, resp)?;
    out.push(b'}');
    String::from_utf8(out).map_err(serde::ser::Error::custom)
}

/// One response, its fields in the order (and with the omissions) of its `Serialize`.
fn response(out: &mut Vec<u8>, r: &Response) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"data\":");
    value(out, &r.data)?;
    if !r.extensions.is_empty() {
        out.extend_from_slice(b",\"extensions\":");
        serde_json::to_writer(&mut *out, &r.extensions)?;
    }
    if !r.errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        serde_json::to_writer(&mut *out, &r.errors)?;
    }
    out.push(b'}');
    Ok(())
}

fn value(out: &mut Vec<u8>, v: &Value) -> serde_json::Result<()> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(s) => string(out, s)?,
        Value::Enum(name) => string(out, name)?,
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, key)?;
                out.push(b':');
                value(out, item)?;
            }
            out.push(b'}');
        }
        Value::Number(_) | Value::Binary(_) => serde_json::to_writer(&mut *out, v)?,
    }
    Ok(())
}

/// A JSON string: copied between quotes when nothing in it needs an escape, else written
/// by serde_json.
fn string(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    if needs_escape(s.as_bytes()) {
        return serde_json::to_writer(&mut *out, s);
    }
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
    Ok(())
}

/// Whether `s` has a byte that serde_json escapes: a control character (below 0x20), `"`
/// or `\`. Eight bytes at a time, the last eight overlapping the word before (most strings
/// here are ids of 20 to 40 bytes), with the word tests of "Bit Twiddling Hacks" (a byte
/// below n, n ≤ 128; a zero byte), which are exact for "any byte", not for which one.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES * 0x80;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let test = |word: &[u8]| {
        let x = word.try_into().map_or(0, u64::from_le_bytes);
        (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
            | zero_byte(x ^ (ONES * u64::from(b'"')))
            | zero_byte(x ^ (ONES * u64::from(b'\\')))
    };
    if s.len() < 8 {
        return s.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
    }
    let words = s.chunks_exact(8);
    let last = if words.remainder().is_empty() {
        0
    } else {
        test(&s[s.len() - 8..])
    };
    words.fold(last, |hit, word| hit | test(word)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::indexmap::IndexMap;
    use async_graphql::{ErrorExtensionValues, Name, Pos, ServerError};

    fn same(body: &BatchResponse) {
        let want = serde_json::to_vec(body).unwrap();
        let got = to_vec(body).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }

    fn object(fields: Vec<(&str, Value)>) -> Value {
        Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (Name::new(k), v))
                .collect::<IndexMap<_, _>>(),
        )
    }

    /// Every kind of value, strings with and without escapes, nested.
    fn sample() -> Value {
        object(vec![
            (
                "id",
                Value::String("node_01kdvdngtsf4yvf4c44cvf17md".into()),
            ),
            ("empty", Value::String(String::new())),
            ("quote", Value::String("say \"hi\"".into())),
            ("backslash", Value::String("C:\\path".into())),
            (
                "controls",
                Value::String("a\nb\tc\r\u{1}\u{1f}\u{7f}".into()),
            ),
            ("unicode", Value::String("é ✓ 日本 🦀 \u{2028}".into())),
            ("status", Value::Enum(Name::new("COMPLETED"))),
            ("null", Value::Null),
            ("yes", Value::Boolean(true)),
            ("no", Value::Boolean(false)),
            ("int", Value::from(-42)),
            ("big", Value::from(u64::MAX)),
            ("float", Value::from(0.0)),
            ("frac", Value::from(220.125)),
            ("tiny", Value::from(1e-300)),
            ("binary", Value::Binary(vec![0u8, 1, 255].into())),
            ("list", Value::List(vec![])),
            (
                "children",
                Value::List(vec![
                    object(vec![("id", Value::String("a".into()))]),
                    object(vec![]),
                    Value::List(vec![Value::Null, Value::from(1)]),
                ]),
            ),
        ])
    }

    #[test]
    fn writes_what_serde_json_writes() {
        same(&BatchResponse::Single(Response::new(sample())));
        same(&BatchResponse::Single(Response::new(Value::Null)));
        let mut failed = Response::new(object(vec![("node", Value::Null)]));
        let mut error = ServerError::new("no \"node\" here", Some(Pos { line: 1, column: 3 }));
        error.path = vec![async_graphql::PathSegment::Field("node".into())];
        let mut ext = ErrorExtensionValues::default();
        ext.set("code", "NOT_FOUND");
        error.extensions = Some(ext);
        failed.errors.push(error);
        failed.extensions.insert("cost".into(), Value::from(3));
        same(&BatchResponse::Single(failed));
        same(&BatchResponse::Batch(vec![]));
        same(&BatchResponse::Batch(vec![
            Response::new(sample()),
            Response::new(Value::String("x".into())),
        ]));
    }

    #[test]
    fn messages_carry_the_response_as_json() {
        let mut resp = Response::new(sample());
        resp.errors.push(ServerError::new(
            "partial",
            Some(Pos { line: 2, column: 1 }),
        ));
        let msg = message("op \"1\"", "next", &resp).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&msg).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({ "id": "op \"1\"", "type": "next", "payload": resp })
        );
        assert!(msg.starts_with(r#"{"id":"op \"1\"","type":"next","payload":{"data":{"id":"#));
    }

    /// One character that may need an escape, at every position of plain strings of every
    /// length up to 40: each of the word tests (and the overlapping last word) alone.
    #[test]
    fn one_escape_anywhere_is_found() {
        for special in ['\0', '\n', '\u{1f}', ' ', '"', '\\', '\u{7f}', 'é', '🦀'] {
            for len in 1..=40 {
                for at in 0..len {
                    let s: String = (0..len)
                        .map(|i| if i == at { special } else { 'a' })
                        .collect();
                    same(&BatchResponse::Single(Response::new(Value::String(s))));
                }
            }
        }
    }

    /// Strings of random bytes from a mix of plain ASCII, every byte serde_json escapes
    /// and multi-byte characters, at lengths around the vector widths.
    #[test]
    fn random_strings_match_serde_json() {
        let pool: Vec<char> = (0u8..0x80)
            .map(char::from)
            .chain(['é', '✓', '🦀', '\u{2028}', '\u{feff}'])
            .collect();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..2_000 {
            let len = (next() % 70) as usize;
            // Half the strings plain letters only, so the no-escape path runs too.
            let plain = round % 2 == 0;
            let s: String = (0..len)
                .map(|_| {
                    if plain {
                        char::from(b'a' + (next() % 26) as u8)
                    } else {
                        pool[(next() % pool.len() as u64) as usize]
                    }
                })
                .collect();
            same(&BatchResponse::Single(Response::new(Value::List(vec![
                Value::String(s),
            ]))));
        }
    }
}
