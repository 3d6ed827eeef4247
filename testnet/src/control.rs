//! The running testnet's control surface: a small JSON-RPC endpoint on 127.0.0.1 that
//! the `tern testnet status|kill|restart|pause|resume|add|remove|attack|partition|heal|link`
//! commands (and scripts, and tests) call, and the files that let them find it.
//!
//! The endpoint only forwards: each call becomes a [`Request`] for the testnet's own loop,
//! which owns the node processes, so nothing else ever touches them. Where to find it:
//! `<datadir>/control.json` names the endpoint, and the file [`latest_record`] names the
//! data directory of the testnet this user started last, even a temporary one, so that a
//! command without `--datadir` finds it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tern_rpc::jsonrpsee::core::client::ClientT;
use tern_rpc::jsonrpsee::http_client::HttpClientBuilder;
use tern_rpc::jsonrpsee::server::{RpcModule, Server, ServerHandle};
use tern_rpc::jsonrpsee::types::ErrorObjectOwned;
use tokio::sync::{mpsc, oneshot};

use crate::links::{LinkReport, Partition, ProfileChange};
use tern_p2p::sync::SyncMode;

use super::attack::{AttackKind, AttackReport};
use crate::error::{Refusal, TestnetError};

/// The file in a testnet's data directory that names its control endpoint.
pub(super) const CONTROL_FILE: &str = "control.json";

/// Control calls waiting for the testnet's loop; more are refused as busy.
const PENDING_REQUESTS: usize = 16;

/// What a control call asks of the testnet's loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Every node's state and figures.
    Status,
    /// SIGKILL: nothing flushed.
    Kill(usize),
    /// Start a killed node again on its data directory (a running one is stopped first).
    Restart(usize),
    /// SIGSTOP: the process freezes, its connections stay open.
    Pause(usize),
    /// SIGCONT.
    Resume(usize),
    /// A new node, peering with the running ones, joining as said.
    Add(SyncMode),
    /// Stop a node for good (its data directory stays).
    Remove(usize),
    /// Attach a hostile peer to a node and report what the node did.
    Attack(usize, AttackKind),
    /// Cut every link between nodes on different sides (a new partition replaces the
    /// last one's cuts).
    Partition(Partition),
    /// Heal every cut.
    Heal,
    /// Change one link.
    Link(LinkChange),
}

/// A change to the link between two nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkChange {
    /// One end.
    pub from: usize,
    /// The other end.
    pub to: usize,
    /// Only the direction `from → to`; otherwise both.
    #[serde(default)]
    pub one_way: bool,
    /// How it treats bytes from now on.
    #[serde(default)]
    pub profile: ProfileChange,
    /// Cut it (`true`) or heal it (`false`); unchanged when absent.
    #[serde(default)]
    pub cut: Option<bool>,
}

/// A control call's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    /// Every node's and link's state after the action.
    Network(NetworkStatus),
    /// What came of an attack.
    Attack(AttackReport),
}

/// An action on one node, from the node's number.
type NodeAction = fn(usize) -> Action;

/// A control call and where its answer goes.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) action: Action,
    pub(super) reply: oneshot::Sender<Result<Reply, Refusal>>,
}

/// The network after a control action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatus {
    /// Every node, in order.
    pub nodes: Vec<NodeStatus>,
    /// Every one-way link used or set, with the bytes it carried.
    pub links: Vec<LinkReport>,
}

/// What a node's process is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessState {
    /// Running.
    Running,
    /// Stopped with SIGSTOP.
    Paused,
    /// Killed, not restarted yet.
    Killed,
    /// Removed from the network.
    Removed,
}

/// One node as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Its number.
    pub node: usize,
    /// Its process.
    pub process: ProcessState,
    /// Its RPC URL.
    pub rpc: String,
    /// Its address for peers.
    pub p2p: String,
    /// Where it serves `/metrics`, `/healthy` and `/ready` while it runs (a port of its
    /// own, chosen anew at each start).
    pub metrics: Option<String>,
    /// What its RPC answers, when it is running and answers.
    pub view: Option<NodeView>,
    /// Why there is no view of a running node (its RPC does not answer).
    pub problem: Option<String>,
    /// What its links to other nodes do, where not the testnet's default: `cut →1,2`,
    /// `200ms±20ms 5% loss →3`.
    pub faults: Vec<String>,
}

/// A running node's figures, from its own RPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    /// Tip height.
    pub height: u64,
    /// Tip hash.
    pub tip: String,
    /// Connected peers.
    pub peers: usize,
    /// Pending transactions.
    pub mempool: usize,
    /// `node_health`'s status.
    pub health: String,
}

/// What `control.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct ControlFile {
    /// The endpoint's URL.
    url: String,
    /// The testnet's process id.
    pid: u32,
}

/// Serves the control endpoint on 127.0.0.1, port chosen by the system; records it in
/// `root` and as this user's latest testnet. Calls arrive on the returned receiver.
pub(super) async fn serve(
    root: &Path,
) -> Result<(ServerHandle, SocketAddr, mpsc::Receiver<Request>), TestnetError> {
    let (requests, inbox) = mpsc::channel::<Request>(PENDING_REQUESTS);
    let mut module = RpcModule::new(requests);
    let methods: [(&'static str, NodeAction); 5] = [
        ("testnet_kill", Action::Kill),
        ("testnet_remove", Action::Remove),
        ("testnet_restart", Action::Restart),
        ("testnet_pause", Action::Pause),
        ("testnet_resume", Action::Resume),
    ];
    let refused = |e: tern_rpc::jsonrpsee::core::RegisterMethodError| {
        TestnetError(format!("the control endpoint: {e}"))
    };
    module
        .register_async_method("testnet_status", |_, requests, _| async move {
            forward(&requests, Action::Status).await
        })
        .map_err(refused)?;
    module
        .register_async_method("testnet_add", |params, requests, _| async move {
            let mode: Option<String> = params
                .sequence()
                .optional_next()
                .map_err(|e| rpc_error(-32602, format!("invalid sync mode: {e}")))?;
            let mode = match mode.as_deref() {
                None => SyncMode::Full,
                Some(text) => text
                    .parse::<SyncMode>()
                    .map_err(|e| rpc_error(-32602, e.to_string()))?,
            };
            forward(&requests, Action::Add(mode)).await
        })
        .map_err(refused)?;
    module
        .register_async_method("testnet_heal", |_, requests, _| async move {
            forward(&requests, Action::Heal).await
        })
        .map_err(refused)?;
    module
        .register_async_method("testnet_partition", |params, requests, _| async move {
            let partition: Partition = params
                .one()
                .map_err(|e| rpc_error(-32602, format!("invalid partition: {e}")))?;
            forward(&requests, Action::Partition(partition)).await
        })
        .map_err(refused)?;
    module
        .register_async_method("testnet_link", |params, requests, _| async move {
            let change: LinkChange = params
                .one()
                .map_err(|e| rpc_error(-32602, format!("invalid link change: {e}")))?;
            forward(&requests, Action::Link(change)).await
        })
        .map_err(refused)?;
    module
        .register_async_method("testnet_attack", |params, requests, _| async move {
            let (node, kind): (usize, AttackKind) = params
                .parse()
                .map_err(|e| rpc_error(-32602, format!("invalid node or kind: {e}")))?;
            forward(&requests, Action::Attack(node, kind)).await
        })
        .map_err(refused)?;
    for (name, action) in methods {
        module
            .register_async_method(name, move |params, requests, _| async move {
                let node: usize = params
                    .one()
                    .map_err(|e| rpc_error(-32602, format!("invalid node: {e}")))?;
                forward(&requests, action(node)).await
            })
            .map_err(refused)?;
    }
    let server = Server::builder()
        .build(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| TestnetError(format!("cannot serve the control endpoint: {e}")))?;
    let addr = server
        .local_addr()
        .map_err(|e| TestnetError(format!("the control endpoint: {e}")))?;
    let handle = server.start(module);
    let file = ControlFile {
        url: format!("http://{addr}"),
        pid: std::process::id(),
    };
    let text = serde_json::to_string(&file).map_err(|e| TestnetError(e.to_string()))?;
    let io = |path: &Path, e: std::io::Error| TestnetError(format!("{}: {e}", path.display()));
    let control = root.join(CONTROL_FILE);
    std::fs::write(&control, text).map_err(|e| io(&control, e))?;
    if let Some(latest) = latest_record() {
        if let Some(dir) = latest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        std::fs::write(&latest, root.display().to_string()).map_err(|e| io(&latest, e))?;
    }
    Ok((handle, addr, inbox))
}

async fn forward(
    requests: &mpsc::Sender<Request>,
    action: Action,
) -> Result<Reply, ErrorObjectOwned> {
    let (reply, answer) = oneshot::channel();
    requests
        .try_send(Request { action, reply })
        .map_err(|_| rpc_error(1, "the testnet is busy or stopping".into()))?;
    answer
        .await
        .map_err(|_| rpc_error(1, "the testnet is stopping".into()))?
        .map_err(|refusal| rpc_error(2, refusal.to_string()))
}

fn rpc_error(code: i32, message: String) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message, None::<()>)
}

/// The largest control file read: both are a line of text.
const MAX_CONTROL_FILE: u64 = 64 * 1024;

/// A control file's text, refused when missing or larger than [`MAX_CONTROL_FILE`].
fn read_small(path: &Path) -> Result<String, TestnetError> {
    tern_state::persist::read_bounded(path, MAX_CONTROL_FILE)
        .map_err(|e| TestnetError(format!("{}: {e}", path.display())))?
        .ok_or_else(|| TestnetError(format!("{}: no such file", path.display())))
}

/// Where `tern testnet` records the data directory of the testnet this user started
/// last: `$XDG_STATE_HOME/tern/testnet-latest`, else `~/.local/state/tern/testnet-latest`.
pub fn latest_record() -> Option<PathBuf> {
    let base = match (std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME")) {
        (Some(state), _) if !state.is_empty() => PathBuf::from(state),
        (_, Some(home)) if !home.is_empty() => PathBuf::from(home).join(".local/state"),
        _ => return None,
    };
    Some(base.join("tern").join("testnet-latest"))
}

/// Sends `action` to the testnet in `datadir`, or to the one this user started last.
/// "No testnet is running" is an error, as is a node that does not exist.
pub async fn call(datadir: Option<&Path>, action: Action) -> Result<Reply, TestnetError> {
    let root = match datadir {
        Some(dir) => dir.to_path_buf(),
        None => {
            let latest = latest_record().ok_or_else(|| {
                TestnetError("no HOME or XDG_STATE_HOME to find the testnet: pass --datadir".into())
            })?;
            let text = read_small(&latest).map_err(|_| {
                TestnetError(
                    "no testnet is running (none was started by this user); pass --datadir".into(),
                )
            })?;
            PathBuf::from(text.trim())
        }
    };
    let not_running = || TestnetError(format!("no testnet is running in {}", root.display()));
    let text = read_small(&root.join(CONTROL_FILE)).map_err(|_| not_running())?;
    let file: ControlFile = serde_json::from_str(&text).map_err(|_| not_running())?;
    // An attack waits for the node's answer, up to its own patience.
    let client = HttpClientBuilder::default()
        .request_timeout(super::attack::ATTACK_PATIENCE + std::time::Duration::from_secs(30))
        .build(&file.url)
        .map_err(|e| TestnetError(format!("{}: {e}", file.url)))?;
    let mut array = tern_rpc::jsonrpsee::core::params::ArrayParams::new();
    let (method, params) = match action {
        Action::Partition(partition) => {
            array
                .insert(partition)
                .map_err(|e| TestnetError(format!("testnet_partition: {e}")))?;
            ("testnet_partition", None)
        }
        Action::Link(change) => {
            array
                .insert(change)
                .map_err(|e| TestnetError(format!("testnet_link: {e}")))?;
            ("testnet_link", None)
        }
        Action::Heal => ("testnet_heal", None),
        Action::Attack(node, kind) => {
            array
                .insert(node)
                .and_then(|()| array.insert(kind))
                .map_err(|e| TestnetError(format!("testnet_attack: {e}")))?;
            ("testnet_attack", None)
        }
        Action::Status => ("testnet_status", None),
        Action::Kill(n) => ("testnet_kill", Some(n)),
        Action::Restart(n) => ("testnet_restart", Some(n)),
        Action::Pause(n) => ("testnet_pause", Some(n)),
        Action::Resume(n) => ("testnet_resume", Some(n)),
        Action::Add(mode) => {
            array
                .insert(mode.name())
                .map_err(|e| TestnetError(format!("testnet_add: {e}")))?;
            ("testnet_add", None)
        }
        Action::Remove(n) => ("testnet_remove", Some(n)),
    };
    if let Some(node) = params {
        array
            .insert(node)
            .map_err(|e| TestnetError(format!("{method}: {e}")))?;
    }
    client.request(method, array).await.map_err(|e| match e {
        tern_rpc::jsonrpsee::core::client::Error::Call(call) => {
            TestnetError(call.message().to_owned())
        }
        tern_rpc::jsonrpsee::core::client::Error::RequestTimeout => TestnetError(format!(
            "the testnet in {} did not answer in time",
            root.display()
        )),
        _ => not_running(),
    })
}
