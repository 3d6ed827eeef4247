//! Real `tern node` child processes for the integration tests that need an operator's
//! view: exit codes, logs, kills and restarts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use tern_rpc::api::TernApiClient;

pub(crate) const TERN: &str = env!("CARGO_BIN_EXE_tern");

/// A free port on 127.0.0.1 (free when asked; tests run few enough nodes for that to hold).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
}

/// A `tern node` child process, killed when dropped.
pub(crate) struct NodeProcess {
    pub(crate) child: Child,
    log_file: Option<std::path::PathBuf>,
    pub(crate) p2p: SocketAddr,
    pub(crate) rpc_addr: SocketAddr,
    pub(crate) rpc: HttpClient,
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

    pub(crate) fn launch(dir: &Path, launch: &Launch<'_>) -> NodeProcess {
        let p2p = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let rpc_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
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
            .args(["node", "--genesis", "dev", "--datadir"])
            .arg(dir)
            .args([
                "--p2p-addr",
                &p2p.to_string(),
                "--rpc-addr",
                &rpc_addr.to_string(),
            ])
            .args(["--max-inbound-per-ip", "64"])
            .args(launch.args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null());
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
        let child = command.spawn().unwrap();
        let rpc = HttpClientBuilder::default()
            .build(format!("http://{rpc_addr}"))
            .unwrap();
        NodeProcess {
            child,
            log_file: launch.log_file.map(Path::to_path_buf),
            p2p,
            rpc_addr,
            rpc,
        }
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
                let log = self
                    .log_file
                    .as_ref()
                    .map(|file| std::fs::read_to_string(file).unwrap_or_default())
                    .unwrap_or_default();
                return Some((status, log));
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
