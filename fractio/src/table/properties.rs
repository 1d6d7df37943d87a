//! [`TableProperties`]: what a table holds, written in its properties block
//! and kept in memory while it is open.
//!
//! Properties block payload, version 1 (before sealing; never compressed):
//!
//! ```text
//! +------------------+---------------------+----------------------+
//! | entries: var64   | tombstones: var64   | data_blocks: var64   |
//! +------------------+---------------------+----------------------+
//! | smallest_seq: var64                    | largest_seq: var64   |
//! +----------------------------------------+----------------------+
//! | smallest_key: var64 len ++ bytes       | largest_key: var64 len ++ bytes |
//! +----------------------------------------+---------------------------------+
//! ```
//!
//! Nothing may follow. `file_size` is not stored: it is the file's size.
//! An empty table has empty keys and both sequence numbers 0.

use super::format::{malformed, DecodeError};
use crate::coding::{self, Reader};
use crate::types::{SeqNo, MAX_KEY_LEN};

/// A summary of a table, known after [`TableBuilder::finish`](super::TableBuilder::finish)
/// and kept in memory by an open [`Table`](super::Table).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TableProperties {
    /// The smallest user key (of the first entry).
    pub smallest_key: Vec<u8>,
    /// The largest user key (of the last entry).
    pub largest_key: Vec<u8>,
    /// The smallest sequence number of any entry.
    pub smallest_seq: SeqNo,
    /// The largest sequence number of any entry.
    pub largest_seq: SeqNo,
    /// The number of entries (versions), tombstones included.
    pub entries: u64,
    /// The number of tombstones.
    pub tombstones: u64,
    /// The size of the table file in bytes.
    pub file_size: u64,
    /// The number of data blocks.
    pub data_blocks: u64,
}

impl TableProperties {
    /// Appends the properties block payload (everything but `file_size`).
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        for n in [
            self.entries,
            self.tombstones,
            self.data_blocks,
            self.smallest_seq,
            self.largest_seq,
        ] {
            coding::put_varint64(out, n);
        }
        coding::put_length_prefixed(out, &self.smallest_key);
        coding::put_length_prefixed(out, &self.largest_key);
    }

    /// Decodes a properties block payload; `file_size` is left 0 for the
    /// caller to fill in.
    pub fn decode(payload: &[u8]) -> Result<TableProperties, DecodeError> {
        let mut reader = Reader::new(payload);
        let mut number = || reader.varint64();
        let (
            Some(entries),
            Some(tombstones),
            Some(data_blocks),
            Some(smallest_seq),
            Some(largest_seq),
        ) = (number(), number(), number(), number(), number())
        else {
            return malformed("bad properties block");
        };
        let (Some(smallest_key), Some(largest_key)) =
            (reader.length_prefixed(), reader.length_prefixed())
        else {
            return malformed("bad properties block keys");
        };
        if !reader.is_empty() {
            return malformed("trailing bytes in properties block");
        }
        if smallest_key.len() > MAX_KEY_LEN || largest_key.len() > MAX_KEY_LEN {
            return malformed("properties key longer than the key limit");
        }
        if tombstones > entries
            || smallest_seq > largest_seq
            || (entries > 0 && smallest_key > largest_key)
        {
            return malformed("inconsistent table properties");
        }
        Ok(TableProperties {
            smallest_key: smallest_key.to_vec(),
            largest_key: largest_key.to_vec(),
            smallest_seq,
            largest_seq,
            entries,
            tombstones,
            file_size: 0,
            data_blocks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn sample() -> TableProperties {
        TableProperties {
            smallest_key: b"apple".to_vec(),
            largest_key: b"pear".to_vec(),
            smallest_seq: 3,
            largest_seq: 1 << 50,
            entries: 1000,
            tombstones: 10,
            file_size: 0,
            data_blocks: 7,
        }
    }

    #[test]
    fn round_trips_and_rejects_inconsistencies() {
        let mut out = Vec::new();
        sample().encode_to(&mut out);
        assert_eq!(TableProperties::decode(&out), Ok(sample()));
        out.push(0);
        assert!(TableProperties::decode(&out).is_err(), "trailing byte");

        let swapped = TableProperties {
            smallest_seq: 9,
            largest_seq: 8,
            ..sample()
        };
        let mut out = Vec::new();
        swapped.encode_to(&mut out);
        assert!(TableProperties::decode(&out).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = StdRng::seed_from_u64(0x9009);
        let mut seed = Vec::new();
        sample().encode_to(&mut seed);
        for round in 0..3000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                (0..rng.gen_range(0..40)).map(|_| rng.gen()).collect()
            } else {
                let mut bytes = seed.clone();
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = rng.gen();
                bytes
            };
            let _ = TableProperties::decode(&bytes);
        }
    }
}
