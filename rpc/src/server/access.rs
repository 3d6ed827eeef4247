//! Who may call the admin methods (mining, on-demand blocks, peers, bans).
//!
//! Like bitcoind's `.cookie`: at start the node writes a fresh random token to
//! [`COOKIE_FILE`] in its data directory (readable by its user only) and deletes it at
//! shutdown. A request carrying the token, as `Authorization: Bearer <token>` or as HTTP
//! basic auth with user [`COOKIE_USER`] (`curl --user __cookie__:<token>`), may call
//! them. So may every request when admin access is explicitly enabled
//! ([`crate::server::RpcConfig::admin`]) on a server that listens on a loopback address,
//! where only local users can reach it. Anyone else gets error
//! [`crate::error::ADMIN_REQUIRED`].
//!
//! The check happens once per HTTP request or WebSocket connection, in a middleware that
//! marks the request's extensions with [`AdminAccess`]; each admin method looks for it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use jsonrpsee::server::HttpRequest;

pub use crate::admin::{require_admin, AdminAccess, COOKIE_FILE, COOKIE_USER};

/// The HTTP header carrying the token.
const AUTHORIZATION: &str = "authorization";

/// Decides, per request, whether it has admin access.
#[derive(Debug, Clone)]
pub(crate) struct AccessPolicy {
    everyone: bool,
    bearer: Option<String>,
    basic: Option<String>,
}

impl AccessPolicy {
    /// The policy of a server on `addr`, with admin methods open to everyone if `admin`
    /// (on loopback only), and to holders of `cookie` otherwise.
    pub(crate) fn new(addr: SocketAddr, admin: bool, cookie: Option<&String>) -> AccessPolicy {
        let everyone = admin && addr.ip().is_loopback();
        if admin && !everyone {
            tracing::warn!(
                %addr,
                "admin RPC without a token only on a loopback address; here it needs the cookie"
            );
        }
        let credentials = |token: &String| {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{COOKIE_USER}:{token}"));
            (format!("Bearer {token}"), format!("Basic {basic}"))
        };
        let (bearer, basic) = cookie.map(credentials).unzip();
        AccessPolicy {
            everyone,
            bearer,
            basic,
        }
    }

    /// Marks `request` with [`AdminAccess`] if it may call admin methods.
    pub(crate) fn mark(&self, mut request: HttpRequest) -> HttpRequest {
        let presented = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let token_ok = presented.is_some_and(|presented| {
            self.bearer.as_deref() == Some(presented) || self.basic.as_deref() == Some(presented)
        });
        if self.everyone || token_ok {
            request.extensions_mut().insert(AdminAccess);
        }
        request
    }
}

/// A fresh random token: 32 bytes as hex.
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(hex::encode(bytes))
}

/// Writes `token` to the cookie file in `dir` as `__cookie__:<token>`, readable by its
/// owner only. Returns the file's path.
///
/// A file already there (a previous run's, or one planted with wider permissions or as a
/// symlink) is removed first and the new one created afresh with mode 0600: opening the
/// old one would keep its mode, and a 0644 cookie gives the admin token to every local
/// user.
pub fn write_cookie(dir: &Path, token: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(COOKIE_FILE);
    let text = format!("{COOKIE_USER}:{token}");
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    #[cfg(not(unix))]
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The token in a cookie file.
pub fn read_cookie(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    text.trim()
        .strip_prefix(&format!("{COOKIE_USER}:"))
        .map(str::to_owned)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not a cookie file", path.display()),
            )
        })
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_cookie_is_owner_only_whatever_was_there_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(COOKIE_FILE);
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_cookie(dir.path(), "abc").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_cookie(&path).unwrap(), "abc");
    }
}
