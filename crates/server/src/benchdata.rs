//! `plexus bench-data --scale N`: a deterministic benchmark dataset, bulk-loaded with
//! multi-row INSERTs in transactions on SQLite and PostgreSQL.
//!
//! Scale 1 is 1,000 users, 1,000 projects (5 members each), 100,000 nodes, 150,000 edges,
//! 2,000 agents with 20,000 tasks, 1,000 tools, 10,000 conversations with 200,000 messages
//! (and 25,000 tool calls), and 20,000 documents with 384-dimension embeddings in 200
//! knowledge packs. Fractional scales shrink every count. The same scale always yields the
//! same rows and ids (a seeded generator, UUIDv7 ids with fixed timestamps), so a benchmark
//! script can name them; [`run`] returns the ones it needs as shell variables.
//!
//! User 0 (`bench@plexus.bench`) is the benchmark's viewer: owner of project 0, member of
//! the first 20 projects, owner of agents 0 and 1, of conversations 0–9 and of pack 0.

use anyhow::Context as _;
use chrono::{DateTime, FixedOffset};
use plexus_agents::entity::{agent_tasks, agents, documents, knowledge_packs, tools};
use plexus_core::{IdKind, id::encode};
use plexus_graph::entity::{edges, nodes};
use plexus_projects::entity::{project_members, projects};
use plexus_users::entity::users;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait,
    Set, TransactionTrait, Value,
};
use serde_json::json;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Instant;
use uuid::Uuid;

/// The benchmark viewer's email.
pub const BENCH_EMAIL: &str = "bench@plexus.bench";
/// The password of every generated user.
pub const BENCH_PASSWORD: &str = "bench-password-1";
/// Embedding dimensions of the generated documents.
pub const DIMENSIONS: usize = 384;

/// Row counts at a scale.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub users: usize,
    pub projects: usize,
    pub nodes_per_project: usize,
    pub edges_per_project: usize,
    pub agents_per_user: usize,
    pub tasks_per_agent: usize,
    pub conversations_per_user: usize,
    pub messages_per_conversation: usize,
    pub packs: usize,
    pub documents_per_pack: usize,
}

impl Counts {
    /// The counts at `scale` (1 = the dataset).
    pub fn at(scale: f64) -> anyhow::Result<Self> {
        anyhow::ensure!(
            scale.is_finite() && (0.005..=100.0).contains(&scale),
            "--scale must be between 0.005 and 100"
        );
        let n = |base: f64| ((base * scale).round() as usize).max(1);
        Ok(Self {
            users: n(1000.0).max(5),
            projects: n(1000.0),
            nodes_per_project: 100,
            edges_per_project: 150,
            agents_per_user: 2,
            tasks_per_agent: 10,
            conversations_per_user: 10,
            messages_per_conversation: 20,
            packs: n(200.0),
            documents_per_pack: 100,
        })
    }
}

/// SplitMix64: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const WORDS: &[&str] = &[
    "graph",
    "agent",
    "prompt",
    "model",
    "vector",
    "canvas",
    "query",
    "latency",
    "token",
    "context",
    "memory",
    "search",
    "answer",
    "design",
    "system",
    "network",
    "review",
    "plan",
    "release",
    "schema",
    "index",
    "cache",
    "stream",
    "event",
    "project",
    "member",
    "summary",
    "analysis",
    "document",
    "knowledge",
    "workflow",
    "result",
    "error",
    "retry",
    "budget",
    "insight",
    "report",
    "draft",
    "outline",
    "feature",
];

/// Ids, timestamps and text, all from one seeded generator.
struct Gen {
    rng: Rng,
    base_ms: u64,
    seq: u64,
}

impl Gen {
    fn new(seed: u64) -> Self {
        Self {
            rng: Rng(seed),
            // 2026-01-01T00:00:00Z
            base_ms: 1_767_225_600_000,
            seq: 0,
        }
    }
    /// A UUIDv7 whose timestamp grows with every id (creation order = id order).
    fn id(&mut self) -> Uuid {
        self.seq += 1;
        let mut rand = [0u8; 10];
        rand[..8].copy_from_slice(&self.rng.next().to_le_bytes());
        rand[8..].copy_from_slice(&self.rng.next().to_le_bytes()[..2]);
        uuid::Builder::from_unix_timestamp_millis(self.base_ms + self.seq, &rand).into_uuid()
    }
    /// The creation time of the last id.
    fn at(&self) -> DateTime<FixedOffset> {
        DateTime::from_timestamp_millis((self.base_ms + self.seq) as i64)
            .unwrap_or_default()
            .fixed_offset()
    }
    fn words(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n * 8);
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(WORDS[self.rng.below(WORDS.len())]);
        }
        s
    }
    fn embedding(&mut self) -> Vec<u8> {
        let v: Vec<f32> = (0..DIMENSIONS)
            .map(|_| (self.rng.unit() * 2.0 - 1.0) as f32)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        let v: Vec<f32> = v.iter().map(|x| x / norm).collect();
        plexus_agents::knowledge::encode_embedding(&v)
    }
}

/// Inserts `rows` in multi-row statements of `batch` rows, in one transaction.
async fn insert_all<A>(db: &DatabaseConnection, rows: Vec<A>, batch: usize) -> anyhow::Result<()>
where
    A: ActiveModelTrait + Send,
{
    let txn = db.begin().await?;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(batch).collect();
        <A::Entity as EntityTrait>::insert_many(chunk)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Inserts rows of a table that has no entity in this tree yet, `batch` rows a statement.
async fn insert_raw(
    db: &DatabaseConnection,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Value>>,
    batch: usize,
) -> anyhow::Result<()> {
    let txn = db.begin().await?;
    for chunk in rows.chunks(batch) {
        let mut q = Query::insert();
        q.into_table(Alias::new(table))
            .columns(columns.iter().map(|c| Alias::new(*c)));
        for row in chunk {
            q.values(row.iter().cloned().map(Into::into))
                .with_context(|| format!("a row of {table}"))?;
        }
        txn.execute(&q).await?;
    }
    txn.commit().await?;
    Ok(())
}

fn progress(started: Instant, what: &str, n: usize) {
    eprintln!(
        "bench-data: {n:>7} {what} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
}

/// Loads the dataset into an empty, migrated database and returns shell variables naming
/// what the load scripts need (`BENCH_EMAIL`, `BENCH_PASSWORD`, `PROJECT`, `NODES`,
/// `PROJECTS`, `CONVERSATIONS`, `PACK`, `DIMENSIONS`).
pub async fn run(db: &DatabaseConnection, scale: f64) -> anyhow::Result<String> {
    let c = Counts::at(scale)?;
    anyhow::ensure!(
        users::Entity::find().count(db).await? == 0,
        "bench-data needs an empty database (it found users): point DATABASE_URL at a new one"
    );
    let started = Instant::now();
    let mut g = Gen::new(0x5EED_0000 ^ (scale * 1000.0) as u64);
    let hash = plexus_users::password::hash(BENCH_PASSWORD.to_string())
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;

    // Users.
    let mut user_ids = Vec::with_capacity(c.users);
    let mut rows = Vec::with_capacity(c.users);
    for i in 0..c.users {
        let id = g.id();
        let ts = g.at();
        user_ids.push(id);
        rows.push(users::ActiveModel {
            id: Set(id),
            email: Set(if i == 0 {
                BENCH_EMAIL.to_string()
            } else {
                format!("user{i}@plexus.bench")
            }),
            username: Set(Some(format!("user{i}"))),
            password_hash: Set(hash.clone()),
            first_name: Set(Some(format!("First{i}"))),
            last_name: Set(Some(format!("Last{i}"))),
            avatar_url: Set(None),
            role: Set("USER".into()),
            is_active: Set(true),
            email_verified: Set(true),
            preferences: Set(None),
            total_tokens_used: Set(0),
            last_login_at: Set(None),
            session_version: Set(0),
            created_at: Set(ts),
            updated_at: Set(ts),
            deleted_at: Set(None),
        });
    }
    insert_all(db, rows, 500).await?;
    progress(started, "users", c.users);

    // Projects, members: the owner and the next four users; user 0 is also in the first 20.
    let roles = ["ADMIN", "EDITOR", "MEMBER", "VIEWER"];
    let mut project_ids = Vec::with_capacity(c.projects);
    let mut project_members_of = Vec::with_capacity(c.projects);
    let (mut prow, mut mrow) = (vec![], vec![]);
    for p in 0..c.projects {
        let id = g.id();
        let ts = g.at();
        let owner = p % c.users;
        project_ids.push(id);
        prow.push(projects::ActiveModel {
            id: Set(id),
            name: Set(format!("Project {p}: {}", g.words(3))),
            description: Set(Some(g.words(12))),
            system_prompt: Set(String::new()),
            owner_id: Set(user_ids[owner]),
            is_public: Set(p % 10 == 9),
            viewport: Set(Some(json!({ "x": 0.0, "y": 0.0, "zoom": 1.0 }))),
            created_at: Set(ts),
            updated_at: Set(ts),
            deleted_at: Set(None),
        });
        let mut members = vec![owner];
        for k in 1..=4 {
            members.push((p + k) % c.users);
        }
        if p < 20 && !members.contains(&0) {
            members[4] = 0;
        }
        for (k, u) in members.iter().enumerate() {
            let mid = g.id();
            mrow.push(project_members::ActiveModel {
                id: Set(mid),
                project_id: Set(id),
                user_id: Set(user_ids[*u]),
                role: Set(if k == 0 { "OWNER" } else { roles[k - 1] }.into()),
                joined_at: Set(g.at()),
            });
        }
        project_members_of.push(members);
    }
    insert_all(db, prow, 500).await?;
    insert_all(db, mrow, 1000).await?;
    progress(started, "projects (5 members each)", c.projects);

    // Nodes and edges: per project a binary tree (node j builds on (j-1)/2) plus extra
    // merges from j-3, j-5, … (source before target: always a DAG), until the edge count.
    let statuses = [
        "COMPLETED",
        "COMPLETED",
        "COMPLETED",
        "IDLE",
        "STALE",
        "ERROR",
    ];
    let mut first_nodes = vec![];
    let (mut nrow, mut erow) = (vec![], vec![]);
    let mut node_total = 0;
    let mut edge_total = 0;
    for (p, pid) in project_ids.iter().enumerate() {
        let mut ids = Vec::with_capacity(c.nodes_per_project);
        for j in 0..c.nodes_per_project {
            let id = g.id();
            let ts = g.at();
            ids.push(id);
            let status = statuses[g.rng.below(statuses.len())];
            let author = project_members_of[p][g.rng.below(3)];
            nrow.push(nodes::ActiveModel {
                id: Set(id),
                project_id: Set(*pid),
                prompt: Set(g.words(12)),
                response: Set((status != "IDLE").then(|| g.words(60))),
                summary: Set(Some(g.words(6))),
                status: Set(status.into()),
                position: Set(
                    json!({ "x": (j % 10) as f64 * 220.0, "y": (j / 10) as f64 * 160.0 }),
                ),
                metadata: Set(None),
                llm_model: Set(Some("gpt-4o".into())),
                llm_tokens: Set(Some(200 + g.rng.below(800) as i32)),
                llm_cost: Set(Some(0.002)),
                created_by: Set(Some(user_ids[author])),
                version: Set(1),
                created_at: Set(ts),
                updated_at: Set(ts),
                deleted_at: Set(None),
            });
        }
        let mut pairs: Vec<(usize, usize)> = (1..ids.len()).map(|j| ((j - 1) / 2, j)).collect();
        let mut seen: HashSet<(usize, usize)> = pairs.iter().copied().collect();
        let mut back = 3;
        'extra: while pairs.len() < c.edges_per_project && back < ids.len() {
            for j in back..ids.len() {
                if pairs.len() >= c.edges_per_project {
                    break 'extra;
                }
                if seen.insert((j - back, j)) {
                    pairs.push((j - back, j));
                }
            }
            back += 2;
        }
        for (s, t) in pairs {
            let eid = g.id();
            erow.push(edges::ActiveModel {
                id: Set(eid),
                project_id: Set(*pid),
                source_id: Set(ids[s]),
                target_id: Set(ids[t]),
                created_at: Set(g.at()),
            });
        }
        if p < 5 {
            first_nodes.extend(ids.iter().copied());
        }
        if nrow.len() >= 10_000 {
            node_total += nrow.len();
            edge_total += erow.len();
            insert_all(db, std::mem::take(&mut nrow), 500).await?;
            insert_all(db, std::mem::take(&mut erow), 1000).await?;
        }
    }
    node_total += nrow.len();
    edge_total += erow.len();
    insert_all(db, nrow, 500).await?;
    insert_all(db, erow, 1000).await?;
    progress(started, "nodes", node_total);
    progress(started, "edges", edge_total);

    // Tools (one per user), agents (two per user) and their tasks.
    let mut tool_ids = Vec::with_capacity(c.users);
    let mut trow = vec![];
    for (i, u) in user_ids.iter().enumerate() {
        let id = g.id();
        let ts = g.at();
        tool_ids.push(id);
        trow.push(tools::ActiveModel {
            id: Set(id),
            owner_id: Set(*u),
            name: Set(format!("tool.search{i}")),
            description: Set(g.words(8)),
            schema: Set(json!({ "type": "object", "properties": { "q": { "type": "string" } } })),
            is_active: Set(true),
            created_at: Set(ts),
            updated_at: Set(ts),
        });
    }
    insert_all(db, trow, 500).await?;
    let mut agent_ids = Vec::with_capacity(c.users * c.agents_per_user);
    let (mut arow, mut krow) = (vec![], vec![]);
    let task_statuses = ["COMPLETED", "COMPLETED", "FAILED", "PENDING", "RUNNING"];
    for u in &user_ids {
        for a in 0..c.agents_per_user {
            let id = g.id();
            let ts = g.at();
            agent_ids.push((id, *u));
            arow.push(agents::ActiveModel {
                id: Set(id),
                owner_id: Set(*u),
                name: Set(format!("agent{a}")),
                kind: Set("researcher".into()),
                role: Set(Some(g.words(4))),
                description: Set(Some(g.words(10))),
                model: Set(Some("qwen2.5:7b".into())),
                goals: Set(json!([g.words(3), g.words(3)])),
                config: Set(Some(json!({ "temperature": 0.2 }))),
                authorizations: Set(None),
                style: Set(None),
                is_active: Set(true),
                created_at: Set(ts),
                updated_at: Set(ts),
            });
            for _ in 0..c.tasks_per_agent {
                let tid = g.id();
                let ts = g.at();
                let status = task_statuses[g.rng.below(task_statuses.len())];
                krow.push(agent_tasks::ActiveModel {
                    id: Set(tid),
                    agent_id: Set(id),
                    node_id: Set(None),
                    name: Set(g.words(3)),
                    description: Set(Some(g.words(10))),
                    prompt: Set(g.words(20)),
                    status: Set(status.into()),
                    result: Set((status == "COMPLETED").then(|| json!({ "text": "done" }))),
                    error: Set((status == "FAILED").then(|| "timeout".to_string())),
                    started_at: Set((status != "PENDING").then_some(ts)),
                    completed_at: Set(matches!(status, "COMPLETED" | "FAILED").then_some(ts)),
                    metadata: Set(None),
                    created_at: Set(ts),
                    updated_at: Set(ts),
                });
            }
        }
    }
    let (n_agents, n_tasks) = (arow.len(), krow.len());
    insert_all(db, arow, 500).await?;
    insert_all(db, krow, 500).await?;
    progress(started, "agents", n_agents);
    progress(started, "agent tasks", n_tasks);

    // Conversations (ten per user, with one of the user's agents), messages alternating
    // user and assistant, and a tool call on every fourth assistant message.
    let conv_cols = [
        "id",
        "user_id",
        "agent_id",
        "project_id",
        "title",
        "metadata",
        "is_active",
        "created_at",
        "updated_at",
        "deleted_at",
    ];
    let msg_cols = [
        "id",
        "conversation_id",
        "role",
        "content",
        "status",
        "tokens",
        "model",
        "agent_id",
        "author_id",
        "metadata",
        "edited_at",
        "created_at",
        "updated_at",
        "deleted_at",
    ];
    let call_cols = [
        "id",
        "conversation_id",
        "agent_id",
        "tool_id",
        "message_id",
        "name",
        "arguments",
        "result",
        "error",
        "duration_ms",
        "created_at",
    ];
    let none_ts = || Value::ChronoDateTimeWithTimeZone(None);
    let mut bench_conversations = vec![];
    let (mut crow, mut msgrow, mut callrow) = (vec![], vec![], vec![]);
    let (mut n_conv, mut n_msg, mut n_call) = (0, 0, 0);
    for (ui, u) in user_ids.iter().enumerate() {
        for k in 0..c.conversations_per_user {
            let id = g.id();
            let ts = g.at();
            let (agent, _) = agent_ids[ui * c.agents_per_user + k % c.agents_per_user];
            if ui == 0 {
                bench_conversations.push(id);
            }
            crow.push(vec![
                id.into(),
                (*u).into(),
                agent.into(),
                Value::Uuid(None),
                Some(g.words(4)).into(),
                Value::Json(None),
                true.into(),
                ts.into(),
                ts.into(),
                none_ts(),
            ]);
            for m in 0..c.messages_per_conversation {
                let mid = g.id();
                let ts = g.at();
                let assistant = m % 2 == 1;
                msgrow.push(vec![
                    mid.into(),
                    id.into(),
                    if assistant { "ASSISTANT" } else { "USER" }.into(),
                    g.words(if assistant { 60 } else { 15 }).into(),
                    "COMPLETE".into(),
                    assistant.then_some(150i32).into(),
                    assistant.then(|| "qwen2.5:7b".to_string()).into(),
                    if assistant { Some(agent) } else { None }.into(),
                    if assistant { None } else { Some(*u) }.into(),
                    Value::Json(None),
                    none_ts(),
                    ts.into(),
                    ts.into(),
                    none_ts(),
                ]);
                if assistant && m % 8 == 1 {
                    let cid = g.id();
                    callrow.push(vec![
                        cid.into(),
                        id.into(),
                        Some(agent).into(),
                        tool_ids[ui].into(),
                        Some(mid).into(),
                        format!("tool.search{ui}").into(),
                        json!({ "q": g.words(2) }).into(),
                        Some(json!({ "hits": 3 })).into(),
                        Option::<String>::None.into(),
                        Some(20 + g.rng.below(200) as i32).into(),
                        g.at().into(),
                    ]);
                }
            }
        }
        if msgrow.len() >= 20_000 || ui + 1 == user_ids.len() {
            n_conv += crow.len();
            n_msg += msgrow.len();
            n_call += callrow.len();
            insert_raw(
                db,
                "conversations",
                &conv_cols,
                std::mem::take(&mut crow),
                500,
            )
            .await?;
            insert_raw(db, "messages", &msg_cols, std::mem::take(&mut msgrow), 500).await?;
            insert_raw(
                db,
                "tool_calls",
                &call_cols,
                std::mem::take(&mut callrow),
                500,
            )
            .await?;
        }
    }
    progress(started, "conversations", n_conv);
    progress(started, "messages", n_msg);
    progress(started, "tool calls", n_call);

    // Knowledge packs (pack k owned by user 5k) with their documents.
    let mut pack_ids = vec![];
    let (mut kprow, mut drow) = (vec![], vec![]);
    let mut n_docs = 0;
    for k in 0..c.packs {
        let id = g.id();
        let ts = g.at();
        pack_ids.push(id);
        kprow.push(knowledge_packs::ActiveModel {
            id: Set(id),
            owner_id: Set(user_ids[(k * 5) % c.users]),
            name: Set(format!("pack {k}")),
            description: Set(Some(g.words(8))),
            path: Set(None),
            metadata: Set(None),
            is_active: Set(true),
            created_at: Set(ts),
            updated_at: Set(ts),
        });
    }
    insert_all(db, kprow, 500).await?;
    for id in &pack_ids {
        for d in 0..c.documents_per_pack {
            let did = g.id();
            let ts = g.at();
            drow.push(documents::ActiveModel {
                id: Set(did),
                knowledge_pack_id: Set(*id),
                source: Set(format!("docs/{d}.md")),
                title: Set(Some(g.words(4))),
                author: Set(Some("bench".into())),
                content: Set(g.words(40)),
                metadata: Set(None),
                embedding: Set(Some(g.embedding())),
                is_indexed: Set(true),
                created_at: Set(ts),
                updated_at: Set(ts),
            });
        }
        if drow.len() >= 5_000 {
            n_docs += drow.len();
            insert_all(db, std::mem::take(&mut drow), 200).await?;
        }
    }
    n_docs += drow.len();
    insert_all(db, drow, 200).await?;
    progress(started, "documents", n_docs);

    // What autovacuum does to freshly loaded tables soon after: statistics for the planner
    // and, on PostgreSQL, the visibility map that lets index-only scans skip the table (the
    // parent and child lists read their ids from the index alone).
    let analyze = match db.get_database_backend() {
        DbBackend::Postgres => "VACUUM ANALYZE",
        _ => "ANALYZE",
    };
    db.execute_unprepared(analyze).await?;
    progress(started, "analyzed: done", 1);

    let join = |kind: IdKind, ids: &[Uuid]| {
        ids.iter()
            .map(|u| encode(kind, *u))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out = String::new();
    let _ = writeln!(out, "BENCH_EMAIL={BENCH_EMAIL}");
    let _ = writeln!(out, "BENCH_PASSWORD={BENCH_PASSWORD}");
    let _ = writeln!(out, "PROJECT={}", encode(IdKind::Project, project_ids[0]));
    let _ = writeln!(
        out,
        "PROJECTS={}",
        join(IdKind::Project, &project_ids[..project_ids.len().min(20)])
    );
    let _ = writeln!(out, "NODES={}", join(IdKind::GraphNode, &first_nodes));
    let _ = writeln!(
        out,
        "CONVERSATIONS={}",
        join(IdKind::Conversation, &bench_conversations)
    );
    let _ = writeln!(out, "PACK={}", encode(IdKind::KnowledgePack, pack_ids[0]));
    let _ = writeln!(out, "DIMENSIONS={DIMENSIONS}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_ordered() {
        let (mut a, mut b) = (Gen::new(7), Gen::new(7));
        let xs: Vec<Uuid> = (0..100).map(|_| a.id()).collect();
        let ys: Vec<Uuid> = (0..100).map(|_| b.id()).collect();
        assert_eq!(xs, ys);
        assert!(xs.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(xs[0].get_version_num(), 7);
        let c = Counts::at(1.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.users * c.conversations_per_user * c.messages_per_conversation,
            200_000
        );
        assert_eq!(c.packs * c.documents_per_pack, 20_000);
        assert!(Counts::at(0.0).is_err());
    }
}
