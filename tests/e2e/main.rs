//! End-to-end tests: a real server on a random port per test, spoken to over real HTTP,
//! on SQLite and (with `TEST_POSTGRES_URL`) on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod fuzz;
mod hardening;
mod http;
mod schema;
mod users;
