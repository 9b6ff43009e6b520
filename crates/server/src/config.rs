//! Configuration: one typed `Config`, read from flags and environment variables and
//! validated at start-up with messages that say what to fix.

use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::persisted::Manifest;

/// Where the server runs; `production` turns on the strict checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    /// Local development: generated JWT secret allowed, introspection on.
    Development,
    /// Production: a JWT secret is required, introspection is off unless enabled.
    Production,
    /// Automated tests.
    Test,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags and environment variables shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Database URL: `sqlite://path.db` or `postgres://user@host/db`.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Address to listen on [default: 127.0.0.1:8080, or 0.0.0.0:$PORT when PORT is set].
    #[arg(long, env = "PLEXUS_BIND", global = true)]
    pub bind: Option<String>,

    /// Port to listen on all interfaces (PaaS convention); ignored when PLEXUS_BIND is set.
    #[arg(long, env = "PORT", global = true)]
    pub port: Option<u16>,

    /// `development`, `production` or `test`.
    #[arg(
        long = "env",
        env = "PLEXUS_ENV",
        value_enum,
        default_value = "development",
        global = true
    )]
    pub environment: Environment,

    /// Secret for signing access tokens (at least 32 bytes). Required in production.
    #[arg(long, env = "PLEXUS_JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Maximum query depth.
    #[arg(long, env = "PLEXUS_MAX_DEPTH", default_value_t = 15, global = true)]
    pub max_depth: usize,

    /// Maximum query complexity.
    #[arg(
        long,
        env = "PLEXUS_MAX_COMPLEXITY",
        default_value_t = 20_000,
        global = true
    )]
    pub max_complexity: usize,

    /// Default page size of connections.
    #[arg(
        long,
        env = "PLEXUS_DEFAULT_PAGE_SIZE",
        default_value_t = 20,
        global = true
    )]
    pub default_page_size: u64,

    /// Maximum page size (`first`/`last`) of connections.
    #[arg(
        long,
        env = "PLEXUS_MAX_PAGE_SIZE",
        default_value_t = 100,
        global = true
    )]
    pub max_page_size: u64,

    /// Estimated cost (response values, each page row counted) from which an operation is
    /// costly and waits for one of `PLEXUS_HEAVY_CONCURRENCY` slots.
    #[arg(
        long,
        env = "PLEXUS_HEAVY_COST",
        default_value_t = 5_000,
        global = true
    )]
    pub heavy_cost: u64,

    /// Costly operations run at once; 0 for no limit [default: the number of CPUs].
    #[arg(long, env = "PLEXUS_HEAVY_CONCURRENCY", global = true)]
    pub heavy_concurrency: Option<usize>,

    /// Maximum request body size in bytes.
    #[arg(long, env = "PLEXUS_MAX_BODY_BYTES", default_value_t = 1024 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Maximum number of operations in one batched request.
    #[arg(long, env = "PLEXUS_MAX_BATCH", default_value_t = 10, global = true)]
    pub max_batch: usize,

    /// Allow schema introspection [default: on, off in production].
    #[arg(long, env = "PLEXUS_INTROSPECTION", global = true)]
    pub introspection: Option<bool>,

    /// Comma-separated origins allowed by CORS (`*` for any); empty allows none.
    #[arg(long, env = "PLEXUS_CORS_ORIGINS", default_value = "", global = true)]
    pub cors_origins: String,

    /// Log format.
    #[arg(
        long,
        env = "PLEXUS_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "PLEXUS_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Maximum database connections in the pool [default: 10 on PostgreSQL; on SQLite the
    /// number of CPU cores, at least 2].
    #[arg(long, env = "PLEXUS_DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<u32>,

    /// Seconds a request may run before it is answered with a timeout.
    #[arg(
        long,
        env = "PLEXUS_REQUEST_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub request_timeout_secs: u64,

    /// Apply pending migrations when the server starts.
    #[arg(long, env = "PLEXUS_AUTO_MIGRATE", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub auto_migrate: bool,

    /// Seconds a WebSocket client may take to send `connection_init` (then 4408).
    #[arg(
        long,
        env = "PLEXUS_WS_INIT_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub ws_init_timeout_secs: u64,

    /// Seconds a shutdown waits for in-flight requests and WebSocket close handshakes.
    #[arg(
        long,
        env = "PLEXUS_SHUTDOWN_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub shutdown_timeout_secs: u64,

    /// Most subscriptions one WebSocket connection may hold at once.
    #[arg(
        long,
        env = "PLEXUS_WS_MAX_SUBSCRIPTIONS",
        default_value_t = 100,
        global = true
    )]
    pub ws_max_subscriptions: usize,

    /// Most WebSocket connections one user may hold at once.
    #[arg(
        long,
        env = "PLEXUS_WS_MAX_CONNECTIONS_PER_USER",
        default_value_t = 20,
        global = true
    )]
    pub ws_max_connections_per_user: usize,

    /// Seconds without a heartbeat after which a member is announced gone from a project.
    #[arg(
        long,
        env = "PLEXUS_PRESENCE_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub presence_timeout_secs: u64,

    /// Seconds between two database writes of a member's changing presence (cursor moves
    /// and heartbeats are kept in memory meanwhile).
    #[arg(
        long,
        env = "PLEXUS_PRESENCE_SAVE_SECS",
        default_value_t = 5,
        global = true
    )]
    pub presence_save_secs: u64,

    /// Take the client address from `X-Forwarded-For` (set only behind a trusted proxy).
    #[arg(long, env = "PLEXUS_TRUST_PROXY", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub trust_proxy: bool,

    /// Failed sign-ins per account within the failure window before `login` is refused (0: off).
    #[arg(
        long,
        env = "PLEXUS_LOGIN_MAX_FAILURES",
        default_value_t = 5,
        global = true
    )]
    pub login_max_failures: u32,

    /// Window of `PLEXUS_LOGIN_MAX_FAILURES`, in seconds.
    #[arg(
        long,
        env = "PLEXUS_LOGIN_FAILURE_WINDOW_SECS",
        default_value_t = 900,
        global = true
    )]
    pub login_failure_window_secs: u64,

    /// `login` attempts per client address within the address window (0: off).
    #[arg(
        long,
        env = "PLEXUS_LOGIN_MAX_PER_IP",
        default_value_t = 20,
        global = true
    )]
    pub login_max_per_ip: u32,

    /// `register` attempts per client address within the address window (0: off).
    #[arg(
        long,
        env = "PLEXUS_REGISTER_MAX_PER_IP",
        default_value_t = 10,
        global = true
    )]
    pub register_max_per_ip: u32,

    /// Window of the per-address limits, in seconds.
    #[arg(
        long,
        env = "PLEXUS_AUTH_IP_WINDOW_SECS",
        default_value_t = 60,
        global = true
    )]
    pub auth_ip_window_secs: u64,

    /// Most accounts and addresses tracked by the sign-in limiter at once.
    #[arg(
        long,
        env = "PLEXUS_RATE_LIMIT_MAX_KEYS",
        default_value_t = 100_000,
        global = true
    )]
    pub rate_limit_max_keys: usize,

    /// Queries kept by Automatic Persisted Queries (in-process LRU); 0 turns APQ off.
    #[arg(
        long,
        env = "PLEXUS_APQ_CACHE_SIZE",
        default_value_t = 1000,
        global = true
    )]
    pub apq_cache_size: usize,

    /// Parsed GraphQL documents kept by query text (in-process LRU), so a repeated query
    /// is not parsed again; 0 turns the cache off.
    #[arg(
        long,
        env = "PLEXUS_DOCUMENT_CACHE_SIZE",
        default_value_t = 1000,
        global = true
    )]
    pub document_cache_size: usize,

    /// Run only operations from `PLEXUS_PERSISTED_MANIFEST`.
    #[arg(long, env = "PLEXUS_PERSISTED_ONLY", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub persisted_only: bool,

    /// A persisted-operation manifest (GraphQL Code Generator/Relay map or Apollo format).
    #[arg(long, env = "PLEXUS_PERSISTED_MANIFEST", global = true)]
    pub persisted_manifest: Option<PathBuf>,

    /// Most aliases in one operation (fragments included).
    #[arg(long, env = "PLEXUS_MAX_ALIASES", default_value_t = 30, global = true)]
    pub max_aliases: usize,

    /// Most root fields in one operation (fragments spread into the root included).
    #[arg(
        long,
        env = "PLEXUS_MAX_ROOT_FIELDS",
        default_value_t = 20,
        global = true
    )]
    pub max_root_fields: usize,

    /// Deepest nesting of selections and fragment spreads.
    #[arg(
        long,
        env = "PLEXUS_MAX_RECURSIVE_DEPTH",
        default_value_t = 32,
        global = true
    )]
    pub max_recursive_depth: usize,

    /// How long, in milliseconds, a checked access token's user is trusted without reading
    /// its row again (0: read it on every request). Signing out everywhere and password
    /// changes take effect at once on the instance that made them, within this on others.
    #[arg(
        long,
        env = "PLEXUS_AUTH_CACHE_MS",
        default_value_t = 1000,
        global = true
    )]
    pub auth_cache_ms: u64,

    /// GraphQL operations slower than this many milliseconds are logged at WARN.
    #[arg(
        long,
        env = "PLEXUS_SLOW_QUERY_MS",
        default_value_t = 500,
        global = true
    )]
    pub slow_query_ms: u64,

    /// Serve Prometheus metrics at `GET /metrics`.
    #[arg(long, env = "PLEXUS_METRICS", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub metrics: bool,
    /// Days system logs are kept (0 keeps them forever); purged hourly with expired memories.
    #[arg(
        long,
        env = "PLEXUS_LOG_RETENTION_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub log_retention_days: u32,
    /// Directory of uploaded files [default: beside the SQLite file as `<db>.media`, else
    /// `./media`].
    #[arg(long, env = "PLEXUS_MEDIA_DIR", global = true)]
    pub media_dir: Option<PathBuf>,
    /// Largest uploaded file, in bytes.
    #[arg(long, env = "PLEXUS_MEDIA_MAX_BYTES", default_value_t = 25 * 1024 * 1024, global = true)]
    pub media_max_bytes: u64,
    /// Accepted upload types (sniffed from the bytes), comma-separated `type/subtype` or
    /// `type/*` [default: common images, audio, video, PDF and plain text].
    #[arg(long, env = "PLEXUS_MEDIA_ALLOWED_TYPES", global = true)]
    pub media_allowed_types: Option<String>,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub bind: SocketAddr,
    pub environment: Environment,
    /// The configured secret; `None` means "generate and keep one" (not in production).
    pub jwt_secret: Option<String>,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub default_page_size: u64,
    pub max_page_size: u64,
    pub heavy_cost: u64,
    pub heavy_concurrency: usize,
    pub max_body_bytes: usize,
    pub max_batch: usize,
    pub introspection: bool,
    /// `None` = no CORS headers; `Some(vec![])` never happens; `["*"]` = any origin.
    pub cors_origins: Vec<String>,
    pub log_format: LogFormat,
    pub log: String,
    pub db_max_connections: u32,
    pub request_timeout: std::time::Duration,
    pub auto_migrate: bool,
    pub ws_init_timeout: std::time::Duration,
    pub shutdown_timeout: std::time::Duration,
    pub ws_max_subscriptions: usize,
    pub ws_max_connections_per_user: usize,
    /// No heartbeat for this long: the member is gone.
    pub presence_timeout: std::time::Duration,
    /// How often changing presence is saved.
    pub presence_save_interval: std::time::Duration,
    pub trust_proxy: bool,
    pub login_max_failures: u32,
    pub login_failure_window_secs: u64,
    pub login_max_per_ip: u32,
    pub register_max_per_ip: u32,
    pub auth_ip_window_secs: u64,
    pub rate_limit_max_keys: usize,
    pub apq_cache_size: usize,
    pub document_cache_size: usize,
    /// The allow-list: when set, only its operations run (`PLEXUS_PERSISTED_ONLY`).
    pub persisted_only: Option<Arc<Manifest>>,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_recursive_depth: usize,
    pub slow_query_ms: u64,
    /// How long a checked access token's user is trusted (`PLEXUS_AUTH_CACHE_MS`).
    pub auth_cache: std::time::Duration,
    pub metrics: bool,
    /// Days system logs are kept; 0 keeps them forever.
    pub log_retention_days: u32,
    /// Directory of uploaded files; `None` = the default (see [`media_dir`]).
    pub media_dir: Option<PathBuf>,
    /// Largest uploaded file, in bytes.
    pub media_max_bytes: u64,
    /// Accepted upload types.
    pub media_allowed_types: Vec<String>,
}

/// The default database: `plexus.db` in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://plexus.db?mode=rwc";

impl ConfigArgs {
    /// Validates the arguments; the error says which setting is wrong and how.
    pub fn validate(self) -> Result<Config, String> {
        let database_url = self
            .database_url
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(format!(
                "DATABASE_URL must start with sqlite: or postgres:// (got `{}`)",
                redact_url(&database_url)
            ));
        }
        let db_max_connections = self
            .db_max_connections
            .unwrap_or_else(|| default_pool_size(&database_url));
        let bind = match (&self.bind, self.port) {
            (Some(b), _) => b.parse().map_err(|_| {
                format!("PLEXUS_BIND must be host:port, e.g. 127.0.0.1:8080 (got `{b}`)")
            })?,
            (None, Some(port)) => SocketAddr::from(([0, 0, 0, 0], port)),
            (None, None) => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        if let Some(s) = &self.jwt_secret {
            if s.len() < 32 {
                return Err("PLEXUS_JWT_SECRET must be at least 32 bytes long; generate one with `openssl rand -base64 48`".into());
            }
        } else if self.environment == Environment::Production {
            return Err("PLEXUS_JWT_SECRET is required when PLEXUS_ENV=production".into());
        }
        let positive = |name: &str, v: u64| {
            if v == 0 {
                Err(format!("{name} must be greater than 0"))
            } else {
                Ok(())
            }
        };
        positive("PLEXUS_MAX_DEPTH", self.max_depth as u64)?;
        positive("PLEXUS_MAX_COMPLEXITY", self.max_complexity as u64)?;
        positive("PLEXUS_DEFAULT_PAGE_SIZE", self.default_page_size)?;
        positive("PLEXUS_MAX_PAGE_SIZE", self.max_page_size)?;
        positive("PLEXUS_HEAVY_COST", self.heavy_cost)?;
        positive("PLEXUS_MAX_BODY_BYTES", self.max_body_bytes as u64)?;
        positive("PLEXUS_MAX_BATCH", self.max_batch as u64)?;
        positive("PLEXUS_MEDIA_MAX_BYTES", self.media_max_bytes)?;
        let media_allowed_types: Vec<String> = match &self.media_allowed_types {
            None => plexus_media::sniff::DEFAULT_ALLOWED
                .iter()
                .map(|s| s.to_string())
                .collect(),
            Some(list) => list
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
        };
        for t in &media_allowed_types {
            let ok = t
                .split_once('/')
                .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('/'));
            if !ok {
                return Err(format!(
                    "PLEXUS_MEDIA_ALLOWED_TYPES: `{t}` is not a MIME type (`type/subtype` or `type/*`)"
                ));
            }
        }
        if let Some(n) = self.db_max_connections {
            positive("PLEXUS_DB_MAX_CONNECTIONS", n.into())?;
        }
        positive("PLEXUS_REQUEST_TIMEOUT_SECS", self.request_timeout_secs)?;
        positive("PLEXUS_WS_INIT_TIMEOUT_SECS", self.ws_init_timeout_secs)?;
        positive("PLEXUS_SHUTDOWN_TIMEOUT_SECS", self.shutdown_timeout_secs)?;
        positive(
            "PLEXUS_WS_MAX_SUBSCRIPTIONS",
            self.ws_max_subscriptions as u64,
        )?;
        positive(
            "PLEXUS_WS_MAX_CONNECTIONS_PER_USER",
            self.ws_max_connections_per_user as u64,
        )?;
        positive("PLEXUS_PRESENCE_TIMEOUT_SECS", self.presence_timeout_secs)?;
        positive("PLEXUS_PRESENCE_SAVE_SECS", self.presence_save_secs)?;
        if self.default_page_size > self.max_page_size {
            return Err(format!(
                "PLEXUS_DEFAULT_PAGE_SIZE ({}) must not exceed PLEXUS_MAX_PAGE_SIZE ({})",
                self.default_page_size, self.max_page_size
            ));
        }
        let cors_origins: Vec<String> = self
            .cors_origins
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        for o in &cors_origins {
            if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                return Err(format!(
                    "PLEXUS_CORS_ORIGINS entries must be `*` or origins like https://app.example.com (got `{o}`)"
                ));
            }
        }
        positive(
            "PLEXUS_LOGIN_FAILURE_WINDOW_SECS",
            self.login_failure_window_secs,
        )?;
        positive("PLEXUS_AUTH_IP_WINDOW_SECS", self.auth_ip_window_secs)?;
        positive(
            "PLEXUS_RATE_LIMIT_MAX_KEYS",
            self.rate_limit_max_keys as u64,
        )?;
        positive("PLEXUS_MAX_ALIASES", self.max_aliases as u64)?;
        positive("PLEXUS_MAX_ROOT_FIELDS", self.max_root_fields as u64)?;
        positive(
            "PLEXUS_MAX_RECURSIVE_DEPTH",
            self.max_recursive_depth as u64,
        )?;
        if self.max_recursive_depth > 256 {
            return Err(format!(
                "PLEXUS_MAX_RECURSIVE_DEPTH must be at most 256 (got {}): deeper documents risk a stack overflow",
                self.max_recursive_depth
            ));
        }
        let persisted_only = match (self.persisted_only, &self.persisted_manifest) {
            (false, _) => None,
            (true, None) => {
                return Err(
                    "PLEXUS_PERSISTED_ONLY=true needs PLEXUS_PERSISTED_MANIFEST=<path to a JSON manifest>"
                        .into(),
                );
            }
            (true, Some(path)) => Some(Arc::new(Manifest::load(path)?)),
        };
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| format!("PLEXUS_LOG is not a valid filter: {e}"))?;
        Ok(Config {
            database_url,
            bind,
            environment: self.environment,
            jwt_secret: self.jwt_secret,
            max_depth: self.max_depth,
            max_complexity: self.max_complexity,
            default_page_size: self.default_page_size,
            max_page_size: self.max_page_size,
            heavy_cost: self.heavy_cost,
            heavy_concurrency: self.heavy_concurrency.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
            }),
            max_body_bytes: self.max_body_bytes,
            max_batch: self.max_batch,
            introspection: self
                .introspection
                .unwrap_or(self.environment != Environment::Production),
            cors_origins,
            log_format: self.log_format,
            log: self.log,
            db_max_connections,
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs),
            auto_migrate: self.auto_migrate,
            ws_init_timeout: std::time::Duration::from_secs(self.ws_init_timeout_secs),
            shutdown_timeout: std::time::Duration::from_secs(self.shutdown_timeout_secs),
            ws_max_subscriptions: self.ws_max_subscriptions,
            ws_max_connections_per_user: self.ws_max_connections_per_user,
            presence_timeout: std::time::Duration::from_secs(self.presence_timeout_secs),
            presence_save_interval: std::time::Duration::from_secs(self.presence_save_secs),
            trust_proxy: self.trust_proxy,
            login_max_failures: self.login_max_failures,
            login_failure_window_secs: self.login_failure_window_secs,
            login_max_per_ip: self.login_max_per_ip,
            register_max_per_ip: self.register_max_per_ip,
            auth_ip_window_secs: self.auth_ip_window_secs,
            rate_limit_max_keys: self.rate_limit_max_keys,
            apq_cache_size: self.apq_cache_size,
            document_cache_size: self.document_cache_size,
            persisted_only,
            max_aliases: self.max_aliases,
            max_root_fields: self.max_root_fields,
            max_recursive_depth: self.max_recursive_depth,
            slow_query_ms: self.slow_query_ms,
            auth_cache: std::time::Duration::from_millis(self.auth_cache_ms),
            metrics: self.metrics,
            log_retention_days: self.log_retention_days,
            media_dir: self.media_dir,
            media_max_bytes: self.media_max_bytes,
            media_allowed_types,
        })
    }
}

impl Config {
    /// A configuration for tests and tools: defaults, the given database, a fixed secret.
    pub fn for_tests(database_url: &str) -> Self {
        Config {
            database_url: database_url.to_string(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            environment: Environment::Test,
            jwt_secret: Some("test-secret-test-secret-test-secret-0123".into()),
            max_depth: 15,
            max_complexity: 20_000,
            default_page_size: 20,
            max_page_size: 100,
            heavy_cost: 5_000,
            heavy_concurrency: 2,
            max_body_bytes: 1024 * 1024,
            max_batch: 10,
            introspection: true,
            cors_origins: vec![],
            log_format: LogFormat::Text,
            log: "warn".into(),
            db_max_connections: 5,
            request_timeout: std::time::Duration::from_secs(30),
            auto_migrate: true,
            ws_init_timeout: std::time::Duration::from_secs(10),
            shutdown_timeout: std::time::Duration::from_secs(10),
            ws_max_subscriptions: 100,
            ws_max_connections_per_user: 20,
            presence_timeout: std::time::Duration::from_secs(30),
            presence_save_interval: std::time::Duration::from_secs(5),
            trust_proxy: false,
            login_max_failures: 5,
            login_failure_window_secs: 900,
            // Every test client is 127.0.0.1: per-address limits are off unless a test sets them.
            login_max_per_ip: 0,
            register_max_per_ip: 0,
            auth_ip_window_secs: 60,
            rate_limit_max_keys: 100_000,
            apq_cache_size: 1000,
            document_cache_size: 1000,
            persisted_only: None,
            max_aliases: 30,
            max_root_fields: 20,
            max_recursive_depth: 32,
            slow_query_ms: 500,
            auth_cache: std::time::Duration::from_secs(1),
            metrics: true,
            log_retention_days: 30,
            // Each test server gets its own directory (the harness removes it).
            media_dir: Some(
                std::env::temp_dir()
                    .join("plexus-tests")
                    .join(format!("media-{}", uuid::Uuid::now_v7())),
            ),
            media_max_bytes: 25 * 1024 * 1024,
            media_allowed_types: plexus_media::sniff::DEFAULT_ALLOWED
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// The SQLite file behind the database URL, if it is a file database.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let rest = self.database_url.strip_prefix("sqlite:")?;
        let rest = rest.trim_start_matches("//");
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" || self.database_url.contains("mode=memory") {
            return None;
        }
        Some(PathBuf::from(path))
    }
}

/// The pool size when `PLEXUS_DB_MAX_CONNECTIONS` is not set. PostgreSQL: 10. SQLite: one
/// connection per CPU core, at least 2. Each SQLite connection is a thread of its own that
/// does the database's work, so connections beyond the cores only take turns on them,
/// and each keeps its own page cache and buffers. On 2 cores, 2 connections against 10 in
/// the load benchmark: dashboard 78–83 → 100 req/s, its peak RSS 155 → 105 MB, the
/// write case's p99 757 → 147 ms.
fn default_pool_size(database_url: &str) -> u32 {
    if database_url.starts_with("sqlite:") {
        std::thread::available_parallelism()
            .map_or(2, |n| n.get() as u32)
            .max(2)
    } else {
        10
    }
}

/// Where a generated JWT secret is kept: beside the SQLite file, or in the working directory.
pub fn secret_file(config: &Config) -> PathBuf {
    match config.sqlite_file() {
        Some(db) => {
            let name = db
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "plexus.db".into());
            db.parent()
                .unwrap_or(Path::new(""))
                .join(format!("{name}.jwt-secret"))
        }
        None => PathBuf::from(".plexus-jwt-secret"),
    }
}

/// The directory of uploaded files: `PLEXUS_MEDIA_DIR`, else beside the SQLite file
/// (`plexus.db.media`), else `./media`.
pub fn media_dir(config: &Config) -> PathBuf {
    if let Some(d) = &config.media_dir {
        return d.clone();
    }
    match config.sqlite_file() {
        Some(db) => {
            let name = db
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "plexus.db".into());
            db.parent()
                .unwrap_or(Path::new(""))
                .join(format!("{name}.media"))
        }
        None => PathBuf::from("media"),
    }
}

/// A URL with its password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        c: ConfigArgs,
    }

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut v = vec!["plexus"];
        v.extend_from_slice(args);
        T::try_parse_from(v)
            .map_err(|e| e.to_string())?
            .c
            .validate()
    }

    #[test]
    fn defaults_are_local_and_safe() {
        let c = parse(&["--database-url", DEFAULT_DATABASE_URL]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert!(c.introspection);
        assert_eq!(c.sqlite_file(), Some(PathBuf::from("plexus.db")));
        assert_eq!(secret_file(&c), PathBuf::from("plexus.db.jwt-secret"));
    }

    #[test]
    fn the_pool_size_defaults_by_backend() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        let pool = |url: &str, size: &[&str]| {
            let mut args = vec!["--database-url", url];
            args.extend_from_slice(size);
            parse(&args).map(|c| c.db_max_connections)
        };
        assert_eq!(pool("sqlite://x.db", &[]), Ok(cores.max(2)));
        assert_eq!(pool("postgres://u@h/db", &[]), Ok(10));
        assert_eq!(pool("sqlite://x.db", &["--db-max-connections", "7"]), Ok(7));
        let e = pool("sqlite://x.db", &["--db-max-connections", "0"]);
        assert!(e.unwrap_err().contains("PLEXUS_DB_MAX_CONNECTIONS"));
    }

    #[test]
    fn production_needs_a_secret_and_hides_introspection() {
        let e = parse(&["--database-url", "sqlite://x.db", "--env", "production"]).unwrap_err();
        assert!(e.contains("PLEXUS_JWT_SECRET is required"), "{e}");
        let c = parse(&[
            "--database-url",
            "sqlite://x.db",
            "--env",
            "production",
            "--jwt-secret",
            &"s".repeat(32),
        ])
        .unwrap();
        assert!(!c.introspection);
    }

    #[test]
    fn bad_values_say_what_to_fix() {
        assert!(
            parse(&["--database-url", "mysql://x"])
                .unwrap_err()
                .contains("DATABASE_URL")
        );
        assert!(
            parse(&["--database-url", "sqlite://x.db", "--bind", "nope"])
                .unwrap_err()
                .contains("PLEXUS_BIND")
        );
        assert!(
            parse(&["--database-url", "sqlite://x.db", "--jwt-secret", "short"])
                .unwrap_err()
                .contains("32 bytes")
        );
        assert!(
            parse(&[
                "--database-url",
                "sqlite://x.db",
                "--cors-origins",
                "example.com"
            ])
            .unwrap_err()
            .contains("CORS")
        );
        assert!(
            parse(&[
                "--database-url",
                "sqlite://x.db",
                "--default-page-size",
                "500"
            ])
            .unwrap_err()
            .contains("PAGE_SIZE")
        );
        assert!(
            parse(&["--database-url", "sqlite://x.db", "--max-depth", "0"])
                .unwrap_err()
                .contains("MAX_DEPTH")
        );
    }

    #[test]
    fn hardening_settings_are_checked() {
        let c = parse(&["--database-url", "sqlite://x.db"]).unwrap();
        assert_eq!(
            (c.max_aliases, c.max_root_fields, c.max_recursive_depth),
            (30, 20, 32)
        );
        assert_eq!((c.login_max_failures, c.login_max_per_ip), (5, 20));
        assert!(c.persisted_only.is_none() && !c.trust_proxy);
        let e = parse(&[
            "--database-url",
            "sqlite://x.db",
            "--persisted-only",
            "true",
        ])
        .unwrap_err();
        assert!(e.contains("PLEXUS_PERSISTED_MANIFEST"), "{e}");
        let e = parse(&[
            "--database-url",
            "sqlite://x.db",
            "--persisted-only",
            "true",
            "--persisted-manifest",
            "/nonexistent/manifest.json",
        ])
        .unwrap_err();
        assert!(e.contains("cannot read /nonexistent/manifest.json"), "{e}");
        let dir = std::env::temp_dir().join(format!("plexus-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"op1": "{ viewer { "}"#).unwrap();
        let e = parse(&[
            "--database-url",
            "sqlite://x.db",
            "--persisted-only",
            "true",
            "--persisted-manifest",
            bad.to_str().unwrap(),
        ])
        .unwrap_err();
        assert!(e.contains("operation `op1` is not valid GraphQL"), "{e}");
        let good = dir.join("good.json");
        std::fs::write(&good, r#"{"op1": "{ __typename }"}"#).unwrap();
        let c = parse(&[
            "--database-url",
            "sqlite://x.db",
            "--persisted-only",
            "true",
            "--persisted-manifest",
            good.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(c.persisted_only.map(|m| m.len()), Some(1));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            parse(&["--database-url", "sqlite://x.db", "--max-aliases", "0"])
                .unwrap_err()
                .contains("PLEXUS_MAX_ALIASES")
        );
        assert!(
            parse(&[
                "--database-url",
                "sqlite://x.db",
                "--max-recursive-depth",
                "1000"
            ])
            .unwrap_err()
            .contains("stack overflow")
        );
    }

    #[test]
    fn heavy_operations_are_limited_by_default() {
        let c = parse(&["--database-url", "sqlite://x.db"]).unwrap();
        assert_eq!(c.heavy_cost, 5_000);
        assert!(c.heavy_concurrency >= 1, "one slot per CPU");
        let c = parse(&[
            "--database-url",
            "sqlite://x.db",
            "--heavy-concurrency",
            "0",
        ])
        .unwrap();
        assert_eq!(c.heavy_concurrency, 0, "0 lifts the limit");
        let e = parse(&["--database-url", "sqlite://x.db", "--heavy-cost", "0"]).unwrap_err();
        assert!(e.contains("PLEXUS_HEAVY_COST"), "{e}");
    }

    #[test]
    fn port_binds_all_interfaces() {
        let c = parse(&["--database-url", "sqlite://x.db", "--port", "9000"]).unwrap();
        assert_eq!(c.bind.to_string(), "0.0.0.0:9000");
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://a.db"), "sqlite://a.db");
    }
}
