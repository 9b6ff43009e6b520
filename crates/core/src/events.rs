//! Domain events for live UIs: what changed, where, by whom. Events carry ids, not rows
//! (PostgreSQL NOTIFY payloads are limited to 8 KB, and every instance resolves what it
//! delivers through the same loaders and permissions as a query). They are published only
//! after the transaction that caused them has committed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Where an event happens: subscriptions listen to one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "t", content = "id")]
pub enum Topic {
    /// A project and its canvas.
    Project(Uuid),
    /// A conversation and its messages.
    Conversation(Uuid),
    /// An agent's task queue.
    Agent(Uuid),
    /// A workflow's executions.
    Workflow(Uuid),
    /// A user's inbox.
    User(Uuid),
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    GraphNodeCreated,
    GraphNodeUpdated,
    GraphNodesMoved,
    GraphNodeDeleted,
    GraphNodeRestored,
    GraphEdgeCreated,
    GraphEdgeDeleted,
    ProjectUpdated,
    ProjectDeleted,
    MemberAdded,
    MemberUpdated,
    MemberRemoved,
    PresenceChanged,
    /// Text appended to a generating node's response (`range` says which characters).
    NodeResponseChunk,
    MessageAdded,
    /// Text appended to a streaming message (`range` says which characters).
    MessageChunk,
    MessageUpdated,
    ToolCallRecorded,
    ConversationUpdated,
    ConversationDeleted,
    AgentTaskChanged,
    AgentDeleted,
    WorkflowExecutionChanged,
    NotificationAdded,
}

/// One change, as published on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Where.
    pub topic: Topic,
    /// What.
    pub kind: EventKind,
    /// Who did it (a user id), if anyone.
    pub actor: Option<Uuid>,
    /// When.
    pub at: DateTime<Utc>,
    /// The affected objects (node, edge, member or user ids, per kind).
    pub ids: Vec<Uuid>,
    /// For streamed text: the characters `[start, end)` of the text this event appended
    /// (the text only grows while it streams, so every instance can slice it from the row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(u64, u64)>,
    /// For `PresenceChanged`: the member's presence as it is now. Presence is coalesced in
    /// memory and written to the database only now and then, so the event carries it (a
    /// few dozen bytes) instead of every instance reading a row that may lag behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<PresenceNote>,
}

/// A member's presence in a project, carried by `PresenceChanged` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceNote {
    /// False when the member went away (socket closed, heartbeats stopped).
    pub active: bool,
    /// The cursor, as stored in `project_presence.cursor` (`{x, y, nodeId, at}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<serde_json::Value>,
    /// When the member opened the project.
    pub joined_at: DateTime<Utc>,
    /// The last heartbeat.
    pub last_seen: DateTime<Utc>,
}

impl Event {
    /// An event happening now.
    pub fn now(topic: Topic, kind: EventKind, actor: Option<Uuid>, ids: Vec<Uuid>) -> Self {
        Self {
            topic,
            kind,
            actor,
            at: Utc::now(),
            ids,
            range: None,
            presence: None,
        }
    }

    /// A chunk of streamed text: characters `start..end` of `id`'s text.
    pub fn chunk(
        topic: Topic,
        kind: EventKind,
        actor: Option<Uuid>,
        id: Uuid,
        start: u64,
        end: u64,
    ) -> Self {
        Self {
            range: Some((start, end)),
            ..Self::now(topic, kind, actor, vec![id])
        }
    }
}

/// What subscribers receive: an event, or word that events may have been lost (the
/// connection to the other instances dropped); a subscriber should resubscribe and reload.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Event(Arc<Event>),
    Gap,
}

/// Most ids one event carries; larger changes are split so that a payload stays well
/// under PostgreSQL's 8 KB NOTIFY limit.
pub const MAX_IDS_PER_EVENT: usize = 100;

/// Publishes events and hands out subscriptions to them.
pub trait EventBus: Send + Sync + std::fmt::Debug {
    /// Publishes an event (never blocks; large id lists are split).
    fn publish(&self, event: Event);
    /// Every event published from now on, on any instance.
    fn subscribe(&self) -> broadcast::Receiver<Delivery>;
}

/// A bus within one process (tokio broadcast): enough for a single instance.
#[derive(Debug, Clone)]
pub struct LocalBus {
    tx: broadcast::Sender<Delivery>,
}

impl LocalBus {
    /// A bus keeping up to `capacity` undelivered events per subscriber; a subscriber that
    /// falls further behind is told it lagged.
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity).0,
        }
    }

    /// Delivers to this process's subscribers.
    pub fn deliver(&self, d: Delivery) {
        let _ = self.tx.send(d);
    }
}

impl EventBus for LocalBus {
    fn publish(&self, event: Event) {
        for e in split(event) {
            self.deliver(Delivery::Event(Arc::new(e)));
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Delivery> {
        self.tx.subscribe()
    }
}

/// Splits an event whose id list is too long for one payload.
pub fn split(event: Event) -> Vec<Event> {
    if event.ids.len() <= MAX_IDS_PER_EVENT {
        return vec![event];
    }
    event
        .ids
        .chunks(MAX_IDS_PER_EVENT)
        .map(|ids| Event {
            ids: ids.to_vec(),
            ..event.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_small_enough_for_notify() {
        let ids: Vec<Uuid> = (0..MAX_IDS_PER_EVENT).map(|_| Uuid::now_v7()).collect();
        let e = Event::now(
            Topic::Project(Uuid::now_v7()),
            EventKind::GraphNodesMoved,
            Some(Uuid::now_v7()),
            ids,
        );
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.len() < 8000, "{} bytes", json.len());
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
    }

    #[test]
    fn long_id_lists_are_split() {
        let ids: Vec<Uuid> = (0..250).map(|_| Uuid::now_v7()).collect();
        let parts = split(Event::now(
            Topic::Project(Uuid::nil()),
            EventKind::GraphNodesMoved,
            None,
            ids.clone(),
        ));
        assert_eq!(
            parts.iter().map(|p| p.ids.len()).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        assert_eq!(
            parts.into_iter().flat_map(|p| p.ids).collect::<Vec<_>>(),
            ids
        );
    }

    #[tokio::test]
    async fn local_subscribers_receive_what_is_published_after_they_subscribe() {
        let bus = LocalBus::new(16);
        bus.publish(Event::now(
            Topic::Project(Uuid::nil()),
            EventKind::ProjectUpdated,
            None,
            vec![],
        ));
        let mut rx = bus.subscribe();
        let e = Event::now(
            Topic::Project(Uuid::nil()),
            EventKind::ProjectDeleted,
            None,
            vec![],
        );
        bus.publish(e.clone());
        assert_eq!(rx.recv().await.unwrap(), Delivery::Event(Arc::new(e)));
    }
}
