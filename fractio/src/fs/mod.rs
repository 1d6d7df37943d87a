//! The file-system trait: every byte fractio reads or writes goes through
//! [`FileSystem`], so tests can substitute an in-memory file system that
//! loses unsynced data on a simulated power loss, or one that injects
//! errors.
//!
//! Three kinds of file are used:
//! - [`RandomAccessFile`]: immutable files read at offsets (tables, and
//!   logs and manifests at recovery).
//! - [`WritableFile`]: files written once from start to end and synced
//!   (tables, manifests, `CURRENT`).
//! - [`LogFile`]: preallocated write-ahead-log segments, in one of two
//!   [`LogMode`]s. `Mapped`: appends are copies into a shared mapping of
//!   the file, so a write survives the death of the process as soon as the
//!   copy is done, without a system call. `Buffered`: appends are copies
//!   into process memory and reach the file only when synced, with one
//!   write and one data sync for every byte appended since the last sync.
//!
//! Directory listings return file names, not paths.

pub mod fault;
pub mod mem;
mod std_fs;

pub use fault::FaultFs;
pub use mem::MemFs;
pub use std_fs::StdFs;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// Access to files and directories.
pub trait FileSystem: Send + Sync + fmt::Debug {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// The size of the file at `path` in bytes.
    fn file_size(&self, path: &Path) -> io::Result<u64>;
    /// Opens an existing file for reads at offsets.
    fn open_random(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>>;
    /// Creates (or truncates) a file to be written from start to end.
    fn create_writable(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Creates a log segment with room for `capacity` bytes, all zero,
    /// whose appends reach the file as `mode` says.
    fn create_log(&self, path: &Path, capacity: u64, mode: LogMode)
        -> io::Result<Arc<dyn LogFile>>;
    /// Reads a whole file.
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on the file at `path` (created if missing),
    /// held until the returned guard is dropped. Fails with
    /// [`io::ErrorKind::WouldBlock`] when the lock is held, whether by this
    /// process or another.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>>;
}

/// A file read at offsets. Shared between threads.
pub trait RandomAccessFile: Send + Sync {
    /// Fills `buf` with the bytes at `offset`; an error if the file is
    /// shorter.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Appends the `len` bytes at `offset` to `buf`; an error if the file
    /// is shorter (then `buf` keeps its length). Implementations may read
    /// into `buf`'s spare capacity without zeroing it first.
    fn read_exact_at_into(&self, buf: &mut Vec<u8>, len: usize, offset: u64) -> io::Result<()> {
        let start = buf.len();
        buf.resize(start + len, 0);
        let read = self.read_exact_at(&mut buf[start..], offset);
        if read.is_err() {
            buf.truncate(start);
        }
        read
    }
    /// Reads the bytes at `offset` into `bufs` in turn: buffer `k` (empty)
    /// gets the next `lens[k]` bytes. Implementations read them with one
    /// call where they can (`preadv`), so blocks read ahead land each in
    /// its own buffer without a copy. An error if the file is shorter; then
    /// every buffer is left empty.
    fn read_exact_at_scattered(
        &self,
        bufs: &mut [Vec<u8>],
        lens: &[usize],
        offset: u64,
    ) -> io::Result<()> {
        read_each(self, bufs, lens, offset)
    }
    /// The file's size in bytes.
    fn size(&self) -> u64;
}

/// [`RandomAccessFile::read_exact_at_scattered`] as one read per buffer.
pub(crate) fn read_each<F: RandomAccessFile + ?Sized>(
    file: &F,
    bufs: &mut [Vec<u8>],
    lens: &[usize],
    offset: u64,
) -> io::Result<()> {
    let mut at = offset;
    for (buf, &len) in bufs.iter_mut().zip(lens) {
        buf.clear();
        if let Err(err) = file.read_exact_at_into(buf, len, at) {
            bufs.iter_mut().for_each(Vec::clear);
            return Err(err);
        }
        at += len as u64;
    }
    Ok(())
}

/// A file written once, from start to end.
pub trait WritableFile: Send {
    /// Appends `data`.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable.
    fn sync(&mut self) -> io::Result<()>;
}

/// How the appends to a log segment reach its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    /// Appends are copies into a shared mapping of the file: once done,
    /// they survive the death of the process; a sync makes them survive a
    /// power loss. No system call per append (`Durability::Process`).
    Mapped,
    /// Appends are copies into process memory; a sync writes the bytes
    /// appended since the last one to the file and makes them durable.
    /// Nothing unsynced survives even the death of the process. For
    /// `Durability::Sync`, where every write waits for a sync anyway: the
    /// file is only touched by the syncing thread, so appends never take a
    /// page fault on a page the sync is writing back.
    Buffered,
}

/// A preallocated log segment.
///
/// REQUIRES: callers serialise `write_at` calls and never write the same
/// byte twice (the log only appends); they serialise `sync` calls, and pass
/// `sync` only an `upto` that earlier, completed `write_at` calls reached.
/// `sync` may run concurrently with a `write_at` of later bytes.
pub trait LogFile: Send + Sync {
    /// The number of bytes the segment can hold.
    fn capacity(&self) -> u64;
    /// Copies `data` to `offset`. Once it returns, the bytes survive the
    /// death of the process in [`LogMode::Mapped`], nothing in
    /// [`LogMode::Buffered`] (see [`LogFile::sync`]).
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes the bytes `[0, upto)` survive a power loss.
    fn sync(&self, upto: u64) -> io::Result<()>;
    /// Prepares bytes `[from, to)` for writing ahead of time (e.g. faults
    /// the pages of a mapping in), from a background thread, so appends do
    /// not stop for it. Only a hint; bytes already written are untouched.
    fn prefault(&self, _from: u64, _to: u64) {}
}

/// A held directory lock; dropping it releases the lock.
pub trait FileLock: Send + Sync {}
