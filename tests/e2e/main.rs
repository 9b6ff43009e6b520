//! End-to-end tests: a real server on a random port per test, spoken to over real HTTP,
//! on SQLite and (with `TEST_POSTGRES_URL`) on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agents;
mod auth;
mod conversations;
mod faults;
mod fixtures;
mod fuzz;
mod graph;
mod hardening;
mod http;
mod knowledge;
mod live;
mod matrix;
mod media;
mod notifications;
mod presence;
mod projects;
mod realtime;
mod schema;
mod users;
