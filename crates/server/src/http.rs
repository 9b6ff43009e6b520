//! GraphQL over HTTP, to the letter of the GraphQL-over-HTTP spec: content negotiation
//! between `application/graphql-response+json` and `application/json`, 400/405/406/413/415
//! where the spec wants them, GET for queries only, batches, and a stable `extensions.code`
//! and `extensions.requestId` on every error (request-level ones included).
//!
//! Before execution each operation goes through persisted-operation resolution (APQ, the
//! allow-list) and the document limits of `limits`; each one is counted in `metrics` and
//! logged when slower than `PLEXUS_SLOW_QUERY_MS`.

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchResponse, ErrorExtensionValues, Response as GqlResponse, ServerError};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plexus_api::loaders::PassGate;
use plexus_api::{ClientAddr, Loaders, RequestAuth};
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::app::AppState;
use crate::{graphiql, limits, metrics, persisted};

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
    error_response_id(status, media, code, message, "")
}

/// A response carrying one request-level error, with `extensions.requestId` when known.
pub fn error_response_id(
    status: StatusCode,
    media: Media,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response {
    let body = if request_id.is_empty() {
        json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
    } else {
        json!({ "errors": [{ "message": message, "extensions": { "code": code, "requestId": request_id } }] })
    };
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    resp
}

/// Most files one multipart request may carry.
pub const MAX_UPLOAD_FILES: usize = 10;

/// `POST /graphql`: JSON, or a GraphQL multipart request (file uploads).
pub async fn post(
    State(app): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    req: axum::extract::Request,
) -> Response {
    let content_type = header_str(&headers, header::CONTENT_TYPE).unwrap_or_default();
    if content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/")
    {
        return multipart(&app, connect, &headers, &content_type, req.into_body()).await;
    }
    use axum::extract::FromRequest;
    let body = Bytes::from_request(req, &app).await;
    post_json(&app, connect, &headers, body).await
}

/// A GraphQL multipart request (<https://github.com/jaydenseric/graphql-multipart-request-spec>):
/// refused without a non-simple header (a browser cannot send one cross-site without a
/// CORS preflight), files spooled to temporary files as they stream in — never whole in
/// memory — each at most `PLEXUS_MEDIA_MAX_BYTES` (else 413), batches allowed.
async fn multipart(
    app: &AppState,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
    content_type: &str,
    body: axum::body::Body,
) -> Response {
    use futures_util::TryStreamExt;
    let call = Call::new(app, headers, connect);
    let Some(media) = negotiate(headers) else {
        return not_acceptable(call.request_id);
    };
    let error_response = |status, code, message: &str| {
        error_response_id(status, media, code, message, call.request_id)
    };
    if !headers.contains_key("apollo-require-preflight") && !headers.contains_key("x-plexus-csrf") {
        return error_response(
            StatusCode::BAD_REQUEST,
            "CSRF_PREVENTED",
            "multipart requests must carry an `apollo-require-preflight` or `x-plexus-csrf` header (CSRF protection)",
        );
    }
    let max_file = app.config.media_max_bytes;
    let limit = max_file
        .saturating_mul(MAX_UPLOAD_FILES as u64)
        .saturating_add(app.config.max_body_bytes as u64);
    let limited = http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    let reader = axum::body::Body::new(limited)
        .into_data_stream()
        .map_err(std::io::Error::other)
        .into_async_read();
    let opts = async_graphql::http::MultipartOptions::default()
        .max_file_size(usize::try_from(max_file).unwrap_or(usize::MAX))
        .max_num_files(MAX_UPLOAD_FILES);
    let batch = match async_graphql::http::receive_batch_body(Some(content_type), reader, opts)
        .await
    {
        Ok(b) => b,
        Err(e) => {
            let detail = format!("{e:?}");
            if [
                "PayloadTooLarge",
                "FieldSizeExceeded",
                "StreamSizeExceeded",
                "LengthLimitError",
            ]
            .iter()
            .any(|k| detail.contains(k))
            {
                return error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    &format!(
                        "an uploaded file is larger than {max_file} bytes (or the request carries more than {MAX_UPLOAD_FILES} of them)"
                    ),
                );
            }
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("invalid multipart request: {e}"),
            );
        }
    };
    let (requests, single) = match batch {
        async_graphql::BatchRequest::Single(r) => (vec![r], true),
        async_graphql::BatchRequest::Batch(rs) => (rs, false),
    };
    if requests.is_empty() || requests.len() > app.config.max_batch {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            &format!("a batch must hold 1 to {} operations", app.config.max_batch),
        );
    }
    let mut responses = Vec::with_capacity(requests.len());
    for req in requests {
        let allowed = match &app.config.persisted_only {
            Some(manifest) => manifest.by_hash(&persisted::sha256(&req.query)).is_some(),
            None => true,
        };
        let prepared = if allowed {
            Prepared::Run(req)
        } else {
            Prepared::Answer(
                gql_error(
                    "PERSISTED_QUERY_NOT_ALLOWED",
                    "only operations from the persisted-operation manifest may run here",
                ),
                true,
            )
        };
        responses.push(run(&call, prepared, false).await);
    }
    let status = if media == Media::GraphqlResponse && responses.iter().all(|r| r.1) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = if single {
        BatchResponse::Single(
            responses
                .into_iter()
                .map(|r| r.0)
                .next()
                .unwrap_or_default(),
        )
    } else {
        BatchResponse::Batch(responses.into_iter().map(|r| r.0).collect())
    };
    respond(status, media, &body)
}

/// A JSON `POST /graphql`.
async fn post_json(
    app: &AppState,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let headers = headers.clone();
    let app = app.clone();
    let call = Call::new(&app, &headers, connect);
    let Some(media) = negotiate(&headers) else {
        return not_acceptable(call.request_id);
    };
    let error_response = |status, media, code, message: &str| {
        error_response_id(status, media, code, message, call.request_id)
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
                match prepare(&app, item) {
                    Ok(r) => requests.push(r),
                    Err(msg) => {
                        return error_response(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", &msg);
                    }
                }
            }
            let mut responses = Vec::with_capacity(requests.len());
            for req in requests {
                responses.push(run(&call, req, false).await);
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
            let req = match prepare(&app, other) {
                Ok(r) => r,
                Err(msg) => {
                    return error_response(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", &msg);
                }
            };
            let (resp, request_error) = run(&call, req, false).await;
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
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let call = Call::new(&app, &headers, connect);
    let error_response = |status, media, code, message: &str| {
        error_response_id(status, media, code, message, call.request_id)
    };
    let params: Vec<(String, String)> = raw.as_deref().map(url_decode_pairs).unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let query = param("query");
    let persisted = ["extensions", "documentId", "id"]
        .iter()
        .any(|p| param(p).is_some());
    if query.is_none() && !persisted && wants_html(&headers) {
        return graphiql::page("/graphql").into_response();
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable(call.request_id);
    };
    if query.is_none() && !persisted {
        return error_response(
            StatusCode::BAD_REQUEST,
            media,
            "BAD_REQUEST",
            "GET /graphql needs a `query` parameter",
        );
    }
    let mut obj = serde_json::Map::new();
    if let Some(query) = query {
        obj.insert("query".into(), Value::String(query));
    }
    for (name, json_param) in [
        ("operationName", false),
        ("variables", true),
        ("extensions", true),
        ("documentId", false),
        ("id", false),
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
    let req = match prepare(&app, Value::Object(obj)) {
        Ok(r) => r,
        Err(msg) => return error_response(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", &msg),
    };
    let (resp, request_error) = run(&call, req, true).await;
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

/// What one HTTP request brings to each of its operations.
struct Call<'a> {
    app: &'a AppState,
    auth: Option<String>,
    client: ClientAddr,
    /// The `x-request-id` set by the router ("" when absent).
    request_id: &'a str,
}

impl<'a> Call<'a> {
    fn new(
        app: &'a AppState,
        headers: &'a HeaderMap,
        connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    ) -> Self {
        let peer = connect.map(|Extension(ConnectInfo(a))| a.ip());
        Self {
            app,
            auth: header_str(headers, header::AUTHORIZATION),
            client: ClientAddr(client_ip(headers, peer, app.config.trust_proxy)),
            request_id: headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
        }
    }
}

/// The client's address: the last `X-Forwarded-For` hop when the proxy is trusted (the
/// address our proxy saw), else the peer of the connection.
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, trust_proxy: bool) -> Option<IpAddr> {
    if trust_proxy {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|a| a.trim().parse::<IpAddr>().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    peer
}

/// One operation of a request, ready to run or already answered.
enum Prepared {
    /// Execute it.
    Run(async_graphql::Request),
    /// Answered without executing; the flag says whether it is a request error.
    Answer(GqlResponse, bool),
}

fn gql_error(code: &str, message: &str) -> GqlResponse {
    let mut e = ServerError::new(message, None);
    add_code(&mut e, code);
    GqlResponse::from_errors(vec![e])
}

/// `extensions.persistedQuery.sha256Hash`, checked: `Err` for a malformed one.
fn persisted_hash(obj: &serde_json::Map<String, Value>) -> Result<Option<String>, String> {
    let Some(pq) = obj.get("extensions").and_then(|e| e.get("persistedQuery")) else {
        return Ok(None);
    };
    let version = pq.get("version").and_then(Value::as_u64);
    let hash = pq.get("sha256Hash").and_then(Value::as_str);
    match (version, hash) {
        (Some(1), Some(h)) if persisted::parse_hex(h).is_some() => Ok(Some(h.to_string())),
        (Some(1), _) => Err("extensions.persistedQuery.sha256Hash must be 64 hex digits".into()),
        _ => Err("extensions.persistedQuery needs `\"version\": 1`".into()),
    }
}

/// Resolves persisted operations (APQ, the allow-list) and builds the request. `Err` is a
/// malformed request (400).
fn prepare(app: &AppState, mut v: Value) -> Result<Prepared, String> {
    let Value::Object(obj) = &mut v else {
        return Err("a GraphQL request must be a JSON object".into());
    };
    let hash = persisted_hash(obj)?;
    let query = match obj.get("query") {
        Some(Value::String(q)) => Some(q.as_str()),
        _ => None,
    };
    // Hashed only when something compares it: an APQ hash sent along, or the allow-list
    // (SHA-256 of every query was 3.6% of a small query's instructions).
    let query_hash = query
        .filter(|_| hash.is_some() || app.config.persisted_only.is_some())
        .map(persisted::sha256);
    if let (Some(h), Some(qh)) = (&hash, &query_hash)
        && persisted::parse_hex(h).as_ref() != Some(qh)
    {
        return Err(
            "the query does not match extensions.persistedQuery.sha256Hash (SHA-256 of the query text, hex)".into(),
        );
    }
    if let Some(manifest) = &app.config.persisted_only {
        let found = match (&query_hash, &hash) {
            (Some(qh), _) => manifest.by_hash(qh),
            (None, Some(h)) => manifest.get(h),
            (None, None) => match obj.get("documentId").or_else(|| obj.get("id")) {
                Some(Value::String(id)) => manifest.get(id),
                Some(_) => return Err("`documentId` must be a string".into()),
                None => None,
            },
        };
        let Some(body) = found else {
            return Ok(Prepared::Answer(
                gql_error(
                    "PERSISTED_QUERY_NOT_ALLOWED",
                    "only operations from the persisted-operation manifest may run here",
                ),
                true,
            ));
        };
        if query.is_none() {
            obj.insert("query".into(), Value::String(body.to_string()));
        }
    } else if let Some(h) = &hash {
        let Some(digest) = persisted::parse_hex(h) else {
            return Err("extensions.persistedQuery.sha256Hash must be 64 hex digits".into());
        };
        if !app.apq.enabled() {
            return Ok(Prepared::Answer(
                gql_error(
                    "PERSISTED_QUERY_NOT_SUPPORTED",
                    "PersistedQueryNotSupported",
                ),
                false,
            ));
        }
        match query {
            Some(q) => app.apq.insert(digest, q),
            None => match app.apq.get(&digest) {
                Some(q) => {
                    obj.insert("query".into(), Value::String(q.to_string()));
                }
                None => {
                    return Ok(Prepared::Answer(
                        gql_error("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound"),
                        false,
                    ));
                }
            },
        }
    }
    to_request(v).map(Prepared::Run)
}

/// Runs or answers one operation, then adds `requestId` to its errors, records metrics and
/// logs it when slow.
async fn run(call: &Call<'_>, prepared: Prepared, get_only: bool) -> (GqlResponse, bool) {
    let app = call.app;
    let started = Instant::now();
    let _in_flight = app.metrics.start();
    let (mut resp, request_error, op_name) = match prepared {
        Prepared::Answer(resp, request_error) => (resp, request_error, None),
        Prepared::Run(req) => execute(call, req, get_only).await,
    };
    let elapsed = started.elapsed();
    let code = resp
        .errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|x| match x.get("code") {
            Some(async_graphql::Value::String(c)) => Some(c.as_str()),
            _ => None,
        });
    app.metrics
        .record(op_name.as_deref(), metrics::outcome(code), elapsed);
    if !call.request_id.is_empty() {
        for e in &mut resp.errors {
            e.extensions
                .get_or_insert_with(ErrorExtensionValues::default)
                .set("requestId", call.request_id);
        }
    }
    if elapsed.as_millis() >= u128::from(app.config.slow_query_ms) {
        tracing::warn!(
            operation = op_name.as_deref().unwrap_or("anonymous"),
            duration_ms = elapsed.as_millis() as u64,
            request_id = call.request_id,
            "slow GraphQL operation"
        );
    }
    (resp, request_error)
}

/// Runs one operation. Returns the response and whether it failed as a request error
/// (could not be parsed or validated, so nothing executed). With `get_only`, a mutation or
/// subscription is not executed: the response is marked with an `Allow` header instead.
async fn execute(
    call: &Call<'_>,
    mut req: async_graphql::Request,
    get_only: bool,
) -> (GqlResponse, bool, Option<String>) {
    let app = call.app;
    let requested = req.operation_name.clone();
    let mut op_name = requested.clone();
    // Out of the request while its parsed document is borrowed, for the cost estimate.
    let variables = std::mem::take(&mut req.variables);
    let (op_type, cost) = match app.document(&mut req) {
        Ok(doc) => {
            if op_name.is_none()
                && let async_graphql::parser::types::DocumentOperations::Multiple(ops) =
                    &doc.operations
                && ops.len() == 1
            {
                op_name = ops.keys().next().map(|n| n.to_string());
            }
            match limits::check(doc, requested.as_deref(), &variables, &app.limits) {
                Ok(cost) => (selected_operation_type(doc, requested.as_deref()), cost),
                Err(msg) => {
                    return (gql_error("GRAPHQL_VALIDATION_FAILED", &msg), true, op_name);
                }
            }
        }
        Err(e) => {
            let mut resp = GqlResponse::from_errors(vec![e]);
            set_default_codes(&mut resp, "GRAPHQL_PARSE_FAILED");
            return (resp, true, op_name);
        }
    };
    req.variables = variables;
    if get_only
        && matches!(
            op_type,
            Some(OperationType::Mutation | OperationType::Subscription)
        )
    {
        let mut resp = GqlResponse::default();
        resp.http_headers
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return (resp, true, op_name);
    }
    if let Some(name) = &op_name {
        tracing::Span::current().record("operation", name.as_str());
    }
    let gate = PassGate::new();
    let req = req
        .data(RequestAuth::from_header(call.auth.as_deref()))
        .data(call.client)
        .data(std::sync::Arc::new(Loaders::new(&app.api, &gate)));
    // A document run for the first time: if it executes, it passed full validation.
    let first_run =
        (req.validation_mode.is_none() && app.documents.enabled()).then(|| req.query.clone());
    let ticket = app.admission.admit(cost).await;
    let mut resp = gate.run(app.schema.execute(req)).await;
    drop(ticket);
    let request_error = resp.data == async_graphql::Value::Null
        && !resp.errors.is_empty()
        && resp.errors.iter().all(|e| e.path.is_empty());
    if let Some(query) = first_run
        && !request_error
    {
        app.documents.validated(&query);
    }
    set_default_codes(
        &mut resp,
        if request_error {
            "GRAPHQL_VALIDATION_FAILED"
        } else {
            "INTERNAL"
        },
    );
    (resp, request_error, op_name)
}

pub(crate) fn selected_operation_type(
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
    match crate::json::to_vec(body) {
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

fn not_acceptable(request_id: &str) -> Response {
    error_response_id(
        StatusCode::NOT_ACCEPTABLE,
        Media::Json,
        "NOT_ACCEPTABLE",
        "accept application/graphql-response+json or application/json",
        request_id,
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
