//! One testnet node as a child `tern node` process: started with the flags the testnet
//! plans for it, known by the addresses it announces on standard output, logging to a
//! file in its data directory, and stopped as an operator stops a node (SIGTERM).
//!
//! Each child runs with `--exit-with-parent`, so it stops when `tern testnet` is gone,
//! even when it was killed with SIGKILL and could stop nobody.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::{kill_process, Pid, Signal};
use tern_rpc::jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::error::TestnetError;

/// How long a node may take from spawn to announcing that it runs: a store opened and
/// checked, listeners bound.
const STARTUP_PATIENCE: Duration = Duration::from_secs(60);

/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_PATIENCE: Duration = Duration::from_secs(30);

/// How long a status call to a node may take: a node that does not answer in time is
/// shown as such, not waited for.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// A running testnet node.
#[derive(Debug)]
pub(super) struct NodeProcess {
    child: Child,
    /// A client of its RPC.
    pub(super) client: HttpClient,
    /// Where it serves `/metrics`, `/healthy` and `/ready`, if it does.
    pub(super) metrics: Option<SocketAddr>,
}

impl NodeProcess {
    /// Starts `tern node` with `args`, logging to `log`, and waits until it announces
    /// that it runs. A node that exits first is an error carrying the last line it
    /// logged.
    pub(super) async fn start(args: &[String], log: &Path) -> Result<NodeProcess, TestnetError> {
        let exe = std::env::current_exe().map_err(|e| {
            TestnetError(format!("cannot find the tern binary to start nodes: {e}"))
        })?;
        // Appended to: a node restarted after a kill keeps the log of how it died.
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| TestnetError(format!("{}: {e}", log.display())))?;
        let mut child = Command::new(exe)
            .arg("node")
            .args(args)
            .arg("--exit-with-parent")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TestnetError(format!("cannot start a node: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| TestnetError("a node's standard output was not captured".into()))?;
        let announced = tokio::time::timeout(STARTUP_PATIENCE, read_announcements(stdout)).await;
        let (rpc, metrics) = match announced {
            Ok(Some(announced)) => announced,
            Ok(None) => {
                let status = child.wait().await.ok();
                return Err(TestnetError(format!(
                    "the node exited at start ({}): {}",
                    status.map_or("unknown status".into(), |s| s.to_string()),
                    last_line(log)
                )));
            }
            Err(_) => {
                return Err(TestnetError(format!(
                    "the node did not start within {} s; its log: {}",
                    STARTUP_PATIENCE.as_secs(),
                    log.display()
                )))
            }
        };
        let client = HttpClientBuilder::default()
            .request_timeout(CALL_TIMEOUT)
            .build(format!("http://{rpc}"))
            .map_err(|e| TestnetError(format!("an RPC client for {rpc}: {e}")))?;
        Ok(NodeProcess {
            child,
            client,
            metrics,
        })
    }

    /// Waits until the process exits, whatever made it.
    pub(super) async fn exited(&mut self) -> ExitStatus {
        match self.child.wait().await {
            Ok(status) => status,
            // Waiting failed: the process cannot be watched, so count it as gone.
            Err(_) => std::os::unix::process::ExitStatusExt::from_raw(1),
        }
    }

    /// Sends `signal` to the process; an error if it is gone.
    pub(super) fn signal(&self, signal: Signal) -> std::io::Result<()> {
        let pid = self
            .child
            .id()
            .and_then(|id| Pid::from_raw(i32::try_from(id).ok()?))
            .ok_or_else(|| std::io::Error::other("the process has exited"))?;
        kill_process(pid, signal).map_err(std::io::Error::from)
    }

    /// Kills the process the hard way (SIGKILL: nothing flushed) and waits for it.
    pub(super) async fn kill(mut self) {
        // Already gone is as killed as it gets.
        let _ = self.child.kill().await;
    }

    /// Stops the node with SIGTERM and waits for it; one that does not stop within
    /// [`STOP_PATIENCE`] is killed. Its exit status.
    pub(super) async fn stop(mut self) -> Option<ExitStatus> {
        // A paused process must run again to handle SIGTERM; either may find it gone,
        // and the wait below reports how it ended.
        let _ = self.signal(Signal::CONT);
        let _ = self.signal(Signal::TERM);
        match tokio::time::timeout(STOP_PATIENCE, self.child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                let _ = self.child.kill().await;
                None
            }
        }
    }
}

/// Reads a node's announcements (see `announce_listeners` in run.rs) until it says it
/// runs: the addresses its RPC and its metrics are served on. `None` if the output ends
/// first (the node exited) or named no RPC address.
async fn read_announcements(
    stdout: tokio::process::ChildStdout,
) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let mut lines = BufReader::new(stdout).lines();
    let (mut rpc, mut metrics) = (None, None);
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(addr) = line.strip_prefix("rpc listening on ") {
            rpc = addr.parse().ok();
        } else if let Some(addr) = line.strip_prefix("metrics listening on ") {
            metrics = addr.parse().ok();
        } else if line.starts_with("node running") {
            return Some((rpc?, metrics));
        }
    }
    None
}

/// How much of a log's end is read for its last line: a log appended to over many runs
/// can be large.
const LOG_TAIL: u64 = 64 * 1024;

/// The last line of a log, for a one-line error.
fn last_line(log: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let tail = std::fs::File::open(log).and_then(|mut file| {
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL)))?;
        let mut bytes = Vec::new();
        file.take(LOG_TAIL).read_to_end(&mut bytes)?;
        Ok(bytes)
    });
    tail.ok()
        .and_then(|bytes| {
            String::from_utf8_lossy(&bytes)
                .lines()
                .last()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("see {}", log.display()))
}
