//! Wiring: the database, the services, the schema and the axum router, and serving them
//! with graceful shutdown.

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Router, ServiceExt as _};
use plexus_api::{ApiState, AuthLimiter, AuthLimits, PlexusSchema, SchemaOptions, build_schema};
use plexus_core::page::PageLimits;
use plexus_users::{AuthSettings, TokenKeys, UsersService};
use sea_orm::{ConnectionTrait as _, DatabaseConnection};
use serde_json::json;
use std::convert::Infallible;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::admission::Admission;
use crate::config::{Config, Environment, secret_file};
use crate::limits::QueryLimits;
use crate::metrics::Metrics;
use crate::persisted::{ApqCache, DocumentCache};
use crate::{db, graphiql, http};

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The executable schema.
    pub schema: PlexusSchema,
    /// The services behind it.
    pub api: ApiState,
    /// The database pool.
    pub db: DatabaseConnection,
    /// Open WebSocket connections per user.
    pub ws_users: Arc<std::sync::Mutex<std::collections::HashMap<uuid::Uuid, usize>>>,
    /// Shutdown coordination.
    pub lifecycle: Arc<Lifecycle>,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Automatic Persisted Queries.
    pub apq: Arc<ApqCache>,
    /// Parsed documents by query text.
    pub documents: Arc<DocumentCache>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Document limits checked before execution.
    pub limits: QueryLimits,
    /// Slots for costly operations.
    pub admission: Arc<Admission>,
}

impl AppState {
    /// The request's document: parsed, or cloned from the document cache. A document that
    /// passed full validation before is validated again only as far as its variables can
    /// change the outcome (`DocumentCache`).
    pub fn document<'r>(
        &self,
        req: &'r mut async_graphql::Request,
    ) -> Result<&'r async_graphql::parser::types::ExecutableDocument, async_graphql::ServerError>
    {
        let parsed = self.documents.parse(&req.query)?;
        if parsed.validated {
            req.validation_mode = Some(async_graphql::ValidationMode::Variables);
        }
        req.set_parsed_query(parsed.doc);
        req.parsed_query()
    }
}

/// Connects to the database, applies migrations and builds the schema.
pub async fn build(config: Config) -> anyhow::Result<AppState> {
    let mut db = db::connect(&config.database_url, config.db_max_connections)
        .await
        .with_context(|| {
            format!(
                "cannot open the database at {}",
                crate::config::redact_url(&config.database_url)
            )
        })?;
    crate::metrics::count_statements(&mut db);
    if config.auto_migrate {
        db::migrate_up(&db)
            .await
            .context("cannot apply migrations")?;
    } else {
        use migration::MigratorTrait;
        let pending = migration::Migrator::get_pending_migrations(&db).await?;
        anyhow::ensure!(
            pending.is_empty(),
            "{} migrations are pending: run `plexus migrate up`",
            pending.len()
        );
    }
    let secret = jwt_secret(&config)?;
    state(config, db, secret.as_bytes()).await
}

/// Builds the services and schema over an open, migrated database.
pub async fn state(
    config: Config,
    db: DatabaseConnection,
    secret: &[u8],
) -> anyhow::Result<AppState> {
    let bus = crate::bus::for_database(&config.database_url, &db)
        .await
        .context("cannot start the event bus")?;
    let auth = AuthSettings {
        actor_cache_ttl: config.auth_cache,
        ..AuthSettings::default()
    };
    let users = UsersService::new(db.clone(), TokenKeys::new(secret), auth);
    let limiter = AuthLimiter::new(AuthLimits {
        login_max_failures: config.login_max_failures,
        failure_window: Duration::from_secs(config.login_failure_window_secs),
        login_max_per_ip: config.login_max_per_ip,
        register_max_per_ip: config.register_max_per_ip,
        ip_window: Duration::from_secs(config.auth_ip_window_secs),
        max_keys: config.rate_limit_max_keys,
    });
    let projects = plexus_projects::ProjectsService::new(db.clone());
    let presence = plexus_api::PresenceHub::new(
        projects.clone(),
        bus.clone(),
        plexus_api::PresenceSettings {
            timeout: config.presence_timeout,
            save_interval: config.presence_save_interval,
            ..Default::default()
        },
    );
    let api = ApiState {
        users,
        projects,
        presence,
        graph: plexus_graph::GraphService::new(db.clone()),
        agents: plexus_agents::AgentsService::new(db.clone()),
        conversations: plexus_conversations::ConversationsService::new(db.clone()),
        media: plexus_media::MediaService::new(
            db.clone(),
            Arc::new(plexus_media::LocalStorage::new(crate::config::media_dir(
                &config,
            ))),
            plexus_media::MediaSettings {
                max_bytes: config.media_max_bytes,
                allowed_types: config.media_allowed_types.clone(),
            },
        ),
        page_limits: PageLimits {
            default_size: config.default_page_size,
            max_size: config.max_page_size,
        },
        limiter: Arc::new(limiter),
        bus,
    };
    let schema = build_schema(
        api.clone(),
        SchemaOptions {
            max_depth: config.max_depth,
            max_complexity: config.max_complexity,
            introspection: config.introspection,
            max_recursive_depth: config.max_recursive_depth,
        },
    );
    Ok(AppState {
        schema,
        api,
        db,
        apq: Arc::new(ApqCache::new(config.apq_cache_size)),
        documents: Arc::new(DocumentCache::new(config.document_cache_size)),
        metrics: Arc::new(Metrics::new()),
        limits: QueryLimits {
            max_aliases: config.max_aliases,
            max_root_fields: config.max_root_fields,
            max_recursive_depth: config.max_recursive_depth,
            max_fields: config.max_complexity,
            default_page_size: config.default_page_size,
            max_page_size: config.max_page_size,
        },
        admission: Arc::new(Admission::new(config.heavy_cost, config.heavy_concurrency)),
        ws_users: Default::default(),
        lifecycle: Arc::new(Lifecycle::new()),
        config: Arc::new(config),
    })
}

/// The configured JWT secret, or one generated once and kept in a file (not in production).
fn jwt_secret(config: &Config) -> anyhow::Result<String> {
    if let Some(s) = &config.jwt_secret {
        return Ok(s.clone());
    }
    anyhow::ensure!(
        config.environment != Environment::Production,
        "PLEXUS_JWT_SECRET is required in production"
    );
    let path = secret_file(config);
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_string();
        anyhow::ensure!(
            s.len() >= 32,
            "{} holds a secret shorter than 32 bytes: delete it to generate a new one",
            path.display()
        );
        return Ok(s);
    }
    let secret = plexus_users::tokens::generate_secret();
    write_private(&path, &secret)
        .with_context(|| format!("cannot store a generated JWT secret in {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "PLEXUS_JWT_SECRET is not set: generated one and stored it; set PLEXUS_JWT_SECRET in production"
    );
    Ok(secret)
}

fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())
}

/// The HTTP service: the routes inside the middleware.
///
/// The middleware wraps the router once, as one stack, instead of through `Router::layer`:
/// that boxes every layer around every route, and clones the boxes for each request
/// (~40 k instructions in `clone_box` per `node(id)`; callgrind, 325 k → 307 k instructions
/// per request in all).
pub fn app(
    state: AppState,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    let config = state.config.clone();
    let request_id = HeaderName::from_static("x-request-id");
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<_>| {
            let id = request_id_of(req);
            tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path(), operation = tracing::field::Empty)
        })
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO));
    ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(CatchPanicLayer::custom(|_| {
            http::error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                http::Media::Json,
                "INTERNAL",
                "internal error",
            )
        }))
        .layer(tower::layer::layer_fn(|inner| Deadline {
            inner,
            limit: config.request_timeout,
        }))
        .layer(cors(&config))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .service(routes(state))
}

fn routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/graphql") }))
        .route("/graphql", get(http::get).post(http::post))
        .route("/graphql/ws", get(crate::ws::handler))
        .route("/media/{id}", get(crate::media::download))
        .route("/media/{id}/thumbnail", get(crate::media::thumbnail))
        .route(
            "/graphiql/{file}",
            get(|Path(file): Path<String>| async move { graphiql::asset(&file) }),
        )
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

fn request_id_of<B>(req: &Request<B>) -> String {
    id_text(req.extensions().get::<RequestId>()).to_string()
}

fn id_text(id: Option<&RequestId>) -> &str {
    id.and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
}

/// Answers 503 `TIMEOUT` (a GraphQL-shaped error with the request id) when a request runs
/// past the configured deadline; the handler's future is dropped, so its transaction rolls
/// back.
#[derive(Clone)]
struct Deadline<S> {
    inner: S,
    limit: Duration,
}

impl<S> Service<Request<Body>> for Deadline<S>
where
    S: Service<Request<Body>, Error = Infallible>,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // Kept as the header value (shared bytes), made text only if the request times out.
        let id = req.extensions().get::<RequestId>().cloned();
        let limit = self.limit;
        let answer = self.inner.call(req);
        Box::pin(async move {
            Ok(match tokio::time::timeout(limit, answer).await {
                Ok(Ok(resp)) => resp.into_response(),
                Ok(Err(never)) => match never {},
                Err(_) => {
                    let id = id_text(id.as_ref());
                    tracing::warn!(request_id = %id, limit_ms = limit.as_millis() as u64, "request timed out");
                    http::error_response_id(
                        StatusCode::SERVICE_UNAVAILABLE,
                        http::Media::Json,
                        "TIMEOUT",
                        &format!("the request took longer than {} ms", limit.as_millis()),
                        id,
                    )
                }
            })
        })
    }
}

async fn not_found(req: Request<axum::body::Body>) -> Response {
    http::error_response_id(
        StatusCode::NOT_FOUND,
        http::Media::Json,
        "NOT_FOUND",
        "not found",
        &request_id_of(&req),
    )
}

async fn metrics(State(state): State<AppState>) -> Response {
    if !state.config.metrics {
        return http::error_response(
            StatusCode::NOT_FOUND,
            http::Media::Json,
            "NOT_FOUND",
            "not found",
        );
    }
    let extra = [
        (
            "plexus_apq_cached_queries",
            "Queries held by the Automatic Persisted Queries cache.",
            state.apq.len() as f64,
        ),
        (
            "plexus_apq_cached_bytes",
            "Bytes of query text held by the APQ cache.",
            state.apq.bytes() as f64,
        ),
        (
            "plexus_cached_documents",
            "Parsed GraphQL documents held by the document cache.",
            state.documents.len() as f64,
        ),
        (
            "plexus_auth_limiter_keys",
            "Accounts and addresses tracked by the sign-in limiter.",
            state.api.limiter.tracked_keys() as f64,
        ),
        (
            "plexus_heavy_operations_waiting",
            "Costly operations waiting for a slot (PLEXUS_HEAVY_CONCURRENCY).",
            state.admission.waiting() as f64,
        ),
    ];
    let body = state.metrics.render(&state.db, &extra);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

async fn ready(State(state): State<AppState>) -> Response {
    // A real statement, not `ping()`: the vendored sqlx-postgres answers a ping without a
    // round trip on a connection that completed an exchange in the last second (see
    // vendor/README.md), which would not notice a database that just went away.
    let probe = state.db.execute_unprepared("SELECT 1");
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(_)) => axum::Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
            )
                .into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "unavailable", "reason": "database timed out" })),
        )
            .into_response(),
    }
}

fn cors(config: &Config) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT,
            HeaderName::from_static("apollo-require-preflight"),
            HeaderName::from_static("x-plexus-csrf"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(3600));
    if config.cors_origins.iter().any(|o| o == "*") {
        base.allow_origin(AllowOrigin::any())
    } else {
        let origins: Vec<HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        base.allow_origin(AllowOrigin::list(origins))
    }
}

/// Shutdown coordination: whether the server is stopping, how many WebSockets are still
/// open (axum's graceful shutdown does not wait for upgraded connections), and whether it
/// has stopped.
#[derive(Debug)]
pub struct Lifecycle {
    stopping: watch::Sender<bool>,
    sockets: watch::Sender<usize>,
    stopped: watch::Sender<bool>,
}

impl Lifecycle {
    fn new() -> Self {
        Self {
            stopping: watch::Sender::new(false),
            sockets: watch::Sender::new(0),
            stopped: watch::Sender::new(false),
        }
    }

    /// Resolves once shutdown has begun (at once if it already has).
    pub async fn stopping(&self) {
        let _ = self.stopping.subscribe().wait_for(|s| *s).await;
    }

    /// Counts an open WebSocket until the guard is dropped.
    pub fn socket_opened(self: &Arc<Self>) -> SocketGuard {
        self.sockets.send_modify(|n| *n += 1);
        SocketGuard(self.clone())
    }

    async fn sockets_closed(&self) {
        let _ = self.sockets.subscribe().wait_for(|n| *n == 0).await;
    }
}

/// An open WebSocket, counted by [`Lifecycle`] while it lives.
#[derive(Debug)]
pub struct SocketGuard(Arc<Lifecycle>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.sockets.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A running server.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Resolves when the server has stopped.
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
    lifecycle: Arc<Lifecycle>,
}

impl Running {
    /// Begins a graceful shutdown: no new connections; in-flight requests finish; every
    /// WebSocket is closed with 1001 (going away) so clients reconnect elsewhere — all within
    /// `PLEXUS_SHUTDOWN_TIMEOUT_SECS`, after which what remains is dropped.
    pub fn shutdown(&self) {
        self.lifecycle.stopping.send_replace(true);
    }

    /// Resolves once the server has stopped (for callers that cannot own `handle`).
    pub async fn stopped(&self) {
        let _ = self.lifecycle.stopped.subscribe().wait_for(|s| *s).await;
    }
}

/// Binds `config.bind` and serves `state` until `Running::shutdown`.
pub async fn spawn(state: AppState) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(state.config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", state.config.bind))?;
    let addr = listener.local_addr()?;
    let lifecycle = state.lifecycle.clone();
    let grace = state.config.shutdown_timeout;
    let app = app(state);
    let l = lifecycle.clone();
    let handle = tokio::spawn(async move {
        let stop = l.clone();
        let serving = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.stopping().await })
        .into_future();
        tokio::pin!(serving);
        let result = tokio::select! {
            r = &mut serving => r,
            () = l.stopping() => {
                let drain = async {
                    let r = (&mut serving).await;
                    l.sockets_closed().await;
                    r
                };
                tokio::time::timeout(grace, drain).await.unwrap_or_else(|_| {
                    tracing::warn!(?grace, "shutdown grace period over: dropping what is left");
                    Ok(())
                })
            }
        };
        l.stopped.send_replace(true);
        result
    });
    Ok(Running {
        addr,
        handle,
        lifecycle,
    })
}

/// Days a deleted file's bytes are kept before the purge removes them.
pub const MEDIA_PURGE_DAYS: u32 = 7;

/// Hourly: purges expired memories, expired notifications, files deleted more than
/// [`MEDIA_PURGE_DAYS`] ago and system logs older than the retention setting.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match state.api.users.purge_expired_notifications().await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "expired notifications purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = e.public_message(), "purging notifications failed"),
        }
        match state.api.media.purge_deleted(MEDIA_PURGE_DAYS).await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "deleted media purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = e.public_message(), "purging media failed"),
        }
        let agents = &state.api.agents;
        match agents.purge_expired_memories().await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "expired memories purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = e.public_message(), "purging memories failed"),
        }
        let days = state.config.log_retention_days;
        if days > 0 {
            match agents.purge_logs(days).await {
                Ok(n) if n > 0 => tracing::info!(purged = n, "old system logs purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = e.public_message(), "purging logs failed"),
            }
        }
    }
}

/// Serves until SIGINT or SIGTERM, then drains in-flight requests.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let state = build(config).await?;
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let running = spawn(state).await?;
    tracing::info!(addr = %running.addr, "Plexus is serving GraphQL at http://{}/graphql", running.addr);
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown();
    housekeeping.abort();
    running.handle.await??;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
