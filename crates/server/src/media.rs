//! `GET /media/{id}`: streams a file to whoever may see it (the media service decides;
//! everyone else, and every unknown id, gets the same 404), with `Content-Type`,
//! `Content-Length`, `ETag` (the SHA-256), `Content-Disposition` and single-range HTTP
//! `Range` requests (206, or 416 when unsatisfiable). Credentials: the bearer token in
//! `Authorization`, as for GraphQL.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plexus_api::RequestAuth;
use plexus_core::{GlobalId, IdKind};
use tokio::io::AsyncReadExt;

use crate::app::AppState;
use crate::http::{Media, error_response_id};

/// What a `Range` header asks for, against a file of a known size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAsk {
    /// The whole file (no header, or one we ignore: several ranges, bad syntax).
    Full,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// Nothing of the file can be served (416).
    Unsatisfiable,
}

/// Parses a `Range` header for a file of `total` bytes (RFC 9110 §14).
pub fn parse_range(value: Option<&str>, total: u64) -> RangeAsk {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Full;
    };
    if spec.contains(',') {
        return RangeAsk::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match num(b) {
            Some(0) => RangeAsk::Unsatisfiable,
            Some(_) if total == 0 => RangeAsk::Unsatisfiable,
            Some(n) => RangeAsk::Part(total.saturating_sub(n), total - 1),
            None => RangeAsk::Full,
        },
        // bytes=S-: from S to the end.
        (false, true) => match num(a) {
            Some(s) if s < total => RangeAsk::Part(s, total - 1),
            Some(_) => RangeAsk::Unsatisfiable,
            None => RangeAsk::Full,
        },
        (false, false) => match (num(a), num(b)) {
            (Some(s), Some(e)) if s <= e => {
                if s >= total {
                    RangeAsk::Unsatisfiable
                } else {
                    RangeAsk::Part(s, e.min(total - 1))
                }
            }
            _ => RangeAsk::Full,
        },
        (true, true) => RangeAsk::Full,
    }
}

/// `Content-Disposition`: shown in the browser for media and PDFs, downloaded otherwise;
/// the name as ASCII plus its UTF-8 form (RFC 6266).
fn disposition(mime: &str, name: &str) -> String {
    let inline = ["image/", "audio/", "video/"]
        .iter()
        .any(|p| mime.starts_with(p))
        || mime == "application/pdf"
        || mime == "text/plain";
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!(
        "{}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}",
        if inline { "inline" } else { "attachment" }
    )
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// `GET /media/{id}`.
pub async fn download(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let rid = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let not_found = || {
        error_response_id(
            StatusCode::NOT_FOUND,
            Media::Json,
            "NOT_FOUND",
            "media not found",
            &rid,
        )
    };
    let Ok(uuid) = GlobalId::parse_as(&id, IdKind::Media, "id") else {
        return not_found();
    };
    let auth = RequestAuth::from_header(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let actor = match auth.actor(&app.api.users).await {
        Ok(a) => a,
        Err(e) => {
            let mut r = error_response_id(
                StatusCode::UNAUTHORIZED,
                Media::Json,
                e.code(),
                e.public_message(),
                &rid,
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    };
    let internal = || {
        error_response_id(
            StatusCode::INTERNAL_SERVER_ERROR,
            Media::Json,
            "INTERNAL",
            "internal error",
            &rid,
        )
    };
    let m = match app.api.media.visible(&actor, uuid).await {
        Ok(Some(m)) => m,
        Ok(None) => return not_found(),
        Err(_) => return internal(),
    };
    let etag = format!("\"{}\"", m.sha256);
    let total = u64::try_from(m.size_bytes).unwrap_or(0);
    let mut out = HeaderMap::new();
    out.insert(header::ETAG, header_value(&etag));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let matches_etag = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    };
    if matches_etag(header::IF_NONE_MATCH) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let ask = if if_range_ok {
        parse_range(
            headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
            total,
        )
    } else {
        RangeAsk::Full
    };
    let (status, start, len) = match ask {
        RangeAsk::Full => (StatusCode::OK, 0, total),
        RangeAsk::Part(s, e) => {
            out.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {s}-{e}/{total}")),
            );
            (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
        }
        RangeAsk::Unsatisfiable => {
            out.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{total}")),
            );
            let mut r = error_response_id(
                StatusCode::RANGE_NOT_SATISFIABLE,
                Media::Json,
                "RANGE_NOT_SATISFIABLE",
                &format!("the file has {total} bytes"),
                &rid,
            );
            r.headers_mut().extend(out);
            return r;
        }
    };
    let reader = match app.api.media.open(&m, start, len).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            tracing::error!(media = %uuid, key = m.filename, "a file's bytes are missing from storage");
            return not_found();
        }
        Err(_) => return internal(),
    };
    let stream = futures_util::stream::unfold(Some(reader), |state| async move {
        let mut reader = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), Some(reader)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    out.insert(header::CONTENT_TYPE, header_value(&m.mime_type));
    out.insert(header::CONTENT_LENGTH, header_value(&len.to_string()));
    out.insert(
        header::CONTENT_DISPOSITION,
        header_value(&disposition(&m.mime_type, &m.original_name)),
    );
    (status, out, Body::from_stream(stream)).into_response()
}

/// `GET /media/{id}/thumbnail`: the PNG thumbnail of an image, to whoever may see the
/// image (404 otherwise, and for files without a thumbnail).
pub async fn thumbnail(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let rid = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let not_found = || {
        error_response_id(
            StatusCode::NOT_FOUND,
            Media::Json,
            "NOT_FOUND",
            "media not found",
            &rid,
        )
    };
    let Ok(uuid) = GlobalId::parse_as(&id, IdKind::Media, "id") else {
        return not_found();
    };
    let auth = RequestAuth::from_header(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let actor = match auth.actor(&app.api.users).await {
        Ok(a) => a,
        Err(e) => {
            return error_response_id(
                StatusCode::UNAUTHORIZED,
                Media::Json,
                e.code(),
                e.public_message(),
                &rid,
            );
        }
    };
    let internal = || {
        error_response_id(
            StatusCode::INTERNAL_SERVER_ERROR,
            Media::Json,
            "INTERNAL",
            "internal error",
            &rid,
        )
    };
    let m = match app.api.media.visible(&actor, uuid).await {
        Ok(Some(m)) => m,
        Ok(None) => return not_found(),
        Err(_) => return internal(),
    };
    let etag = format!("\"{}-thumb\"", m.sha256);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut out = HeaderMap::new();
    out.insert(header::ETAG, header_value(&etag));
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if fresh && m.thumbnail_url.is_some() {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    match app.api.media.thumbnail(&m).await {
        Ok(Some(png)) => {
            out.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
            (StatusCode::OK, out, png).into_response()
        }
        Ok(None) => not_found(),
        Err(_) => internal(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeAsk::*;
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Part(0, 3));
        assert_eq!(parse_range(Some("bytes=4-"), 10), Part(4, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Part(0, 9));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Part(5, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=12-20"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=3-1"), 10), Full);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
        assert_eq!(parse_range(Some("bytes=x-1"), 10), Full);
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            disposition("image/png", "cat.png"),
            "inline; filename=\"cat.png\"; filename*=UTF-8''cat.png"
        );
        assert_eq!(
            disposition("application/zip", "a \"b\".zip"),
            "attachment; filename=\"a _b_.zip\"; filename*=UTF-8''a%20%22b%22.zip"
        );
        assert!(disposition("text/plain", "é.txt").contains("filename=\"_.txt\""));
    }
}
