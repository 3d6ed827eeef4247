//! The `tern` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tern_node::cli_error::CliError;
use tern_node::run::{self, NodeArgs};
use tern_node::testnet::{self, TestnetArgs};
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
    /// Run a local network of nodes on 127.0.0.1 until Ctrl-C.
    Testnet(TestnetArgs),
    /// Manage keys and send transactions through a node's JSON-RPC.
    Wallet(WalletArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // A node's log is its output; the testnet and wallet print their own, so only
    // warnings get in the way of it unless asked.
    let default_log = match cli.command {
        Command::Node(_) => "info",
        Command::Testnet(_) | Command::Wallet(_) => "warn",
    };
    if let Err(CliError(message)) = init_logging(cli.log.as_deref(), default_log) {
        eprintln!("tern: {message}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Node(args) => run::run(*args).await,
        Command::Testnet(args) => testnet::run(args).await,
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

/// Logs to stderr, filtered by `--log`, else `RUST_LOG`, else `default`.
fn init_logging(flag: Option<&str>, default: &str) -> Result<(), CliError> {
    use tracing_subscriber::EnvFilter;
    let filter = match flag {
        Some(text) => {
            EnvFilter::try_new(text).map_err(|e| CliError(format!("--log {text:?}: {e}")))?
        }
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}
