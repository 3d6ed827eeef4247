//! The OpenRPC document served by `rpc.discover`: every method with its parameters and a
//! summary. A test checks its method list against what the server registers.

use serde_json::{json, Value};

/// One method: name, summary, parameters (name, required), whether it is admin-only.
struct Method {
    name: &'static str,
    summary: &'static str,
    params: &'static [(&'static str, bool)],
    admin: bool,
}

const METHODS: &[Method] = &[
    Method {
        name: "net_info",
        summary: "This node's id, listen address and peer counts.",
        params: &[],
        admin: false,
    },
    Method {
        name: "net_peers",
        summary: "Connected peers: id, address, direction, height, round trip, bytes.",
        params: &[],
        admin: false,
    },
    Method {
        name: "chain_syncStatus",
        summary: "Syncing or not; current and best known height, rate, ETA.",
        params: &[],
        admin: false,
    },
    Method {
        name: "node_health",
        summary: "ok, syncing, no_peers or failed, with the reason.",
        params: &[],
        admin: false,
    },
    Method {
        name: "net_addPeer",
        summary: "Connect to host:port now and keep trying it.",
        params: &[("address", true)],
        admin: true,
    },
    Method {
        name: "net_ban",
        summary: "Ban a node id or IP address and disconnect it.",
        params: &[("target", true), ("durationSecs", false)],
        admin: true,
    },
    Method {
        name: "net_unban",
        summary: "Lift a ban.",
        params: &[("target", true)],
        admin: true,
    },
    Method {
        name: "net_bans",
        summary: "The bans in force.",
        params: &[],
        admin: true,
    },
    Method {
        name: "chain_info",
        summary: "The chain and its tip.",
        params: &[],
        admin: false,
    },
    Method {
        name: "chain_getBlock",
        summary: "A block by height or hash, with ids or whole transactions.",
        params: &[("block", true), ("full", false)],
        admin: false,
    },
    Method {
        name: "chain_getHeader",
        summary: "A header by height or hash.",
        params: &[("block", true)],
        admin: false,
    },
    Method {
        name: "chain_getBlockHash",
        summary: "The canonical hash at a height.",
        params: &[("height", true)],
        admin: false,
    },
    Method {
        name: "tx_submit",
        summary: "Submit a signed transaction (hex of its encoding); returns its id.",
        params: &[("transaction", true)],
        admin: false,
    },
    Method {
        name: "tx_get",
        summary: "A transaction's status: pending, confirmed or unknown.",
        params: &[("txid", true)],
        admin: false,
    },
    Method {
        name: "account_get",
        summary: "Balance, nonce, pending nonce and pending balance.",
        params: &[("address", true)],
        admin: false,
    },
    Method {
        name: "account_history",
        summary: "Transactions touching an address, newest first, paged.",
        params: &[("address", true), ("cursor", false), ("limit", false)],
        admin: false,
    },
    Method {
        name: "mempool_info",
        summary: "Pending count, bytes, minimum fee and rejections.",
        params: &[],
        admin: false,
    },
    Method {
        name: "mempool_list",
        summary: "Pending transactions, best-paying first.",
        params: &[("limit", false)],
        admin: false,
    },
    Method {
        name: "chain_subscribeHeads",
        summary: "Subscribe to tip changes, resumable from an epoch and seq.",
        params: &[("since", false)],
        admin: false,
    },
    Method {
        name: "chain_unsubscribeHeads",
        summary: "End a heads subscription.",
        params: &[("subscription", true)],
        admin: false,
    },
    Method {
        name: "tx_subscribeStatus",
        summary: "Subscribe to a transaction's status until it has N confirmations.",
        params: &[("txid", true), ("confirmations", false)],
        admin: false,
    },
    Method {
        name: "tx_unsubscribeStatus",
        summary: "End a status subscription.",
        params: &[("subscription", true)],
        admin: false,
    },
    Method {
        name: "rpc.discover",
        summary: "This document.",
        params: &[],
        admin: false,
    },
    Method {
        name: "dev_mine",
        summary: "Mine blocks now on a development chain.",
        params: &[("count", true), ("reward", false)],
        admin: true,
    },
    Method {
        name: "miner_status",
        summary: "What the miner is doing.",
        params: &[],
        admin: true,
    },
    Method {
        name: "miner_start",
        summary: "Start mining.",
        params: &[("reward", true), ("threads", false)],
        admin: true,
    },
    Method {
        name: "miner_stop",
        summary: "Stop mining.",
        params: &[],
        admin: true,
    },
];

/// The names of the methods the document lists, admin ones only if `admin`.
pub fn method_names(admin: bool) -> Vec<&'static str> {
    METHODS
        .iter()
        .filter(|m| admin || !m.admin)
        .map(|m| m.name)
        .collect()
}

/// Whether `name` is a method this server may serve (admin ones included).
pub fn is_method(name: &str) -> bool {
    METHODS.iter().any(|m| m.name == name)
}

/// The OpenRPC document, listing admin methods only if `admin`.
pub fn document(admin: bool) -> Value {
    let methods: Vec<Value> = METHODS
        .iter()
        .filter(|m| admin || !m.admin)
        .map(|m| {
            json!({
                "name": m.name,
                "summary": m.summary,
                "params": m.params.iter().map(|(name, required)| json!({ "name": name, "required": required, "schema": {} })).collect::<Vec<_>>(),
                "result": { "name": "result", "schema": {} },
                "tags": if m.admin { vec![json!({ "name": "admin" })] } else { vec![] },
            })
        })
        .collect();
    json!({
        "openrpc": "1.2.6",
        "info": { "title": "Tern node JSON-RPC", "version": env!("CARGO_PKG_VERSION") },
        "methods": methods,
    })
}
