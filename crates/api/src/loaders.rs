//! Per-request loaders ([`Batch`], DataLoaders of our own): every relation resolves through
//! one of these, so the number of statements of a request is bounded by its depth, not by
//! its rows. Loaders are built per request: their caches must not outlive the request or
//! leak across actors.

use plexus_agents::entity::{
    agent_tasks, agents, knowledge_packs, memories, tools, workflow_participants, workflows,
};
use plexus_conversations::entity::{conversations, messages, tool_calls};
use plexus_core::page::ChildPage;
use plexus_core::{DomainError, DomainResult, Page};
use plexus_graph::dag::Dag;
use plexus_graph::entity::{edges, nodes};
use plexus_media::entity::{media, voice_interactions};
use plexus_media::service::AttachedTo;
use plexus_projects::ProjectRole;
use plexus_projects::entity::{project_members, project_presence, projects};
use plexus_users::entity::{notifications, users};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;
use uuid::Uuid;

use crate::context::ApiState;

/// Makes loader batches deterministic.
///
/// A DataLoader (async-graphql's) waits a fixed delay (1 ms) after the first key and loads
/// whatever keys have arrived. A request that resolves hundreds of fields takes longer
/// than that to register them all, so one level of the query splits into several batches,
/// more of them the more rows there are. Instead, a batch here waits until the request's
/// future has finished its current poll pass — when every resolver that could ask has
/// asked — so each level of a query costs one statement per loader, at any size.
#[derive(Debug, Default)]
pub struct PassGate {
    passes: std::sync::atomic::AtomicU64,
    notify: tokio::sync::Notify,
}

impl PassGate {
    /// A gate for one request.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn pass(&self) -> u64 {
        self.passes.load(std::sync::atomic::Ordering::Acquire)
    }

    async fn wait_past(&self, seen: u64) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pass() > seen {
                return;
            }
            notified.await;
        }
    }

    /// Runs `fut`, opening the gate each time it finishes a poll pass.
    pub fn run<F: Future>(self: &Arc<Self>, fut: F) -> Gated<F> {
        Gated {
            gate: self.clone(),
            inner: Box::pin(fut),
        }
    }
}

/// A future that counts its poll passes for its [`PassGate`].
pub struct Gated<F> {
    gate: Arc<PassGate>,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        // A future that wakes itself while being polled is only yielding (FuturesUnordered
        // does so every 32 polls); the pass ends when it is idle: pending and not woken.
        let probe = Arc::new(WakeProbe {
            inner: cx.waker().clone(),
            woken: Default::default(),
        });
        let waker = std::task::Waker::from(probe.clone());
        let result = self
            .inner
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&waker));
        if result.is_pending() && !probe.woken.load(std::sync::atomic::Ordering::Acquire) {
            self.gate
                .passes
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            self.gate.notify.notify_waiters();
        }
        result
    }
}

impl<F> Drop for Gated<F> {
    /// A request dropped before its future finished (a client gone) ends its pass too, so
    /// that a batch waiting for the pass runs, finds its loader gone and ends, instead of
    /// waiting forever.
    fn drop(&mut self) {
        self.gate
            .passes
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.gate.notify.notify_waiters();
    }
}

/// Forwards wake-ups and remembers that one happened.
struct WakeProbe {
    inner: std::task::Waker,
    woken: std::sync::atomic::AtomicBool,
}

impl std::task::Wake for WakeProbe {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, std::sync::atomic::Ordering::Release);
        self.inner.wake_by_ref();
    }
}

type BatchFuture<K, V> = Pin<Box<dyn Future<Output = DomainResult<HashMap<K, V>>> + Send>>;

/// A batch function: loads the values of some keys (a key without a value is left out).
type BatchFn<K, V> = Arc<dyn Fn(Vec<K>) -> BatchFuture<K, V> + Send + Sync>;

/// Maps keyed by ids: a fast hash (foldhash) instead of SipHash.
pub type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A batch takes no more keys once it has this many (later ones start the next batch);
/// one `load_many` of more goes whole into one batch.
const MAX_BATCH: usize = 1000;

/// What a batch answers its askers: the values it loaded, shared.
type Loaded<K, V> = Result<Arc<HashMap<K, V>>, DomainError>;

/// A per-request loader: the keys asked for during one poll pass of the request (see
/// [`PassGate`]) are loaded with one call of its batch function, and what it loads is
/// cached for the rest of the request.
///
/// Written for this instead of async-graphql's `DataLoader`, which hashed every key with
/// SipHash five times (its key sets, result maps and its `Loader`'s fixed `HashMap`),
/// sent each asker its answer through a channel of its own and ran every batch in a task
/// of its own. Here a batch runs in a task of its own (in the request's, each row that
/// arrives would re-poll the request's whole future: +6% for a SQLite dashboard) and its
/// askers await its one answer together.
pub struct Batch<K, V> {
    load: BatchFn<K, V>,
    gate: Arc<PassGate>,
    state: Arc<std::sync::Mutex<BatchState<K, V>>>,
}

struct BatchState<K, V> {
    cache: Map<K, V>,
    /// The batch that keys asked for now join, while it has not started.
    open: Option<OpenBatch<K, V>>,
}

struct OpenBatch<K, V> {
    /// Its keys, taken (left `None`) when it starts.
    keys: Arc<std::sync::Mutex<Option<Vec<K>>>>,
    done: futures_util::future::Shared<futures_util::future::BoxFuture<'static, Loaded<K, V>>>,
}

fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while a loader's state was held leaves nothing half-written that matters:
    // the cache holds whole values.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<K, V> Batch<K, V>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
{
    fn new(load: BatchFn<K, V>, gate: Arc<PassGate>) -> Self {
        Self {
            load,
            gate,
            state: Arc::new(std::sync::Mutex::new(BatchState {
                cache: Map::default(),
                open: None,
            })),
        }
    }

    /// The value of `key`, or `None` when the batch function found none.
    pub async fn load_one(&self, key: K) -> DomainResult<Option<V>> {
        let mut found = self.load_many(std::iter::once(key.clone())).await?;
        Ok(found.remove(&key))
    }

    /// The values of `keys` that exist: the cached ones at once, the others with the
    /// current batch (one call of the batch function for every key of this poll pass).
    pub async fn load_many(&self, keys: impl IntoIterator<Item = K>) -> DomainResult<Map<K, V>> {
        let mut found = Map::default();
        let mut missing = Vec::new();
        let done = {
            let mut state = locked(&self.state);
            for key in keys {
                match state.cache.get(&key) {
                    Some(value) => {
                        found.insert(key, value.clone());
                    }
                    None => missing.push(key),
                }
            }
            if missing.is_empty() {
                return Ok(found);
            }
            self.join(&mut state, &missing)
        };
        let loaded = done.await?;
        for key in missing {
            if let Some(value) = loaded.get(&key) {
                found.insert(key, value.clone());
            }
        }
        Ok(found)
    }

    /// Adds `keys` to the open batch (opening one if needed) and returns its answer.
    fn join(
        &self,
        state: &mut BatchState<K, V>,
        keys: &[K],
    ) -> futures_util::future::Shared<futures_util::future::BoxFuture<'static, Loaded<K, V>>> {
        if let Some(open) = &state.open {
            let mut batch = locked(&open.keys);
            if let Some(batch_keys) = batch.as_mut() {
                batch_keys.extend(keys.iter().cloned());
                let done = open.done.clone();
                if batch_keys.len() >= MAX_BATCH {
                    drop(batch);
                    state.open = None;
                }
                return done;
            }
        }
        let batch_keys = Arc::new(std::sync::Mutex::new(Some(keys.to_vec())));
        let done = self.run(batch_keys.clone());
        if keys.len() < MAX_BATCH {
            state.open = Some(OpenBatch {
                keys: batch_keys,
                done: done.clone(),
            });
        }
        done
    }

    /// The batch of `keys`: once the request's current poll pass ends, loads them and
    /// caches what it found. Holds the state weakly, so an unstarted batch never keeps its
    /// loader alive.
    fn run(
        &self,
        keys: Arc<std::sync::Mutex<Option<Vec<K>>>>,
    ) -> futures_util::future::Shared<futures_util::future::BoxFuture<'static, Loaded<K, V>>> {
        use futures_util::FutureExt;
        let (gate, seen) = (self.gate.clone(), self.gate.pass());
        let (load, state) = (self.load.clone(), Arc::downgrade(&self.state));
        let batch = tokio::spawn(async move {
            gate.wait_past(seen).await;
            let closed = || DomainError::Internal("a loader ended before its batch".into());
            let keys = {
                let state = state.upgrade().ok_or_else(closed)?;
                let mut state = locked(&state);
                if state
                    .open
                    .as_ref()
                    .is_some_and(|open| Arc::ptr_eq(&open.keys, &keys))
                {
                    state.open = None;
                }
                let keys = locked(&keys).take();
                keys.unwrap_or_default()
            };
            let mut unique: Vec<K> = Vec::with_capacity(keys.len());
            let mut seen_keys = std::collections::HashSet::with_capacity_and_hasher(
                keys.len(),
                foldhash::fast::RandomState::default(),
            );
            for key in keys {
                if seen_keys.insert(key.clone()) {
                    unique.push(key);
                }
            }
            let values = load(unique).await?;
            if let Some(state) = state.upgrade() {
                let mut state = locked(&state);
                for (key, value) in &values {
                    state.cache.insert(key.clone(), value.clone());
                }
            }
            Ok(Arc::new(values))
        });
        async move {
            batch
                .await
                .unwrap_or_else(|e| Err(DomainError::Internal(format!("a batch failed: {e}"))))
        }
        .boxed()
        .shared()
    }

    /// Puts a value into the cache (a later load of its key answers it).
    pub fn feed_one(&self, key: K, value: V) {
        locked(&self.state).cache.insert(key, value);
    }

    /// Puts values into the cache.
    pub fn feed_many(&self, values: impl IntoIterator<Item = (K, V)>) {
        locked(&self.state).cache.extend(values);
    }

    /// Forgets what the loader cached.
    pub fn clear(&self) {
        locked(&self.state).cache.clear();
    }
}

fn batch<K, V, S, F, Fut>(state: &S, gate: &Arc<PassGate>, f: F) -> Batch<K, V>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
    S: Clone + Send + Sync + 'static,
    F: Fn(S, Vec<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = DomainResult<HashMap<K, V>>> + Send + 'static,
{
    let state = state.clone();
    let f = Arc::new(f);
    let call = move |keys: Vec<K>| -> BatchFuture<K, V> {
        let (state, f) = (state.clone(), f.clone());
        Box::pin(async move { f(state, keys).await })
    };
    Batch::new(Arc::new(call), gate.clone())
}

/// What every loader of a request is built from: the services and the request's gate.
type LoaderContext = (Arc<ApiState>, Arc<PassGate>);

/// A loader built on first use. A request touches a few of the loaders below; building all
/// of them (each with its own maps and closures) for every request,
/// and dropping them after, was 3.4% of the server's instructions on `node(id)`.
pub struct Lazy<K, V> {
    cell: std::sync::OnceLock<Batch<K, V>>,
    context: Arc<LoaderContext>,
    make: fn(&Arc<ApiState>, &Arc<PassGate>) -> Batch<K, V>,
}

impl<K, V> std::ops::Deref for Lazy<K, V> {
    type Target = Batch<K, V>;

    fn deref(&self) -> &Batch<K, V> {
        self.cell
            .get_or_init(|| (self.make)(&self.context.0, &self.context.1))
    }
}

impl<K, V> Lazy<K, V>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
{
    /// Forgets what the loader cached, if it was built.
    fn reset(&self) {
        if let Some(loader) = self.cell.get() {
            loader.clear();
        }
    }
}

fn lazy<K, V>(
    context: &Arc<LoaderContext>,
    make: fn(&Arc<ApiState>, &Arc<PassGate>) -> Batch<K, V>,
) -> Lazy<K, V> {
    Lazy {
        cell: std::sync::OnceLock::new(),
        context: context.clone(),
        make,
    }
}

/// A loader of nested pages: `(parent, page)` keys grouped by page arguments, each group
/// loaded by `load` in one statement.
fn pages<T, F, Fut>(
    state: &Arc<ApiState>,
    gate: &Arc<PassGate>,
    load: F,
) -> Batch<(Uuid, ChildPage), Page<T>>
where
    T: Send + Sync + Clone + 'static,
    F: Fn(Arc<ApiState>, Vec<Uuid>, ChildPage) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = DomainResult<HashMap<Uuid, Page<T>>>> + Send + 'static,
{
    batch(state, gate, move |s: Arc<ApiState>, keys| async move {
        child_pages(keys, |ids, page| load(s.clone(), ids, page)).await
    })
}

/// Live nodes, a page per project; `head`: without their content
/// (`GraphService::node_head_pages`). Shared rows: a page is cloned into the cache and out
/// to its caller.
fn node_pages(
    state: &Arc<ApiState>,
    gate: &Arc<PassGate>,
    head: bool,
) -> Batch<(Uuid, ChildPage), Page<Arc<nodes::Model>>> {
    pages(state, gate, move |s, ids, page| async move {
        let found = if head {
            s.graph.node_head_pages(&ids, page).await?
        } else {
            s.graph.node_pages(&ids, page).await?
        };
        Ok(found
            .into_iter()
            .map(|(k, p)| (k, p.map(Arc::new)))
            .collect())
    })
}

/// The files attached to each parent of one kind, a page per parent.
fn media_pages(
    state: &Arc<ApiState>,
    gate: &Arc<PassGate>,
    to: AttachedTo,
) -> Batch<(Uuid, ChildPage), Page<media::Model>> {
    pages(state, gate, move |s, ids, page| async move {
        s.media.attached_pages(to, &ids, page).await
    })
}

/// How many files are attached to each parent of one kind.
fn media_counts(state: &Arc<ApiState>, gate: &Arc<PassGate>, to: AttachedTo) -> Batch<Uuid, u64> {
    batch(state, gate, move |s, ids| async move {
        s.media.attached_counts(to, &ids).await
    })
}

/// Groups pairs by their first element, for loaders that run one statement per group.
fn group<K: Hash + Eq, V>(pairs: impl IntoIterator<Item = (K, V)>) -> HashMap<K, Vec<V>> {
    let mut groups: HashMap<K, Vec<V>> = HashMap::new();
    for (k, v) in pairs {
        groups.entry(k).or_default().push(v);
    }
    groups
}

/// Loads `(scope, id)` keys (the scope being a viewer or a user) with one call of `load`
/// per scope, and keys what it returns by its scope and the id `entry` names.
async fn per_scope<S, R, V, Fut>(
    keys: Vec<(S, Uuid)>,
    load: impl Fn(S, Vec<Uuid>) -> Fut,
    entry: impl Fn(R::Item) -> (Uuid, V),
) -> DomainResult<HashMap<(S, Uuid), V>>
where
    S: Hash + Eq + Copy,
    R: IntoIterator,
    Fut: Future<Output = DomainResult<R>>,
{
    let mut out = HashMap::new();
    for (scope, ids) in group(keys) {
        for row in load(scope, ids).await? {
            let (id, value) = entry(row);
            out.insert((scope, id), value);
        }
    }
    Ok(out)
}

/// Lists shared rather than copied: a loader clones each value into its cache and out
/// to each caller (two allocations and copies per node for its children ids).
fn shared(lists: HashMap<Uuid, Vec<Uuid>>) -> HashMap<Uuid, Arc<[Uuid]>> {
    lists.into_iter().map(|(k, v)| (k, v.into())).collect()
}

fn by_id<T, F: Fn(&T) -> Uuid>(rows: Vec<T>, id: F) -> HashMap<Uuid, T> {
    rows.into_iter().map(|r| (id(&r), r)).collect()
}

/// Groups `(parent, page)` keys by page arguments and loads each group with one statement.
async fn child_pages<T, F, Fut>(
    keys: Vec<(Uuid, ChildPage)>,
    load: F,
) -> DomainResult<HashMap<(Uuid, ChildPage), Page<T>>>
where
    F: Fn(Vec<Uuid>, ChildPage) -> Fut,
    Fut: Future<Output = DomainResult<HashMap<Uuid, Page<T>>>>,
{
    let mut out = HashMap::new();
    for (page, parents) in group(keys.into_iter().map(|(parent, page)| (page, parent))) {
        for (parent, p) in load(parents, page).await? {
            out.insert((parent, page), p);
        }
    }
    Ok(out)
}

/// A live node, its live project and the viewer's role there.
pub type NodeWithProject = (Arc<nodes::Model>, projects::Model, Option<ProjectRole>);

/// The loaders of one request.
pub struct Loaders {
    /// Users by id.
    pub users: Lazy<Uuid, Arc<users::Model>>,
    /// Live projects by (viewer, id), with the viewer's role in each.
    pub projects: Lazy<(Option<Uuid>, Uuid), (projects::Model, Option<ProjectRole>)>,
    /// Roles by (user, project).
    pub roles: Lazy<(Uuid, Uuid), ProjectRole>,
    /// Memberships by id.
    pub members: Lazy<Uuid, project_members::Model>,
    /// Members per project page.
    pub member_pages: Lazy<(Uuid, ChildPage), Page<project_members::Model>>,
    /// Member counts per project.
    pub member_counts: Lazy<Uuid, u64>,
    /// Recent presence per project.
    pub presence: Lazy<Uuid, Vec<project_presence::Model>>,
    /// Live nodes by id.
    pub nodes: Lazy<Uuid, Arc<nodes::Model>>,
    /// Live nodes by (viewer, id), with their live project and the viewer's role there.
    pub node_projects: Lazy<(Option<Uuid>, Uuid), NodeWithProject>,
    /// Live edges by id.
    pub edges: Lazy<Uuid, edges::Model>,
    /// Live nodes per project page.
    pub node_pages: Lazy<(Uuid, ChildPage), Page<Arc<nodes::Model>>>,
    /// Live nodes per project page, without their content (`GraphService::node_head_pages`).
    pub node_head_pages: Lazy<(Uuid, ChildPage), Page<Arc<nodes::Model>>>,
    /// Live edges per project page.
    pub edge_pages: Lazy<(Uuid, ChildPage), Page<edges::Model>>,
    /// Live node counts per project.
    pub node_counts: Lazy<Uuid, u64>,
    /// Live edge counts per project.
    pub edge_counts: Lazy<Uuid, u64>,
    /// Parent ids per node.
    pub parents: Lazy<Uuid, Arc<[Uuid]>>,
    /// Child ids per node.
    pub children: Lazy<Uuid, Arc<[Uuid]>>,
    /// The live graph per project, for ancestors and descendants.
    pub dags: Lazy<Uuid, Arc<Dag>>,
    /// Agents by id (callers check ownership).
    pub agents: Lazy<Uuid, agents::Model>,
    /// Tools per agent.
    pub agent_tools: Lazy<Uuid, Vec<tools::Model>>,
    /// Knowledge packs per agent.
    pub agent_packs: Lazy<Uuid, Vec<knowledge_packs::Model>>,
    /// Tasks by id (callers check ownership through the agent).
    pub tasks: Lazy<Uuid, agent_tasks::Model>,
    /// Tasks per agent page.
    pub task_pages: Lazy<(Uuid, ChildPage), Page<agent_tasks::Model>>,
    /// Task counts per agent.
    pub task_counts: Lazy<Uuid, u64>,
    /// Live memories per agent page.
    pub memory_pages: Lazy<(Uuid, ChildPage), Page<memories::Model>>,
    /// Workflows by id (callers check ownership).
    pub workflows: Lazy<Uuid, workflows::Model>,
    /// Participants per workflow.
    pub participants: Lazy<Uuid, Vec<workflow_participants::Model>>,
    /// Tools by id (callers check visibility).
    pub tools: Lazy<Uuid, tools::Model>,
    /// Live conversations by id (callers check access).
    pub conversations: Lazy<Uuid, conversations::Model>,
    /// Live conversations per agent page.
    pub agent_conversation_pages: Lazy<(Uuid, ChildPage), Page<conversations::Model>>,
    /// Live conversation counts per agent.
    pub agent_conversation_counts: Lazy<Uuid, u64>,
    /// Live messages by id (callers check access through the conversation).
    pub messages: Lazy<Uuid, messages::Model>,
    /// Live messages per conversation page.
    pub message_pages: Lazy<(Uuid, ChildPage), Page<messages::Model>>,
    /// Live message counts per conversation.
    pub message_counts: Lazy<Uuid, u64>,
    /// Tool calls by id (callers check access through the conversation).
    pub tool_calls: Lazy<Uuid, tool_calls::Model>,
    /// Tool calls per conversation page.
    pub tool_call_pages: Lazy<(Uuid, ChildPage), Page<tool_calls::Model>>,
    /// Tool call counts per conversation.
    pub tool_call_counts: Lazy<Uuid, u64>,
    /// Tool calls per message.
    pub message_tool_calls: Lazy<Uuid, Vec<tool_calls::Model>>,
    /// Live notifications by id (callers check the recipient).
    pub notifications: Lazy<Uuid, notifications::Model>,
    /// Live files per project page.
    pub project_media: Lazy<(Uuid, ChildPage), Page<media::Model>>,
    /// Live file counts per project.
    pub project_media_counts: Lazy<Uuid, u64>,
    /// Live files per conversation page.
    pub conversation_media: Lazy<(Uuid, ChildPage), Page<media::Model>>,
    /// Live file counts per conversation.
    pub conversation_media_counts: Lazy<Uuid, u64>,
    /// Live files per node page.
    pub node_media: Lazy<(Uuid, ChildPage), Page<media::Model>>,
    /// Live file counts per node.
    pub node_media_counts: Lazy<Uuid, u64>,
    /// Voice interactions per node page.
    pub node_voice: Lazy<(Uuid, ChildPage), Page<voice_interactions::Model>>,
    /// Voice interaction counts per node.
    pub node_voice_counts: Lazy<Uuid, u64>,
}

impl Loaders {
    /// Fresh loaders for one request whose execution runs through `gate`.
    pub fn new(state: &ApiState, gate: &Arc<PassGate>) -> Self {
        // One copy of the services for all the loaders (each holds and clones it per batch).
        let ctx = &Arc::new((Arc::new(state.clone()), gate.clone()));
        Self {
            users: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    let rows = s.users.users_by_ids(&ids).await?;
                    Ok(by_id(rows.into_iter().map(Arc::new).collect(), |u| u.id))
                })
            }),
            projects: lazy(ctx, |state, gate| {
                batch(state, gate, |s, keys| async move {
                    let s = &s;
                    per_scope(
                        keys,
                        |viewer, ids| async move { s.projects.by_ids_with_role(viewer, &ids).await },
                        |row| (row.0.id, row),
                    )
                    .await
                })
            }),
            roles: lazy(ctx, |state, gate| {
                batch(state, gate, |s, keys| async move {
                    let s = &s;
                    per_scope(
                        keys,
                        |user, projects| async move { s.projects.roles_of(user, &projects).await },
                        |pair| pair,
                    )
                    .await
                })
            }),
            members: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(by_id(s.projects.members_by_ids(&ids).await?, |m| m.id))
                })
            }),
            member_pages: lazy(ctx, |state, gate| {
                pages(state, gate, |s, ids, page| async move {
                    s.projects.member_pages(&ids, page).await
                })
            }),
            member_counts: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    s.projects.member_counts(&ids).await
                })
            }),
            presence: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    let mut found = s.projects.presence(&ids).await?;
                    for rows in found.values_mut() {
                        s.presence.overlay(rows);
                    }
                    Ok(found)
                })
            }),
            nodes: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    let rows = s.graph.nodes_by_ids(&ids).await?;
                    Ok(by_id(rows.into_iter().map(Arc::new).collect(), |n| n.id))
                })
            }),
            node_projects: lazy(ctx, |state, gate| {
                batch(state, gate, |s, keys| async move {
                    let s = &s;
                    per_scope(
                        keys,
                        |viewer, ids| async move { s.graph.nodes_in_projects(viewer, &ids).await },
                        |row| (row.node.id, (Arc::new(row.node), row.project, row.role)),
                    )
                    .await
                })
            }),
            edges: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(by_id(s.graph.edges_by_ids(&ids).await?, |e| e.id))
                })
            }),
            node_pages: lazy(ctx, |state, gate| node_pages(state, gate, false)),
            node_head_pages: lazy(ctx, |state, gate| node_pages(state, gate, true)),
            edge_pages: lazy(ctx, |state, gate| {
                pages(state, gate, |s, ids, page| async move {
                    s.graph.edge_pages(&ids, page).await
                })
            }),
            node_counts: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    s.graph.node_counts(&ids).await
                })
            }),
            edge_counts: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    s.graph.edge_counts(&ids).await
                })
            }),
            parents: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(shared(s.graph.parent_ids(&ids).await?))
                })
            }),
            children: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(shared(s.graph.child_ids(&ids).await?))
                })
            }),
            dags: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(s.graph
                        .project_dags(&ids)
                        .await?
                        .into_iter()
                        .map(|(k, v)| (k, Arc::new(v)))
                        .collect())
                })
            }),
            agents: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(by_id(s.agents.agents_by_ids(&ids).await?, |a| a.id))
                })
            }),
            agent_tools: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    s.agents.tools_of(&ids).await
                })
            }),
            agent_packs: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    s.agents.packs_of(&ids).await
                })
            }),
            tasks: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(by_id(s.agents.tasks_by_ids(&ids).await?, |t| t.id))
                })
            }),
            task_pages: lazy(ctx, |state, gate| {
                pages(state, gate, |s, ids, page| async move {
                    s.agents.task_pages(&ids, page).await
                })
            }),
            task_counts: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    s.agents.task_counts(&ids).await
                })
            }),
            memory_pages: lazy(ctx, |state, gate| {
                pages(state, gate, |s, ids, page| async move {
                    s.agents.memory_pages(&ids, page).await
                })
            }),
            workflows: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(by_id(s.agents.workflows_by_ids(&ids).await?, |w| w.id))
                })
            }),
            participants: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    s.agents.participants_of(&ids).await
                })
            }),
            tools: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(by_id(s.agents.tools_by_ids_unchecked(&ids).await?, |t| {
                        t.id
                    }))
                })
            }),
            conversations: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(by_id(s.conversations.by_ids(&ids).await?, |c| c.id))
                })
            }),
            agent_conversation_pages: lazy(ctx, |state, gate| {
                pages(state, gate, |s, ids, page| async move {
                    s.conversations.agent_conversation_pages(&ids, page).await
                })
            }),
            agent_conversation_counts: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    s.conversations.agent_conversation_counts(&ids).await
                })
            }),
            messages: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(by_id(s.conversations.messages_by_ids(&ids).await?, |m| {
                        m.id
                    }))
                })
            }),
            message_pages: lazy(ctx, |state, gate| {
                pages(state, gate, |s, ids, page| async move {
                    s.conversations.message_pages(&ids, page).await
                })
            }),
            message_counts: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    s.conversations.message_counts(&ids).await
                })
            }),
            tool_calls: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(by_id(s.conversations.tool_calls_by_ids(&ids).await?, |t| {
                        t.id
                    }))
                })
            }),
            tool_call_pages: lazy(ctx, |state, gate| {
                pages(state, gate, |s, ids, page| async move {
                    s.conversations.tool_call_pages(&ids, page).await
                })
            }),
            tool_call_counts: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    s.conversations.tool_call_counts(&ids).await
                })
            }),
            message_tool_calls: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    s.conversations.tool_calls_of_messages(&ids).await
                })
            }),
            notifications: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    Ok(by_id(s.users.notifications_by_ids(&ids).await?, |n| n.id))
                })
            }),
            project_media: lazy(ctx, |state, gate| {
                media_pages(state, gate, AttachedTo::Project)
            }),
            project_media_counts: lazy(ctx, |state, gate| {
                media_counts(state, gate, AttachedTo::Project)
            }),
            node_media: lazy(ctx, |state, gate| {
                media_pages(state, gate, AttachedTo::Node)
            }),
            node_media_counts: lazy(ctx, |state, gate| {
                media_counts(state, gate, AttachedTo::Node)
            }),
            conversation_media: lazy(ctx, |state, gate| {
                media_pages(state, gate, AttachedTo::Conversation)
            }),
            conversation_media_counts: lazy(ctx, |state, gate| {
                media_counts(state, gate, AttachedTo::Conversation)
            }),
            node_voice: lazy(ctx, |state, gate| {
                pages(state, gate, |s, ids, page| async move {
                    s.media.node_voice_pages(&ids, page).await
                })
            }),
            node_voice_counts: lazy(ctx, |state, gate| {
                batch(state, gate, |s, ids| async move {
                    s.media.node_voice_counts(&ids).await
                })
            }),
        }
    }

    /// Forgets everything cached, so that the next loads read fresh rows (subscriptions
    /// clear it before each event).
    pub fn clear_all(&self) {
        self.users.reset();
        self.projects.reset();
        self.roles.reset();
        self.members.reset();
        self.member_pages.reset();
        self.member_counts.reset();
        self.presence.reset();
        self.nodes.reset();
        self.node_projects.reset();
        self.edges.reset();
        self.node_pages.reset();
        self.node_head_pages.reset();
        self.edge_pages.reset();
        self.node_counts.reset();
        self.edge_counts.reset();
        self.parents.reset();
        self.children.reset();
        self.dags.reset();
        self.agents.reset();
        self.agent_tools.reset();
        self.agent_packs.reset();
        self.tasks.reset();
        self.task_pages.reset();
        self.task_counts.reset();
        self.memory_pages.reset();
        self.workflows.reset();
        self.participants.reset();
        self.tools.reset();
        self.conversations.reset();
        self.agent_conversation_pages.reset();
        self.agent_conversation_counts.reset();
        self.messages.reset();
        self.message_pages.reset();
        self.message_counts.reset();
        self.tool_calls.reset();
        self.tool_call_pages.reset();
        self.tool_call_counts.reset();
        self.message_tool_calls.reset();
        self.notifications.reset();
        self.project_media.reset();
        self.project_media_counts.reset();
        self.node_media.reset();
        self.node_media_counts.reset();
        self.conversation_media.reset();
        self.conversation_media_counts.reset();
        self.node_voice.reset();
        self.node_voice_counts.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Calls = Arc<std::sync::Mutex<Vec<Vec<u32>>>>;

    /// A loader of `u32`s whose values are `v{key}`, multiples of 10 not found (or every key
    /// failing with `fail`), recording each call's keys.
    fn loader(gate: &Arc<PassGate>, fail: bool) -> (Batch<u32, String>, Calls) {
        let calls = Calls::default();
        let log = calls.clone();
        let load = move |keys: Vec<u32>| -> BatchFuture<u32, String> {
            locked(&log).push(keys.clone());
            Box::pin(async move {
                tokio::task::yield_now().await;
                if fail {
                    return Err(DomainError::Internal("down".into()));
                }
                Ok(keys
                    .into_iter()
                    .filter(|k| k % 10 != 0)
                    .map(|k| (k, format!("v{k}")))
                    .collect())
            })
        };
        (Batch::new(Arc::new(load), gate.clone()), calls)
    }

    #[tokio::test]
    async fn one_call_per_pass_then_cached() {
        let gate = PassGate::new();
        let (l, calls) = loader(&gate, false);
        let (a, many, none) = gate
            .run(async {
                futures_util::join!(l.load_one(1), l.load_many([2, 3, 1]), l.load_one(10))
            })
            .await;
        assert_eq!(
            *locked(&calls),
            [vec![1, 2, 3, 10]],
            "one call, each key once"
        );
        assert_eq!(a.ok().flatten().as_deref(), Some("v1"));
        let many = many.unwrap_or_default();
        assert_eq!(many.len(), 3);
        assert_eq!(many.get(&3).map(String::as_str), Some("v3"));
        assert_eq!(none.ok().flatten(), None, "not found is no error");

        // Found values are cached; a key found missing is asked again.
        let again = gate.run(l.load_many([1, 2, 10])).await.unwrap_or_default();
        assert_eq!(again.len(), 2);
        assert_eq!(*locked(&calls), [vec![1, 2, 3, 10], vec![10]]);
        l.feed_one(10, "fed".into());
        assert_eq!(
            gate.run(l.load_one(10)).await.ok().flatten().as_deref(),
            Some("fed")
        );
        l.clear();
        gate.run(l.load_one(1)).await.ok();
        assert_eq!(locked(&calls).last(), Some(&vec![1]), "cleared");
    }

    #[tokio::test]
    async fn an_error_reaches_every_asker_and_nothing_is_cached() {
        let gate = PassGate::new();
        let (l, calls) = loader(&gate, true);
        let (a, b) = gate
            .run(async { futures_util::join!(l.load_one(1), l.load_many([1, 2])) })
            .await;
        assert!(matches!(a, Err(DomainError::Internal(_))));
        assert!(matches!(b, Err(DomainError::Internal(_))));
        gate.run(l.load_one(1)).await.ok();
        assert_eq!(locked(&calls).len(), 2, "the failed keys are asked again");
    }

    #[tokio::test]
    async fn a_dropped_asker_leaves_the_batch_to_the_others() {
        let gate = PassGate::new();
        let (l, calls) = loader(&gate, false);
        let kept = gate
            .run(async {
                // The first asker is polled once (joining the batch) and dropped.
                let dropped = l.load_one(1);
                futures_util::pin_mut!(dropped);
                assert!(futures_util::poll!(dropped.as_mut()).is_pending());
                l.load_one(2).await
            })
            .await;
        assert_eq!(kept.ok().flatten().as_deref(), Some("v2"));
        assert_eq!(*locked(&calls), [vec![1, 2]]);
    }

    #[tokio::test]
    async fn a_dropped_request_ends_its_pass() {
        let gate = PassGate::new();
        let (l, calls) = loader(&gate, false);
        {
            let request = gate.run(l.load_one(1));
            futures_util::pin_mut!(request);
            assert!(futures_util::poll!(request.as_mut()).is_pending());
        }
        // The batch runs once the dropped request's pass ends, rather than wait forever.
        let ran = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while locked(&calls).is_empty() {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(ran.is_ok(), "the batch still waits for a pass");
    }

    #[tokio::test]
    async fn a_full_batch_takes_no_more_keys() {
        let gate = PassGate::new();
        let (l, calls) = loader(&gate, false);
        let (big, small) = gate
            .run(async {
                futures_util::join!(l.load_many(1..=(MAX_BATCH as u32)), l.load_one(5001))
            })
            .await;
        assert_eq!(
            big.map(|m| m.len()).unwrap_or_default(),
            MAX_BATCH - MAX_BATCH / 10
        );
        assert_eq!(small.ok().flatten().as_deref(), Some("v5001"));
        let sizes: Vec<usize> = locked(&calls).iter().map(Vec::len).collect();
        assert_eq!(sizes, [MAX_BATCH, 1]);
    }
}
