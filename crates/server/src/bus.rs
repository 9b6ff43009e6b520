//! The event bus behind subscriptions: in-process for SQLite (one instance), PostgreSQL
//! `LISTEN/NOTIFY` when the database is PostgreSQL, so that a mutation on one instance
//! reaches subscribers on every instance with no broker besides the database.

use plexus_core::events::{Delivery, Event, EventBus, LocalBus, split};
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// The NOTIFY channel.
pub const CHANNEL: &str = "plexus_events";

/// Most notifications sent in one statement.
const NOTIFY_BATCH: usize = 64;

/// Splits queued payloads into runs to send one statement each: PostgreSQL delivers a
/// payload repeated within one transaction only once, so a run ends before a repeat.
fn batches(queued: &[String]) -> Vec<&[String]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..queued.len() {
        if queued[start..i].contains(&queued[i]) {
            out.push(&queued[start..i]);
            start = i;
        }
    }
    if start < queued.len() {
        out.push(&queued[start..]);
    }
    out
}

/// `SELECT pg_notify($1, $2), pg_notify($1, $3), …`: one transaction whose notifications
/// reach listeners in the order of the select list.
fn notify_statement(payloads: &[String]) -> Statement {
    let calls: Vec<String> = (0..payloads.len())
        .map(|i| format!("pg_notify($1, ${})", i + 2))
        .collect();
    let values = std::iter::once(CHANNEL.into()).chain(payloads.iter().map(|p| p.as_str().into()));
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("SELECT {}", calls.join(", ")),
        values,
    )
}

/// Events per subscriber that may wait undelivered before it is told it lagged.
const CAPACITY: usize = 4096;

/// The bus for a database: PostgreSQL gets LISTEN/NOTIFY, anything else stays in-process.
pub async fn for_database(url: &str, db: &DatabaseConnection) -> anyhow::Result<Arc<dyn EventBus>> {
    if db.get_database_backend() == DbBackend::Postgres {
        Ok(Arc::new(PgBus::start(url, db.clone()).await?))
    } else {
        Ok(Arc::new(LocalBus::new(CAPACITY)))
    }
}

/// Publishes with `pg_notify` and delivers what `LISTEN` hears, its own events included.
#[derive(Debug)]
pub struct PgBus {
    local: LocalBus,
    outbox: mpsc::UnboundedSender<String>,
}

impl PgBus {
    /// Connects the listener and starts the sender and listener tasks.
    pub async fn start(url: &str, db: DatabaseConnection) -> anyhow::Result<Self> {
        let local = LocalBus::new(CAPACITY);
        let mut listener = PgListener::connect(&crate::db::effective_url(url)).await?;
        listener.listen(CHANNEL).await?;
        let deliver = local.clone();
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => match serde_json::from_str::<Event>(n.payload()) {
                        Ok(e) => deliver.deliver(Delivery::Event(Arc::new(e))),
                        Err(e) => {
                            tracing::warn!(error = %e, "ignoring a malformed event notification")
                        }
                    },
                    // The connection dropped and sqlx reconnected: whatever was notified
                    // meanwhile is lost, so subscribers must be told.
                    Ok(None) => {
                        tracing::warn!(
                            "event listener reconnected: telling subscribers events may be lost"
                        );
                        deliver.deliver(Delivery::Gap);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event listener failed; retrying");
                        deliver.deliver(Delivery::Gap);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        let (outbox, mut rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            // One task, so notifications leave in the order they were published. What
            // queued while a statement was out leaves together in the next one.
            let mut queued = Vec::new();
            while rx.recv_many(&mut queued, NOTIFY_BATCH).await > 0 {
                for batch in batches(&queued) {
                    if let Err(e) = db.execute_raw(notify_statement(batch)).await {
                        tracing::warn!(error = %e, "could not publish events");
                    }
                }
                queued.clear();
            }
        });
        Ok(Self { local, outbox })
    }
}

impl EventBus for PgBus {
    fn publish(&self, event: Event) {
        for part in split(event) {
            match serde_json::to_string(&part) {
                Ok(json) => {
                    let _ = self.outbox.send(json);
                }
                Err(e) => tracing::error!(error = %e, "serialising an event"),
            }
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Delivery> {
        self.local.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_payload_starts_a_new_statement() {
        let q: Vec<String> = ["a", "b", "a", "c", "c"].map(String::from).to_vec();
        let runs: Vec<Vec<&str>> = batches(&q)
            .iter()
            .map(|r| r.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(runs, [vec!["a", "b"], vec!["a", "c"], vec!["c"]]);
        assert!(batches(&[]).is_empty());
        let stmt = notify_statement(&q[..2]);
        assert_eq!(stmt.sql, "SELECT pg_notify($1, $2), pg_notify($1, $3)");
        assert_eq!(stmt.values.map(|v| v.0.len()), Some(3));
    }
}
