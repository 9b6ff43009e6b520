//! `plexus seed`: idempotent demo data from the seeds (`DATA-MODEL.md`): the chat seed's
//! accounts, the NonLinear demo user with its demo project, nodes and edges (§6), and the
//! Elavira sample: the agent `MonAgent` with the shared tools `rag.search` and
//! `math.evaluate` (owned by the site admin) and a knowledge pack with one document; and the
//! chat seed's sample conversation of `user@example.com`.

use plexus_core::db::{begin_write, now};
use plexus_core::{Actor, UserRole};
use plexus_graph::entity::{edges, nodes};
use plexus_projects::entity::projects;
use plexus_projects::service::NewProject;
use plexus_users::service::ProfilePatch;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

use crate::app::AppState;

/// The demo accounts: email, password, role, first and last name.
pub const DEMO_USERS: &[(&str, &str, UserRole, &str, &str)] = &[
    (
        "demo@nonlinear.app",
        "DemoPassword123!",
        UserRole::User,
        "Demo",
        "User",
    ),
    (
        "admin@example.com",
        "Admin123!",
        UserRole::Admin,
        "Admin",
        "User",
    ),
    (
        "user@example.com",
        "User123!",
        UserRole::User,
        "Regular",
        "User",
    ),
    (
        "premium@example.com",
        "Premium123!",
        UserRole::Premium,
        "Premium",
        "User",
    ),
];

/// Name of the NonLinear demo project.
pub const DEMO_PROJECT: &str = "Demo Project - Architecture Web";

fn fail(e: plexus_core::DomainError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.public_message())
}

/// Creates whatever demo data is missing. Returns how many rows it created.
pub async fn run(state: &AppState) -> anyhow::Result<usize> {
    let users = &state.api.users;
    let mut created = 0;
    let mut demo = None;
    let mut admin = None;
    let mut regular = None;
    for (email, password, role, first, last) in DEMO_USERS {
        let (user, new) = users
            .ensure_user(email, password, *role, first, last)
            .await
            .map_err(fail)?;
        if new {
            created += 1;
        }
        if *email == "demo@nonlinear.app" {
            demo = Some(user);
        } else if *email == "admin@example.com" {
            admin = Some(user);
        } else if *email == "user@example.com" {
            regular = Some(user);
        }
    }
    let demo = demo.ok_or_else(|| anyhow::anyhow!("the demo user is missing"))?;
    let admin = admin.ok_or_else(|| anyhow::anyhow!("the admin user is missing"))?;
    let actor = Actor::User {
        id: demo.id,
        role: UserRole::User,
    };
    if demo.username.is_none() {
        let prefs = json!({ "theme": "dark", "notifications": { "email": false, "browser": true }, "language": "fr" });
        let patch = ProfilePatch {
            username: Some(Some("demo".into())),
            preferences: Some(Some(prefs)),
            ..Default::default()
        };
        users.update_viewer(&actor, patch).await.map_err(fail)?;
    }
    let exists = projects::Entity::find()
        .filter(projects::Column::OwnerId.eq(demo.id))
        .filter(projects::Column::Name.eq(DEMO_PROJECT))
        .one(&state.db)
        .await?
        .is_some();
    if !exists {
        created += demo_project(state, &actor).await?;
    }
    let admin = Actor::User {
        id: admin.id,
        role: UserRole::Admin,
    };
    created += elavira(state, &admin, &actor).await?;
    if let Some(regular) = regular {
        let regular = Actor::User {
            id: regular.id,
            role: UserRole::User,
        };
        created += chat(state, &regular).await?;
    }
    Ok(created)
}

/// Title of the chat seed's sample conversation.
pub const CHAT_CONVERSATION: &str = "Welcome";

/// The chat seed's sample: a conversation of `user@example.com` with a question and an
/// answer (whose tokens count towards the user's total).
async fn chat(state: &AppState, user: &Actor) -> anyhow::Result<usize> {
    use plexus_conversations::entity::conversations;
    use plexus_conversations::service::{MessageRole, NewConversation, NewMessage};
    let exists = conversations::Entity::find()
        .filter(conversations::Column::UserId.eq(user.user_id().unwrap_or_default()))
        .filter(conversations::Column::Title.eq(CHAT_CONVERSATION))
        .one(&state.db)
        .await?
        .is_some();
    if exists {
        return Ok(0);
    }
    let svc = &state.api.conversations;
    let conv = svc
        .create(
            user,
            NewConversation {
                title: Some(CHAT_CONVERSATION.into()),
                metadata: Some(json!({ "source": "seed" })),
                ..Default::default()
            },
        )
        .await
        .map_err(fail)?;
    let messages = [
        (MessageRole::User, "Hello! What can Plexus do?", None, None),
        (
            MessageRole::Assistant,
            "Plexus gives the canvas, the agents and this chat one GraphQL API over one database.",
            Some(24),
            Some("qwen2.5:7b"),
        ),
    ];
    for (role, content, tokens, model) in messages {
        svc.send(
            user,
            NewMessage {
                conversation_id: conv.id,
                role,
                content: content.into(),
                tokens,
                model: model.map(Into::into),
                agent_id: None,
                metadata: None,
                streaming: false,
            },
        )
        .await
        .map_err(fail)?;
    }
    Ok(3)
}

/// Name of the Elavira sample agent.
pub const ELAVIRA_AGENT: &str = "MonAgent";

/// The Elavira sample (`elavira-agents-database.md`): shared tools, a pack, an agent.
async fn elavira(state: &AppState, admin: &Actor, demo: &Actor) -> anyhow::Result<usize> {
    use plexus_agents::entity::{agents, tools};
    use plexus_agents::knowledge::NewDocument;
    use plexus_agents::service::{NewAgent, NewKnowledgePack, NewTool};
    let svc = &state.api.agents;
    let demo_id = demo.user_id().unwrap_or_default();
    let have_agent = agents::Entity::find()
        .filter(agents::Column::OwnerId.eq(demo_id))
        .filter(agents::Column::Name.eq(ELAVIRA_AGENT))
        .one(&state.db)
        .await?
        .is_some();
    if have_agent {
        return Ok(0);
    }
    let mut created = 0;
    let specs = [
        (
            "rag.search",
            "Recherche dans les packs de connaissances",
            json!({ "type": "object", "properties": { "query": { "type": "string" }, "limit": { "type": "integer", "minimum": 1 } }, "required": ["query"] }),
        ),
        (
            "math.evaluate",
            "Évalue une expression mathématique",
            json!({ "type": "object", "properties": { "expression": { "type": "string" } }, "required": ["expression"] }),
        ),
    ];
    let mut tool_ids = vec![];
    for (name, description, schema) in specs {
        let existing = tools::Entity::find()
            .filter(tools::Column::OwnerId.eq(admin.user_id().unwrap_or_default()))
            .filter(tools::Column::Name.eq(name))
            .one(&state.db)
            .await?;
        let tool = match existing {
            Some(t) => t,
            None => {
                created += 1;
                let new = NewTool {
                    name: name.into(),
                    description: description.into(),
                    schema,
                    is_active: true,
                };
                svc.create_tool(admin, new).await.map_err(fail)?
            }
        };
        tool_ids.push(tool.id);
    }
    let pack = svc
        .create_pack(
            demo,
            NewKnowledgePack {
                name: "Elavira - Documentation".into(),
                description: Some("Documentation d'Elavira Agents".into()),
                path: Some("knowledge/elavira".into()),
                metadata: None,
                is_active: true,
            },
        )
        .await
        .map_err(fail)?;
    svc.add_document(
        demo,
        NewDocument {
            knowledge_pack_id: pack.id,
            source: "docs/database.md".into(),
            title: Some("Base de données Prisma - Elavira Agents".into()),
            author: None,
            content: "Elavira Agents utilise PostgreSQL pour gérer les agents, conversations, messages, outils, connaissances, mémoire, workflows et logs.".into(),
            metadata: None,
            embedding: None,
        },
    )
    .await
    .map_err(fail)?;
    svc.create_agent(
        demo,
        NewAgent {
            name: ELAVIRA_AGENT.into(),
            kind: "assistant".into(),
            role: Some("Assistant spécialisé".into()),
            description: None,
            model: Some("qwen2.5:7b".into()),
            goals: vec![],
            config: None,
            authorizations: Some(json!({})),
            style: None,
            tool_ids,
            knowledge_pack_ids: vec![pack.id],
            is_active: true,
        },
    )
    .await
    .map_err(fail)?;
    Ok(created + 3)
}

async fn demo_project(state: &AppState, actor: &Actor) -> anyhow::Result<usize> {
    let project = state
        .api
        .projects
        .create(
            actor,
            NewProject {
                name: DEMO_PROJECT.into(),
                description: Some("Un projet de démonstration pour explorer l'architecture web moderne".into()),
                system_prompt: Some("Tu es un expert en architecture web moderne, avec une profonde connaissance de React, Next.js, NestJS, et des meilleures pratiques de développement.".into()),
                is_public: false,
                viewport: Some(json!({ "x": 0, "y": 0, "zoom": 1 })),
            },
        )
        .await
        .map_err(fail)?;
    let user = actor.user_id();
    let txn = begin_write(&state.db).await?;
    let ts = now();
    let node = |prompt: &str, x: f64, y: f64| nodes::ActiveModel {
        id: Set(Uuid::now_v7()),
        project_id: Set(project.id),
        prompt: Set(prompt.into()),
        response: Set(None),
        summary: Set(None),
        status: Set("IDLE".into()),
        position: Set(json!({ "x": x, "y": y })),
        metadata: Set(None),
        llm_model: Set(None),
        llm_tokens: Set(None),
        llm_cost: Set(None),
        created_by: Set(user),
        version: Set(1),
        created_at: Set(ts),
        updated_at: Set(ts),
        deleted_at: Set(None),
    };
    let mut first = node("Qu'est-ce que l'architecture de composants ?", 0.0, 0.0);
    first.response = Set(Some("L'architecture de composants divise l'interface utilisateur en petits blocs réutilisables appelés composants. Chaque composant gère sa propre logique et son propre état, ce qui permet de construire des interfaces complexes de manière modulaire et maintenable.\n\n**Principes clés :**\n- **Encapsulation** : Chaque composant isole sa logique\n- **Réutilisabilité** : Les composants peuvent être utilisés plusieurs fois\n- **Composition** : Les composants peuvent être combinés\n- **Props** : Communication via des propriétés\n\n**Exemples :**\n- Button, Input, Modal dans React\n- Controller, Service, Module dans NestJS".into()));
    first.summary = Set(Some(
        "Architecture de composants : modulaire et réutilisable".into(),
    ));
    first.status = Set("COMPLETED".into());
    first.llm_model = Set(Some("gpt-4o".into()));
    first.llm_tokens = Set(Some(234));
    let first = first.insert(&txn).await?;
    let second = node("Qu'est-ce que l'injection de dépendances ?", 400.0, 0.0)
        .insert(&txn)
        .await?;
    let third = node("Qu'est-ce que le server-side rendering ?", 200.0, 300.0)
        .insert(&txn)
        .await?;
    for target in [&second, &third] {
        edges::ActiveModel {
            id: Set(Uuid::now_v7()),
            project_id: Set(project.id),
            source_id: Set(first.id),
            target_id: Set(target.id),
            created_at: Set(ts),
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(1 + 3 + 2)
}
