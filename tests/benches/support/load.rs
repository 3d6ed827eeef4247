//! One load connection of either transport, as the RPC benches use them: a call out, its
//! answer back, nothing else per call.
// Each bench includes this file and uses its part of it.
#![allow(dead_code)]

use std::net::SocketAddr;

use tern_tests::http::KeepAlive;
use tern_tests::ws::WsKeepAlive;

/// How the load reaches the node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Transport {
    Http,
    WebSocket,
}

impl Transport {
    pub(crate) const BOTH: [Transport; 2] = [Transport::Http, Transport::WebSocket];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Transport::Http => "HTTP",
            Transport::WebSocket => "WebSocket",
        }
    }
}

/// One connection of either transport.
pub(crate) enum Connection {
    Http(KeepAlive),
    WebSocket(WsKeepAlive),
}

impl Connection {
    pub(crate) async fn open(addr: SocketAddr, transport: Transport) -> Connection {
        match transport {
            Transport::Http => Connection::Http(KeepAlive::connect(addr).await.unwrap()),
            Transport::WebSocket => {
                Connection::WebSocket(WsKeepAlive::connect(addr).await.unwrap())
            }
        }
    }

    /// One call; its answer (over HTTP, asserting the status is 200).
    pub(crate) async fn call(&mut self, body: &str) -> String {
        match self {
            Connection::Http(c) => {
                let (status, answer) = c.post_json(body).await.unwrap();
                assert_eq!(status, 200, "{answer}");
                answer
            }
            Connection::WebSocket(c) => c.call(body).await.unwrap(),
        }
    }
}
