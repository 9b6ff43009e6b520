//! Test harness: a fresh database per test (SQLite file, or a PostgreSQL database cloned
//! from a migrated template when `TEST_POSTGRES_URL` is set), a real server on a random
//! port, and a small GraphQL client speaking real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::FutureExt;
use plexus_server::app::{self, AppState, Running};
use plexus_server::config::Config;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::OnceCell;

/// The JWT secret every test server signs with (so tests can forge tokens on purpose).
pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// A fresh, migrated database that is removed afterwards.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Database { admin_url: String, name: String },
}

/// The PostgreSQL server URL for tests, if configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

async fn admin(url: &str) -> DatabaseConnection {
    sea_orm::Database::connect(url)
        .await
        .expect("connect to TEST_POSTGRES_URL")
}

/// Creates (once per process) a migrated template database; drops leftovers of dead runs.
async fn template(admin_url: &str) -> String {
    TEMPLATE
        .get_or_init(|| async {
            let conn = admin(admin_url).await;
            let rows = conn
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT datname FROM pg_database WHERE datname LIKE 'plexus\\_t%'",
                ))
                .await
                .unwrap();
            for row in rows {
                let name: String = row.try_get("", "datname").unwrap();
                let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
                let alive =
                    pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
                if !alive {
                    let _ = conn
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                }
            }
            let name = format!("plexus_tpl_{}", std::process::id());
            conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await
                .unwrap();
            conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap();
            conn.close().await.unwrap();
            let tpl = plexus_server::db::connect(&with_database(admin_url, &name), 1)
                .await
                .unwrap();
            plexus_server::db::migrate_up(&tpl).await.unwrap();
            tpl.close().await.unwrap();
            name
        })
        .await
        .clone()
}

impl TestDb {
    /// A fresh database on `backend`; `None` when PostgreSQL is not configured.
    pub async fn new(backend: Backend) -> Option<Self> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join("plexus-tests");
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join(format!("t_{pid}_{n}.db"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let db = plexus_server::db::connect(&url, 2).await.unwrap();
                plexus_server::db::migrate_up(&db).await.unwrap();
                db.close().await.unwrap();
                Some(Self {
                    backend,
                    url,
                    cleanup: Cleanup::File(path),
                })
            }
            Backend::Postgres => {
                let admin_url = postgres_url()?;
                let tpl = template(&admin_url).await;
                let name = format!("plexus_t_{pid}_{n}");
                let conn = admin(&admin_url).await;
                conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{tpl}\""))
                    .await
                    .unwrap();
                conn.close().await.unwrap();
                let url = with_database(&admin_url, &name);
                Some(Self {
                    backend,
                    url,
                    cleanup: Cleanup::Database { admin_url, name },
                })
            }
        }
    }

    /// A new connection pool to this database.
    pub async fn connect(&self) -> DatabaseConnection {
        plexus_server::db::connect(&self.url, 2).await.unwrap()
    }

    /// Deletes the database.
    pub async fn remove(self) {
        match self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm", ".jwt-secret"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Database { admin_url, name } => {
                let conn = admin(&admin_url).await;
                let _ = conn
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
                let _ = conn.close().await;
            }
        }
    }
}

/// A running server over a test database, and a client for it.
pub struct TestApp {
    pub backend: Backend,
    pub state: AppState,
    pub addr: std::net::SocketAddr,
    pub http: reqwest::Client,
    /// The server (stopped when the test ends).
    pub running: Arc<Running>,
    /// SQL statements the server has run so far.
    pub statements: Arc<AtomicUsize>,
    /// Of those, the writes (INSERT, UPDATE, DELETE).
    pub writes: Arc<AtomicUsize>,
}

impl TestApp {
    /// The database pool the server uses.
    pub fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// `http://addr/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a GraphQL operation and returns the JSON body (any status).
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.gql_raw(query, variables, token).await.1
    }

    /// POSTs a GraphQL operation; returns its body as text (for what JSON parsing hides,
    /// such as the order of an object's keys).
    pub async fn gql_text(&self, query: &str, variables: Value, token: &str) -> String {
        self.http
            .post(self.url("/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// POSTs a GraphQL operation; returns status and JSON body.
    pub async fn gql_raw(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// Registers a user and returns `(accessToken, refreshToken, userId)`.
    pub async fn register(&self, email: &str, password: &str) -> (String, String, String) {
        let v = self
            .gql(
                "mutation($i: RegisterInput!) { register(input: $i) { accessToken refreshToken user { id } } }",
                json!({ "i": { "email": email, "password": password } }),
                None,
            )
            .await;
        let p = &v["data"]["register"];
        assert!(p.is_object(), "register failed: {v}");
        (
            p["accessToken"].as_str().unwrap().to_string(),
            p["refreshToken"].as_str().unwrap().to_string(),
            p["user"]["id"].as_str().unwrap().to_string(),
        )
    }

    /// Runs SQL directly against the test database (setup that no API offers).
    pub async fn sql(&self, sql: &str) {
        self.db().execute_unprepared(sql).await.unwrap();
    }

    /// Runs a GraphQL operation and returns its body and the SQL statements it cost.
    pub async fn gql_counted(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> (Value, usize) {
        let before = self.statements.load(Ordering::SeqCst);
        let v = self.gql(query, variables, token).await;
        (v, self.statements.load(Ordering::SeqCst) - before)
    }

    /// Runs a read-only operation three times; returns its body and the fewest SQL
    /// statements a run cost. How DataLoader batches split at one level of a query can
    /// follow task scheduling on a busy machine; it never follows the number of rows, which
    /// is what statement-count tests are about.
    pub async fn gql_counted_min(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> (Value, usize) {
        let (mut body, mut fewest) = self.gql_counted(query, variables.clone(), token).await;
        for _ in 0..2 {
            let (v, n) = self.gql_counted(query, variables.clone(), token).await;
            if n < fewest {
                (body, fewest) = (v, n);
            }
        }
        (body, fewest)
    }

    /// Signs in and returns the access token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let v = self
            .gql(
                "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                json!({ "i": { "email": email, "password": password } }),
                None,
            )
            .await;
        v["data"]["login"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("login failed: {v}"))
            .to_string()
    }

    /// Counts rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .db()
            .query_one_raw(sea_orm::Statement::from_string(
                self.db().get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }
}

/// One file part of a multipart request.
pub struct FilePart<'a> {
    /// The form field name (the key in `map`).
    pub name: &'a str,
    /// The file name the client claims.
    pub filename: &'a str,
    /// The content type the client claims.
    pub content_type: &'a str,
    /// The bytes.
    pub bytes: &'a [u8],
}

/// A `multipart/form-data` body: the `operations` and `map` fields, then the files.
pub fn multipart_body(
    boundary: &str,
    operations: &Value,
    map: &Value,
    files: &[FilePart<'_>],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut field = |name: &str, extra: &str, content_type: &str, bytes: &[u8]| {
        out.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{extra}\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    };
    field(
        "operations",
        "",
        "application/json",
        operations.to_string().as_bytes(),
    );
    field("map", "", "application/json", map.to_string().as_bytes());
    for f in files {
        field(
            f.name,
            &format!("; filename=\"{}\"", f.filename),
            f.content_type,
            f.bytes,
        );
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

impl TestApp {
    /// POSTs a GraphQL multipart request (with the CSRF header when `csrf`); returns status
    /// and JSON body.
    pub async fn multipart(
        &self,
        operations: Value,
        map: Value,
        files: &[FilePart<'_>],
        token: Option<&str>,
        csrf: bool,
    ) -> (u16, Value) {
        let boundary = "plexus-test-boundary-7MA4YWxkTrZu0gW";
        let body = multipart_body(boundary, &operations, &map, files);
        let mut req = self
            .http
            .post(self.url("/graphql"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        if csrf {
            req = req.header("x-plexus-csrf", "1");
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GETs a path with optional bearer token and extra headers.
    pub async fn get(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }
}

/// The first error's `extensions.code` of a response.
pub fn code(v: &Value) -> &str {
    v["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {v}"))
}

/// Starts a server over a fresh database on `backend`, runs `body`, and cleans up even when
/// the body panics. Skips (returns) when the backend is not configured.
pub async fn run<F, Fut>(backend: Backend, configure: impl FnOnce(&mut Config), body: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = TestDb::new(backend).await else {
        eprintln!("skipping: TEST_POSTGRES_URL is not set");
        return;
    };
    let mut config = Config::for_tests(&db.url);
    configure(&mut config);
    let media_dir = plexus_server::config::media_dir(&config);
    let mut conn = db.connect().await;
    let statements = Arc::new(AtomicUsize::new(0));
    let counter = statements.clone();
    let writes = Arc::new(AtomicUsize::new(0));
    let write_counter = writes.clone();
    let log_sql = std::env::var("PLEXUS_TEST_LOG_SQL").is_ok();
    conn.set_metric_callback(move |info| {
        counter.fetch_add(1, Ordering::SeqCst);
        let verb = info.statement.sql.trim_start().get(..6).unwrap_or_default();
        if ["INSERT", "UPDATE", "DELETE"]
            .iter()
            .any(|w| verb.eq_ignore_ascii_case(w))
        {
            write_counter.fetch_add(1, Ordering::SeqCst);
        }
        if log_sql {
            eprintln!("SQL {}", info.statement.sql);
        }
    });
    let state = app::state(config, conn, TEST_SECRET.as_bytes())
        .await
        .unwrap();
    let running = Arc::new(app::spawn(state.clone()).await.unwrap());
    let app = TestApp {
        backend,
        addr: running.addr,
        state: state.clone(),
        http: reqwest::Client::new(),
        running: running.clone(),
        statements,
        writes,
    };
    let result = AssertUnwindSafe(body(app)).catch_unwind().await;
    running.shutdown();
    let _ = state.db.clone().close().await;
    db.remove().await;
    let _ = std::fs::remove_dir_all(&media_dir);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Declares a test body that runs on SQLite and, when configured, on PostgreSQL:
/// `db_test!(name, |app| async move { … });` or with a config tweak:
/// `db_test!(name, |c| c.max_depth = 3, |app| async move { … });`
#[macro_export]
macro_rules! db_test {
    ($name:ident, |$app:ident| $body:expr) => {
        $crate::db_test!($name, |_c| {}, |$app| $body);
    };
    ($name:ident, |$c:ident| $configure:expr, |$app:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::run(
                    $crate::Backend::Sqlite,
                    |$c| {
                        $configure;
                    },
                    |$app| $body,
                )
                .await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::run(
                    $crate::Backend::Postgres,
                    |$c| {
                        $configure;
                    },
                    |$app| $body,
                )
                .await;
            }
        }
    };
}

static WARNINGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct WarningWriter;

impl std::io::Write for WarningWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        WARNINGS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once per process) a global subscriber that keeps WARN and above in memory;
/// returns a function giving everything captured so far.
pub fn capture_warnings() -> impl Fn() -> String {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(|| WarningWriter)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
    || String::from_utf8_lossy(&WARNINGS.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}
