//! Sorted table files ("SSTables"): immutable files of versions in internal
//! order, written once by [`TableBuilder`] (flush or compaction) and read
//! by many threads through an `Arc<`[`Table`]`>`.
//!
//! ```text
//! +--------------+-----+----------------+--------+-------+------------+--------+
//! | data block 0 | ... | data block n-1 | filter | index | properties | footer |
//! +--------------+-----+----------------+--------+-------+------------+--------+
//! ```
//!
//! The byte layout is specified in `docs/FORMAT.md` ("Tables") and drawn in
//! each encoder's module doc:
//!
//! - `format`: block handles, sealing (compression type + checksum),
//!   footer, format version, [`DecodeError`](format::DecodeError).
//! - `block`: data/index block encoding, decoded [`Block`](block::Block),
//!   point lookup and [`BlockIter`](block::BlockIter).
//! - `buf`: the memory a decoded block lives in ([`BlockBuf`](buf::BlockBuf)):
//!   a `Vec`'s, or a frame of the block cache's pool on huge pages.
//! - `filter`: the cache-line blocked bloom filter.
//! - `index`: the index block, decoded into flat arrays when opened.
//! - `properties`: [`TableProperties`].
//! - `builder`, `reader`, `iter`: [`TableBuilder`], [`Table`], [`TableIter`].
//!
//! Every decoder is `pub` and total: on arbitrary bytes it returns an error,
//! never panics (fuzz targets may call them directly). The reader turns a
//! decode error into [`Error::Corruption`](crate::Error::Corruption) with
//! the table's path and the offset of the damaged block.

pub mod block;
pub mod buf;
mod builder;
mod files;
pub mod filter;
pub mod format;
pub mod index;
mod iter;
pub mod properties;
mod reader;

pub use builder::{TableBuilder, TableOptions};
pub use files::OpenFiles;
pub use format::FORMAT_VERSION;
pub use iter::TableIter;
pub use properties::TableProperties;
pub use reader::Table;

#[cfg(test)]
mod tests;

/// Writes `entries` (in internal order) to a new table file at `path` in
/// `fs`: the set-up of tests that read tables through other cursors.
#[cfg(test)]
pub(crate) fn write_test_table<'a>(
    fs: &dyn crate::fs::FileSystem,
    path: &std::path::Path,
    entries: impl IntoIterator<
        Item = (
            &'a [u8],
            crate::types::SeqNo,
            crate::types::ValueKind,
            &'a [u8],
        ),
    >,
    options: TableOptions,
) -> TableProperties {
    let mut builder = TableBuilder::new(fs.create_writable(path).unwrap(), options);
    for (key, seq, kind, value) in entries {
        builder.add(key, seq, kind, value).unwrap();
    }
    builder.finish().unwrap()
}

/// The file name of table `id` in a database directory.
pub fn table_file_name(id: u64) -> String {
    format!("{id:06}.sst")
}
