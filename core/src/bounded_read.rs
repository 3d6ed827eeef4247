//! Reading a file from outside the process (a chain spec, a config, a key file, a saved
//! list) with a bound on its size, so that a huge or growing file is refused before it is
//! read instead of being loaded whole into memory.

use std::io::Read;
use std::path::Path;

/// Why [`read_bounded`] read nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file is larger than its bound; it was not read.
    #[error("{len} bytes, more than the {max} allowed")]
    TooLarge {
        /// The file's length.
        len: u64,
        /// The bound.
        max: u64,
    },
    /// The file cannot be read, or is not UTF-8.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads `path` as text if it holds at most `max` bytes; `None` if it does not exist.
/// The length is checked on the open file and the read is capped at `max + 1` bytes, so
/// a file that grows meanwhile cannot make it allocate more.
pub fn read_bounded(path: &Path, max: u64) -> Result<Option<String>, ReadError> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    if len > max {
        return Err(ReadError::TooLarge { len, max });
    }
    let mut text = String::new();
    file.take(max.saturating_add(1)).read_to_string(&mut text)?;
    let read = text.len() as u64;
    if read > max {
        return Err(ReadError::TooLarge { len: read, max });
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_file_within_its_bound_is_read_and_one_beyond_it_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert!(read_bounded(&path, 4).unwrap().is_none());
        std::fs::write(&path, "four").unwrap();
        assert_eq!(read_bounded(&path, 4).unwrap().as_deref(), Some("four"));
        let error = read_bounded(&path, 3).unwrap_err();
        assert!(
            matches!(error, ReadError::TooLarge { len: 4, max: 3 }),
            "{error}"
        );
    }
}
