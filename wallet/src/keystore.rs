//! The wallet's key file: secret keys encrypted with a password, public keys in the clear
//! so a wallet can list addresses and balances without asking for it.
//!
//! The key is derived from the password with Argon2id (a fresh random salt on every save)
//! and the secrets are sealed with ChaCha20-Poly1305, whose tag turns a wrong password
//! into a clear error instead of garbage. The file is written to a temporary name and
//! renamed, with owner-only permissions, so a crash never leaves half a key file.

use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use tern_chain::crypto::SecretKey;
use tern_chain::types::Address;

/// The file format version this software writes and reads.
const VERSION: u32 = 1;

/// Argon2id cost: 19 MiB, 2 passes, 1 lane (the OWASP recommendation).
const KDF_MEMORY_KIB: u32 = 19_456;
const KDF_ITERATIONS: u32 = 2;
const KDF_LANES: u32 = 1;

/// The most a key file may ask of the machine that opens it. The costs are read from the
/// file, so without these a damaged or hostile file could ask Argon2 for terabytes of
/// memory or years of passes: 1 GiB, 64 passes, 16 lanes is far beyond any real setting
/// and within what a machine that runs a wallet can give.
pub const MAX_KDF_MEMORY_KIB: u32 = 1 << 20;
/// See [`MAX_KDF_MEMORY_KIB`].
pub const MAX_KDF_ITERATIONS: u32 = 64;
/// See [`MAX_KDF_MEMORY_KIB`].
pub const MAX_KDF_LANES: u32 = 16;

/// The largest key file read: thousands of accounts fit in far less.
pub const MAX_KEY_FILE_BYTES: u64 = 16 << 20;

/// Why the key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The file cannot be read or written.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is not a Tern key file.
    #[error("{}: not a tern wallet file: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The password does not open the file.
    #[error("wrong password for {}", .0.display())]
    WrongPassword(PathBuf),
    /// An account with that name exists.
    #[error("the wallet already has an account named {0:?}")]
    DuplicateName(String),
}

/// An account as listed without the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccount {
    /// The name chosen for it.
    pub name: String,
    /// Its public key, hex.
    pub public_key: String,
}

impl PublicAccount {
    /// The account's address.
    pub fn address(&self) -> Option<Address> {
        let bytes: [u8; 32] = hex::decode(&self.public_key).ok()?.try_into().ok()?;
        Some(Address::from_bytes(bytes))
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    accounts: Vec<PublicAccount>,
    kdf: KdfParams,
    cipher: CipherParams,
    ciphertext: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfParams {
    algorithm: String,
    salt: String,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CipherParams {
    algorithm: String,
    nonce: String,
}

#[derive(Serialize, Deserialize)]
struct SecretEntry {
    name: String,
    secret: String,
}

/// The key file at a path.
#[derive(Debug, Clone)]
pub struct Keystore {
    path: PathBuf,
}

fn derive_key(password: &str, salt: &[u8], params: &KdfParams) -> Result<Key, String> {
    if params.memory_kib > MAX_KDF_MEMORY_KIB
        || params.iterations > MAX_KDF_ITERATIONS
        || params.parallelism > MAX_KDF_LANES
    {
        return Err(format!(
            "key derivation costs {} KiB x {} passes x {} lanes exceed the limits \
             ({MAX_KDF_MEMORY_KIB} KiB, {MAX_KDF_ITERATIONS} passes, {MAX_KDF_LANES} lanes)",
            params.memory_kib, params.iterations, params.parallelism
        ));
    }
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|e| e.to_string())?;
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password.as_bytes(), salt, &mut key)
        .map_err(|e| e.to_string())?;
    Ok(Key::from(key))
}

impl Keystore {
    /// The key file at `path` (which need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Keystore { path: path.into() }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, e: impl std::fmt::Display) -> KeystoreError {
        KeystoreError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    fn malformed(&self, e: impl std::fmt::Display) -> KeystoreError {
        KeystoreError::Malformed {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    fn read(&self) -> Result<Option<KeyFile>, KeystoreError> {
        let text = match tern_chain::bounded_read::read_bounded(&self.path, MAX_KEY_FILE_BYTES) {
            Ok(Some(text)) => text,
            Ok(None) => return Ok(None),
            Err(tern_chain::bounded_read::ReadError::TooLarge { len, max }) => {
                return Err(self.malformed(format!("{len} bytes, more than {max}")))
            }
            Err(tern_chain::bounded_read::ReadError::Io(e)) => return Err(self.io(e)),
        };
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| self.malformed(e))?;
        if file.version != VERSION {
            return Err(self.malformed(format!("version {} is not {VERSION}", file.version)));
        }
        Ok(Some(file))
    }

    /// The accounts, without the password. Empty if the file does not exist.
    pub fn accounts(&self) -> Result<Vec<PublicAccount>, KeystoreError> {
        Ok(self.read()?.map(|f| f.accounts).unwrap_or_default())
    }

    /// The secret keys, with their names. Empty if the file does not exist.
    pub fn unlock(&self, password: &str) -> Result<Vec<(String, SecretKey)>, KeystoreError> {
        let Some(file) = self.read()? else {
            return Ok(Vec::new());
        };
        if file.kdf.algorithm != "argon2id" || file.cipher.algorithm != "chacha20poly1305" {
            return Err(self.malformed("unknown key derivation or cipher"));
        }
        let salt = hex::decode(&file.kdf.salt).map_err(|e| self.malformed(e))?;
        let nonce: [u8; 12] = hex::decode(&file.cipher.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| self.malformed("bad nonce"))?;
        let ciphertext = hex::decode(&file.ciphertext).map_err(|e| self.malformed(e))?;
        let key = derive_key(password, &salt, &file.kdf).map_err(|e| self.malformed(e))?;
        let plaintext = ChaCha20Poly1305::new(&key)
            .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
            .map_err(|_| KeystoreError::WrongPassword(self.path.clone()))?;
        let entries: Vec<SecretEntry> =
            serde_json::from_slice(&plaintext).map_err(|e| self.malformed(e))?;
        entries
            .into_iter()
            .map(|e| {
                let seed: [u8; 32] = hex::decode(&e.secret)
                    .ok()
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| self.malformed("bad secret key"))?;
                Ok((e.name, SecretKey::from_bytes(seed)))
            })
            .collect()
    }

    /// Adds an account, re-encrypting the file with `password` (which must open it, if it
    /// exists).
    pub fn add(&self, name: &str, key: &SecretKey, password: &str) -> Result<(), KeystoreError> {
        let mut accounts = self.unlock(password)?;
        if accounts.iter().any(|(n, _)| n == name) {
            return Err(KeystoreError::DuplicateName(name.to_owned()));
        }
        accounts.push((name.to_owned(), key.clone()));
        self.save(&accounts, password)
    }

    fn save(&self, accounts: &[(String, SecretKey)], password: &str) -> Result<(), KeystoreError> {
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let kdf = KdfParams {
            algorithm: "argon2id".into(),
            salt: hex::encode(salt),
            memory_kib: KDF_MEMORY_KIB,
            iterations: KDF_ITERATIONS,
            parallelism: KDF_LANES,
        };
        let key = derive_key(password, &salt, &kdf).map_err(|e| self.io(e))?;
        let secrets: Vec<SecretEntry> = accounts
            .iter()
            .map(|(name, k)| SecretEntry {
                name: name.clone(),
                secret: hex::encode(k.to_bytes()),
            })
            .collect();
        let plaintext = serde_json::to_vec(&secrets).map_err(|e| self.io(e))?;
        let ciphertext = ChaCha20Poly1305::new(&key)
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_slice())
            .map_err(|e| self.io(e))?;
        let file = KeyFile {
            version: VERSION,
            accounts: accounts
                .iter()
                .map(|(name, k)| PublicAccount {
                    name: name.clone(),
                    public_key: hex::encode(k.address().as_bytes()),
                })
                .collect(),
            kdf,
            cipher: CipherParams {
                algorithm: "chacha20poly1305".into(),
                nonce: hex::encode(nonce),
            },
            ciphertext: hex::encode(ciphertext),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| self.io(e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let temporary = self.path.with_extension("tmp");
        write_private(&temporary, text.as_bytes()).map_err(|e| self.io(e))?;
        std::fs::rename(&temporary, &self.path).map_err(|e| self.io(e))
    }
}

/// Writes a file readable only by its owner.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_chain::crypto::dev_secret_key;

    #[test]
    fn keys_round_trip_and_a_wrong_password_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Keystore::new(dir.path().join("wallet.json"));
        assert!(store.accounts().unwrap().is_empty());
        store
            .add("alice", &dev_secret_key(0), "correct horse")
            .unwrap();
        store
            .add("bob", &dev_secret_key(1), "correct horse")
            .unwrap();
        let listed = store.accounts().unwrap();
        assert_eq!(
            listed.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            ["alice", "bob"]
        );
        assert_eq!(listed[1].address(), Some(dev_secret_key(1).address()));
        let unlocked = store.unlock("correct horse").unwrap();
        assert_eq!(unlocked[0].1.to_bytes(), dev_secret_key(0).to_bytes());
        assert!(matches!(
            store.unlock("wrong"),
            Err(KeystoreError::WrongPassword(_))
        ));
        assert!(matches!(
            store.add("alice", &dev_secret_key(2), "correct horse"),
            Err(KeystoreError::DuplicateName(_))
        ));
        assert!(matches!(
            store.add("carol", &dev_secret_key(2), "wrong"),
            Err(KeystoreError::WrongPassword(_))
        ));
    }

    #[test]
    fn secrets_are_not_in_the_file_and_the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Keystore::new(dir.path().join("wallet.json"));
        store.add("alice", &dev_secret_key(0), "pw").unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains(&hex::encode(dev_secret_key(0).to_bytes())));
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        std::fs::write(&path, "{not json").unwrap();
        let error = Keystore::new(&path).accounts().unwrap_err().to_string();
        assert!(
            error.contains("wallet.json") && error.contains("not a tern wallet file"),
            "{error}"
        );
    }
}
