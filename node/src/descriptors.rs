//! File descriptors: the process's open-file limit is raised toward its hard limit at
//! start, and the RPC connection slots are fitted into what the store and the peers
//! leave, as Bitcoin Core does. Under the common soft limit of 1,024, a thousand idle
//! RPC connections used to exhaust the node's descriptors: new clients timed out, the
//! store could not open files and the address book could not be saved.

use tern_rpc::server::connections::ConnectionLimits;

/// Descriptors for everything but the store, peers and RPC: listeners, the data
/// directory's lock and saved files, the metrics server, log files.
const OTHER_FILES: u64 = 64;

/// Fewest RPC slots of each kind the node will run with, however tight descriptors are.
const MIN_SLOTS: usize = 8;

/// Raises the soft open-file limit to the hard one; the soft limit now in force, or
/// `None` when there is none.
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_some() && limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(%error, "cannot raise the open-file limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Lowers `limits` so that the store, `peers` connections and the RPC slots fit in
/// `open_files` descriptors; whether anything was lowered.
pub fn fit_rpc_slots(limits: &mut ConnectionLimits, peers: usize, open_files: u64) -> bool {
    let store = u64::try_from(tern_state::store::MAX_OPEN_FILES).unwrap_or(0);
    let reserved = store + peers as u64 + OTHER_FILES;
    let budget = usize::try_from(open_files.saturating_sub(reserved)).unwrap_or(usize::MAX);
    let wanted = limits.max_http + limits.max_ws;
    if wanted <= budget {
        return false;
    }
    // Shared in proportion, each kind keeping at least a few slots.
    let http = (limits.max_http * budget / wanted.max(1)).max(MIN_SLOTS);
    let ws = budget.saturating_sub(http).max(MIN_SLOTS);
    limits.max_http = http.min(limits.max_http);
    limits.max_ws = ws.min(limits.max_ws);
    limits.max_per_ip = limits.max_per_ip.min(limits.max_http + limits.max_ws);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_that_fit_are_kept_and_others_shared_out() {
        let mut limits = ConnectionLimits::default();
        assert!(!fit_rpc_slots(&mut limits, 133, 65_536));
        assert_eq!(limits, ConnectionLimits::default());
        // 1,024 descriptors: 512 for the store, 133 peers, 64 others leave 315.
        assert!(!fit_rpc_slots(&mut limits, 133, 1_024));
        // 800 leave 91: shared out half and half.
        assert!(fit_rpc_slots(&mut limits, 133, 800));
        assert_eq!((limits.max_http, limits.max_ws), (45, 46));
        assert!(limits.max_per_ip <= 91);
        // Almost nothing left: a few slots each, still.
        let mut limits = ConnectionLimits::default();
        assert!(fit_rpc_slots(&mut limits, 133, 256));
        assert_eq!((limits.max_http, limits.max_ws), (MIN_SLOTS, MIN_SLOTS));
    }
}
