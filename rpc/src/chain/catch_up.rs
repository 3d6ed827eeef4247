//! Resuming a head subscription from a block rather than from a sequence number: what a
//! client needs after the node restarted (a new epoch, so its `seq` means nothing now)
//! or after it was away longer than the backlog holds. The client names its tip, the last
//! block its view of the chain ends at; the node answers with the events that take that
//! view to its own tip: the client's blocks that are no longer on the chain, newest first,
//! then the chain's blocks from the common ancestor up. Blocks of every branch stay in
//! the store, so this needs no log that outlives a run.

use tern_chain::block::Header;
use tern_chain::types::BlockHash;
use tern_state::chain::ChainReader;
use tern_state::store::StoreError;

/// The way from one block to another through their common ancestor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Way {
    /// From the first block down, newest first, the ancestor left out.
    pub(crate) disconnect: Vec<Header>,
    /// From above the ancestor up to the second block, oldest first.
    pub(crate) connect: Vec<Header>,
}

/// The way from block `from` to block `to`. `None` when either block is unknown or the
/// way is longer than `max` headers.
pub(crate) fn way_between(
    reader: &ChainReader,
    from: BlockHash,
    to: BlockHash,
    max: usize,
) -> Result<Option<Way>, StoreError> {
    let (Some(mut down_at), Some(mut up_at)) = (reader.header(&from)?, reader.header(&to)?) else {
        return Ok(None);
    };
    let (mut down, mut up) = (Vec::new(), Vec::new());
    while down_at.hash() != up_at.hash() {
        if down.len() + up.len() >= max {
            return Ok(None);
        }
        // Step back whichever side is higher (the client's side on a tie), so both meet
        // at the common ancestor.
        let (side, at) = if down_at.height >= up_at.height {
            (&mut down, &mut down_at)
        } else {
            (&mut up, &mut up_at)
        };
        let Some(parent) = reader.header(&at.parent)? else {
            // Below genesis: the two blocks share no ancestor.
            return Ok(None);
        };
        side.push(*at);
        *at = parent;
    }
    up.reverse();
    Ok(Some(Way {
        disconnect: down,
        connect: up,
    }))
}
