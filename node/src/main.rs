//! The `tern` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tern_node::cli_error::CliError;
use tern_node::run::{self, NodeArgs};
use tern_node::store_cmd::{self, StoreCommand};
use tern_testnet::TestnetArgs;
use tern_wallet::WalletArgs;

/// Tern: a proof-of-work, account-based full node and its tools.
#[derive(Debug, Parser)]
#[command(name = "tern", version)]
struct Cli {
    /// Log filter for testnet and wallet, as in RUST_LOG [default: RUST_LOG or warn].
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a full node until SIGINT or SIGTERM.
    Node(Box<NodeArgs>),
    /// Node configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check a data directory's store offline.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Run a local network of nodes on 127.0.0.1 until Ctrl-C.
    Testnet(TestnetArgs),
    /// Manage keys and send transactions through a node's JSON-RPC.
    Wallet(WalletArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the full default configuration, with a comment on every key.
    Default,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // A node's log is its output (`tern node` sets it up from its flags and config file);
    // the testnet and wallet print their own, so only warnings get in their way.
    if !matches!(cli.command, Command::Node(_)) {
        let filter = cli
            .log
            .or_else(|| std::env::var("RUST_LOG").ok().filter(|f| !f.is_empty()))
            .unwrap_or_else(|| "warn".into());
        if let Err(CliError(message)) = run::init_logging(&filter) {
            eprintln!("tern: {message}");
            return ExitCode::FAILURE;
        }
    }
    let result = match cli.command {
        Command::Node(args) => run::run(*args).await,
        Command::Config(ConfigCommand::Default) => {
            print!("{}", tern_node::config::default_toml());
            Ok(())
        }
        Command::Store(command) => store_cmd::run(command).await,
        Command::Testnet(args) => tern_testnet::run(args)
            .await
            .map_err(|error| CliError(error.0)),
        Command::Wallet(args) => tern_wallet::run(args).await.map_err(CliError::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(message)) => {
            eprintln!("tern: {message}");
            ExitCode::FAILURE
        }
    }
}
