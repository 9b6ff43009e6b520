//! Per-request DataLoaders: every relation resolves through one of these, so the number of
//! statements of a request is bounded by its depth, not by its rows.

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use plexus_core::DomainError;
use plexus_users::UsersService;
use plexus_users::entity::users;
use std::collections::HashMap;
use uuid::Uuid;

use crate::context::ApiState;

/// Loads users by id.
pub struct UserLoader(UsersService);

impl Loader<Uuid> for UserLoader {
    type Value = users::Model;
    type Error = DomainError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(self
            .0
            .users_by_ids(keys)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect())
    }
}

/// The loaders of one request (request data). Built per request: their caches must not
/// outlive the request or leak across actors.
pub struct Loaders {
    /// Users by id.
    pub users: DataLoader<UserLoader, HashMapCache>,
}

impl Loaders {
    /// Fresh loaders for one request.
    pub fn new(state: &ApiState) -> Self {
        Self {
            users: DataLoader::with_cache(
                UserLoader(state.users.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
        }
    }
}
