//! The write-ahead log: every committed batch is one checksummed record in
//! a log segment before it enters the memtable, so a restart can replay it.
//!
//! A segment (`<n>.log`) is preallocated at a fixed capacity, full of zeros,
//! and written by [`writer::WalWriter`] through [`LogFile`]. Under
//! `Durability::Process` appends are copies into a shared mapping, so they
//! survive the death of the process at once; under `Durability::Sync` they
//! are copies into process memory that reach the file at the next sync
//! (see [`LogMode`]). [`LogFile::sync`] makes them survive a power loss.
//! Records never span segments; a record that does not fit starts a new
//! segment.
//!
//! Record layout (see `docs/FORMAT.md`):
//!
//! ```text
//! +----------+---------+------------------------------------------------+
//! | crc: u32 | len: u32| payload (len bytes)                            |
//! |          |         | first_seq: u64 | count: u32 | entries (batch.rs) |
//! +----------+---------+------------------------------------------------+
//! crc = checksum(len as 4 bytes ++ payload)
//! ```
//!
//! A header of eight zero bytes marks the end of the written part of a
//! segment. The entries of one record take the sequence numbers
//! `first_seq .. first_seq + count`, in order.
//!
//! [`LogFile`]: crate::fs::LogFile
//! [`LogMode`]: crate::fs::LogMode
//! [`LogFile::sync`]: crate::fs::LogFile::sync

pub mod reader;
pub mod writer;

/// Bytes before the payload: checksum and length.
pub const HEADER_LEN: usize = 8;
/// Bytes of the payload before the entries: first sequence number and count.
pub const PAYLOAD_PREFIX_LEN: usize = 12;

/// The file name of segment `id`.
pub fn segment_name(id: u64) -> String {
    format!("{id:06}.log")
}

/// The segment id of a file name, if it names a segment.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(segment_name(7), "000007.log");
        assert_eq!(parse_segment_name("000007.log"), Some(7));
        assert_eq!(parse_segment_name("1234567.log"), Some(1234567));
        assert_eq!(parse_segment_name("x.log"), None);
        assert_eq!(parse_segment_name(".log"), None);
        assert_eq!(parse_segment_name("000007.sst"), None);
    }
}
