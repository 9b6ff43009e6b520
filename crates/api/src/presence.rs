//! Live presence: who is on a project's canvas and where their cursor is, kept in memory
//! per (project, member) by a hub shared by every request of this instance.
//!
//! - **Arrival** (a member's first `updatePresence`, or the first after they went away) is
//!   written at once: the `project_presence` row becomes active, and the owner may get
//!   `COLLABORATION_JOINED` (see the projects service for when).
//! - **Heartbeats and cursor moves** only change the hub's entry. They are published as
//!   `PresenceChanged` at most once per [`PresenceSettings::publish_interval`] (50 ms, so at
//!   most 20 per second per member and project): the first move publishes at once, moves
//!   within the interval are folded into one trailing event that carries the latest
//!   position (the last one always arrives). The row is saved only every
//!   [`PresenceSettings::save_interval`] (a few seconds) while it changes.
//! - **Going away**: when the last WebSocket of the member tied to the project closes (the
//!   one that sent heartbeats, or one subscribed to the project's `projectEvents`), or when
//!   no heartbeat came for [`PresenceSettings::timeout`], the row is saved as inactive, the
//!   owner gets `COLLABORATION_LEFT` (only if the arrival was announced with
//!   `COLLABORATION_JOINED`, so a flapping connection does not spam the owner), and a
//!   `PresenceChanged` with `isActive: false` is published. Sockets closed because the
//!   server shuts down announce nothing: their clients reconnect to another instance.
//!
//! **Why events carry the presence.** Events cross instances as small JSON payloads (ids,
//! not rows). Resolving a `PresenceChanged` from the database would need a write before
//! every coalesced event (up to 20 writes per second per member) or would show a stale
//! cursor. So a `PresenceChanged` carries the presence itself ([`PresenceNote`]: active
//! flag, cursor, times — well under 300 bytes, far below NOTIFY's 8 KB) and every instance
//! delivers exactly what the publishing hub knew. `Project.presence` reads the rows and
//! overlays this instance's live entries, so on the instance that receives a member's
//! heartbeats it is exact; on another instance the cursor it lists may lag by up to the
//! save interval (live UIs follow the events, which never lag). If an instance dies, its
//! members' rows stay listed until the five-minute presence window passes.

use chrono::{DateTime, FixedOffset};
use plexus_core::db::now;
use plexus_core::events::{Event, EventBus, EventKind, PresenceNote, Topic};
use plexus_core::{Actor, DomainResult};
use plexus_projects::ProjectsService;
use plexus_projects::entity::project_presence;
use plexus_projects::service::cursor_json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The WebSocket connection a request came over (request data), so that a member's
/// presence ends when their socket closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketId(pub u64);

/// How presence is coalesced, saved and timed out.
#[derive(Debug, Clone, Copy)]
pub struct PresenceSettings {
    /// Least time between two `PresenceChanged` of one member in one project.
    pub publish_interval: Duration,
    /// How often a changing presence is written to the database.
    pub save_interval: Duration,
    /// A member who sent no heartbeat for this long is announced gone.
    pub timeout: Duration,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        Self {
            publish_interval: Duration::from_millis(50),
            save_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
        }
    }
}

/// (project, user)
type Key = (Uuid, Uuid);

/// A present member.
struct Entry {
    row_id: Uuid,
    cursor: Option<serde_json::Value>,
    joined_at: DateTime<FixedOffset>,
    last_seen: DateTime<FixedOffset>,
    /// The last heartbeat, for the timeout.
    beat: Instant,
    /// The last published event.
    sent: Option<Instant>,
    /// A trailing event is scheduled (it will carry whatever is latest by then).
    trailing: bool,
    /// Changed since last saved.
    dirty: bool,
    saved: Instant,
    /// The owner was told of the arrival (so is told of the departure).
    announced: bool,
}

impl Entry {
    fn note(&self, active: bool) -> PresenceNote {
        PresenceNote {
            active,
            cursor: self.cursor.clone(),
            joined_at: self.joined_at.to_utc(),
            last_seen: self.last_seen.to_utc(),
        }
    }

    fn model(&self, (project, user): Key) -> project_presence::Model {
        project_presence::Model {
            id: self.row_id,
            user_id: user,
            project_id: project,
            cursor: self.cursor.clone(),
            is_active: true,
            joined_at: self.joined_at,
            last_seen: self.last_seen,
        }
    }
}

#[derive(Default)]
struct State {
    present: HashMap<Key, Entry>,
    /// What each open socket holds.
    sockets: HashMap<SocketId, HashSet<Key>>,
    /// How many open sockets hold each (project, user).
    holders: HashMap<Key, usize>,
}

struct Inner {
    projects: ProjectsService,
    bus: Arc<dyn EventBus>,
    settings: PresenceSettings,
    state: Mutex<State>,
}

/// The presence of every member on this instance (cheap to clone).
#[derive(Clone)]
pub struct PresenceHub(Arc<Inner>);

impl std::fmt::Debug for PresenceHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceHub")
            .field("settings", &self.0.settings)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, (project, user): Key, note: PresenceNote) {
        self.bus.publish(Event {
            presence: Some(note),
            ..Event::now(
                Topic::Project(project),
                EventKind::PresenceChanged,
                Some(user),
                vec![user],
            )
        });
    }

    /// Saves a departure, tells the owner, and announces it.
    async fn end(&self, key: Key, entry: Entry) {
        let (project, user) = key;
        let (out, created) = plexus_users::notifications::collecting(self.projects.end_presence(
            user,
            project,
            entry.cursor.clone(),
            entry.last_seen,
            entry.announced,
        ))
        .await;
        match out {
            // Removed from the project meanwhile: `MemberRemoved` said it all.
            Ok(false) => return,
            Ok(true) => announce(&*self.bus, user, created),
            Err(e) => tracing::warn!(error = ?e, "could not save a member's departure"),
        }
        self.publish(key, entry.note(false));
    }
}

/// Announces notifications created by a committed presence change.
fn announce(bus: &dyn EventBus, by: Uuid, created: Vec<(Uuid, Uuid)>) {
    for (recipient, id) in created {
        bus.publish(Event::now(
            Topic::User(recipient),
            EventKind::NotificationAdded,
            Some(by),
            vec![id],
        ));
    }
}

impl PresenceHub {
    /// A hub, with its background task (saving changed presence and timing out silent
    /// members); the task ends when the last clone of the hub is dropped.
    pub fn new(
        projects: ProjectsService,
        bus: Arc<dyn EventBus>,
        settings: PresenceSettings,
    ) -> Self {
        let inner = Arc::new(Inner {
            projects,
            bus,
            settings,
            state: Mutex::default(),
        });
        let tick = settings
            .timeout
            .min(settings.save_interval)
            .div_f32(4.0)
            .clamp(Duration::from_millis(20), Duration::from_secs(1));
        tokio::spawn(sweep(Arc::downgrade(&inner), tick));
        Self(inner)
    }

    /// The settings in force.
    pub fn settings(&self) -> PresenceSettings {
        self.0.settings
    }

    /// A heartbeat of `actor` in `project`, with their cursor when given (a plain heartbeat
    /// keeps the last cursor). Members only. Over a WebSocket, `socket` ties the presence
    /// to it: it ends when the socket closes.
    pub async fn heartbeat(
        &self,
        actor: &Actor,
        project: Uuid,
        cursor: Option<(f64, f64, Option<Uuid>)>,
        socket: Option<SocketId>,
    ) -> DomainResult<project_presence::Model> {
        let (user, _) = self.0.projects.presence_access(actor, project).await?;
        let ts = now();
        let cursor_value = cursor_json(cursor, ts)?;
        let key = (project, user);
        if let Some(socket) = socket {
            self.attach(socket, project, user);
        }
        {
            let mut st = self.0.lock();
            if let Some(e) = st.present.get_mut(&key) {
                if cursor_value.is_some() {
                    e.cursor = cursor_value;
                }
                e.last_seen = ts;
                e.beat = Instant::now();
                e.dirty = true;
                let model = e.model(key);
                self.coalesce(key, e);
                return Ok(model);
            }
        }
        // Arrival: written at once.
        let (out, created) = plexus_users::notifications::collecting(
            self.0.projects.update_presence(actor, project, cursor),
        )
        .await;
        let (row, announced) = out?;
        announce(&*self.0.bus, user, created);
        let mut st = self.0.lock();
        let e = st.present.entry(key).or_insert_with(|| Entry {
            row_id: row.id,
            cursor: row.cursor.clone(),
            joined_at: row.joined_at,
            last_seen: row.last_seen,
            beat: Instant::now(),
            sent: None,
            trailing: false,
            dirty: false,
            saved: Instant::now(),
            announced: false,
        });
        e.announced |= announced;
        let model = e.model(key);
        self.coalesce(key, e);
        Ok(model)
    }

    /// Publishes `e` now, or schedules one trailing event when one went out less than the
    /// publish interval ago (called with the state locked, so events leave in order).
    fn coalesce(&self, key: Key, e: &mut Entry) {
        if e.trailing {
            return; // the scheduled event will carry this change
        }
        let interval = self.0.settings.publish_interval;
        let since = e.sent.map(|t| t.elapsed());
        match since {
            Some(since) if since < interval => {
                e.trailing = true;
                let hub = Arc::downgrade(&self.0);
                let delay = interval - since;
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let Some(inner) = hub.upgrade() else {
                        return;
                    };
                    let mut st = inner.lock();
                    if let Some(e) = st.present.get_mut(&key) {
                        e.trailing = false;
                        e.sent = Some(Instant::now());
                        inner.publish(key, e.note(true));
                    }
                });
            }
            _ => {
                e.sent = Some(Instant::now());
                self.0.publish(key, e.note(true));
            }
        }
    }

    /// Ties `user`'s presence in `project` to an open socket (it sent a heartbeat or
    /// subscribed to the project's events over it).
    pub fn attach(&self, socket: SocketId, project: Uuid, user: Uuid) {
        let key = (project, user);
        let mut st = self.0.lock();
        if st.sockets.entry(socket).or_default().insert(key) {
            *st.holders.entry(key).or_default() += 1;
        }
    }

    /// A socket closed: members whose last socket on a project it was are gone.
    pub fn socket_closed(&self, socket: SocketId) {
        let mut gone = Vec::new();
        {
            let mut st = self.0.lock();
            let Some(keys) = st.sockets.remove(&socket) else {
                return;
            };
            for key in keys {
                let left = st.holders.get_mut(&key).map(|n| {
                    *n = n.saturating_sub(1);
                    *n
                });
                if left == Some(0) {
                    st.holders.remove(&key);
                    if let Some(e) = st.present.remove(&key) {
                        gone.push((key, e));
                    }
                }
            }
        }
        if gone.is_empty() {
            return;
        }
        let inner = self.0.clone();
        tokio::spawn(async move {
            for (key, e) in gone {
                inner.end(key, e).await;
            }
        });
    }

    /// Forgets a member who left or was removed (no departure to announce: `MemberRemoved`
    /// does).
    pub fn forget(&self, project: Uuid, user: Uuid) {
        self.0.lock().present.remove(&(project, user));
    }

    /// Rows of `Project.presence` with this instance's live cursor and heartbeat laid over
    /// them (most recent first).
    pub fn overlay(&self, rows: &mut [project_presence::Model]) {
        {
            let st = self.0.lock();
            for r in rows.iter_mut() {
                if let Some(e) = st.present.get(&(r.project_id, r.user_id)) {
                    r.cursor = e.cursor.clone();
                    r.last_seen = e.last_seen;
                    r.joined_at = e.joined_at;
                }
            }
        }
        rows.sort_by_key(|r| std::cmp::Reverse(r.last_seen));
    }

    /// Members present on this instance.
    pub fn len(&self) -> usize {
        self.0.lock().present.len()
    }

    /// Whether nobody is present on this instance.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Saves changed presence every save interval and ends members who went silent.
async fn sweep(hub: Weak<Inner>, tick: Duration) {
    loop {
        tokio::time::sleep(tick).await;
        let Some(inner) = hub.upgrade() else {
            return;
        };
        let (timeout, save_every) = (inner.settings.timeout, inner.settings.save_interval);
        let (gone, save) = {
            let mut st = inner.lock();
            let silent: Vec<Key> = st
                .present
                .iter()
                .filter(|(_, e)| e.beat.elapsed() >= timeout)
                .map(|(k, _)| *k)
                .collect();
            let gone: Vec<(Key, Entry)> = silent
                .into_iter()
                .filter_map(|k| st.present.remove(&k).map(|e| (k, e)))
                .collect();
            let mut save = Vec::new();
            for (k, e) in st.present.iter_mut() {
                if e.dirty && e.saved.elapsed() >= save_every {
                    e.dirty = false;
                    e.saved = Instant::now();
                    save.push((*k, e.cursor.clone(), e.last_seen));
                }
            }
            (gone, save)
        };
        for ((project, user), cursor, last_seen) in save {
            if let Err(e) = inner
                .projects
                .save_presence(user, project, cursor, last_seen)
                .await
            {
                tracing::warn!(error = ?e, "could not save presence");
            }
        }
        for (key, e) in gone {
            inner.end(key, e).await;
        }
    }
}
