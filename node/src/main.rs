//! The `tern` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tern_node::cli_error::CliError;
use tern_node::run::{self, NodeArgs};
use tern_node::wallet::cli::{self, WalletArgs};

/// Tern: a proof-of-work, account-based full node and its tools.
#[derive(Debug, Parser)]
#[command(name = "tern", version)]
struct Cli {
    /// Log filter, as in RUST_LOG (e.g. `info`, `tern_node=debug`) [default: RUST_LOG or
    /// info].
    #[arg(long, global = true, value_name = "FILTER")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a full node until SIGINT or SIGTERM.
    Node(Box<NodeArgs>),
    /// Manage keys and send transactions through a node's JSON-RPC.
    Wallet(WalletArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(CliError(message)) = init_logging(cli.log.as_deref()) {
        eprintln!("tern: {message}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Node(args) => run::run(*args).await,
        Command::Wallet(args) => cli::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(message)) => {
            eprintln!("tern: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `--log`, else `RUST_LOG`, else `info`.
fn init_logging(flag: Option<&str>) -> Result<(), CliError> {
    use tracing_subscriber::EnvFilter;
    let filter = match flag {
        Some(text) => {
            EnvFilter::try_new(text).map_err(|e| CliError(format!("--log {text:?}: {e}")))?
        }
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}
