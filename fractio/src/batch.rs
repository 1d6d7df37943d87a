//! [`WriteBatch`]: a group of writes applied atomically, and the entry
//! encoding shared by batches and log records.
//!
//! A batch is kept encoded, exactly as its entries appear in a log record,
//! so committing it is one copy. Entry layout:
//!
//! ```text
//! +---------+----------------+-----------+------------------+-------------+
//! | kind u8 | key_len varint | key bytes | value_len varint | value bytes |
//! +---------+----------------+-----------+------------------+-------------+
//!                                          (value part only for kind 1)
//! ```
//!
//! Invariant: every key in a batch is 1..=`MAX_KEY_LEN` bytes and every
//! value at most `MAX_VALUE_LEN` bytes (checked when added, so a batch
//! that exists is valid).

use crate::coding::{put_varint64, varint_len, Reader};
use crate::types::{ValueKind, MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::{Error, Result};

/// The most entries one batch may hold.
pub const MAX_BATCH_ENTRIES: usize = 1 << 24;

/// The most encoded bytes one batch may hold (a log record must fit in a
/// segment and the whole batch in one memtable).
pub const MAX_BATCH_BYTES: usize = 256 << 20;

/// An ordered group of inserts and removes, applied all-or-nothing by
/// [`Db::write`](crate::Db::write), also across a crash. Later entries win
/// over earlier ones for the same key.
#[derive(Clone, Default, Debug)]
pub struct WriteBatch {
    entries: Vec<u8>,
    count: u32,
    error: Option<String>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Adds an insert of `key` with `value`.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.push(ValueKind::Value, key.as_ref(), value.as_ref());
    }

    /// Adds a removal of `key`.
    pub fn remove(&mut self, key: impl AsRef<[u8]>) {
        self.push(ValueKind::Tombstone, key.as_ref(), &[]);
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the batch has no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.count = 0;
        self.error = None;
    }

    /// The encoded entries.
    pub(crate) fn encoded(&self) -> &[u8] {
        &self.entries
    }

    /// The first invalid entry that was added, if any: the batch is then
    /// refused whole by `Db::write`.
    pub(crate) fn check(&self) -> Result<()> {
        match &self.error {
            Some(reason) => Err(Error::InvalidArgument(reason.clone())),
            None if self.entries.len() > MAX_BATCH_BYTES => Err(Error::InvalidArgument(format!(
                "batch of {} bytes exceeds the limit of {MAX_BATCH_BYTES}",
                self.entries.len()
            ))),
            None => Ok(()),
        }
    }

    fn push(&mut self, kind: ValueKind, key: &[u8], value: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Err(Error::InvalidArgument(reason)) = check_entry(key, value) {
            self.error = Some(reason);
            return;
        }
        if self.count as usize >= MAX_BATCH_ENTRIES {
            self.error = Some(format!("batch exceeds {MAX_BATCH_ENTRIES} entries"));
            return;
        }
        encode_entry(&mut self.entries, kind, key, value);
        self.count += 1;
    }
}

/// Checks one entry against the limits.
#[inline]
pub(crate) fn check_entry(key: &[u8], value: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidArgument("empty key".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::InvalidArgument(format!(
            "key of {} bytes exceeds the limit of {MAX_KEY_LEN}",
            key.len()
        )));
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::InvalidArgument(format!(
            "value of {} bytes exceeds the limit of {MAX_VALUE_LEN}",
            value.len()
        )));
    }
    Ok(())
}

/// Appends one encoded entry.
#[inline]
pub(crate) fn encode_entry(out: &mut Vec<u8>, kind: ValueKind, key: &[u8], value: &[u8]) {
    out.push(kind as u8);
    put_varint64(out, key.len() as u64);
    out.extend_from_slice(key);
    if kind == ValueKind::Value {
        put_varint64(out, value.len() as u64);
        out.extend_from_slice(value);
    }
}

/// The encoded size of one entry.
#[inline]
pub(crate) fn encoded_entry_len(kind: ValueKind, key: &[u8], value: &[u8]) -> usize {
    let mut len = 1 + varint_len(key.len() as u64) + key.len();
    if kind == ValueKind::Value {
        len += varint_len(value.len() as u64) + value.len();
    }
    len
}

/// One decoded entry, borrowing from the encoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Insert or removal.
    pub kind: ValueKind,
    /// The user key.
    pub key: &'a [u8],
    /// The value (empty for a removal).
    pub value: &'a [u8],
}

/// Decodes encoded entries one by one; yields an error message (and then
/// stops) on malformed bytes. Never panics.
pub struct EntryDecoder<'a> {
    reader: Reader<'a>,
    failed: bool,
}

impl<'a> EntryDecoder<'a> {
    /// A decoder over encoded entries.
    pub fn new(encoded: &'a [u8]) -> EntryDecoder<'a> {
        EntryDecoder {
            reader: Reader::new(encoded),
            failed: false,
        }
    }

    fn decode_one(&mut self) -> Option<Entry<'a>> {
        let kind = ValueKind::from_u8(self.reader.u8()?)?;
        let key = self.reader.length_prefixed()?;
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return None;
        }
        let value = match kind {
            ValueKind::Value => self.reader.length_prefixed()?,
            ValueKind::Tombstone => &[],
        };
        if value.len() > MAX_VALUE_LEN {
            return None;
        }
        Some(Entry { kind, key, value })
    }
}

impl<'a> Iterator for EntryDecoder<'a> {
    type Item = std::result::Result<Entry<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.is_empty() {
            return None;
        }
        match self.decode_one() {
            Some(entry) => Some(Ok(entry)),
            None => {
                self.failed = true;
                Some(Err("malformed batch entry"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let mut batch = WriteBatch::new();
        batch.insert(b"a", b"1");
        batch.remove(b"b");
        batch.insert(b"c", b"");
        assert_eq!(batch.len(), 3);
        batch.check().unwrap();
        let entries: Vec<_> = EntryDecoder::new(batch.encoded())
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        assert_eq!(
            entries,
            vec![
                Entry {
                    kind: ValueKind::Value,
                    key: b"a",
                    value: b"1"
                },
                Entry {
                    kind: ValueKind::Tombstone,
                    key: b"b",
                    value: b""
                },
                Entry {
                    kind: ValueKind::Value,
                    key: b"c",
                    value: b""
                },
            ]
        );
        let mut out = Vec::new();
        encode_entry(&mut out, ValueKind::Value, b"key", b"value");
        assert_eq!(
            out.len(),
            encoded_entry_len(ValueKind::Value, b"key", b"value")
        );
    }

    #[test]
    fn an_invalid_entry_poisons_the_batch() {
        let mut batch = WriteBatch::new();
        batch.insert(b"ok", b"1");
        batch.insert(b"", b"1");
        batch.insert(b"fine", b"2");
        assert!(matches!(batch.check(), Err(Error::InvalidArgument(_))));
        batch.clear();
        batch.insert(vec![0u8; MAX_KEY_LEN + 1], b"1");
        assert!(batch.check().is_err());
        batch.clear();
        assert!(batch.check().is_ok());
    }

    #[test]
    fn malformed_bytes_are_an_error_not_a_panic() {
        for bytes in [
            &[7u8][..],
            &[1, 5, b'a'],
            &[1, 0],
            &[0, 2, b'a'],
            &[1, 1, b'a', 9],
        ] {
            let results: Vec<_> = EntryDecoder::new(bytes).collect();
            assert!(results.last().unwrap().is_err(), "{bytes:?}");
        }
    }
}
