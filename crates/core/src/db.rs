//! Database helpers shared by the domain services: write transactions that behave the same
//! on SQLite and PostgreSQL, and timestamps in one format.

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

/// Starts a transaction that will write.
///
/// On SQLite it is `BEGIN IMMEDIATE`: a deferred transaction that reads first and writes
/// later can fail with `SQLITE_BUSY` when another writer committed in between (WAL mode
/// cannot upgrade a stale read snapshot), while an immediate one waits on the busy timeout
/// instead. On PostgreSQL it is an ordinary read-write transaction.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    })
    .await
}

/// The current time, as stored in every timestamp column (UTC, microsecond precision so that
/// both backends round-trip the same value).
pub fn now() -> chrono::DateTime<chrono::FixedOffset> {
    let now = chrono::Utc::now();
    let micros = now.timestamp_micros();
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or(now)
        .fixed_offset()
}

/// `lower(column) LIKE '%text%'` with the user's text taken literally (`%`, `_` and `\`
/// escaped): a case-insensitive "contains" that behaves the same on both backends.
pub fn contains_ci(
    column: impl sea_orm::sea_query::IntoColumnRef,
    text: &str,
) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Expr::expr(Func::lower(Expr::col(column)))
        .like(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}
