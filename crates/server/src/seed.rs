//! `plexus seed`: idempotent demo data from the seeds (`DATA-MODEL.md`).

use plexus_core::UserRole;
use plexus_users::UsersService;

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

/// Creates whatever demo data is missing. Returns how many rows it created.
pub async fn run(users: &UsersService) -> anyhow::Result<usize> {
    let mut created = 0;
    for (email, password, role, first, last) in DEMO_USERS {
        if users
            .ensure_user(email, password, *role, first, last)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?
        {
            created += 1;
        }
    }
    Ok(created)
}
