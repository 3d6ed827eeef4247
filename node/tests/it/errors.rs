//! Mistakes an operator can make: each is one line on standard error that says what and
//! where, and a non-zero exit; never a panic or a backtrace.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TERN: &str = env!("CARGO_BIN_EXE_tern");

fn tern(args: &[&str]) -> Output {
    Command::new(TERN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// The one error line of a failed run.
fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("tern: ")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    lines[0].to_owned()
}

fn node_args<'a>(dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["node", "--datadir", dir, "--log", "error"];
    args.extend_from_slice(extra);
    args
}

fn path(dir: &Path) -> String {
    dir.to_str().unwrap().to_owned()
}

#[test]
fn a_port_in_use_names_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let dir = path(dir.path());
    let line = one_line_error(&tern(&node_args(&dir, &["--p2p-addr", &addr, "--no-rpc"])));
    assert!(
        line.contains(&format!("cannot listen for peers on {addr}")),
        "{line}"
    );
    let line = one_line_error(&tern(&node_args(
        &dir,
        &["--p2p-addr", "127.0.0.1:0", "--rpc-addr", &addr],
    )));
    assert!(
        line.contains(&format!("cannot listen for RPC on {addr}")),
        "{line}"
    );
}

#[test]
fn a_data_dir_in_use_by_another_node_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = path(dir.path());
    let mut first: Child = Command::new(TERN)
        .args(node_args(
            &dir,
            &["--p2p-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0"],
        ))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The cookie file is written once the store is open and the RPC server runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !Path::new(&dir).join(".cookie").exists() {
        assert!(Instant::now() < deadline, "the first node did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = one_line_error(&tern(&node_args(
        &dir,
        &["--p2p-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0"],
    )));
    assert!(line.contains("is in use by another tern process"), "{line}");
    let _ = first.kill();
    let _ = first.wait();
}

#[test]
fn a_genesis_file_that_does_not_parse_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("chain.json");
    std::fs::write(&spec, "{ \"name\": ").unwrap();
    let data = path(&dir.path().join("data"));
    let spec = path(&spec);
    let line = one_line_error(&tern(&node_args(&data, &["--genesis", &spec])));
    assert!(line.contains(&spec), "{line}");
}

#[test]
fn an_unknown_config_key_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        "genesis = \"dev\"\n\n[rpc]\nadress = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    let data = path(&dir.path().join("data"));
    let config = path(&config);
    let line = one_line_error(&tern(&node_args(&data, &["--config", &config])));
    assert!(
        line.contains(&format!("config {config} line 4: unknown field `adress`")),
        "{line}"
    );
}

#[test]
fn a_peer_address_that_does_not_resolve_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = path(dir.path());
    let line = one_line_error(&tern(&node_args(
        &data,
        &["--peer", "no-such-host.invalid:8646"],
    )));
    assert!(
        line.contains("\"no-such-host.invalid:8646\" does not resolve"),
        "{line}"
    );
}

#[test]
fn the_default_config_is_printed_and_accepted() {
    let output = tern(&["config", "default"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("[p2p]") && text.contains("[rpc]") && text.contains("[mining]"));
}

#[test]
fn ways_of_making_blocks_that_exclude_each_other_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = path(dir.path());
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "[mining]\nautomine = true\n").unwrap();
    let config = path(&config);
    let cases: [(&[&str], &str); 4] = [
        (
            &["--automine", "--mine"],
            "mining.enabled (--mine) and automine (--automine) cannot run together",
        ),
        (
            &["--block-time", "5", "--mine"],
            "and block_time (--block-time) cannot run together",
        ),
        (
            &["--automine", "--block-time", "5"],
            "automine (--automine) and block_time (--block-time) cannot run together",
        ),
        (&["--config", &config, "--mine"], "cannot run together"),
    ];
    for (flags, expected) in cases {
        let line = one_line_error(&tern(&node_args(&data, flags)));
        assert!(line.contains(expected), "{flags:?}: {line}");
    }
    let line = one_line_error(&tern(&node_args(
        &data,
        &[
            "--genesis",
            "testnet",
            "--automine",
            "--no-rpc",
            "--p2p-addr",
            "127.0.0.1:0",
        ],
    )));
    assert!(line.contains("need a development chain"), "{line}");
}
