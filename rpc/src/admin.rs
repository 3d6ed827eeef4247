//! What an admin method checks: the mark the server's access policy
//! ([`crate::server::access`]) leaves on a request that may call admin methods, and the
//! refusal a request without it gets. Apart from the policy, so that the namespaces,
//! which check the mark, do not reach into the server that sets it.

use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use jsonrpsee::Extensions;

use crate::error::ADMIN_REQUIRED;

/// The cookie file's name inside the data directory.
pub const COOKIE_FILE: &str = ".cookie";

/// The user name for HTTP basic auth with the cookie token.
pub const COOKIE_USER: &str = "__cookie__";

/// The mark of a request that may call admin methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminAccess;

/// An admin method's first check.
pub fn require_admin(extensions: &Extensions) -> Result<(), ErrorObjectOwned> {
    if extensions.get::<AdminAccess>().is_some() {
        return Ok(());
    }
    Err(ErrorObject::owned(
        ADMIN_REQUIRED,
        format!(
            "admin method: send the token from the node's {COOKIE_FILE} file \
             (Authorization: Bearer <token>, or basic auth as {COOKIE_USER}), \
             or run the node with --rpc-admin on a loopback address"
        ),
        None::<()>,
    ))
}
