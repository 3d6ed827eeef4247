//! `tern store check`: opens a data directory's store offline (no node may be running on
//! it) and checks all of it with [`tern_state::chain::check_store`], so an operator can
//! tell a healthy data directory from a damaged one before trusting it again. A store that
//! is consistent but ends below the tip the node last acknowledged ([`tern_state::tip_record`]) fails
//! the check too: it lost blocks.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use tern_chain::genesis::ChainSpec;
use tern_state::chain::{check_store, Chain};

use crate::cli_error::CliError;
use crate::config::resolve::default_data_dir;
use tern_state::tip_record;

/// `tern store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Check the whole store offline: the header chain, block bodies, indexes, and that
    /// the state equals a replay of the chain, and that it reaches the tip the node last
    /// acknowledged. Exit status 0 when sound, 1 when not.
    Check(StoreArgs),
}

/// Which store.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The chain: `dev`, `testnet`, or the path of a chain spec file [default: dev].
    #[arg(long, env = "TERN_GENESIS")]
    pub genesis: Option<String>,
    /// The data directory [default: the chain's, as for `tern node`].
    #[arg(long, env = "TERN_DATADIR")]
    pub datadir: Option<PathBuf>,
}

/// Runs a store command; prints its report on standard output.
pub async fn run(command: StoreCommand) -> Result<(), CliError> {
    let StoreCommand::Check(args) = command;
    let spec = ChainSpec::resolve(args.genesis.as_deref().unwrap_or("dev"))?;
    let dir = match args.datadir {
        Some(dir) => dir,
        None => default_data_dir(&spec.name)?,
    };
    if !dir.join("chain").exists() {
        return Err(CliError(format!(
            "{} holds no store (no chain/ directory)",
            dir.display()
        )));
    }
    let shown = dir.display().to_string();
    let checked = tokio::task::spawn_blocking(move || {
        // An error opening the store names the store and the remedy itself.
        let chain = Chain::open(&dir, spec).map_err(|e| CliError(e.to_string()))?;
        let report = check_store(&chain.reader()).map_err(|e| {
            CliError(format!(
                "store {} is damaged: {e}; restore it from a backup, or delete it and let the \
                 node sync again",
                dir.display()
            ))
        })?;
        Ok::<_, CliError>((report, tip_record::check(&dir, &chain.tip())))
    })
    .await
    .map_err(|e| CliError(format!("the check stopped: {e}")))??;
    match checked {
        (_, Some(loss)) => Err(CliError(format!(
            "store {shown} is consistent but {} blocks short: it ends at height {}, and this \
             node had acknowledged height {} ({}); start the node to fetch them again from peers",
            loss.blocks(),
            loss.opened_height,
            loss.recorded_height,
            loss.recorded_hash
        ))),
        (report, None) => {
            let floor = if report.floor.value() > 0 {
                format!(
                    " (restored from a snapshot at height {}: headers only below it)",
                    report.floor.value()
                )
            } else {
                String::new()
            };
            println!(
                "store {shown}: sound. {} blocks, tip {}, {} transactions, {} accounts{floor}",
                report.height.value(),
                report.tip,
                report.transactions,
                report.accounts
            );
            Ok(())
        }
    }
}
