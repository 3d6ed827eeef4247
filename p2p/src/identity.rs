//! The node's network identity: a static X25519 key, kept in the data dir.
//!
//! The key is the Noise static key of every connection, so a peer's [`NodeId`] (its public
//! key) is proven by the handshake itself: nobody can claim another node's id without its
//! secret key.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use snow::params::NoiseParams;

/// The file in the data dir that holds the node's secret key, as hex.
pub const NODE_KEY_FILE: &str = "node_key";

/// The Noise protocol name: XX (both static keys sent, encrypted), X25519, ChaCha20-Poly1305,
/// SHA-256.
pub const NOISE_PROTOCOL: &str = "Noise_XX_25519_ChaChaPoly_SHA256";

/// The Noise parameters, parsed from [`NOISE_PROTOCOL`].
pub(crate) fn noise_params() -> NoiseParams {
    // The protocol name is a constant checked by `noise_protocol_name_parses` below.
    #[allow(clippy::expect_used)]
    NOISE_PROTOCOL
        .parse()
        .expect("NOISE_PROTOCOL is a valid Noise protocol name")
}

/// A node's public identity: the X25519 public key of its Noise static key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; 32]);

impl NodeId {
    /// The id with these public-key bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> NodeId {
        NodeId(bytes)
    }

    /// The public-key bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The id of a Noise remote static key, if it has the right length.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<NodeId> {
        bytes.try_into().ok().map(NodeId)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    /// The first 8 bytes are enough to tell peers apart in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = self.0.get(..8).unwrap_or_default();
        write!(f, "NodeId({}…)", hex::encode(short))
    }
}

/// Text that is not a node id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a node id is 64 hex digits")]
pub struct NodeIdError;

impl FromStr for NodeId {
    type Err = NodeIdError;

    fn from_str(text: &str) -> Result<NodeId, NodeIdError> {
        let bytes = hex::decode(text).map_err(|_| NodeIdError)?;
        NodeId::from_slice(&bytes).ok_or(NodeIdError)
    }
}

/// The node's static key pair.
#[derive(Clone)]
pub struct NodeKey {
    secret: [u8; 32],
    id: NodeId,
}

impl fmt::Debug for NodeKey {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey").field("id", &self.id).finish()
    }
}

/// Why the node key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum NodeKeyError {
    /// The key file could not be read or written.
    #[error("node key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The key file does not hold a key.
    #[error(
        "node key {path} is damaged: expected 64 hex digits; move it away to make a new identity"
    )]
    Damaged {
        /// The key file.
        path: PathBuf,
    },
    /// The Noise library could not generate or use a key.
    #[error("node key: {0}")]
    Noise(String),
}

impl NodeKey {
    /// A fresh random key.
    pub fn generate() -> Result<NodeKey, NodeKeyError> {
        let keypair = snow::Builder::new(noise_params())
            .generate_keypair()
            .map_err(|e| NodeKeyError::Noise(e.to_string()))?;
        let secret: [u8; 32] = keypair
            .private
            .as_slice()
            .try_into()
            .map_err(|_| NodeKeyError::Noise("X25519 secret is not 32 bytes".into()))?;
        let id = NodeId::from_slice(&keypair.public)
            .ok_or_else(|| NodeKeyError::Noise("X25519 public key is not 32 bytes".into()))?;
        Ok(NodeKey { secret, id })
    }

    /// Loads the key in `dir`, or makes and saves one on first start.
    pub fn load_or_create(dir: &Path) -> Result<NodeKey, NodeKeyError> {
        let path = dir.join(NODE_KEY_FILE);
        let io = |source| NodeKeyError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let damaged = || NodeKeyError::Damaged { path: path.clone() };
                let bytes = hex::decode(text.trim()).map_err(|_| damaged())?;
                let secret: [u8; 32] = bytes.try_into().map_err(|_| damaged())?;
                NodeKey::from_secret(secret)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = NodeKey::generate()?;
                // Written beside and renamed, so a crash never leaves half a key.
                let partial = dir.join(format!("{NODE_KEY_FILE}.new"));
                write_private(&partial, &hex::encode(key.secret)).map_err(io)?;
                std::fs::rename(&partial, &path).map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The key pair with this secret.
    pub fn from_secret(secret: [u8; 32]) -> Result<NodeKey, NodeKeyError> {
        // snow only hands out key pairs it generated itself, so the public half of a
        // stored secret is derived with the curve crate directly.
        let public = x25519_public(&secret);
        Ok(NodeKey {
            secret,
            id: NodeId(public),
        })
    }

    /// The node's public identity.
    pub fn id(&self) -> NodeId {
        self.id
    }

    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }
}

/// X25519 public key of a secret: the clamped scalar times the Montgomery base point.
fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    curve25519_dalek::MontgomeryPoint::mul_base_clamped(*secret).to_bytes()
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_protocol_name_parses() {
        let _ = noise_params();
    }

    #[test]
    fn a_key_is_created_once_and_then_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = NodeKey::load_or_create(dir.path()).unwrap();
        let second = NodeKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.id(), second.id());
        assert_eq!(first.secret(), second.secret());
    }

    #[test]
    fn the_derived_public_key_matches_snow() {
        let key = NodeKey::generate().unwrap();
        let again = NodeKey::from_secret(*key.secret()).unwrap();
        assert_eq!(key.id(), again.id());
    }

    #[test]
    fn a_damaged_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(NODE_KEY_FILE), "not hex").unwrap();
        let error = NodeKey::load_or_create(dir.path()).unwrap_err();
        assert!(error.to_string().contains("damaged"), "{error}");
    }

    #[test]
    fn node_ids_round_trip_through_text() {
        let id = NodeKey::generate().unwrap().id();
        assert_eq!(id.to_string().parse::<NodeId>().unwrap(), id);
        assert!("abc".parse::<NodeId>().is_err());
    }
}
