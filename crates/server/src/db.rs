//! Opening the database: connection pool settings per backend, and migrations.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use std::time::Duration;

/// A pooled connection idle at least this long is pinged before it is handed out.
const IDLE_PING_SECS: u64 = 30;

/// Opens a pool. SQLite gets WAL, a busy timeout and foreign keys; PostgreSQL a bounded pool.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(effective_url(url).into_owned());
    opts.connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings a connection on every acquire by default: a round trip to the
        // database before each statement. Only a connection idle this long is checked;
        // a busy pool's connections have just proven themselves.
        .test_before_acquire_if_idle_for(Duration::from_secs(IDLE_PING_SECS))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        // An in-memory database exists once per connection: it must stay at one.
        opts.max_connections(if in_memory { 1 } else { max_connections.max(2) })
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
    } else {
        opts.max_connections(max_connections).min_connections(1);
    }
    Database::connect(opts).await
}

/// The URL to connect with. A PostgreSQL URL whose host is this machine's loopback and
/// that names no `sslmode` gets `sslmode=disable`: sqlx, like libpq, defaults to `prefer`,
/// which encrypts every statement and row even when they never leave the machine (a
/// quarter of the throughput of `node(id)` in the load benchmark). Any `sslmode` in the
/// URL is kept as written, and other hosts keep the default.
pub fn effective_url(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return url.into();
    };
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    if query
        .split('&')
        .any(|pair| pair.split('=').next() == Some("sslmode"))
    {
        return url.into();
    }
    let authority = before_query.split('/').next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return url.into();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sslmode=disable").into()
}

/// Applies every pending migration.
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

#[cfg(test)]
mod tests {
    use super::effective_url;

    #[test]
    fn loopback_postgres_skips_tls_unless_the_url_says_otherwise() {
        for (given, wanted) in [
            (
                "postgres://postgres@127.0.0.1:5432/plexus",
                "postgres://postgres@127.0.0.1:5432/plexus?sslmode=disable",
            ),
            (
                "postgresql://u:p@localhost/db?application_name=x",
                "postgresql://u:p@localhost/db?application_name=x&sslmode=disable",
            ),
            (
                "postgres://[::1]:5433/db",
                "postgres://[::1]:5433/db?sslmode=disable",
            ),
            // Kept: an explicit sslmode, another host, SQLite.
            (
                "postgres://127.0.0.1/db?sslmode=require",
                "postgres://127.0.0.1/db?sslmode=require",
            ),
            (
                "postgres://db.example.com/db",
                "postgres://db.example.com/db",
            ),
            ("postgres://10.0.0.5:5432/db", "postgres://10.0.0.5:5432/db"),
            ("sqlite://plexus.db?mode=rwc", "sqlite://plexus.db?mode=rwc"),
        ] {
            assert_eq!(effective_url(given), wanted, "{given}");
        }
    }
}
