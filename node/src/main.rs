//! The `tern` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tern_node::wallet::cli::{self, WalletArgs};

/// Tern: a proof-of-work, account-based full node and its tools.
#[derive(Debug, Parser)]
#[command(name = "tern", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage keys and send transactions through a node's JSON-RPC.
    Wallet(WalletArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Wallet(args) => cli::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(cli::CliError(message)) => {
            eprintln!("tern: {message}");
            ExitCode::FAILURE
        }
    }
}
