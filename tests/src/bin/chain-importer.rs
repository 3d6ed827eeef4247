//! Imports a block file into a chain store, or audits a store.
//!
//! ```text
//! chain-importer import DATADIR BLOCKFILE   submit every block in order, then exit 0
//! chain-importer audit DATADIR              check the store (see tern_tests::audit)
//! ```
//!
//! Exit codes: 0 done, 1 usage, 2 the store failed to open or failed the audit. The crash
//! test kills `import` with SIGKILL at random moments and audits after each.
//!
//! `import` feeds the chain actor as a syncing node's block worker does, several blocks
//! queued at once, so that a kill finds batches of several blocks still landing behind
//! the actor.

use std::collections::VecDeque;
use std::path::Path;
use std::process::ExitCode;

use tern_chain::block::Block;
use tern_chain::genesis::ChainSpec;
use tern_state::chain::{Chain, ChainHandle};

/// Blocks queued at the chain actor at once: twice what the node's block worker keeps
/// (`tern_state::chain::QUEUE_AHEAD`), so that more batches are in flight when the kill
/// comes.
const QUEUED: usize = 2 * tern_state::chain::QUEUE_AHEAD;

fn run(args: &[String]) -> Result<String, (u8, String)> {
    let spec = ChainSpec::resolve("dev").map_err(|e| (2, e.to_string()))?;
    match args {
        [mode, dir, file] if mode == "import" => {
            let blocks = tern_tests::blockfile::read(Path::new(file))
                .map_err(|e| (2, format!("{file}: {e}")))?;
            let chain = Chain::open(Path::new(dir), spec).map_err(|e| (2, e.to_string()))?;
            let (handle, thread) =
                tern_state::chain::spawn(chain).map_err(|e| (2, e.to_string()))?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| (2, e.to_string()))?;
            runtime.block_on(import(&handle, blocks))?;
            let height = handle.tip().height();
            // The last handle gone, the actor flushes the store and stops.
            drop(handle);
            thread
                .join()
                .map_err(|_| (2, "the chain actor panicked".to_owned()))?
                .map_err(|e| (2, e.to_string()))?;
            Ok(format!("imported; tip at height {height}"))
        }
        [mode, dir] if mode == "audit" => {
            let chain = Chain::open(Path::new(dir), spec).map_err(|e| (2, e.to_string()))?;
            let height = tern_state::chain::check_store(&chain.reader())
                .map_err(|e| (2, e.to_string()))?
                .height;
            Ok(format!("ok; tip at height {height}"))
        }
        _ => Err((
            1,
            "usage: chain-importer import DATADIR BLOCKFILE | chain-importer audit DATADIR".into(),
        )),
    }
}

/// Submits `blocks` in order, [`QUEUED`] at a time, and waits for every verdict.
async fn import(chain: &ChainHandle, blocks: Vec<Block>) -> Result<(), (u8, String)> {
    let mut queued = VecDeque::with_capacity(QUEUED);
    for block in blocks {
        if queued.len() == QUEUED {
            if let Some(oldest) = queued.pop_front() {
                verdict(oldest).await?;
            }
        }
        queued.push_back(chain.queue_block(block).await);
    }
    for oldest in queued {
        verdict(oldest).await?;
    }
    Ok(())
}

async fn verdict(queued: tern_state::chain::QueuedBlock) -> Result<(), (u8, String)> {
    queued
        .outcome()
        .await
        .map(drop)
        .map_err(|e| (2, e.to_string()))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("chain-importer: {message}");
            ExitCode::from(code)
        }
    }
}
