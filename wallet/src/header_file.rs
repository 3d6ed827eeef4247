//! The verified header chain on disk, next to the wallet file, so that a command fetches
//! only the headers that are new since the last one.
//!
//! The file is a cache of what any node can serve again, so damage loses nothing: it is
//! checked as strictly as a node's answer when read (every header against every rule),
//! and the wallet keeps the part that checks, says so, and fetches the rest. One file per
//! chain (its name carries the genesis hash), so a wallet used on two chains keeps both.
//!
//! Layout: [`MAGIC`], the genesis hash (32 bytes), then the headers above genesis, oldest
//! first, 188 bytes each. New headers are appended; a reorg below the stored tip rewrites
//! the file whole (to a temporary file, then renamed over it).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use tern_chain::block::{Header, HEADER_LEN};
use tern_chain::encoding;
use tern_chain::types::{BlockHash, Height, Timestamp};

use crate::headers::VerifiedChain;

/// The first bytes of a header file.
pub const MAGIC: &[u8; 8] = b"TERNHDR1";

/// The most headers a header file is read for: about 1.9 GB, far beyond any chain a
/// wallet follows today, and a bound on what a damaged length can make it allocate.
pub const MAX_STORED_HEADERS: u64 = 10_000_000;

const PREFIX_LEN: usize = MAGIC.len() + 32;

/// Why the header file cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the header file {}: {source}", path.display())]
pub struct HeaderFileError {
    /// The file.
    pub path: PathBuf,
    /// The operating system's reason.
    #[source]
    pub source: std::io::Error,
}

/// A header file and what of the chain it holds.
#[derive(Debug)]
pub struct HeaderFile {
    path: PathBuf,
    /// How many headers above genesis the file holds, and the hash of the last.
    stored: (u64, BlockHash),
}

impl HeaderFile {
    /// The header file of the wallet at `wallet` for the chain with `genesis`:
    /// `wallet.json` keeps the dev chain's headers in `wallet.195c9d2a.headers`.
    pub fn path_for(wallet: &Path, genesis: &BlockHash) -> PathBuf {
        let tag = genesis.to_string();
        let tag = tag.get(..8).unwrap_or(&tag);
        wallet.with_extension(format!("{tag}.headers"))
    }

    /// Reads the chain stored at `path` onto `chain` (genesis alone), checking every
    /// header. Returns the file, and a warning if part of it was unusable (the part
    /// that checks is kept; the rest will be fetched again). A missing file is an empty
    /// one.
    pub fn load(path: PathBuf, chain: &mut VerifiedChain) -> (HeaderFile, Option<String>) {
        let mut file = HeaderFile {
            path,
            stored: (0, chain.genesis()),
        };
        let warning = match file.read_into(chain) {
            Ok(()) => None,
            Err(problem) => Some(format!(
                "header file {}: {problem}; kept the {} headers before it, fetching the rest",
                file.path.display(),
                chain.height().value()
            )),
        };
        // What the file holds from now on is what checked; a save rewrites past it.
        file.stored = (chain.height().value(), chain.tip());
        (file, warning)
    }

    fn read_into(&mut self, chain: &mut VerifiedChain) -> Result<(), String> {
        let mut bytes = Vec::new();
        match File::open(&self.path) {
            Ok(file) => {
                let limit = PREFIX_LEN as u64 + MAX_STORED_HEADERS * HEADER_LEN as u64;
                file.take(limit)
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("cannot be read ({e})"))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot be read ({e})")),
        }
        let (prefix, records) = bytes.split_at_checked(PREFIX_LEN).ok_or("is cut short")?;
        let (magic, genesis) = prefix.split_at(MAGIC.len());
        if magic != MAGIC {
            return Err("is not a header file".into());
        }
        if genesis != chain.genesis().as_bytes() {
            return Err("holds another chain's headers".into());
        }
        let mut branch = chain
            .branch_from(Height::GENESIS)
            .map_err(|e| e.to_string())?;
        let mut problem = None;
        for record in records.chunks(HEADER_LEN) {
            let header = match encoding::decode::<Header>(record) {
                Ok(header) => header,
                Err(e) => {
                    problem = Some(format!(
                        "header {} does not decode ({e})",
                        branch.tip_height().value() + 1
                    ));
                    break;
                }
            };
            // Stamped before it was stored, whatever the clock says now.
            if let Err(e) = branch.push(chain, header, Timestamp(u64::MAX)) {
                problem = Some(e.to_string());
                break;
            }
        }
        chain.adopt(branch);
        problem.map_or(Ok(()), Err)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Brings the file to `chain`: appends what is new, or rewrites it whole if the chain
    /// no longer holds what the file ends with (a reorg).
    pub fn save(&mut self, chain: &VerifiedChain) -> Result<(), HeaderFileError> {
        let (count, last) = self.stored;
        if chain.height().value() == count && chain.tip() == last {
            return Ok(());
        }
        let fail = |source| HeaderFileError {
            path: self.path.clone(),
            source,
        };
        let headers = chain.above_genesis();
        if count > 0 && chain.hash_at(Height(count)) == Some(last) {
            let new = headers.get(count as usize..).unwrap_or_default();
            let mut file = OpenOptions::new()
                .append(true)
                .open(&self.path)
                .map_err(fail)?;
            file.write_all(&encode_all(new)).map_err(fail)?;
        } else {
            let mut bytes = Vec::with_capacity(PREFIX_LEN + headers.len() * HEADER_LEN);
            bytes.extend_from_slice(MAGIC);
            bytes.extend_from_slice(chain.genesis().as_bytes());
            bytes.extend_from_slice(&encode_all(headers));
            let temporary = self.path.with_extension("headers.new");
            std::fs::write(&temporary, &bytes).map_err(fail)?;
            std::fs::rename(&temporary, &self.path).map_err(fail)?;
        }
        self.stored = (chain.height().value(), chain.tip());
        Ok(())
    }
}

fn encode_all(headers: &[Header]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(headers.len() * HEADER_LEN);
    for header in headers {
        bytes.extend_from_slice(&encoding::encode(header));
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_chain::genesis::ChainSpec;
    use tern_chain::testkit::ChainBuilder;
    use tern_chain::types::Address;

    fn chain_of(count: usize, miner: u8) -> (VerifiedChain, Vec<Header>) {
        let spec = ChainSpec::resolve("dev").unwrap();
        let mut builder = ChainBuilder::new(spec.clone());
        let genesis = builder.genesis();
        let headers: Vec<Header> = builder
            .extend(&genesis, count, &[], 0, Address::from_bytes([miner; 32]))
            .iter()
            .map(|b| b.header)
            .collect();
        let mut chain = VerifiedChain::new(spec);
        let mut branch = chain.branch_from(Height::GENESIS).unwrap();
        for header in &headers {
            branch.push(&chain, *header, Timestamp::now()).unwrap();
        }
        chain.adopt(branch);
        (chain, headers)
    }

    fn reload(path: &Path) -> (VerifiedChain, Option<String>) {
        let mut chain = VerifiedChain::new(ChainSpec::resolve("dev").unwrap());
        let (_, warning) = HeaderFile::load(path.to_owned(), &mut chain);
        (chain, warning)
    }

    #[test]
    fn a_saved_chain_reads_back_whole_and_grows_by_appending() {
        let dir = tempfile::tempdir().unwrap();
        let (chain, _) = chain_of(30, 1);
        let path = HeaderFile::path_for(&dir.path().join("wallet.json"), &chain.genesis());
        assert!(path.to_string_lossy().ends_with("wallet.195c9d2a.headers"));
        let (mut file, warning) =
            HeaderFile::load(path.clone(), &mut VerifiedChain::new(chain.spec().clone()));
        assert_eq!(warning, None, "a missing file is an empty one");
        file.save(&chain).unwrap();
        let (read, warning) = reload(&path);
        assert_eq!((read.tip(), warning), (chain.tip(), None));
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            (PREFIX_LEN + 30 * HEADER_LEN) as u64
        );
    }

    #[test]
    fn damage_keeps_the_part_that_checks_and_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let (chain, headers) = chain_of(10, 1);
        let path = dir.path().join("w.headers");
        let (mut file, _) =
            HeaderFile::load(path.clone(), &mut VerifiedChain::new(chain.spec().clone()));
        file.save(&chain).unwrap();

        // A flipped byte in header 4's parent link.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[PREFIX_LEN + 3 * HEADER_LEN + 20] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let (read, warning) = reload(&path);
        assert_eq!(read.height(), Height(3));
        assert_eq!(read.tip(), headers[2].hash());
        let warning = warning.unwrap();
        assert!(
            warning.contains("header 4") && warning.contains("kept the 3 headers"),
            "{warning}"
        );

        // A write cut short leaves a partial record: the whole ones before it are kept.
        bytes[PREFIX_LEN + 3 * HEADER_LEN + 20] ^= 1;
        bytes.truncate(PREFIX_LEN + 7 * HEADER_LEN + 100);
        std::fs::write(&path, &bytes).unwrap();
        let (read, warning) = reload(&path);
        assert_eq!(read.height(), Height(7));
        assert!(warning.unwrap().contains("header 8 does not decode"));

        // Another file altogether.
        std::fs::write(
            &path,
            b"not headers at all, but long enough to have a prefix",
        )
        .unwrap();
        let (read, warning) = reload(&path);
        assert_eq!(read.height(), Height::GENESIS);
        assert!(warning.unwrap().contains("is not a header file"));
    }

    #[test]
    fn a_reorg_below_the_stored_tip_rewrites_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (short, _) = chain_of(5, 1);
        let (long, _) = chain_of(8, 2);
        let path = dir.path().join("w.headers");
        let (mut file, _) =
            HeaderFile::load(path.clone(), &mut VerifiedChain::new(short.spec().clone()));
        file.save(&short).unwrap();
        file.save(&long).unwrap();
        let (read, warning) = reload(&path);
        assert_eq!((read.tip(), warning), (long.tip(), None));
    }
}
