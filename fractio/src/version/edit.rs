//! [`VersionEdit`]: one atomic change to the set of live tables, as
//! recorded in the manifest.
//!
//! Encoding: a sequence of tagged fields, each a varint tag followed by its
//! value. Tags are on disk: never renumber them.
//!
//! ```text
//! 1 log_number        varint          segments below it are obsolete
//! 2 next_file_number  varint          file numbers below it are taken
//! 3 last_seq          varint          sequence numbers up to it are used
//! 4 add table         level u8, id varint, file_size varint,
//!                     smallest_key (varint len + bytes), largest_key (same),
//!                     smallest_seq varint, largest_seq varint,
//!                     entries varint, tombstones varint
//! 5 delete table      level u8, id varint
//! ```

use crate::coding::{put_length_prefixed, put_varint64, Reader};
use crate::options::LEVELS;
use crate::types::{compare_user_keys, SeqNo};

/// What the manifest records about a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMeta {
    /// The table's file number.
    pub id: u64,
    /// Its size in bytes.
    pub file_size: u64,
    /// Its smallest user key.
    pub smallest_key: Vec<u8>,
    /// Its largest user key.
    pub largest_key: Vec<u8>,
    /// Its smallest sequence number.
    pub smallest_seq: SeqNo,
    /// Its largest sequence number.
    pub largest_seq: SeqNo,
    /// Entries (versions) in it.
    pub entries: u64,
    /// Tombstones among them.
    pub tombstones: u64,
}

impl TableMeta {
    /// Whether the table's key range intersects `[smallest, largest]`.
    pub fn overlaps(&self, smallest: &[u8], largest: &[u8]) -> bool {
        self.smallest_key.as_slice() <= largest && smallest <= self.largest_key.as_slice()
    }

    /// Whether `key` lies in the table's key range.
    #[inline]
    pub fn covers(&self, key: &[u8]) -> bool {
        compare_user_keys(&self.smallest_key, key).is_le()
            && compare_user_keys(key, &self.largest_key).is_le()
    }
}

/// One change to the version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// Log segments with a smaller id hold nothing unflushed.
    pub log_number: Option<u64>,
    /// The next unused file number.
    pub next_file_number: Option<u64>,
    /// The largest sequence number used.
    pub last_seq: Option<SeqNo>,
    /// Tables added, with their level.
    pub added: Vec<(usize, TableMeta)>,
    /// Tables removed: level and id.
    pub deleted: Vec<(usize, u64)>,
}

const TAG_LOG_NUMBER: u64 = 1;
const TAG_NEXT_FILE: u64 = 2;
const TAG_LAST_SEQ: u64 = 3;
const TAG_ADD: u64 = 4;
const TAG_DELETE: u64 = 5;

impl VersionEdit {
    /// Encodes the edit.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (tag, value) in [
            (TAG_LOG_NUMBER, self.log_number),
            (TAG_NEXT_FILE, self.next_file_number),
            (TAG_LAST_SEQ, self.last_seq),
        ] {
            if let Some(value) = value {
                put_varint64(&mut out, tag);
                put_varint64(&mut out, value);
            }
        }
        for (level, meta) in &self.added {
            put_varint64(&mut out, TAG_ADD);
            out.push(*level as u8);
            put_varint64(&mut out, meta.id);
            put_varint64(&mut out, meta.file_size);
            put_length_prefixed(&mut out, &meta.smallest_key);
            put_length_prefixed(&mut out, &meta.largest_key);
            put_varint64(&mut out, meta.smallest_seq);
            put_varint64(&mut out, meta.largest_seq);
            put_varint64(&mut out, meta.entries);
            put_varint64(&mut out, meta.tombstones);
        }
        for (level, id) in &self.deleted {
            put_varint64(&mut out, TAG_DELETE);
            out.push(*level as u8);
            put_varint64(&mut out, *id);
        }
        out
    }

    /// Decodes an edit; `Err` names what was wrong. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<VersionEdit, &'static str> {
        let mut reader = Reader::new(bytes);
        let mut edit = VersionEdit::default();
        while !reader.is_empty() {
            let tag = reader.varint64().ok_or("bad tag")?;
            match tag {
                TAG_LOG_NUMBER => {
                    edit.log_number = Some(reader.varint64().ok_or("bad log number")?)
                }
                TAG_NEXT_FILE => {
                    edit.next_file_number = Some(reader.varint64().ok_or("bad next file")?)
                }
                TAG_LAST_SEQ => edit.last_seq = Some(reader.varint64().ok_or("bad last seq")?),
                TAG_ADD => {
                    let level = read_level(&mut reader)?;
                    let meta = read_meta(&mut reader).ok_or("bad table entry")?;
                    if meta.smallest_key > meta.largest_key || meta.smallest_seq > meta.largest_seq
                    {
                        return Err("table entry with inverted range");
                    }
                    edit.added.push((level, meta));
                }
                TAG_DELETE => {
                    let level = read_level(&mut reader)?;
                    let id = reader.varint64().ok_or("bad deleted table")?;
                    edit.deleted.push((level, id));
                }
                _ => return Err("unknown tag"),
            }
        }
        Ok(edit)
    }
}

fn read_level(reader: &mut Reader<'_>) -> Result<usize, &'static str> {
    let level = reader.u8().ok_or("missing level")? as usize;
    if level >= LEVELS {
        return Err("level out of range");
    }
    Ok(level)
}

fn read_meta(reader: &mut Reader<'_>) -> Option<TableMeta> {
    Some(TableMeta {
        id: reader.varint64()?,
        file_size: reader.varint64()?,
        smallest_key: reader.length_prefixed()?.to_vec(),
        largest_key: reader.length_prefixed()?.to_vec(),
        smallest_seq: reader.varint64()?,
        largest_seq: reader.varint64()?,
        entries: reader.varint64()?,
        tombstones: reader.varint64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn meta(id: u64, smallest: &str, largest: &str) -> TableMeta {
        TableMeta {
            id,
            file_size: 100 * id,
            smallest_key: smallest.as_bytes().to_vec(),
            largest_key: largest.as_bytes().to_vec(),
            smallest_seq: id,
            largest_seq: id + 10,
            entries: 5,
            tombstones: 1,
        }
    }

    #[test]
    fn edits_round_trip() {
        let edit = VersionEdit {
            log_number: Some(4),
            next_file_number: Some(9),
            last_seq: Some(1 << 40),
            added: vec![(0, meta(5, "a", "m")), (3, meta(6, "n", "z"))],
            deleted: vec![(1, 2), (6, 3)],
        };
        assert_eq!(VersionEdit::decode(&edit.encode()).unwrap(), edit);
        assert_eq!(VersionEdit::decode(&[]).unwrap(), VersionEdit::default());
    }

    #[test]
    fn malformed_edits_are_errors() {
        let edit = VersionEdit {
            added: vec![(0, meta(5, "a", "m"))],
            ..VersionEdit::default()
        };
        let bytes = edit.encode();
        for len in 0..bytes.len() {
            let _ = VersionEdit::decode(&bytes[..len]);
        }
        assert!(VersionEdit::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(VersionEdit::decode(&[99]).is_err());
        assert!(VersionEdit::decode(&[5, 7, 1]).is_err()); // level 7 out of range
        let inverted = VersionEdit {
            added: vec![(0, meta(5, "z", "a"))],
            ..VersionEdit::default()
        };
        assert!(VersionEdit::decode(&inverted.encode()).is_err());
    }
}
