//! A file of blocks: each a `u32` little-endian length and the block's canonical encoding.

use std::io::{self, Read, Write};
use std::path::Path;

use tern_chain::block::Block;
use tern_chain::encoding;

/// Writes `blocks` to `path`.
pub fn write(path: &Path, blocks: &[Block]) -> io::Result<()> {
    let mut file = io::BufWriter::new(std::fs::File::create(path)?);
    for block in blocks {
        let bytes = encoding::encode(block);
        let len = u32::try_from(bytes.len()).map_err(|_| io::Error::other("block too large"))?;
        file.write_all(&len.to_le_bytes())?;
        file.write_all(&bytes)?;
    }
    file.flush()
}

/// Reads every block in `path`.
pub fn read(path: &Path) -> io::Result<Vec<Block>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    let mut blocks = Vec::new();
    let mut rest = bytes.as_slice();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_le_bytes(*len) as usize;
        let body = tail
            .get(..len)
            .ok_or_else(|| io::Error::other("truncated block file"))?;
        blocks.push(encoding::decode(body).map_err(|e| io::Error::other(e.to_string()))?);
        rest = tail.get(len..).unwrap_or_default();
    }
    if !rest.is_empty() {
        return Err(io::Error::other("trailing bytes in block file"));
    }
    Ok(blocks)
}
