//! Real `tern node` child processes for the integration tests that need an operator's
//! view: exit codes, logs, kills and restarts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod browser;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use tern_rpc::chain::TernApiClient;

pub(crate) const TERN: &str = env!("CARGO_BIN_EXE_tern");

/// How long a node may take from spawn to announcing its listeners.
const STARTUP_PATIENCE: Duration = Duration::from_secs(60);

/// How to start a node process.
#[derive(Debug, Default)]
pub(crate) struct Launch<'a> {
    /// Peers to dial.
    pub(crate) peers: &'a [SocketAddr],
    /// Admin RPC methods without the cookie.
    pub(crate) admin: bool,
    /// Environment variables to set.
    pub(crate) env: &'a [(&'a str, &'a str)],
    /// Extra flags.
    pub(crate) args: &'a [&'a str],
    /// Write standard error (at `info`) to this file, for [`NodeProcess::wait_exit`];
    /// otherwise discard it. A file, not a pipe: a node logging faster than the test
    /// reads must never block on its log.
    pub(crate) log_file: Option<&'a Path>,
    /// Start under these open-file limits (soft, hard), as `ulimit -n` sets them.
    pub(crate) open_files: Option<(u64, u64)>,
    /// The chain spec [default: `dev`].
    pub(crate) genesis: Option<&'a str>,
}

/// What became of a node started with [`NodeProcess::try_launch`].
pub(crate) enum Launched {
    /// It announced its listeners.
    Running(NodeProcess),
    /// It exited first: its status and its log (empty unless written to a file).
    Exited(ExitStatus, String),
}

/// A node's log, if it was written to a file; empty otherwise.
fn read_log(file: Option<&Path>) -> String {
    file.map(|file| std::fs::read_to_string(file).unwrap_or_default())
        .unwrap_or_default()
}

/// What a node announces on standard output at start.
struct Announced {
    p2p: SocketAddr,
    rpc: SocketAddr,
    /// The `blocks:` line: how it makes blocks.
    blocks: String,
}

/// Reads a node's standard output on a thread of its own until the node closes it: the
/// first `p2p listening on` and `rpc listening on` addresses and the `blocks:` line are
/// sent once the `node running` line arrives. The channel disconnects, unsent, if the
/// node exits first.
fn read_announcements(stdout: ChildStdout) -> mpsc::Receiver<Announced> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut p2p, mut rpc, mut blocks) = (None, None, String::new());
        let mut send = Some(send);
        // Read to the end, so that the node never blocks on a full pipe.
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("p2p listening on ") {
                p2p = addr.parse().ok();
            } else if let Some(addr) = line.strip_prefix("rpc listening on ") {
                rpc = addr.parse().ok();
            } else if let Some(how) = line.strip_prefix("blocks: ") {
                blocks = how.to_owned();
            } else if line.starts_with("node running") {
                if let (Some(send), Some(p2p), Some(rpc)) = (send.take(), p2p, rpc) {
                    let blocks = std::mem::take(&mut blocks);
                    let _ = send.send(Announced { p2p, rpc, blocks });
                }
            }
        }
    });
    receive
}

/// A `tern node` child process, killed when dropped.
pub(crate) struct NodeProcess {
    pub(crate) child: Child,
    log_file: Option<std::path::PathBuf>,
    pub(crate) p2p: SocketAddr,
    pub(crate) rpc_addr: SocketAddr,
    pub(crate) rpc: HttpClient,
    /// How it said it makes blocks (its `blocks:` line).
    pub(crate) blocks: String,
}

impl NodeProcess {
    pub(crate) fn start(dir: &Path, peers: &[SocketAddr], admin: bool) -> NodeProcess {
        NodeProcess::launch(
            dir,
            &Launch {
                peers,
                admin,
                ..Launch::default()
            },
        )
    }

    /// [`NodeProcess::try_launch`] for a node that must start: panics, with its exit status
    /// and log, if it exits first.
    pub(crate) fn launch(dir: &Path, launch: &Launch<'_>) -> NodeProcess {
        match NodeProcess::try_launch(dir, launch) {
            Launched::Running(node) => node,
            Launched::Exited(status, log) => panic!("the node exited at start: {status}\n{log}"),
        }
    }

    /// Spawns the node on ports the system chooses and waits until it announces them (see
    /// `announce_listeners` in run.rs) or exits. Panics if it does neither within
    /// [`STARTUP_PATIENCE`].
    ///
    /// Port 0, not a port chosen free beforehand: a port found free and released can be
    /// taken by any other program (another test's node, or a client's outgoing
    /// connection) before the node binds it, and such a node would exit at start.
    pub(crate) fn try_launch(dir: &Path, launch: &Launch<'_>) -> Launched {
        let mut command = match launch.open_files {
            // The shell sets the limits and becomes the node: the pid is the node's.
            Some((soft, hard)) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!(
                        "ulimit -Sn {soft} && ulimit -Hn {hard} && exec \"$0\" \"$@\""
                    ))
                    .arg(TERN);
                shell
            }
            None => Command::new(TERN),
        };
        command
            .args([
                "node",
                "--genesis",
                launch.genesis.unwrap_or("dev"),
                "--datadir",
            ])
            .arg(dir)
            .args(["--p2p-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0"])
            .args(["--max-inbound-per-ip", "64"])
            .args(launch.args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped());
        if let Some(file) = launch.log_file {
            let log = std::fs::File::create(file).unwrap();
            command.args(["--log", "info"]).stderr(Stdio::from(log));
        } else {
            command.args(["--log", "warn"]).stderr(Stdio::null());
        }
        if launch.admin {
            command.arg("--rpc-admin");
        }
        for peer in launch.peers {
            command.args(["--peer", &peer.to_string()]);
        }
        for (key, value) in launch.env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let announced = read_announcements(child.stdout.take().unwrap());
        let log_file = launch.log_file.map(Path::to_path_buf);
        let Announced {
            p2p,
            rpc: rpc_addr,
            blocks,
        } = match announced.recv_timeout(STARTUP_PATIENCE) {
            Ok(listeners) => listeners,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                return Launched::Exited(status, read_log(log_file.as_deref()));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the node neither ran nor exited in {STARTUP_PATIENCE:?}\n{}",
                    read_log(log_file.as_deref())
                );
            }
        };
        let rpc = HttpClientBuilder::default()
            .build(format!("http://{rpc_addr}"))
            .unwrap();
        Launched::Running(NodeProcess {
            child,
            log_file,
            p2p,
            rpc_addr,
            rpc,
            blocks,
        })
    }

    /// The tip height, once the RPC server answers.
    pub(crate) async fn height(&self) -> Option<u64> {
        self.rpc.chain_info().await.ok().map(|info| info.height)
    }

    pub(crate) async fn wait_for_height(&self, height: u64, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if self.height().await.is_some_and(|h| h >= height) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Waits up to `patience` for the process to exit on its own; its status and its
    /// log (empty unless written to a file). `None` if it is still running.
    pub(crate) async fn wait_exit(&mut self, patience: Duration) -> Option<(ExitStatus, String)> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some((status, read_log(self.log_file.as_deref())));
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the node as an operator does, with SIGTERM, and waits for it to exit.
    pub(crate) async fn stop(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let (status, _) = self
            .wait_exit(Duration::from_secs(30))
            .await
            .expect("the node did not stop on SIGTERM");
        status
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A plain HTTP GET of `path`, the whole answer.
pub(crate) fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}
