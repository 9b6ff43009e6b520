//! GraphQL over HTTP, to the letter of the GraphQL-over-HTTP spec: content negotiation
//! between `application/graphql-response+json` and `application/json`, 400/405/406/413/415
//! where the spec wants them, GET for queries only, batches, and a stable `extensions.code`
//! on every error (request-level ones included).

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchResponse, ErrorExtensionValues, Response as GqlResponse, ServerError};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plexus_api::loaders::PassGate;
use plexus_api::{Loaders, RequestAuth};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::graphiql;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// The media type of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/json`: every well-formed request gets 200.
    Json,
    /// `application/graphql-response+json`: request errors get 4xx.
    GraphqlResponse,
}

impl Media {
    fn content_type(self) -> HeaderValue {
        match self {
            Media::Json => HeaderValue::from_static("application/json; charset=utf-8"),
            Media::GraphqlResponse => {
                HeaderValue::from_static("application/graphql-response+json; charset=utf-8")
            }
        }
    }
}

/// Picks the response media type from `Accept`. `None` means nothing acceptable (406).
pub fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    if accept.trim().is_empty() {
        return Some(Media::Json);
    }
    let (mut gql, mut json, mut wildcard) = (0.0f32, 0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match mime.as_str() {
            GRAPHQL_RESPONSE_JSON => gql = gql.max(q),
            "application/json" => json = json.max(q),
            "application/*" | "*/*" => wildcard = wildcard.max(q),
            _ => {}
        }
    }
    if gql > 0.0 && gql >= json {
        Some(Media::GraphqlResponse)
    } else if json > 0.0 || wildcard > 0.0 {
        Some(Media::Json)
    } else {
        None
    }
}

/// A response carrying one request-level error.
pub fn error_response(status: StatusCode, media: Media, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    resp
}

/// `POST /graphql`.
pub async fn post(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                media,
                "PAYLOAD_TOO_LARGE",
                &format!(
                    "request body is larger than {} bytes",
                    app.config.max_body_bytes
                ),
            );
        }
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                media,
                "BAD_REQUEST",
                &e.body_text(),
            );
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_json(content_type) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "UNSUPPORTED_MEDIA_TYPE",
            "POST /graphql needs `Content-Type: application/json`",
        );
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                media,
                "BAD_REQUEST",
                &format!("body is not valid JSON: {e}"),
            );
        }
    };
    let auth = header_str(&headers, header::AUTHORIZATION);
    match value {
        Value::Array(items) => {
            if items.is_empty() || items.len() > app.config.max_batch {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    media,
                    "BAD_REQUEST",
                    &format!("a batch must hold 1 to {} operations", app.config.max_batch),
                );
            }
            let mut requests = Vec::with_capacity(items.len());
            for item in items {
                match to_request(item) {
                    Ok(r) => requests.push(r),
                    Err(msg) => {
                        return error_response(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", &msg);
                    }
                }
            }
            let mut responses = Vec::with_capacity(requests.len());
            for req in requests {
                responses.push(execute(&app, req, auth.as_deref(), false).await);
            }
            let status = if media == Media::GraphqlResponse && responses.iter().all(|r| r.1) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            respond(
                status,
                media,
                &BatchResponse::Batch(responses.into_iter().map(|r| r.0).collect()),
            )
        }
        other => {
            let req = match to_request(other) {
                Ok(r) => r,
                Err(msg) => {
                    return error_response(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", &msg);
                }
            };
            let (resp, request_error) = execute(&app, req, auth.as_deref(), false).await;
            let status = if request_error && media == Media::GraphqlResponse {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            respond(status, media, &BatchResponse::Single(resp))
        }
    }
}

/// `GET /graphql`: GraphiQL for browsers, otherwise a query from the URL.
pub async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params: Vec<(String, String)> = raw.as_deref().map(url_decode_pairs).unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let query = param("query");
    if query.is_none() && wants_html(&headers) {
        return graphiql::page("/graphql").into_response();
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let Some(query) = query else {
        return error_response(
            StatusCode::BAD_REQUEST,
            media,
            "BAD_REQUEST",
            "GET /graphql needs a `query` parameter",
        );
    };
    let mut obj = serde_json::Map::new();
    obj.insert("query".into(), Value::String(query));
    for (name, json_param) in [
        ("operationName", false),
        ("variables", true),
        ("extensions", true),
    ] {
        if let Some(v) = param(name) {
            let v = if json_param {
                match serde_json::from_str(&v) {
                    Ok(v) => v,
                    Err(_) => {
                        return error_response(
                            StatusCode::BAD_REQUEST,
                            media,
                            "BAD_REQUEST",
                            &format!("`{name}` must be JSON"),
                        );
                    }
                }
            } else {
                Value::String(v)
            };
            obj.insert(name.into(), v);
        }
    }
    let req = match to_request(Value::Object(obj)) {
        Ok(r) => r,
        Err(msg) => return error_response(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", &msg),
    };
    let auth = header_str(&headers, header::AUTHORIZATION);
    let (resp, request_error) = execute(&app, req, auth.as_deref(), true).await;
    if resp.http_headers.contains_key(header::ALLOW) {
        let mut r = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            "METHOD_NOT_ALLOWED",
            "GET only runs queries: send mutations and subscriptions with POST",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let status = if request_error && media == Media::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    respond(status, media, &BatchResponse::Single(resp))
}

/// Runs one operation. Returns the response and whether it failed as a request error
/// (could not be parsed or validated, so nothing executed). With `get_only`, a mutation or
/// subscription is not executed: the response is marked with an `Allow` header instead.
async fn execute(
    app: &AppState,
    mut req: async_graphql::Request,
    auth: Option<&str>,
    get_only: bool,
) -> (GqlResponse, bool) {
    let op_name = req.operation_name.clone();
    let op_type = match req.parsed_query() {
        Ok(doc) => selected_operation_type(doc, op_name.as_deref()),
        Err(e) => {
            let mut resp = GqlResponse::from_errors(vec![e]);
            set_default_codes(&mut resp, "GRAPHQL_PARSE_FAILED");
            return (resp, true);
        }
    };
    if get_only
        && matches!(
            op_type,
            Some(OperationType::Mutation | OperationType::Subscription)
        )
    {
        let mut resp = GqlResponse::default();
        resp.http_headers
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return (resp, true);
    }
    if let Some(name) = &req.operation_name {
        tracing::Span::current().record("operation", name.as_str());
    }
    let gate = PassGate::new();
    let req = req
        .data(RequestAuth::from_header(auth))
        .data(std::sync::Arc::new(Loaders::new(&app.api, &gate)));
    let mut resp = gate.run(app.schema.execute(req)).await;
    let request_error = resp.data == async_graphql::Value::Null
        && !resp.errors.is_empty()
        && resp.errors.iter().all(|e| e.path.is_empty());
    set_default_codes(
        &mut resp,
        if request_error {
            "GRAPHQL_VALIDATION_FAILED"
        } else {
            "INTERNAL"
        },
    );
    (resp, request_error)
}

fn selected_operation_type(
    doc: &async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<OperationType> {
    doc.operations
        .iter()
        .find(|(n, _)| name.is_none() || n.map(|n| n.as_str()) == name)
        .map(|(_, op)| op.node.ty)
}

/// Gives every error without a code the default one for its kind.
fn set_default_codes(resp: &mut GqlResponse, code: &str) {
    for e in &mut resp.errors {
        add_code(e, code);
    }
}

fn add_code(e: &mut ServerError, code: &str) {
    let ext = e
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
}

fn to_request(v: Value) -> Result<async_graphql::Request, String> {
    let Value::Object(obj) = &v else {
        return Err("a GraphQL request must be a JSON object".into());
    };
    match obj.get("query") {
        Some(Value::String(_)) => {}
        _ => return Err("a GraphQL request needs a `query` string".into()),
    }
    if !matches!(
        obj.get("operationName"),
        None | Some(Value::Null) | Some(Value::String(_))
    ) {
        return Err("`operationName` must be a string".into());
    }
    for key in ["variables", "extensions"] {
        if !matches!(
            obj.get(key),
            None | Some(Value::Null) | Some(Value::Object(_))
        ) {
            return Err(format!("`{key}` must be an object"));
        }
    }
    serde_json::from_value(v).map_err(|e| format!("invalid GraphQL request: {e}"))
}

fn respond(status: StatusCode, media: Media, body: &BatchResponse) -> Response {
    let mut headers = HeaderMap::new();
    if let BatchResponse::Single(r) = body {
        for (k, v) in r.http_headers.iter() {
            headers.insert(k.clone(), v.clone());
        }
    }
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut resp = (status, headers, bytes).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, media.content_type());
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "serialising a response");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                media,
                "INTERNAL",
                "internal error",
            )
        }
    }
}

fn not_acceptable() -> Response {
    error_response(
        StatusCode::NOT_ACCEPTABLE,
        Media::Json,
        "NOT_ACCEPTABLE",
        "accept application/graphql-response+json or application/json",
    )
}

fn is_json(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let mime = parts.next().unwrap_or_default().trim();
    let charset_ok = parts
        .filter_map(|p| {
            p.trim()
                .to_ascii_lowercase()
                .strip_prefix("charset=")
                .map(String::from)
        })
        .all(|c| c.trim_matches('"') == "utf-8");
    mime.eq_ignore_ascii_case("application/json") && charset_ok
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn url_decode_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> Option<Media> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        negotiate(&h)
    }

    #[test]
    fn negotiation_follows_the_spec() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(accept("application/json"), Some(Media::Json));
        assert_eq!(
            accept("application/graphql-response+json"),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json;q=0.5"),
            Some(Media::Json)
        );
        assert_eq!(accept("*/*"), Some(Media::Json));
        assert_eq!(accept("text/html"), None);
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("Application/JSON;charset=UTF-8"));
        assert!(!is_json("application/json; charset=latin1"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
    }

    #[test]
    fn query_strings_decode() {
        let p = url_decode_pairs(
            "query=%7B%20viewer%20%7B%20id%20%7D%20%7D&operationName=A+B&x=%zz&y=%",
        );
        assert_eq!(p[0], ("query".into(), "{ viewer { id } }".into()));
        assert_eq!(p[1], ("operationName".into(), "A B".into()));
        assert_eq!(p[2], ("x".into(), "%zz".into()));
        assert_eq!(p[3], ("y".into(), "%".into()));
    }
}
