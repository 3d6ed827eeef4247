//! The network under measurement: a `tern testnet` child process, its control endpoint,
//! a WebSocket client per node, and the nodes' processes as the kernel counts them.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use serde_json::Value;
use tokio::process::{Child, Command};

/// How long the testnet may take to start every node.
const START_PATIENCE: Duration = Duration::from_secs(300);

/// One one-way link as the control endpoint reports it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) bytes: u64,
    pub(crate) connections: u64,
}

/// A running `tern testnet`.
pub(crate) struct Testnet {
    child: Child,
    control: HttpClient,
    /// A WebSocket client of each node's RPC, in node order.
    pub(crate) nodes: Vec<WsClient>,
    _dir: tempfile::TempDir,
}

impl Testnet {
    /// Starts `nodes` nodes with `flags`, and connects to each.
    pub(crate) async fn start(nodes: usize, flags: &[&str]) -> Testnet {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let base = free_base(nodes);
        let data = dir.path().join("net");
        let child = Command::new(env!("CARGO_BIN_EXE_tern"))
            .arg("testnet")
            .args(["--nodes", &nodes.to_string()])
            .args(["--base-port", &base.to_string()])
            .arg("--datadir")
            .arg(&data)
            .args(flags)
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("tern testnet starts");
        let url = wait_for_control(&data).await;
        let control = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(60))
            .build(url)
            .expect("a control client");
        let mut clients = Vec::with_capacity(nodes);
        for i in 0..nodes {
            let port = base + 2 * u16::try_from(i).expect("few nodes");
            let ws = WsClientBuilder::default()
                .max_concurrent_requests(1024)
                .max_buffer_capacity_per_subscription(4096)
                .request_timeout(Duration::from_secs(60))
                .build(format!("ws://127.0.0.1:{port}"))
                .await
                .expect("a WebSocket to the node");
            clients.push(ws);
        }
        Testnet {
            child,
            control,
            nodes: clients,
            _dir: dir,
        }
    }

    /// A control call.
    pub(crate) async fn control(&self, method: &str, params: Vec<Value>) -> Value {
        let mut array = jsonrpsee::core::params::ArrayParams::new();
        for param in params {
            array.insert(param).expect("a parameter");
        }
        self.control
            .request(method, array)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Every one-way link with the bytes it delivered so far.
    pub(crate) async fn links(&self) -> Vec<Link> {
        let status = self.control("testnet_status", Vec::new()).await;
        status["links"]
            .as_array()
            .map(|links| {
                links
                    .iter()
                    .map(|l| Link {
                        from: l["from"].as_u64().unwrap_or(0) as usize,
                        to: l["to"].as_u64().unwrap_or(0) as usize,
                        bytes: l["bytes"].as_u64().unwrap_or(0),
                        connections: l["connections"].as_u64().unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Each node's peer count, in node order.
    pub(crate) async fn peer_counts(&self) -> Vec<u64> {
        let status = self.control("testnet_status", Vec::new()).await;
        status["nodes"]
            .as_array()
            .map(|nodes| {
                nodes
                    .iter()
                    .map(|n| n["view"]["peers"].as_u64().unwrap_or(0))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The node processes (the testnet's children), by pid.
    pub(crate) fn node_pids(&self) -> Vec<u32> {
        let Some(parent) = self.child.id() else {
            return Vec::new();
        };
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // The parent's pid is the second field after the command's closing paren.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|f| f.parse::<u32>().ok());
            if ppid == Some(parent) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Stops the testnet the way Ctrl-C does.
    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self
            .child
            .id()
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        }
        if tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// A process's resident memory, in bytes.
pub(crate) fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time a process's threads have used so far, from the scheduler's own count.
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let mut nanos = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let schedstat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        nanos += schedstat
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(nanos)
}

/// The machine's memory, in bytes.
pub(crate) fn machine_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

async fn wait_for_control(data: &Path) -> String {
    let deadline = tokio::time::Instant::now() + START_PATIENCE;
    loop {
        if let Ok(text) = std::fs::read_to_string(data.join("control.json")) {
            if let Ok(json) = serde_json::from_str::<Value>(&text) {
                if let Some(url) = json["url"].as_str() {
                    return url.to_owned();
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the testnet did not start within {START_PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A base port with the 2 × `nodes` ports after it free on 127.0.0.1.
fn free_base(nodes: usize) -> u16 {
    let seed = (std::process::id() % 1000) as u16;
    for attempt in 0..500u16 {
        let base = 20_000 + ((seed + attempt * 37) % 200) * 200;
        let all_free =
            (0..2 * nodes as u16).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no free port range");
}
