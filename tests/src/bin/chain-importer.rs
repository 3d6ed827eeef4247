//! Imports a block file into a chain store, or audits a store.
//!
//! ```text
//! chain-importer import DATADIR BLOCKFILE   submit every block in order, then exit 0
//! chain-importer audit DATADIR              check the store (see tern_tests::audit)
//! ```
//!
//! Exit codes: 0 done, 1 usage, 2 the store failed to open or failed the audit. The crash
//! test kills `import` with SIGKILL at random moments and audits after each.

use std::path::Path;
use std::process::ExitCode;

use tern_core::chain::Chain;
use tern_core::genesis::ChainSpec;
use tern_core::types::Timestamp;

fn run(args: &[String]) -> Result<String, (u8, String)> {
    let spec = ChainSpec::resolve("dev").map_err(|e| (2, e.to_string()))?;
    match args {
        [mode, dir, file] if mode == "import" => {
            let blocks = tern_tests::blockfile::read(Path::new(file))
                .map_err(|e| (2, format!("{file}: {e}")))?;
            let mut chain = Chain::open(Path::new(dir), spec).map_err(|e| (2, e.to_string()))?;
            for block in blocks {
                chain
                    .submit_block(block, Timestamp::now())
                    .map_err(|e| (2, e.to_string()))?;
            }
            chain.flush().map_err(|e| (2, e.to_string()))?;
            Ok(format!("imported; tip at height {}", chain.tip().height()))
        }
        [mode, dir] if mode == "audit" => {
            let chain = Chain::open(Path::new(dir), spec).map_err(|e| (2, e.to_string()))?;
            let height = tern_core::chain::check_store(&chain.reader())
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
