//! The wallet's header check: how many headers per second `tern wallet` verifies (every
//! rule a header alone can show, from the hex a node serves), beside the aim of 100,000
//! per second, and how fast it reads its header file back (the same checks).
//!
//! Run with `cargo bench -p tern-wallet --bench headers` (under a minute: most of it
//! mining the dev chain's headers to check).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Instant;

use tern_chain::block::Header;
use tern_chain::encoding;
use tern_chain::genesis::ChainSpec;
use tern_chain::testkit::ChainBuilder;
use tern_chain::types::{Address, Height, Timestamp};
use tern_wallet::header_file::HeaderFile;
use tern_wallet::headers::VerifiedChain;

const HEADERS: usize = 20_000;
const ROUNDS: usize = 5;
const AIM_PER_SEC: f64 = 100_000.0;

fn main() {
    let spec = ChainSpec::resolve("dev").unwrap();
    let mut builder = ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    let headers: Vec<Header> = builder
        .extend(&genesis, HEADERS, &[], 0, Address::from_bytes([9; 32]))
        .iter()
        .map(|block| block.header)
        .collect();
    // As a node serves them: hex of each header's bytes.
    let served: Vec<String> = headers
        .iter()
        .map(|h| hex::encode(encoding::encode(h)))
        .collect();
    println!("wallet header check: {HEADERS} dev-chain headers, best of {ROUNDS} rounds");

    let mut best = f64::MAX;
    let mut chain = VerifiedChain::new(spec.clone());
    for _ in 0..ROUNDS {
        chain = VerifiedChain::new(spec.clone());
        let start = Instant::now();
        let mut branch = chain.branch_from(Height::GENESIS).unwrap();
        let now = Timestamp::now();
        for text in &served {
            let header: Header = encoding::decode(&hex::decode(text).unwrap()).unwrap();
            branch.push(&chain, header, now).unwrap();
        }
        assert!(chain.adopt(branch));
        best = best.min(start.elapsed().as_secs_f64());
    }
    let per_sec = HEADERS as f64 / best;
    println!(
        "  from the node's hex: {per_sec:.0} headers per second on one core ({:.2}x the aim of {AIM_PER_SEC:.0})",
        per_sec / AIM_PER_SEC
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.headers");
    let (mut file, _) = HeaderFile::load(path.clone(), &mut VerifiedChain::new(spec.clone()));
    file.save(&chain).unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let mut read = VerifiedChain::new(spec.clone());
        let start = Instant::now();
        let (_, warning) = HeaderFile::load(path.clone(), &mut read);
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!((warning, read.tip()), (None, chain.tip()));
    }
    println!(
        "  the header file ({bytes} bytes) read back and checked: {:.0} headers per second ({:.2}x the aim)",
        HEADERS as f64 / best,
        HEADERS as f64 / best / AIM_PER_SEC
    );
}
