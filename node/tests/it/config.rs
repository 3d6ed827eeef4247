//! `tern node --config FILE` as an operator runs it: the file's keys hold where no flag
//! is given (a switch left out of the command line leaves the file's `true` alone), and a
//! flag given wins over its key.

use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;

use crate::support::{http_get, Launch, NodeProcess};

fn dev_address(index: u32) -> String {
    ChainSpec::resolve("dev")
        .unwrap()
        .format_address(&dev_secret_key(index).address())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_keys_hold_where_no_flag_is_given_and_a_flag_given_wins() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[rpc]\nexplorer = true\n\n[mining]\nautomine = true\nreward = \"{}\"\n",
            dev_address(3)
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let data = dir.path().join("data");

    let node = NodeProcess::launch(
        &data,
        &Launch {
            args: &["--config", config],
            ..Launch::default()
        },
    );
    assert_eq!(
        node.blocks,
        format!(
            "automine: a block as soon as transactions arrive, rewards to {}",
            dev_address(3)
        )
    );
    assert!(
        http_get(node.rpc_addr, "/explorer/").starts_with("HTTP/1.1 200 "),
        "the file's explorer = true holds"
    );
    drop(node);

    let flagged = dev_address(4);
    let node = NodeProcess::launch(
        &data,
        &Launch {
            args: &["--config", config, "--mine-to", &flagged],
            ..Launch::default()
        },
    );
    assert!(node.blocks.ends_with(&flagged), "{}", node.blocks);
    assert!(node.blocks.starts_with("automine"), "{}", node.blocks);
}
