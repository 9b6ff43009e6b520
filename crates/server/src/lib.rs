//! The Plexus server: configuration, database pool, HTTP routes and the CLI.

pub mod admission;
pub mod app;
pub mod benchdata;
pub mod bus;
pub mod config;
pub mod db;
pub mod graphiql;
pub mod http;
pub mod json;
pub mod limits;
pub mod media;
pub mod metrics;
pub mod persisted;
pub mod seed;
pub mod ws;
