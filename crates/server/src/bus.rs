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
            // One task, so notifications leave in the order they were published.
            while let Some(payload) = rx.recv().await {
                let stmt = Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_notify($1, $2)",
                    [CHANNEL.into(), payload.into()],
                );
                if let Err(e) = db.execute_raw(stmt).await {
                    tracing::warn!(error = %e, "could not publish an event");
                }
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
