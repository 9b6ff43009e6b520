//! `plexus seed`: idempotent demo data from the seeds (`DATA-MODEL.md`): the chat seed's
//! accounts and the NonLinear demo user with its demo project, nodes and edges (§6).

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
        }
    }
    let demo = demo.ok_or_else(|| anyhow::anyhow!("the demo user is missing"))?;
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
    Ok(created)
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
