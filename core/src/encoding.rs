//! The one canonical binary encoding.
//!
//! Every byte string that is hashed, signed, stored or sent is produced here, and this is
//! the only module that uses bincode. The rules:
//!
//! - integers are fixed-width little-endian (`u8`, `u16`, `u32`, `u64`; no varints), so each
//!   value has exactly one encoding;
//! - fixed-size byte arrays (hashes, keys, signatures) are written as they are, with no
//!   length;
//! - a variable-length sequence is a `u64` count followed by its items, and every decoder
//!   names the largest count it accepts ([`Reader::seq_len`]); a count that could not fit in
//!   the bytes that remain is refused before anything is allocated;
//! - a decoder must consume its input exactly: trailing bytes are an error;
//! - each type states the largest encoding it can have ([`Decode::MAX_ENCODED_LEN`]), and
//!   longer input is refused before decoding starts.
//!
//! Types implement [`Encode`] and [`Decode`] beside their definitions by calling the
//! primitives on [`Writer`] and [`Reader`], so a type's byte layout reads top to bottom in
//! one place; `docs/PROTOCOL.md` lists the layouts.

use bincode::config::{Configuration, Fixint, LittleEndian, NoLimit};

/// Fixed-width little-endian integers. No size limit here: inputs are slices already in
/// memory, and [`Decode::MAX_ENCODED_LEN`] and [`Reader::seq_len`] bound what they set.
const CONFIG: Configuration<LittleEndian, Fixint, NoLimit> = bincode::config::standard()
    .with_little_endian()
    .with_fixed_int_encoding();

/// A value with a canonical encoding.
pub trait Encode {
    /// Appends the canonical encoding of `self`.
    fn encode(&self, writer: &mut Writer);
}

/// A value that can be decoded from untrusted bytes.
pub trait Decode: Sized {
    /// The largest encoding of any value of this type; longer input is refused unread.
    const MAX_ENCODED_LEN: usize;

    /// Reads one value. Implementations check every count against a named limit.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// Why bytes are not the canonical encoding of a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside `what`.
    #[error("input ends inside {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// The value ended before the input did.
    #[error("{extra} trailing bytes after the value")]
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
    /// The input is longer than any value of the type can be.
    #[error("input is {len} bytes, the largest encoding is {max}")]
    TooLarge {
        /// The input's length.
        len: usize,
        /// The type's [`Decode::MAX_ENCODED_LEN`].
        max: usize,
    },
    /// A sequence declares more items than its limit.
    #[error("{what} has {len} items, the limit is {max}")]
    TooLong {
        /// The sequence.
        what: &'static str,
        /// The declared count.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A field holds a value its type does not allow.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Encodes `value` canonically.
pub fn encode<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// Appends the canonical encoding of `value` to `out`: many encodings in one buffer, as
/// the store's sorted batches write them.
pub fn encode_into<T: Encode + ?Sized>(value: &T, out: &mut Vec<u8>) {
    let mut writer = Writer {
        buf: std::mem::take(out),
    };
    value.encode(&mut writer);
    *out = writer.buf;
}

/// Decodes exactly one `T` from all of `bytes`.
pub fn decode<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > T::MAX_ENCODED_LEN {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: T::MAX_ENCODED_LEN,
        });
    }
    let mut reader = Reader { bytes, pos: 0 };
    let value = T::decode(&mut reader)?;
    match reader.remaining() {
        0 => Ok(value),
        extra => Err(DecodeError::TrailingBytes { extra }),
    }
}

/// Reads one part of a larger encoding with `read`, which may leave the rest unread (one
/// transaction of a stored block, say, without decoding and hashing all the others). The
/// bound is [`decode`]'s: at most `max_len` input bytes.
pub fn decode_part<T>(
    bytes: &[u8],
    max_len: usize,
    read: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    if bytes.len() > max_len {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    read(&mut Reader { bytes, pos: 0 })
}

/// Collects an encoding. Obtained through [`encode`].
#[derive(Debug)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn put<T: bincode::Encode>(&mut self, value: T) {
        // Writing fixed-width integers and byte arrays into a Vec with no size limit has no
        // failure path in bincode; only a writer error or a limit could fail, and neither
        // exists here.
        #[allow(clippy::expect_used)]
        bincode::encode_into_std_write(value, &mut self.buf, CONFIG)
            .expect("bincode cannot fail writing fixed-width values into a Vec");
    }

    /// A `u8`.
    pub fn u8(&mut self, value: u8) {
        self.put(value);
    }

    /// A `u16`, little-endian.
    pub fn u16(&mut self, value: u16) {
        self.put(value);
    }

    /// A `u32`, little-endian.
    pub fn u32(&mut self, value: u32) {
        self.put(value);
    }

    /// A `u64`, little-endian.
    pub fn u64(&mut self, value: u64) {
        self.put(value);
    }

    /// A fixed-size byte array, as it is.
    pub fn array<const N: usize>(&mut self, bytes: &[u8; N]) {
        self.put(*bytes);
    }

    /// A sequence: its count as a `u64`, then each item.
    pub fn seq<T: Encode>(&mut self, items: &[T]) {
        self.u64(items.len() as u64);
        for item in items {
            item.encode(self);
        }
    }

    /// Variable-length bytes: the length as a `u64`, then the bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }
}

/// Reads an encoding from untrusted bytes. Obtained through [`decode`] or [`decode_part`].
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    /// How many input bytes are still unread.
    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// How many input bytes have been read: a mark for [`Self::read_since`].
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The input bytes read since `start`, an earlier [`Self::position`]: the exact bytes
    /// a value was decoded from, to hash them without encoding the value again.
    pub fn read_since(&self, start: usize) -> &[u8] {
        self.bytes.get(start..self.pos).unwrap_or_default()
    }

    /// Passes over `len` bytes called `what` in errors, without reading them.
    pub fn skip(&mut self, len: usize, what: &'static str) -> Result<(), DecodeError> {
        if len > self.remaining() {
            return Err(DecodeError::Truncated { what });
        }
        self.pos = self.pos.saturating_add(len);
        Ok(())
    }

    fn take<T: bincode::Decode<()>>(&mut self, what: &'static str) -> Result<T, DecodeError> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        match bincode::decode_from_slice::<T, _>(rest, CONFIG) {
            Ok((value, read)) => {
                self.pos = self.pos.saturating_add(read);
                Ok(value)
            }
            Err(bincode::error::DecodeError::UnexpectedEnd { .. }) => {
                Err(DecodeError::Truncated { what })
            }
            Err(other) => Err(DecodeError::Invalid {
                what,
                reason: other.to_string(),
            }),
        }
    }

    /// A `u8` called `what` in errors.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.take(what)
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        self.take(what)
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.take(what)
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        self.take(what)
    }

    /// A fixed-size byte array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        self.take(what)
    }

    /// The count of a sequence of at most `max` items, each at least `min_item_len` bytes.
    ///
    /// A count above `max`, or one whose items could not fit in the remaining input, is
    /// refused here, so callers may allocate `count` items.
    pub fn seq_len(
        &mut self,
        what: &'static str,
        max: usize,
        min_item_len: usize,
    ) -> Result<usize, DecodeError> {
        let len = self.u64(what)?;
        let max_u64 = max as u64;
        if len > max_u64 {
            return Err(DecodeError::TooLong {
                what,
                len,
                max: max_u64,
            });
        }
        let needed = len.saturating_mul(min_item_len as u64);
        if needed > self.remaining() as u64 {
            return Err(DecodeError::Truncated { what });
        }
        // len <= max, which is a usize.
        Ok(len as usize)
    }

    /// A sequence of at most `max` items of `T`, each at least `min_item_len` bytes.
    pub fn seq<T: Decode>(
        &mut self,
        what: &'static str,
        max: usize,
        min_item_len: usize,
    ) -> Result<Vec<T>, DecodeError> {
        let len = self.seq_len(what, max, min_item_len.max(1))?;
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(T::decode(self)?);
        }
        Ok(items)
    }

    /// Variable-length bytes of at most `max` bytes.
    pub fn bytes(&mut self, what: &'static str, max: usize) -> Result<Vec<u8>, DecodeError> {
        let len = self.seq_len(what, max, 1)?;
        let end = self.pos.saturating_add(len);
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated { what })?;
        self.pos = end;
        Ok(slice.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq)]
    struct Sample {
        small: u16,
        big: u64,
        key: [u8; 4],
        list: Vec<u32>,
    }

    impl Encode for Sample {
        fn encode(&self, w: &mut Writer) {
            w.u16(self.small);
            w.u64(self.big);
            w.array(&self.key);
            w.u64(self.list.len() as u64);
            for item in &self.list {
                w.u32(*item);
            }
        }
    }

    impl Decode for Sample {
        const MAX_ENCODED_LEN: usize = 2 + 8 + 4 + 8 + 4 * 8;

        fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
            let small = r.u16("small")?;
            let big = r.u64("big")?;
            let key = r.array("key")?;
            let len = r.seq_len("list", 8, 4)?;
            let list = (0..len).map(|_| r.u32("item")).collect::<Result<_, _>>()?;
            Ok(Sample {
                small,
                big,
                key,
                list,
            })
        }
    }

    #[test]
    fn layout_is_fixed_width_little_endian_without_array_lengths() {
        let sample = Sample {
            small: 0x0102,
            big: 3,
            key: *b"abcd",
            list: vec![0x0a0b0c0d],
        };
        let expected: Vec<u8> = [
            &[0x02, 0x01][..],
            &3u64.to_le_bytes(),
            b"abcd",
            &1u64.to_le_bytes(),
            &[0x0d, 0x0c, 0x0b, 0x0a],
        ]
        .concat();
        assert_eq!(encode(&sample), expected);
    }

    #[test]
    fn trailing_bytes_truncation_and_oversize_are_errors() {
        let mut bytes = encode(&Sample {
            small: 1,
            big: 2,
            key: [0; 4],
            list: vec![],
        });
        bytes.push(0);
        assert_eq!(
            decode::<Sample>(&bytes),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
        bytes.truncate(5);
        assert_eq!(
            decode::<Sample>(&bytes),
            Err(DecodeError::Truncated { what: "big" })
        );
        let huge = vec![0u8; Sample::MAX_ENCODED_LEN + 1];
        assert!(matches!(
            decode::<Sample>(&huge),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_count_above_its_limit_or_the_input_is_refused_before_allocating() {
        let mut bytes = encode(&Sample {
            small: 1,
            big: 2,
            key: [0; 4],
            list: vec![],
        });
        let count_at = bytes.len() - 8;
        bytes[count_at..].copy_from_slice(&9u64.to_le_bytes());
        assert_eq!(
            decode::<Sample>(&bytes),
            Err(DecodeError::TooLong {
                what: "list",
                len: 9,
                max: 8
            })
        );
        bytes[count_at..].copy_from_slice(&8u64.to_le_bytes());
        assert_eq!(
            decode::<Sample>(&bytes),
            Err(DecodeError::Truncated { what: "list" })
        );
    }

    proptest! {
        #[test]
        fn round_trips(small: u16, big: u64, key: [u8; 4], list in proptest::collection::vec(any::<u32>(), 0..=8)) {
            let sample = Sample { small, big, key, list };
            prop_assert_eq!(decode::<Sample>(&encode(&sample)), Ok(sample));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode::<Sample>(&bytes);
        }
    }
}
