//! Admission of costly operations: an operation whose estimated cost (see `limits`) reaches
//! `PLEXUS_HEAVY_COST` waits for one of `PLEXUS_HEAVY_CONCURRENCY` slots before it runs.
//!
//! A dashboard of 1,000 nodes holds several megabytes while it resolves (its rows, one
//! future per field, the response tree); 32 of them at once took the server past 300 MB,
//! and on two cores they do not finish sooner for running together. Cheap operations never
//! wait, so a burst of dashboards does not queue the `node(id)` calls behind it. A waiting
//! operation still counts against the request timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots for costly operations.
#[derive(Debug)]
pub struct Admission {
    threshold: u64,
    /// `None`: unlimited (`PLEXUS_HEAVY_CONCURRENCY=0`).
    slots: Option<Arc<Semaphore>>,
    waiting: AtomicU64,
}

/// A slot held while a costly operation runs (nothing for a cheap one).
pub struct Ticket {
    _slot: Option<OwnedSemaphorePermit>,
}

impl Admission {
    /// Operations costing `threshold` or more run at most `concurrency` at a time.
    pub fn new(threshold: u64, concurrency: usize) -> Self {
        Self {
            threshold,
            slots: (concurrency > 0).then(|| Arc::new(Semaphore::new(concurrency))),
            waiting: AtomicU64::new(0),
        }
    }

    /// Waits, if the operation is costly, until it may run.
    pub async fn admit(&self, cost: u64) -> Ticket {
        let Some(slots) = self.slots.as_ref().filter(|_| cost >= self.threshold) else {
            return Ticket { _slot: None };
        };
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = slots.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        // The semaphore is never closed.
        Ticket { _slot: permit.ok() }
    }

    /// Costly operations waiting for a slot.
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn costly_operations_wait_for_a_slot_and_cheap_ones_never() {
        let a = Arc::new(Admission::new(100, 1));
        let first = a.admit(100).await;
        // A cheap operation passes while the slot is taken.
        let _cheap = a.admit(99).await;
        let waiter = tokio::spawn({
            let a = a.clone();
            async move {
                let _t = a.admit(1_000).await;
            }
        });
        while a.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(!waiter.is_finished());
        drop(first);
        waiter.await.unwrap();
        assert_eq!(a.waiting(), 0);
        // Unlimited: nothing waits, however costly.
        let open = Admission::new(1, 0);
        let (_a, _b) = (open.admit(u64::MAX).await, open.admit(u64::MAX).await);
    }
}
