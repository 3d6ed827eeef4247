//! What the testnet prints: the welcome screen with the nodes, the dev accounts and the
//! commands to try, and the status lines, redrawn in place on a terminal.

use std::io::Write;
use std::net::SocketAddr;

use crate::links::LinkProfile;
use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_rpc::chain::TernApiClient;
use tern_rpc::server::RpcConfig;

use super::control::NodeStatus;
use super::nodes::{state_name, Slot};
use super::{Root, TestnetArgs, DEV_ACCOUNTS, REWARD_ACCOUNT};
use crate::DevBlocks;

pub(super) async fn print_welcome(
    spec: &ChainSpec,
    root: &Root,
    slots: &[Slot],
    args: &TestnetArgs,
    dev_blocks: Option<DevBlocks>,
    (links, seed): (LinkProfile, u64),
    control: SocketAddr,
) {
    let miners = args.miners();
    let mut out = String::new();
    let keep = if root.temporary {
        "removed at exit; pass --datadir to keep the network"
    } else {
        "kept: run the same command again to resume"
    };
    out.push_str(&format!(
        "tern testnet: {} nodes on {}, data in {} ({keep})\n\n",
        slots.len(),
        spec.name,
        root.path.display()
    ));
    for (i, slot) in slots.iter().enumerate() {
        let role = match (i, dev_blocks) {
            (_, _) if i >= usize::from(miners) => String::new(),
            (0, Some(DevBlocks::Automine)) => "  automine".into(),
            (0, Some(DevBlocks::Every(interval))) => {
                format!("  a block every {} s", interval.as_secs())
            }
            _ => "  mining".into(),
        };
        out.push_str(&format!(
            "  node {i}  rpc http://{}  p2p {}{role}\n",
            slot.rpc, slot.p2p.advertised
        ));
    }
    if let Some(first) = slots.first() {
        out.push_str(&format!(
            "\nExplorer: http://{}/explorer/#/network/{control}\n  \
             (the whole network live; each node's own explorer is at http://<its rpc>/explorer/)\n",
            first.rpc
        ));
    }
    let randomness = if links.jitter.duration().is_zero() && links.loss.probability() == 0.0 {
        String::new()
    } else {
        format!(" (--link-seed {seed} repeats its draws)")
    };
    out.push_str(&format!(
        "\nLinks between nodes: {links}{randomness}, each through the testnet's link layer.\n\
         Each node is a `tern node` process logging to <data>/node-N/node.log. Control \
         endpoint: http://{control} (tern testnet status | partition 0 / 1,2 | heal | \
         link I J --latency 200ms | kill N | restart N | pause N | resume N | add | remove N \
         | attack N --kind K, from another terminal).\n"
    ));
    out.push_str("\nDev accounts (their keys are public: never use them on a real network):\n");
    if let Some(node) = slots.first().and_then(|s| s.process.as_ref()) {
        for index in 0..DEV_ACCOUNTS {
            let key = dev_secret_key(index);
            let address = spec.format_address(&key.address());
            let balance = match node.client.account_get(address.clone()).await {
                Ok(account) => account.balance,
                Err(error) => error.to_string(),
            };
            let note = if index == REWARD_ACCOUNT {
                "  (mining rewards)"
            } else {
                ""
            };
            out.push_str(&format!(
                "  {index}  {address}  secret {}  balance {balance}{note}\n",
                hex::encode(key.to_bytes())
            ));
        }
    }
    let rpc_flag = |slot: Option<&Slot>| {
        slot.map(|s| s.rpc)
            .filter(|addr| *addr != RpcConfig::default().addr)
            .map_or(String::new(), |addr| format!(" --rpc http://{addr}"))
    };
    // The binary running now, so that the commands work as printed whether or not
    // `tern` is on the PATH.
    let tern = std::env::current_exe().map_or_else(|_| "tern".into(), |p| p.display().to_string());
    let first = rpc_flag(slots.first());
    let second = rpc_flag(slots.get(1).or(slots.first()));
    out.push_str(&format!(
        "\nTry, from another terminal:\n  \
         {tern} wallet import --name alice --dev 0\n  \
         {tern} wallet import --name bob --dev 1\n  \
         {tern} wallet send --from alice --to bob --amount 1000000 --wait 1{first}\n  \
         {tern} wallet balance bob{second}\n  \
         {tern} testnet partition 0 / 1,2\n  \
         {tern} testnet status\n  \
         {tern} testnet heal\n\nCtrl-C stops every node.\n\n"
    ));
    print!("{out}");
    let _ = std::io::stdout().flush();
}

/// One line per node, as the status screen and `tern testnet status` print them, each
/// ending with the node's link faults.
pub(super) fn status_lines(statuses: &[NodeStatus]) -> Vec<String> {
    statuses
        .iter()
        .map(|s| {
            let line = node_line(s);
            if s.faults.is_empty() {
                line
            } else {
                format!("{line}  [{}]", s.faults.join("; "))
            }
        })
        .collect()
}

fn node_line(s: &NodeStatus) -> String {
    match (&s.view, &s.problem, s.process) {
        (Some(v), _, _) => format!(
            "node {}: height {} tip {} peers {} mempool {} {}",
            s.node,
            v.height,
            short(&v.tip),
            v.peers,
            v.mempool,
            v.health
        ),
        (None, Some(problem), _) => format!("node {}: not answering ({problem})", s.node),
        (None, None, state) => format!("node {}: {}", s.node, state_name(state)),
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Redraws the status lines where they were, on a terminal.
pub(super) fn draw_in_place(lines: &[String], drawn: bool) {
    let mut out = String::new();
    if drawn {
        // Cursor up over the previous block of lines.
        out.push_str(&format!("\x1b[{}A", lines.len()));
    }
    for line in lines {
        out.push_str("\x1b[2K");
        out.push_str(line);
        out.push('\n');
    }
    print!("{out}");
    let _ = std::io::stdout().flush();
}
