//! `tern testnet` as a user runs it: the network comes up and mines, a wallet transfer
//! confirms on every node, Ctrl-C stops everything cleanly, and a second run on the same
//! `--datadir` resumes the chain.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use tern_rpc::chain::TernApiClient;
use tern_rpc::chain::TxStatus;
use tern_rpc::net::TernNetApiClient;

const TERN: &str = env!("CARGO_BIN_EXE_tern");
const NODES: u16 = 3;

/// A base port whose 2 x NODES ports are free now. Below 32768, where Linux's ephemeral
/// range starts: a port in that range that is free now can be taken by any outgoing
/// connection (these tests' own RPC clients make many) before the testnet binds it.
/// Each call starts its search elsewhere: tests in this process run at once, and two that
/// found the same range free would start two testnets on it.
fn free_base() -> u16 {
    static CALLS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = u16::try_from(std::process::id() % 1000).unwrap() + call * 500;
    for attempt in 0..200u16 {
        let base = 10_000 + ((seed + attempt * 37) % 1000) * 20;
        let all_free = (0..2 * NODES).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no free port range");
}

struct Testnet {
    child: Child,
    clients: Vec<HttpClient>,
}

impl Testnet {
    fn start(dir: &Path, base: u16, extra: &[&str]) -> Testnet {
        let child = Command::new(TERN)
            .args(["testnet", "--nodes", &NODES.to_string(), "--datadir"])
            .arg(dir)
            .args(["--base-port", &base.to_string()])
            .args(extra)
            // Where it records itself as this user's latest testnet: the test's own.
            .env("XDG_STATE_HOME", state_home(dir))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let clients = (0..NODES)
            .map(|i| {
                HttpClientBuilder::default()
                    .build(format!("http://127.0.0.1:{}", base + 2 * i))
                    .unwrap()
            })
            .collect();
        Testnet { child, clients }
    }

    /// Waits until every node is at `min_height` or more, on one tip.
    async fn wait_until_aligned(&self, min_height: u64) -> (u64, String) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let mut tips = Vec::new();
            for client in &self.clients {
                if let Ok(info) = client.chain_info().await {
                    tips.push((info.height, info.best_hash));
                }
            }
            if tips.len() == self.clients.len()
                && tips.iter().all(|t| t.0 >= min_height && *t == tips[0])
            {
                return tips[0].clone();
            }
            assert!(Instant::now() < deadline, "nodes not aligned: {tips:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends SIGINT and waits for the exit status.
    fn interrupt(&mut self) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the testnet did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wallet(file: &Path, rpc: &str, args: &[&str]) -> String {
    let output = Command::new(TERN)
        .args(["wallet", "--wallet"])
        .arg(file)
        .args(["--rpc", rpc])
        .args(args)
        .env("TERN_WALLET_PASSWORD", "test")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tern wallet {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_testnet_mines_confirms_a_transfer_stops_cleanly_and_resumes() {
    let dirs = tempfile::tempdir().unwrap();
    let data = dirs.path().join("net");
    let base = free_base();
    let mut net = Testnet::start(&data, base, &[]);
    net.wait_until_aligned(5).await;

    let file = dirs.path().join("wallet.json");
    let rpc = format!("http://127.0.0.1:{base}");
    wallet(&file, &rpc, &["import", "--name", "alice", "--dev", "0"]);
    wallet(&file, &rpc, &["import", "--name", "bob", "--dev", "1"]);
    let sent = wallet(
        &file,
        &rpc,
        &[
            "send", "--from", "alice", "--to", "bob", "--amount", "1000000", "--wait", "1",
        ],
    );
    assert!(sent.contains("confirmed in block"), "{sent}");
    let txid = sent
        .split_whitespace()
        .nth(1)
        .expect("submitted <txid> ...")
        .to_owned();
    let (height, _) = net.wait_until_aligned(0).await;
    for client in &net.clients {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let TxStatus::Confirmed { .. } = client.tx_get(txid.clone()).await.unwrap() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{txid} not confirmed on every node"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let (status, took) = net.interrupt();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(10), "stopping took {took:?}");

    // The same --datadir resumes the same chain, here with node 0 automining: a
    // transfer is mined as soon as it arrives.
    let net = Testnet::start(&data, base, &["--automine"]);
    let (resumed, _) = net.wait_until_aligned(height).await;
    assert!(resumed >= height);
    let client = &net.clients[0];
    assert!(matches!(
        client.tx_get(txid).await.unwrap(),
        TxStatus::Confirmed { .. }
    ));
    let sent = wallet(
        &file,
        &rpc,
        &[
            "send", "--from", "bob", "--to", "alice", "--amount", "5", "--wait", "1",
        ],
    );
    assert!(sent.contains("confirmed in block"), "{sent}");
}

/// A testnet's data directory's sibling where it records itself as the latest testnet.
fn state_home(data: &Path) -> std::path::PathBuf {
    data.with_extension("state")
}

/// `tern testnet CONTROL...` with the test's state directory; its standard output, and
/// standard error when it failed.
fn control(data: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new(TERN)
        .arg("testnet")
        .args(args)
        .env("XDG_STATE_HOME", state_home(data))
        .output()
        .unwrap();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// From another terminal: status, kill, restart, pause and resume, with and without
/// --datadir; then each node, a child process, dies with the testnet: killed with
/// SIGKILL, the testnet can stop nobody, and still no node is left serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_testnet_is_controlled_from_another_terminal_and_dies_whole() {
    let dirs = tempfile::tempdir().unwrap();
    let data = dirs.path().join("net");
    let base = free_base();
    let mut net = Testnet::start(&data, base, &[]);
    net.wait_until_aligned(1).await;
    let datadir = data.to_str().unwrap();

    let status = control(&data, &["status"]).unwrap();
    let nodes: Vec<&str> = status.lines().filter(|l| l.starts_with("node ")).collect();
    assert_eq!(nodes.len(), usize::from(NODES), "{status}");
    assert!(nodes.iter().all(|l| l.contains(": height ")), "{status}");
    // Each node's metrics and health on a port of its own.
    let metrics: Vec<&str> = status
        .lines()
        .filter_map(|l| l.split("metrics http://").nth(1))
        .collect();
    assert_eq!(metrics.len(), usize::from(NODES), "{status}");
    let (addr, _) = metrics[0].split_once('/').unwrap();
    let healthy = crate::support::http_get(addr.parse().unwrap(), "/healthy");
    assert!(healthy.starts_with("HTTP/1.1 200"), "{healthy}");
    let killed = control(&data, &["kill", "1", "--datadir", datadir]).unwrap();
    assert!(killed.contains("node 1: killed"), "{killed}");
    assert!(
        net.clients[1].chain_info().await.is_err(),
        "a killed node answers nothing"
    );
    let again = control(&data, &["kill", "1"]).unwrap_err();
    assert!(again.contains("node 1 is killed already"), "{again}");
    let nowhere = control(&data, &["pause", "9"]).unwrap_err();
    assert!(nowhere.contains("there is no node 9"), "{nowhere}");
    let restarted = control(&data, &["restart", "1"]).unwrap();
    assert!(restarted.contains("node 1: height"), "{restarted}");
    // The log of the run that was killed is still there, before the new run's.
    let log = std::fs::read_to_string(data.join("node-1/node.log")).unwrap();
    assert_eq!(log.matches("node running").count(), 2, "{log}");
    let paused = control(&data, &["--datadir", datadir, "pause", "2"]).unwrap();
    assert!(paused.contains("node 2: paused"), "{paused}");
    let resumed = control(&data, &["resume", "2"]).unwrap();
    assert!(resumed.contains("node 2: height"), "{resumed}");
    // Links: set, shown on both ends' lines, reset; bad input changes nothing.
    let slow = control(
        &data,
        &[
            "link",
            "0",
            "1",
            "--latency",
            "200ms",
            "--jitter",
            "20ms",
            "--loss",
            "1%",
        ],
    )
    .unwrap();
    assert!(slow.contains("[200ms±20ms 1% loss →1]"), "{slow}");
    assert!(slow.contains("[200ms±20ms 1% loss →0]"), "{slow}");
    let one_way = control(&data, &["link", "2", "0", "--cut", "--one-way"]).unwrap();
    assert!(one_way.contains("[cut →0]"), "{one_way}");
    for (bad, why) in [
        (
            &["link", "0", "1", "--latency", "fast"][..],
            "is not a delay",
        ),
        (
            &["link", "0", "1", "--loss", "60%"],
            "more loss than a link takes",
        ),
        (
            &["link", "0", "0", "--latency", "1ms"],
            "a link joins two nodes",
        ),
        (
            &["link", "0", "9", "--latency", "1ms"],
            "there is no node 9",
        ),
        (&["link", "0", "1"], "say what to change"),
        (&["partition", "0", "/", "1,0"], "node 0 is named twice"),
        (&["partition", "0", "/", "7"], "there is no node 7"),
        (&["partition", "0,1"], "two sides or more"),
    ] {
        let refused = control(&data, bad).unwrap_err();
        assert!(refused.contains(why), "{bad:?}: {refused}");
    }
    let healed = control(&data, &["heal"]).unwrap();
    assert!(!healed.contains("cut"), "{healed}");
    let reset = control(&data, &["link", "1", "0", "--perfect"]).unwrap();
    assert!(!reset.contains('['), "{reset}");

    let added = control(&data, &["add"]).unwrap();
    assert!(added.contains("node 3: height"), "{added}");
    let removed = control(&data, &["remove", "3"]).unwrap();
    assert!(removed.contains("node 3: removed"), "{removed}");
    let gone = control(&data, &["restart", "3"]).unwrap_err();
    assert!(gone.contains("node 3 was removed"), "{gone}");

    // Hostile peers, at once (a healthy node drops a staller within a minute): each is
    // dropped, the one that proved a lie with an invalid block banned for it, and the
    // network goes on.
    let kinds = [
        ("announce-flood", "0"),
        ("stall", "1"),
        ("invalid-blocks", "2"),
        ("low-work-headers", "1"),
        ("bad-state-root", "0"),
    ];
    let attacks: Vec<_> = kinds
        .into_iter()
        .map(|(kind, node)| {
            let data = data.clone();
            std::thread::spawn(move || control(&data, &["attack", node, "--kind", kind]))
        })
        .collect();
    for ((kind, _), attack) in kinds.into_iter().zip(attacks) {
        let report = attack.join().unwrap().unwrap();
        let expected = match kind {
            "invalid-blocks" => "banned the invalid-blocks peer (invalid block: block ",
            "bad-state-root" => "banned the bad-state-root peer (invalid block: block ",
            _ => "dropped the",
        };
        assert!(report.contains(expected), "{report}");
        match kind {
            "invalid-blocks" => assert!(report.contains("with a forged signature"), "{report}"),
            "bad-state-root" => assert!(report.contains("state root"), "{report}"),
            "low-work-headers" => assert!(report.contains("asked for 0 blocks"), "{report}"),
            _ => {}
        }
    }
    let absent = control(&data, &["attack", "3", "--kind", "stall"]).unwrap_err();
    assert!(absent.contains("node 3 is not a running node"), "{absent}");
    net.wait_until_aligned(1).await;
    // Every node is a `tern node` process of its own, logging to its data directory.
    for i in 0..NODES {
        let log = std::fs::read_to_string(dirs.path().join(format!("net/node-{i}/node.log")))
            .unwrap_or_default();
        assert!(log.contains("node running"), "node {i} logged: {log}");
    }
    net.child.kill().unwrap();
    net.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    for (i, client) in net.clients.iter().enumerate() {
        while client.chain_info().await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "node {i} still answers 30 s after its testnet was killed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The testnet's own status over its control endpoint, as a script reads it.
async fn control_status(data: &Path) -> serde_json::Value {
    use jsonrpsee::core::client::ClientT;
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("control.json")).unwrap()).unwrap();
    let client = HttpClientBuilder::default()
        .build(file["url"].as_str().unwrap())
        .unwrap();
    client
        .request("testnet_status", jsonrpsee::rpc_params![])
        .await
        .unwrap()
}

/// Bytes delivered so far over the links between node 0 and the others, both ways.
fn bytes_across_node_0(status: &serde_json::Value) -> u64 {
    status["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|link| (link["from"] == 0) != (link["to"] == 0))
        .map(|link| link["bytes"].as_u64().unwrap())
        .sum()
}

/// The link layer as a newcomer meets it: every connection between nodes crosses it; a
/// partition forks the network (both sides mine) and no byte crosses it; a heal joins
/// the network on one tip, and the losing side's transfer is mined again, not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_forks_the_network_with_no_byte_across_and_a_heal_loses_nothing() {
    let dirs = tempfile::tempdir().unwrap();
    let data = dirs.path().join("net");
    let base = free_base();
    let net = Testnet::start(&data, base, &["--miners", "2"]);
    net.wait_until_aligned(2).await;

    // Nodes know each other only by the link layer's addresses, 127.0.0.(i+1): there is
    // no connection around it.
    let advertised: Vec<String> = (1..=NODES).map(|i| format!("127.0.0.{i}")).collect();
    for (i, client) in net.clients.iter().enumerate() {
        let peers = client.net_peers().await.unwrap();
        assert!(!peers.is_empty(), "node {i} has no peers");
        for peer in peers {
            let (ip, _) = peer.address.rsplit_once(':').unwrap();
            assert!(
                advertised.iter().any(|a| a == ip),
                "node {i}'s peer at {} bypasses the link layer",
                peer.address
            );
        }
    }

    let cut = control(&data, &["partition", "0", "/", "1,2"]).unwrap();
    assert!(cut.contains("[cut →1,2]"), "{cut}");
    let before = bytes_across_node_0(&control_status(&data).await);
    let heights: Vec<u64> = {
        let mut heights = Vec::new();
        for client in &net.clients {
            heights.push(client.chain_info().await.unwrap().height);
        }
        heights
    };

    // Each side confirms a transfer of its own.
    let file = dirs.path().join("wallet.json");
    let side = |i: u16| format!("http://127.0.0.1:{}", base + 2 * i);
    wallet(
        &file,
        &side(0),
        &["import", "--name", "alice", "--dev", "0"],
    );
    wallet(&file, &side(0), &["import", "--name", "bob", "--dev", "1"]);
    let txid = |sent: String| {
        assert!(sent.contains("confirmed in block"), "{sent}");
        sent.split_whitespace().nth(1).unwrap().to_owned()
    };
    let send = ["--amount", "1000", "--wait", "1"];
    let on_0 = txid(wallet(
        &file,
        &side(0),
        &[&["send", "--from", "alice", "--to", "bob"][..], &send].concat(),
    ));
    let on_1 = txid(wallet(
        &file,
        &side(1),
        &[&["send", "--from", "bob", "--to", "alice"][..], &send].concat(),
    ));

    // Both sides mine on: two chains.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let a = net.clients[0].chain_info().await.unwrap();
        let b = net.clients[1].chain_info().await.unwrap();
        if a.height >= heights[0] + 3 && b.height >= heights[1] + 3 && a.best_hash != b.best_hash {
            break;
        }
        assert!(Instant::now() < deadline, "the sides did not both mine");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        net.clients[1].tx_get(on_0.clone()).await.unwrap(),
        TxStatus::Unknown,
        "node 0's transfer reached the other side"
    );
    assert_eq!(
        net.clients[0].tx_get(on_1.clone()).await.unwrap(),
        TxStatus::Unknown,
        "node 1's transfer reached node 0"
    );
    let status = control_status(&data).await;
    assert_eq!(
        bytes_across_node_0(&status),
        before,
        "bytes crossed the partition: {status}"
    );

    let healed = control(&data, &["heal"]).unwrap();
    assert!(!healed.contains("cut"), "{healed}");
    net.wait_until_aligned(heights[0] + 3).await;
    // No transfer accepted on either side is lost: the losing side's goes back to the
    // pool and is mined on the winning chain.
    for txid in [on_0, on_1] {
        for (i, client) in net.clients.iter().enumerate() {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !matches!(
                client.tx_get(txid.clone()).await.unwrap(),
                TxStatus::Confirmed { .. }
            ) {
                assert!(
                    Instant::now() < deadline,
                    "{txid} is not confirmed on node {i} after the heal"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert!(bytes_across_node_0(&control_status(&data).await) > before);
}

/// `tern testnet --scenario FILE` as a wallet developer's CI runs it: every shipped
/// scenario passes; one whose check cannot hold exits 1 with the failure in its report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_scenario_passes_and_a_failing_one_exits_1() {
    let dirs = tempfile::tempdir().unwrap();
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&scenarios)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    // No miner: with blocks coming, a node that falls a block behind a peer may go
    // unready and back in the half second, and the check would hold.
    let failing = dirs.path().join("never-ready.toml");
    std::fs::write(
        &failing,
        "description = \"a node that was never restarted does not cycle\"\n\
         [testnet]\nminers = 0\n\
         [[step]]\ndo = \"wait_height\"\nheight = 0\n\
         [[step]]\nexpect = \"ready_cycle\"\nnode = 1\nwithin = \"500ms\"\n",
    )
    .unwrap();
    files.push(failing.clone());
    for file in files {
        let output = Command::new(TERN)
            .args(["testnet", "--scenario"])
            .arg(&file)
            .args(["--base-port", &free_base().to_string()])
            .env("XDG_STATE_HOME", dirs.path().join("state"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        if file == failing {
            assert_eq!(output.status.code(), Some(1), "{stdout}");
            assert!(
                stdout.contains("FAILED: node 1's /ready did not go false then true"),
                "{stdout}"
            );
            assert!(stdout.contains("0 checks held, 1 failed"), "{stdout}");
        } else {
            assert!(
                output.status.success(),
                "{}: {stdout}{}",
                file.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(stdout.contains(", 0 failed;"), "{stdout}");
        }
    }
}

/// The explorer's network view in a real browser: every node appears, a new block shows
/// its arrival at each node, and a partition shows as two tips and cut links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_network_view_shows_every_node_blocks_arriving_and_a_partition() {
    use crate::support::browser::{wait_for_text, Browser, PAGE_PATIENCE};
    let dirs = tempfile::tempdir().unwrap();
    let data = dirs.path().join("net");
    let base = free_base();
    let mut net = Testnet::start(&data, base, &[]);
    net.wait_until_aligned(1).await;
    let record = std::fs::read_to_string(data.join("control.json")).unwrap();
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    let endpoint = record["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://");
    let browser = Browser::start().await;
    let url = format!("http://127.0.0.1:{base}/explorer/#/network/{endpoint}");
    browser.client.goto(&url).await.unwrap();

    wait_for_text(&browser, "#network-status", PAGE_PATIENCE, |t| {
        t.starts_with(&format!("{NODES} nodes, {NODES} answering"))
    })
    .await;
    let last = format!("node {}", NODES - 1);
    wait_for_text(&browser, "#network-nodes", PAGE_PATIENCE, |t| {
        t.contains(&last)
    })
    .await;
    // The miners find a block about every second: its arrival at every node is timed.
    wait_for_text(
        &browser,
        "#propagation-table tbody tr",
        PAGE_PATIENCE,
        |t| t.matches(" ms").count() == usize::from(NODES),
    )
    .await;
    browser.screenshot("network").await;

    control(&data, &["partition", "0", "/", "1,2"]).unwrap();
    wait_for_text(&browser, "#network-status", PAGE_PATIENCE, |t| {
        t.contains("different tips")
    })
    .await;
    let cut = browser
        .client
        .find_all(fantoccini::Locator::Css(".graph line.edge.cut"))
        .await
        .unwrap();
    assert_eq!(cut.len(), 2, "node 0's two links are cut");
    wait_for_text(&browser, "#network-nodes", PAGE_PATIENCE, |t| {
        t.contains("cut →1,2")
    })
    .await;
    browser.screenshot("network-partitioned").await;
    assert_eq!(browser.page_errors().await, Vec::<String>::new());
    assert_eq!(browser.log_problems().await, Vec::<String>::new());
    browser.close().await;
    net.interrupt();
}
