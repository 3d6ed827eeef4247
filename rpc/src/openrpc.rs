//! The OpenRPC document served by `rpc.discover`: every method with its parameters and a
//! summary. A test checks its method list against what the server registers.

use serde_json::{json, Value};

/// One method: name, summary, parameters (name, required), whether it is admin-only.
struct Method {
    name: &'static str,
    summary: &'static str,
    /// Name, whether required, and what it takes.
    params: &'static [(&'static str, bool, Kind)],
    admin: bool,
}

/// What a parameter takes: its JSON schema in the document, and the check that names a
/// parameter that does not decode ([`misfit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A non-negative integer.
    Unsigned,
    /// A non-negative integer below 2^32 (a page size).
    Unsigned32,
    /// A string (a hash, an address, hex bytes, a cursor).
    Text,
    /// A boolean.
    Bool,
    /// A block: a height or a hash.
    Block,
    /// Decoded by the method itself.
    Any,
}

impl Kind {
    fn schema(self) -> Value {
        match self {
            Kind::Unsigned => json!({ "type": "integer", "minimum": 0 }),
            Kind::Unsigned32 => json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX }),
            Kind::Text => json!({ "type": "string" }),
            Kind::Bool => json!({ "type": "boolean" }),
            Kind::Block => {
                json!({ "oneOf": [{ "type": "integer", "minimum": 0 }, { "type": "string" }] })
            }
            Kind::Any => json!({}),
        }
    }

    fn accepts(self, value: &Value) -> bool {
        match self {
            Kind::Unsigned => value.as_u64().is_some(),
            Kind::Unsigned32 => value.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
            Kind::Text => value.is_string(),
            Kind::Bool => value.is_boolean(),
            Kind::Block => value.as_u64().is_some() || value.is_string(),
            Kind::Any => true,
        }
    }
}

/// The first parameter of `method` that `params` (positional or by name) gives a value
/// it cannot take, or leaves out though it is required: what an "Invalid params" from
/// the decoder is about.
pub fn misfit(method: &str, params: &Value) -> Option<&'static str> {
    let method = METHODS.iter().find(|m| m.name == method)?;
    method
        .params
        .iter()
        .enumerate()
        .find(|(i, (name, required, kind))| {
            let value = match params {
                Value::Array(values) => values.get(*i),
                Value::Object(values) => values.get(*name),
                _ => None,
            };
            match value {
                None | Some(Value::Null) => *required,
                Some(value) => !kind.accepts(value),
            }
        })
        .map(|(_, (name, _, _))| *name)
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
        summary: "Syncing or not; height, rate, ETA; a snapshot sync's phase and state download.",
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
        name: "node_version",
        summary: "The node's software and version, as tern/0.1.0.",
        params: &[],
        admin: false,
    },
    Method {
        name: "net_addPeer",
        summary: "Connect to host:port now and keep trying it.",
        params: &[("address", true, Kind::Text)],
        admin: true,
    },
    Method {
        name: "net_ban",
        summary: "Ban a node id or IP address and disconnect it.",
        params: &[
            ("target", true, Kind::Text),
            ("durationSecs", false, Kind::Unsigned),
        ],
        admin: true,
    },
    Method {
        name: "net_unban",
        summary: "Lift a ban.",
        params: &[("target", true, Kind::Text)],
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
        summary: "A block by height or hash (ids or whole transactions, work, reward, canonical).",
        params: &[("block", true, Kind::Block), ("full", false, Kind::Bool)],
        admin: false,
    },
    Method {
        name: "chain_getHeader",
        summary: "A header by height or hash.",
        params: &[("block", true, Kind::Block)],
        admin: false,
    },
    Method {
        name: "chain_getHeaders",
        summary: "Up to 2,000 canonical headers from a height, each the hex of its 188 bytes.",
        params: &[
            ("start", true, Kind::Unsigned),
            ("count", false, Kind::Unsigned32),
        ],
        admin: false,
    },
    Method {
        name: "chain_getBlockHash",
        summary: "The canonical hash at a height.",
        params: &[("height", true, Kind::Unsigned)],
        admin: false,
    },
    Method {
        name: "tx_submit",
        summary: "Submit a signed transaction (hex of its encoding); returns its id.",
        params: &[("transaction", true, Kind::Text)],
        admin: false,
    },
    Method {
        name: "tx_get",
        summary:
            "A transaction's status: pending (and why), confirmed, dropped (and why) or unknown.",
        params: &[("txid", true, Kind::Text)],
        admin: false,
    },
    Method {
        name: "account_get",
        summary: "Balance, nonce, pending nonce and pending balance.",
        params: &[("address", true, Kind::Text)],
        admin: false,
    },
    Method {
        name: "tx_getProof",
        summary:
            "A confirmed transaction's place in its block and its audit path to the Merkle root.",
        params: &[("txid", true, Kind::Text)],
        admin: false,
    },
    Method {
        name: "account_getProof",
        summary: "An account at a block with the proof of it under the block's state root.",
        params: &[("address", true, Kind::Text), ("block", false, Kind::Block)],
        admin: false,
    },
    Method {
        name: "account_history",
        summary: "Transactions touching an address, newest first, paged.",
        params: &[
            ("address", true, Kind::Text),
            ("cursor", false, Kind::Text),
            ("limit", false, Kind::Unsigned32),
        ],
        admin: false,
    },
    Method {
        name: "mempool_info",
        summary: "Pending count, bytes, minimum fee, rejections and a fee histogram.",
        params: &[],
        admin: false,
    },
    Method {
        name: "fee_estimate",
        summary: "The fee to be mined within 1 to 100 blocks, and the facts it rests on.",
        params: &[("targetBlocks", true, Kind::Unsigned)],
        admin: false,
    },
    Method {
        name: "mempool_list",
        summary: "Pending transactions, best-paying first, or those touching an address.",
        params: &[
            ("limit", false, Kind::Unsigned32),
            ("address", false, Kind::Text),
        ],
        admin: false,
    },
    Method {
        name: "chain_subscribeHeads",
        summary: "Subscribe to tip changes, resumable from an epoch and seq.",
        params: &[("since", false, Kind::Any)],
        admin: false,
    },
    Method {
        name: "chain_unsubscribeHeads",
        summary: "End a heads subscription.",
        params: &[("subscription", true, Kind::Any)],
        admin: false,
    },
    Method {
        name: "tx_subscribeStatus",
        summary: "Subscribe to a transaction's status until it has N confirmations.",
        params: &[
            ("txid", true, Kind::Text),
            ("confirmations", false, Kind::Unsigned),
        ],
        admin: false,
    },
    Method {
        name: "tx_unsubscribeStatus",
        summary: "End a status subscription.",
        params: &[("subscription", true, Kind::Any)],
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
        params: &[
            ("count", true, Kind::Unsigned),
            ("reward", false, Kind::Text),
        ],
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
        params: &[
            ("reward", true, Kind::Text),
            ("threads", false, Kind::Unsigned),
        ],
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

/// The OpenRPC document, listing admin methods only if `admin`.
pub fn document(admin: bool) -> Value {
    let methods: Vec<Value> = METHODS
        .iter()
        .filter(|m| admin || !m.admin)
        .map(|m| {
            json!({
                "name": m.name,
                "summary": m.summary,
                "params": m.params.iter().map(|(name, required, kind)| json!({ "name": name, "required": required, "schema": kind.schema() })).collect::<Vec<_>>(),
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
