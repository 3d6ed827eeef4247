//! The network namespace over RPC: peers, bans and the node's own view of the network.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_methods_over_rpc() {
    use tern_rpc::net::{TernNetAdminApiClient, TernNetApiClient};
    let a = node("dev", true).await;
    let b = node("dev", true).await;
    // Started alone (no peers given): ready, not isolated.
    let health = a.client.node_health().await.unwrap();
    assert_eq!(health.status, "ok", "{health:?}");

    let b_info = b.client.net_info().await.unwrap();
    let b_listen = b_info.listen_address.clone().unwrap();
    a.client.net_add_peer(b_listen.clone()).await.unwrap();
    let mut peers = Vec::new();
    for _ in 0..500 {
        peers = a.client.net_peers().await.unwrap();
        if !peers.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].node_id, b_info.node_id);
    assert_eq!(peers[0].direction, "outbound");
    assert_eq!(peers[0].listen_address.as_deref(), Some(b_listen.as_str()));
    let info = a.client.net_info().await.unwrap();
    assert_eq!((info.inbound, info.outbound), (0, 1));
    assert_eq!(a.client.node_health().await.unwrap().status, "ok");

    // Ban B by id: it is disconnected and listed; unban lifts it.
    let closed = a
        .client
        .net_ban(b_info.node_id.clone(), Some(60))
        .await
        .unwrap();
    assert_eq!(closed, 1);
    // It had a peer and has none: isolated, so neither synced nor ok. The sync status is
    // published twice a second.
    let mut health = a.client.node_health().await.unwrap();
    for _ in 0..200 {
        if health.status == "no_peers" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        health = a.client.node_health().await.unwrap();
    }
    assert_eq!(health.status, "no_peers", "{health:?}");
    let sync = a.client.chain_sync_status().await.unwrap();
    assert!(sync.isolated && !sync.syncing, "{sync:?}");
    let bans = a.client.net_bans().await.unwrap();
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].target, b_info.node_id);
    assert!(a.client.net_unban(b_info.node_id.clone()).await.unwrap());
    assert!(!a.client.net_unban(b_info.node_id.clone()).await.unwrap());
    assert!(a.client.net_bans().await.unwrap().is_empty());

    // Bad input names the field.
    let (status, message, _) = code(a.client.net_ban("nonsense".into(), None).await.unwrap_err());
    assert_eq!(status, -32602);
    assert!(message.contains("target"), "{message}");
    let (status, message, _) = code(
        a.client
            .net_ban(b_info.node_id.clone(), Some(0))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, -32602);
    assert!(message.contains("durationSecs"), "{message}");
    let (status, message, _) = code(
        a.client
            .net_add_peer("no-such-host.invalid:1".into())
            .await
            .unwrap_err(),
    );
    assert_eq!(status, -32602);
    assert!(message.contains("address"), "{message}");
    // A long, odd input is repeated as a short, escaped prefix, never whole (issue 46,
    // finding 4).
    let (status, message, _) = code(
        a.client
            .net_add_peer(format!("\"\n{}", "a".repeat(10_000)))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, -32602);
    assert!(message.len() < 400, "{} bytes: {message}", message.len());
    assert!(
        message.contains(r#"invalid address: "\"\naaaa"#),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");

    // Without admin access the admin network methods refuse.
    let public = node("dev", false).await;
    let (status, _, _) = code(public.client.net_bans().await.unwrap_err());
    assert_eq!(status, 1005);
    public.client.net_info().await.unwrap();
}
