//! The bounds on what clients may hold, which the slots (how many connections) and the
//! connections (how long each may idle or stall) both apply.

use std::time::Duration;

/// The bounds on what clients may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open HTTP connections (including ones not yet upgraded).
    pub max_http: usize,
    /// Open WebSocket connections.
    pub max_ws: usize,
    /// Connections of both kinds from one IP address.
    pub max_per_ip: usize,
    /// A connection with no bytes read or written for this long is closed. WebSocket
    /// clients are pinged well within it, so only dead or idle keep-alive ones go.
    pub idle_timeout: Duration,
    /// A write the client does not take for this long closes its connection.
    pub write_timeout: Duration,
    /// A request's headers, and then its body, must arrive within this long each.
    pub request_deadline: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_http: 100,
            max_ws: 100,
            max_per_ip: 64,
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(20),
            request_deadline: Duration::from_secs(10),
        }
    }
}
