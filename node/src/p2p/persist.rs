//! Small JSON files in the data dir (address book, bans): written beside and renamed into
//! place, so a crash leaves the old file or the new one, never half of one.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Milliseconds since the Unix epoch: what persisted deadlines are measured in, since they
/// must survive a restart.
pub(crate) fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Reads `path`; a missing file is `T::default()`. A damaged file is reported, renamed to
/// `*.damaged` so the next save does not destroy the evidence, and replaced by the
/// default: losing peers or bans must not stop a node from starting.
pub(crate) fn load<T: DeserializeOwned + Default>(path: &Path) -> T {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return T::default(),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read; starting empty");
            return T::default();
        }
    };
    match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(error) => {
            let damaged = path.with_extension("json.damaged");
            let _ = std::fs::rename(path, &damaged);
            tracing::warn!(
                path = %path.display(),
                moved_to = %damaged.display(),
                %error,
                "damaged file set aside; starting empty"
            );
            T::default()
        }
    }
}

/// Writes `value` to `path` atomically.
pub(crate) fn save<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    let partial = path.with_extension("json.new");
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path)
}
