//! A small Prometheus registry: GraphQL operations by name and outcome, a latency
//! histogram per operation name, in-flight operations, the database pool and the process uptime, rendered in
//! the text exposition format at `GET /metrics`.
//!
//! SQL statements are counted process-wide (`plexus_db_statements_total`, with their time
//! and failures) by a SeaORM metric callback that [`count_statements`] installs on the pool;
//! with the `plexus_sql` log target at `debug` it also logs each statement.
//!
//! Operation names come from clients, so only valid GraphQL names are used as labels and at
//! most `MAX_OPERATIONS` distinct ones are kept; the rest are counted as `other`.

use sea_orm::{DatabaseConnection, DbBackend};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MAX_OPERATIONS: usize = 200;

static DB_STATEMENTS: AtomicU64 = AtomicU64::new(0);
static DB_STATEMENTS_FAILED: AtomicU64 = AtomicU64::new(0);
static DB_STATEMENT_MICROS: AtomicU64 = AtomicU64::new(0);

/// Counts every SQL statement run through `db` (and its transactions) in
/// `plexus_db_statements_total`; costs two relaxed atomic additions per statement.
pub fn count_statements(db: &mut DatabaseConnection) {
    // Statements SeaORM runs as queries and executes; not `execute_unprepared` nor the
    // BEGIN/COMMIT of transactions.
    db.set_metric_callback(|info| {
        DB_STATEMENTS.fetch_add(1, Ordering::Relaxed);
        DB_STATEMENT_MICROS.fetch_add(
            u64::try_from(info.elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        if info.failed {
            DB_STATEMENTS_FAILED.fetch_add(1, Ordering::Relaxed);
        }
        // `PLEXUS_LOG=warn,plexus_sql=debug` logs every statement with its values inlined
        // (how tests/load/pgbench.sh learns what each benchmark case runs).
        tracing::debug!(target: "plexus_sql", micros = info.elapsed.as_micros() as u64, failed = info.failed, "{}", inlined(info.statement));
    });
}

/// A statement as SQL that runs on its own. SeaORM inlines the values, except inside
/// PostgreSQL's `ARRAY[$1, …]` (GraphService::neighbours), whose brackets sea-query's
/// tokenizer takes for a quoted name; those placeholders are inlined here.
fn inlined(statement: &sea_orm::Statement) -> String {
    use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};
    let sql = statement.to_string();
    let Some(values) = statement
        .values
        .as_ref()
        .filter(|_| statement.db_backend == DbBackend::Postgres && sql.contains("ARRAY[$"))
    else {
        return sql;
    };
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql.as_str();
    while let Some(at) = rest.find("ARRAY[") {
        let (head, array) = rest.split_at(at + "ARRAY[".len());
        out.push_str(head);
        let end = array.find(']').unwrap_or(array.len());
        for (i, item) in array[..end].split(',').enumerate() {
            if i > 0 {
                out.push(',');
            }
            let value = item
                .trim()
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| values.0.get(n.wrapping_sub(1)));
            match value {
                Some(v) => out.push_str(&PostgresQueryBuilder.value_to_string(v)),
                None => out.push_str(item),
            }
        }
        rest = &array[end..];
    }
    out.push_str(rest);
    out
}

const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Error codes used as `outcome` labels; anything else is `other`.
const CODES: [&str; 19] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "RATE_LIMITED",
    "INTERNAL",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "BAD_REQUEST",
    "METHOD_NOT_ALLOWED",
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_NOT_ALLOWED",
    "PERSISTED_QUERY_NOT_SUPPORTED",
    "NOT_ACCEPTABLE",
    "UNSUPPORTED_MEDIA_TYPE",
    "PAYLOAD_TOO_LARGE",
    "TIMEOUT",
    "other",
];

/// The process-wide metrics.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    start_unix: f64,
    in_flight: AtomicI64,
    /// operation name → its counters. Known names only take the read lock.
    requests: RwLock<HashMap<String, Operation>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// One operation name's counters: per outcome (`ok`, then `CODES`), and its latency
/// histogram (cumulative buckets, as exposed).
#[derive(Debug, Default)]
struct Operation {
    outcomes: [AtomicU64; CODES.len() + 1],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Operation {
    fn add(&self, outcome: usize, elapsed: Duration) {
        self.outcomes[outcome].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        for (bucket, le) in self.buckets.iter().zip(BUCKETS) {
            if secs <= le {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Counts an operation as in flight until dropped.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The `outcome` label for an error code.
pub fn outcome(code: Option<&str>) -> &'static str {
    match code {
        None => "ok",
        Some(c) => CODES.iter().find(|k| **k == c).copied().unwrap_or("other"),
    }
}

fn outcome_index(outcome: &str) -> usize {
    if outcome == "ok" {
        return 0;
    }
    CODES
        .iter()
        .position(|k| *k == outcome)
        .unwrap_or(CODES.len() - 1)
        + 1
}

fn outcome_label(index: usize) -> &'static str {
    if index == 0 { "ok" } else { CODES[index - 1] }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && s.len() <= 100
}

impl Metrics {
    /// Fresh metrics; uptime counts from now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            start_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default(),
            in_flight: AtomicI64::new(0),
            requests: RwLock::new(HashMap::new()),
        }
    }

    /// Marks one operation in flight.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records a finished operation.
    pub fn record(&self, operation: Option<&str>, outcome: &'static str, elapsed: Duration) {
        let name = match operation {
            None => "anonymous",
            Some(n) if is_name(n) => n,
            Some(_) => "invalid",
        };
        let i = outcome_index(outcome);
        {
            let map = self.requests.read().unwrap_or_else(|p| p.into_inner());
            if let Some(op) = map.get(name) {
                op.add(i, elapsed);
                return;
            }
        }
        let mut map = self.requests.write().unwrap_or_else(|p| p.into_inner());
        let key = if map.len() >= MAX_OPERATIONS && !map.contains_key(name) {
            "other"
        } else {
            name
        };
        map.entry(key.to_string()).or_default().add(i, elapsed);
    }

    /// The text exposition; `extra` gauges (name, help, value) are appended.
    pub fn render(&self, db: &DatabaseConnection, extra: &[(&str, &str, f64)]) -> String {
        let mut out = String::with_capacity(4096);
        {
            let map = self.requests.read().unwrap_or_else(|p| p.into_inner());
            let mut ops: Vec<(&str, &Operation)> =
                map.iter().map(|(name, op)| (name.as_str(), op)).collect();
            ops.sort_unstable_by_key(|(name, _)| *name);
            out.push_str("# HELP plexus_graphql_requests_total GraphQL operations by operation name and outcome (ok or error code).\n# TYPE plexus_graphql_requests_total counter\n");
            for (name, op) in &ops {
                for (i, n) in op.outcomes.iter().enumerate() {
                    let n = n.load(Ordering::Relaxed);
                    if n > 0 {
                        let o = outcome_label(i);
                        let _ = writeln!(
                            out,
                            "plexus_graphql_requests_total{{operation=\"{name}\",outcome=\"{o}\"}} {n}"
                        );
                    }
                }
            }
            out.push_str("# HELP plexus_graphql_request_duration_seconds Time to answer one GraphQL operation, by operation name.\n# TYPE plexus_graphql_request_duration_seconds histogram\n");
            for (name, op) in &ops {
                for (bucket, le) in op.buckets.iter().zip(BUCKETS) {
                    let _ = writeln!(
                        out,
                        "plexus_graphql_request_duration_seconds_bucket{{operation=\"{name}\",le=\"{le}\"}} {}",
                        bucket.load(Ordering::Relaxed)
                    );
                }
                let count = op.count.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "plexus_graphql_request_duration_seconds_bucket{{operation=\"{name}\",le=\"+Inf\"}} {count}\nplexus_graphql_request_duration_seconds_sum{{operation=\"{name}\"}} {}\nplexus_graphql_request_duration_seconds_count{{operation=\"{name}\"}} {count}",
                    op.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP plexus_db_statements_total SQL statements run (counted when the pool was opened by `plexus serve`).\n# TYPE plexus_db_statements_total counter\nplexus_db_statements_total {}\n# HELP plexus_db_statements_failed_total SQL statements that returned an error.\n# TYPE plexus_db_statements_failed_total counter\nplexus_db_statements_failed_total {}\n# HELP plexus_db_statement_seconds_total Time spent running SQL statements.\n# TYPE plexus_db_statement_seconds_total counter\nplexus_db_statement_seconds_total {}",
            DB_STATEMENTS.load(Ordering::Relaxed),
            DB_STATEMENTS_FAILED.load(Ordering::Relaxed),
            DB_STATEMENT_MICROS.load(Ordering::Relaxed) as f64 / 1e6
        );
        let (size, idle, max_connections) = match db.get_database_backend() {
            DbBackend::Postgres => {
                let p = db.get_postgres_connection_pool();
                (p.size(), p.num_idle(), p.options().get_max_connections())
            }
            DbBackend::Sqlite => {
                let p = db.get_sqlite_connection_pool();
                (p.size(), p.num_idle(), p.options().get_max_connections())
            }
            _ => (0, 0, 0),
        };
        let gauges: [(&str, &str, f64); 6] = [
            (
                "plexus_graphql_requests_in_flight",
                "GraphQL operations being answered.",
                self.in_flight.load(Ordering::Relaxed) as f64,
            ),
            (
                "plexus_db_pool_connections",
                "Open database connections.",
                f64::from(size),
            ),
            (
                "plexus_db_pool_idle_connections",
                "Idle database connections.",
                idle as f64,
            ),
            (
                "plexus_db_pool_max_connections",
                "Largest pool size (PLEXUS_DB_MAX_CONNECTIONS).",
                f64::from(max_connections),
            ),
            (
                "plexus_process_uptime_seconds",
                "Seconds since the process started serving.",
                self.started.elapsed().as_secs_f64(),
            ),
            (
                "plexus_process_start_time_seconds",
                "Start time of the process since the Unix epoch.",
                self.start_unix,
            ),
        ];
        for (name, help, v) in gauges.iter().chain(extra) {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statements_are_counted() {
        use sea_orm::ConnectionTrait;
        let mut db = crate::db::connect("sqlite::memory:", 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        count_statements(&mut db);
        let before = DB_STATEMENTS.load(Ordering::Relaxed);
        for _ in 0..3 {
            db.query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "SELECT 1",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(DB_STATEMENTS.load(Ordering::Relaxed) >= before + 3);
        let text = Metrics::new().render(&db, &[]);
        assert!(text.contains("# TYPE plexus_db_statements_total counter"));
    }

    #[test]
    fn logged_statements_carry_their_values() {
        let id = uuid::Uuid::from_u128(7);
        let statement = sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT e.id FROM edges e WHERE e.source_id IN (SELECT unnest(ARRAY[$1, $2]::uuid[])) \
             AND e.target_id <> $3",
            [id.into(), uuid::Uuid::nil().into(), id.into()],
        );
        assert_eq!(
            inlined(&statement),
            format!(
                "SELECT e.id FROM edges e WHERE e.source_id IN (SELECT unnest(ARRAY['{id}','{nil}']::uuid[])) \
                 AND e.target_id <> '{id}'",
                nil = uuid::Uuid::nil()
            )
        );
        let plain = sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT $1",
            [1i32.into()],
        );
        assert_eq!(inlined(&plain), "SELECT 1");
    }

    #[test]
    fn labels_are_bounded() {
        let m = Metrics::new();
        m.record(Some("bad\"name"), "ok", Duration::from_millis(1));
        for i in 0..(MAX_OPERATIONS + 50) {
            m.record(Some(&format!("Op{i}")), "ok", Duration::from_millis(1));
        }
        let map = m.requests.read().unwrap_or_else(|p| p.into_inner());
        assert!(map.len() <= MAX_OPERATIONS + 1);
        assert!(map.contains_key("invalid") && map.contains_key("other"));
        assert_eq!(outcome(Some("WHATEVER")), "other");
        assert_eq!(outcome(None), "ok");
        for o in ["ok", "RATE_LIMITED", "other"] {
            assert_eq!(outcome_label(outcome_index(o)), o);
        }
    }

    #[test]
    fn latency_is_kept_per_operation() {
        let m = Metrics::new();
        m.record(Some("Fast"), "ok", Duration::from_millis(1));
        m.record(Some("Slow"), "ok", Duration::from_millis(2_000));
        m.record(Some("Slow"), "TIMEOUT", Duration::from_secs(60));
        let map = m.requests.read().unwrap_or_else(|p| p.into_inner());
        let bucket = |op: &str, le: f64| {
            let i = BUCKETS.iter().position(|b| *b == le).unwrap_or(usize::MAX);
            map[op].buckets[i].load(Ordering::Relaxed)
        };
        assert_eq!((bucket("Fast", 0.005), bucket("Fast", 30.0)), (1, 1));
        assert_eq!((bucket("Slow", 1.0), bucket("Slow", 2.5)), (0, 1));
        assert_eq!(bucket("Slow", 30.0), 1, "a minute is past every bucket");
        assert_eq!(map["Slow"].count.load(Ordering::Relaxed), 2);
        assert_eq!(map["Slow"].sum_micros.load(Ordering::Relaxed), 62_000_000);
    }
}
