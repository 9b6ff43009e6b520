//! `plexus`: serve the GraphQL API, migrate the database, print the schema, seed demo data,
//! load a benchmark dataset.

use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use plexus_server::config::{Config, ConfigArgs, LogFormat, redact_url};
use plexus_server::{app, benchdata, db, seed};
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc. A profile of the dashboard case of the load
/// benchmark spent about 45% of the server's CPU inside glibc malloc and free: its arena
/// locks contended between the runtime's worker threads (futex waits) and its free lists
/// fragmented under the many short-lived allocations of a GraphQL response
/// (`unlink_chunk`, `malloc_consolidate`). mimalloc's thread-local free lists avoid both.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Plexus: one GraphQL API for the NonLinear canvas, Elavira agents and chat.
#[derive(Parser)]
#[command(name = "plexus", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply, roll back or list migrations.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Print the GraphQL schema (SDL, sorted). Needs no database.
    Schema,
    /// Add the demo data (idempotent).
    Seed,
    /// Load the deterministic benchmark dataset into an empty database (migrating it
    /// first) and print the ids the load scripts need as shell variables.
    BenchData {
        /// Size: 1 = 1,000 users, 1,000 projects, 100,000 nodes, 200,000 messages, …
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
    },
}

#[derive(Subcommand, Clone, Copy)]
enum MigrateAction {
    /// Apply every pending migration (the default).
    Up,
    /// Roll back the last applied migration.
    Down,
    /// List migrations and whether each is applied.
    Status,
}

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", plexus_api::sdl());
        return ExitCode::SUCCESS;
    }
    let config = match cli.config.validate() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("plexus: configuration error: {msg}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("plexus: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("plexus: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => app::serve(config).await,
        Command::Schema => Ok(()),
        Command::Migrate { action } => {
            let conn = db::connect(&config.database_url, 2).await?;
            match action.unwrap_or(MigrateAction::Up) {
                MigrateAction::Up => {
                    Migrator::up(&conn, None).await?;
                    println!("migrations applied to {}", redact_url(&config.database_url));
                }
                MigrateAction::Down => {
                    Migrator::down(&conn, Some(1)).await?;
                    println!("rolled back the last migration");
                }
                MigrateAction::Status => {
                    for m in Migrator::get_migration_with_status(&conn).await? {
                        println!("{:<8} {}", format!("{:?}", m.status()), m.name());
                    }
                }
            }
            Ok(())
        }
        Command::BenchData { scale } => {
            let conn = db::connect(&config.database_url, 2).await?;
            Migrator::up(&conn, None).await?;
            print!("{}", benchdata::run(&conn, scale).await?);
            Ok(())
        }
        Command::Seed => {
            let state = app::build(config).await?;
            let created = seed::run(&state).await?;
            println!(
                "seeded: {created} new rows ({} demo accounts in all)",
                seed::DEMO_USERS.len()
            );
            Ok(())
        }
    }
}

fn init_logging(config: &Config) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(&config.log));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
