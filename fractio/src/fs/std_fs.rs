//! [`StdFs`]: the real file system, through `std::fs`, `libc` and
//! `memmap2`.
//!
//! Log segments are created at full size with `posix_fallocate` (so a full
//! disk fails the creation, not a later write into the mapping, which would
//! raise SIGBUS, and a sync never has to grow the file).
//!
//! - [`LogMode::Mapped`]: the file is mapped shared and writable;
//!   `write_at` is a `memcpy` into the mapping and `sync` is
//!   `msync(MS_SYNC)` of the bytes not yet synced.
//! - [`LogMode::Buffered`]: `write_at` is a `memcpy` into an anonymous
//!   mapping of the segment's size (pages are backed as they are touched
//!   and released once synced); `sync` is one `pwrite` of the bytes not yet
//!   synced and an `fdatasync`. Invariant: the file holds exactly the synced
//!   bytes `[0, synced)` and zeros after them; the buffer holds every byte
//!   appended at or after `synced`.
//!
//! Why two modes: an `msync` write-protects the pages it writes back, so
//! the next append into the same page takes a page fault while the sync
//! may still be working on that page. Under `Sync` that happens on nearly
//! every append, inside the commit lock; with 8 `Sync` writers each `msync`
//! took about three times as long as a single writer's. A buffered
//! segment's file is touched by the syncing thread only.
//!
//! Table files are opened for reading with `O_NOATIME` where the system
//! allows it (the process owns the file): a block read that misses the
//! cache then skips the kernel's access-time check (1.8% of the `contains`
//! workload's profile before). Without the permission they are opened
//! plainly.

use super::{FileLock, FileSystem, LogFile, LogMode, RandomAccessFile, WritableFile};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

impl FileSystem for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }

    fn open_random(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let file = open_for_reading(path)?;
        let size = file.metadata()?.len();
        Ok(Arc::new(StdRandomFile { file, size }))
    }

    fn create_writable(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = File::create(path)?;
        Ok(Box::new(StdWritableFile {
            out: BufWriter::with_capacity(256 << 10, file),
        }))
    }

    fn create_log(
        &self,
        path: &Path,
        capacity: u64,
        mode: LogMode,
    ) -> io::Result<Arc<dyn LogFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        // Nothing is synced here: a segment's size and allocation become
        // durable with its first `sync` (msync has fdatasync's semantics),
        // and its directory entry is synced by the log before that.
        allocate(&file, capacity)?;
        if mode == LogMode::Buffered {
            let buffer = memmap2::MmapOptions::new()
                .len(capacity as usize)
                .map_anon()?
                .into();
            return Ok(Arc::new(BufferedLog {
                buffer,
                capacity,
                synced: AtomicU64::new(0),
                released: AtomicU64::new(0),
                page: page_size(),
                file,
            }));
        }
        let map = memmap2::MmapOptions::new()
            .len(capacity as usize)
            .map_raw(&file)?;
        Ok(Arc::new(MappedLog {
            map,
            capacity,
            synced: AtomicU64::new(0),
            released: AtomicU64::new(0),
            page: page_size(),
            _file: file,
        }))
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // SAFETY: `flock` only reads the descriptor, which `file` keeps open
        // for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "locked"));
            }
            return Err(err);
        }
        // `flock` locks belong to the open file description: a second open of
        // the same file, even in this process, conflicts. The lock goes when
        // the file is closed.
        Ok(Box::new(StdLock { _file: file }))
    }
}

fn page_size() -> u64 {
    // SAFETY: `sysconf` has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

fn allocate(file: &File, capacity: u64) -> io::Result<()> {
    // SAFETY: `posix_fallocate` only reads the descriptor, which `file` keeps
    // open for the duration of the call.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, capacity as libc::off_t) };
    match rc {
        0 => Ok(()),
        // Some file systems (tmpfs on old kernels) do not support it.
        libc::EOPNOTSUPP | libc::EINVAL => file.set_len(capacity),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

struct StdRandomFile {
    file: File,
    size: u64,
}

impl RandomAccessFile for StdRandomFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    /// Reads straight into `buf`'s spare capacity: a block read does not
    /// first zero the buffer it is about to overwrite.
    fn read_exact_at_into(&self, buf: &mut Vec<u8>, len: usize, offset: u64) -> io::Result<()> {
        buf.reserve(len);
        let start = buf.len();
        let mut done = 0;
        while done < len {
            let spare = &mut buf.spare_capacity_mut()[done..len];
            // SAFETY: `spare` is writable memory of at least `spare.len()`
            // bytes owned by `buf`; `pread` writes at most that many bytes
            // into it and reads nothing from it.
            let read = unsafe {
                libc::pread(
                    self.file.as_raw_fd(),
                    spare.as_mut_ptr().cast(),
                    spare.len(),
                    (offset + done as u64) as libc::off_t,
                )
            };
            done += bytes_read(read)?;
        }
        // SAFETY: `pread` initialised bytes `start..start + len` above.
        unsafe { buf.set_len(start + len) };
        Ok(())
    }

    /// One `preadv` (more after a short read) straight into the buffers'
    /// spare capacity.
    fn read_exact_at_scattered(
        &self,
        bufs: &mut [Vec<u8>],
        lens: &[usize],
        offset: u64,
    ) -> io::Result<()> {
        /// The most buffers one call takes (a read-ahead window is 16
        /// default-sized blocks); more are read one by one.
        const MAX_BUFFERS: usize = 64;
        if bufs.len() > MAX_BUFFERS || bufs.len() != lens.len() {
            return super::read_each(self, bufs, lens, offset);
        }
        for (buf, &len) in bufs.iter_mut().zip(lens) {
            buf.clear();
            buf.reserve(len);
        }
        let total: usize = lens.iter().sum();
        let mut done = 0;
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        let mut iovecs = [empty; MAX_BUFFERS];
        while done < total {
            // The unread part of every buffer, from the first not yet full.
            let (mut count, mut skip) = (0, done);
            for (buf, &len) in bufs.iter_mut().zip(lens) {
                if skip >= len {
                    skip -= len;
                    continue;
                }
                let spare = &mut buf.spare_capacity_mut()[skip..len];
                iovecs[count] = libc::iovec {
                    iov_base: spare.as_mut_ptr().cast(),
                    iov_len: spare.len(),
                };
                count += 1;
                skip = 0;
            }
            // SAFETY: each of the first `count` iovecs names writable spare
            // capacity of a buffer owned by `bufs` (reserved above), which
            // `preadv` writes at most `iov_len` bytes of and reads nothing
            // from; `count` <= MAX_BUFFERS fits a C int.
            let read = unsafe {
                libc::preadv(
                    self.file.as_raw_fd(),
                    iovecs.as_ptr(),
                    count as libc::c_int,
                    (offset + done as u64) as libc::off_t,
                )
            };
            match bytes_read(read) {
                Ok(n) => done += n,
                Err(err) => {
                    bufs.iter_mut().for_each(Vec::clear);
                    return Err(err);
                }
            }
        }
        for (buf, &len) in bufs.iter_mut().zip(lens) {
            // SAFETY: `preadv` initialised the first `len` bytes of every
            // buffer (`total` bytes in buffer order) above.
            unsafe { buf.set_len(len) };
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }
}

struct StdWritableFile {
    out: BufWriter<File>,
}

impl WritableFile for StdWritableFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}

struct MappedLog {
    map: memmap2::MmapRaw,
    capacity: u64,
    /// Bytes `[0, synced)` have been made durable.
    synced: AtomicU64,
    /// Pages below this offset were released from the process's resident
    /// set (the data stays in the page cache and the file).
    released: AtomicU64,
    /// The system's page size: `madvise` ranges start on page boundaries.
    page: u64,
    _file: File,
}

/// How far behind the write position written pages are dropped from the
/// process's resident set, so a segment being written costs at most this
/// much resident memory instead of its whole capacity.
const RELEASE_LAG: u64 = 4 << 20;

/// The bytes a `pread`/`preadv` that returned `read` delivered: 0 when it
/// was interrupted (to be retried); the end of the file before the bytes
/// wanted is an `UnexpectedEof` error.
fn bytes_read(read: isize) -> io::Result<usize> {
    match read {
        0 => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "failed to fill whole buffer",
        )),
        n if n > 0 => Ok(n as usize),
        _ => {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(err)
            }
        }
    }
}

/// Opens `path` read-only, with `O_NOATIME` when allowed (only a file's
/// owner may ask for it; anyone else gets `EPERM` and a plain open).
fn open_for_reading(path: &Path) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOATIME)
            .open(path)
        {
            Err(err) if err.raw_os_error() == Some(libc::EPERM) => {}
            other => return other,
        }
    }
    File::open(path)
}

/// `madvise` advice (Linux 5.14+; ignored, as a hint, before): fault the
/// range in, writable.
const MADV_POPULATE_WRITE: libc::c_int = 23;

impl LogFile for MappedLog {
    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&end| end <= self.capacity)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "write past log capacity")
            })?;
        debug_assert!(end <= self.map.len() as u64);
        // SAFETY: `[offset, end)` lies inside the mapping (checked above),
        // which lives as long as `self`. The trait requires callers to
        // serialise `write_at` and never to write a byte twice, so no other
        // thread writes these bytes; readers of the file (recovery) only run
        // when no writer exists.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.map.as_mut_ptr().add(offset as usize),
                data.len(),
            );
        }
        // Writes are serialised (see the trait), so a plain load and store
        // of `released` suffice.
        let released = self.released.load(Ordering::Relaxed);
        if end - released >= 2 * RELEASE_LAG {
            let upto = (end - RELEASE_LAG) / self.page * self.page;
            // SAFETY: the range lies inside the mapping; for a shared file
            // mapping MADV_DONTNEED only drops the process's page-table
            // entries: the written bytes stay in the page cache and reach
            // the file, and a later access maps them in again.
            unsafe {
                libc::madvise(
                    self.map.as_mut_ptr().add(released as usize).cast(),
                    (upto - released) as usize,
                    libc::MADV_DONTNEED,
                );
            }
            self.released.store(upto, Ordering::Relaxed);
        }
        Ok(())
    }

    fn prefault(&self, from: u64, to: u64) {
        let from = from / self.page * self.page;
        let to = to.min(self.capacity);
        if from >= to {
            return;
        }
        // SAFETY: `[from, to)` lies inside the mapping, which lives as long
        // as `self`.
        unsafe { populate_write(self.map.as_mut_ptr(), from, to) };
    }

    fn sync(&self, upto: u64) -> io::Result<()> {
        let upto = upto.min(self.capacity);
        let from = self.synced.load(Ordering::Acquire);
        if upto <= from {
            return Ok(());
        }
        // `flush_range` aligns the start down to a page boundary itself.
        self.map
            .flush_range(from as usize, (upto - from) as usize)?;
        self.synced.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }
}

/// A [`LogMode::Buffered`] segment (see the module doc).
struct BufferedLog {
    /// Anonymous memory, one byte per byte of the segment.
    buffer: memmap2::MmapRaw,
    capacity: u64,
    /// Bytes `[0, synced)` are in the file and durable. Only `sync` (whose
    /// calls the trait serialises) changes it.
    synced: AtomicU64,
    /// Buffer pages below this offset were released (they hold synced
    /// bytes, which are never read from the buffer again).
    released: AtomicU64,
    /// The system's page size: `madvise` ranges start on page boundaries.
    page: u64,
    file: File,
}

impl BufferedLog {
    /// The buffer's bytes `[from, to)`.
    ///
    /// SAFETY: the caller must make sure no thread writes these bytes while
    /// the slice lives, and that `from <= to <= capacity`.
    unsafe fn bytes(&self, from: u64, to: u64) -> &[u8] {
        debug_assert!(from <= to && to <= self.capacity);
        // SAFETY: in bounds of the mapping, which lives as long as `self`;
        // not written meanwhile (the caller's promise).
        unsafe {
            std::slice::from_raw_parts(
                self.buffer.as_ptr().add(from as usize),
                (to - from) as usize,
            )
        }
    }
}

impl LogFile for BufferedLog {
    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        offset
            .checked_add(data.len() as u64)
            .filter(|&end| end <= self.capacity)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "write past log capacity")
            })?;
        // SAFETY: `[offset, end)` lies inside the buffer (checked above),
        // which lives as long as `self`. Writes are serialised and never
        // rewrite a byte (the trait), and `sync` only reads bytes that
        // completed writes reached, so nothing else touches these bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.buffer.as_mut_ptr().add(offset as usize),
                data.len(),
            );
        }
        Ok(())
    }

    fn prefault(&self, from: u64, to: u64) {
        // Not below the released pages (best effort: a release racing with
        // this only costs the memory of pages nothing reads again).
        let from = from.max(self.released.load(Ordering::Relaxed)) / self.page * self.page;
        let to = to.min(self.capacity);
        if from >= to {
            return;
        }
        // SAFETY: `[from, to)` lies inside the buffer, which lives as long
        // as `self`.
        unsafe { populate_write(self.buffer.as_mut_ptr(), from, to) };
    }

    fn sync(&self, upto: u64) -> io::Result<()> {
        let upto = upto.min(self.capacity);
        let from = self.synced.load(Ordering::Acquire);
        if upto <= from {
            return Ok(());
        }
        // SAFETY: `[from, upto)` is in bounds, and completed appends wrote
        // it (the trait): no append writes these bytes again.
        let bytes = unsafe { self.bytes(from, upto) };
        self.file.write_all_at(bytes, from)?;
        self.file.sync_data()?;
        self.synced.store(upto, Ordering::Release);
        // Release the buffer's fully synced pages, a few MiB at a time.
        let released = self.released.load(Ordering::Relaxed);
        let below = upto / self.page * self.page;
        if below - released.min(below) >= RELEASE_LAG {
            // SAFETY: `[released, below)` lies inside the buffer and holds
            // synced bytes only, which no append writes and no later sync
            // reads (syncs are serialised and start at `synced`); for an
            // anonymous private mapping MADV_DONTNEED frees the pages.
            unsafe {
                libc::madvise(
                    self.buffer.as_mut_ptr().add(released as usize).cast(),
                    (below - released) as usize,
                    libc::MADV_DONTNEED,
                );
            }
            self.released.store(below, Ordering::Relaxed);
        }
        Ok(())
    }
}

struct StdLock {
    _file: File,
}

impl FileLock for StdLock {}

/// Backs bytes `[from, to)` of the memory at `base` with writable pages
/// (best effort). MADV_POPULATE_WRITE faults the pages in as a write of
/// nothing would: it never changes a byte, so it cannot disturb a
/// concurrent write to them.
///
/// # Safety
/// `[base + from, base + to)` must lie inside one live mapping.
unsafe fn populate_write(base: *mut u8, from: u64, to: u64) {
    // SAFETY: the caller's contract; madvise only reads the range's
    // address and length.
    unsafe {
        libc::madvise(
            base.add(from as usize).cast(),
            (to - from) as usize,
            MADV_POPULATE_WRITE,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scattered_reads_fill_each_buffer_in_turn() {
        // Goal: one preadv fills every buffer with its own bytes, whatever
        // their sizes (empty ones included), from any offset; a read past
        // the end fails and leaves every buffer empty; more buffers than
        // one call takes are read too.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sst");
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let file = StdFs.open_random(&path).unwrap();
        let check = |lens: &[usize], offset: usize| {
            let mut bufs: Vec<Vec<u8>> = lens.iter().map(|_| vec![9; 3]).collect();
            file.read_exact_at_scattered(&mut bufs, lens, offset as u64)
                .unwrap();
            let mut at = offset;
            for (buf, &len) in bufs.iter().zip(lens) {
                assert_eq!(&buf[..], &bytes[at..at + len]);
                at += len;
            }
        };
        check(&[4096, 4100, 0, 17, 4000], 0);
        check(&[1], 99_999);
        check(&[], 5);
        check(&vec![1000; 70], 123);
        let mut bufs = vec![Vec::new(), Vec::new()];
        let err = file
            .read_exact_at_scattered(&mut bufs, &[4000, 4000], 95_000)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(bufs.iter().all(Vec::is_empty));
    }

    #[test]
    fn log_bytes_are_readable_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.log");
        let log = StdFs.create_log(&path, 8192, LogMode::Mapped).unwrap();
        log.write_at(0, b"hello").unwrap();
        log.write_at(5, b" world").unwrap();
        log.sync(11).unwrap();
        assert!(log.write_at(8190, b"abc").is_err());
        let bytes = StdFs.read_all(&path).unwrap();
        assert_eq!(bytes.len(), 8192);
        assert_eq!(&bytes[..11], b"hello world");
        assert!(bytes[11..].iter().all(|&b| b == 0));
    }

    #[test]
    fn bytes_written_long_ago_survive_being_released_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        let capacity = 3 * RELEASE_LAG + 12345;
        let log = StdFs.create_log(&path, capacity, LogMode::Mapped).unwrap();
        let chunk: Vec<u8> = (0..100_003u32).map(|i| (i % 251) as u8).collect();
        let mut offset = 0;
        while offset + chunk.len() as u64 <= capacity {
            log.write_at(offset, &chunk).unwrap();
            offset += chunk.len() as u64;
        }
        drop(log);
        let bytes = StdFs.read_all(&path).unwrap();
        for (i, piece) in bytes[..offset as usize].chunks(chunk.len()).enumerate() {
            assert_eq!(piece, &chunk[..], "chunk {i}");
        }
    }

    #[test]
    fn a_buffered_log_file_holds_exactly_the_synced_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buffered.log");
        let capacity = 3 * RELEASE_LAG + 12345;
        let log = StdFs
            .create_log(&path, capacity, LogMode::Buffered)
            .unwrap();
        assert_eq!(StdFs.file_size(&path).unwrap(), capacity);
        log.write_at(0, b"hello").unwrap();
        log.write_at(5, b" world").unwrap();
        assert!(StdFs.read_all(&path).unwrap().iter().all(|&b| b == 0));
        log.sync(5).unwrap();
        let bytes = StdFs.read_all(&path).unwrap();
        assert_eq!(&bytes[..5], b"hello");
        assert!(bytes[5..].iter().all(|&b| b == 0));
        // Many syncs across more than the release lag: released buffer
        // pages never lose a byte that was not yet in the file.
        let chunk: Vec<u8> = (0..100_003u32).map(|i| (i % 251) as u8).collect();
        let mut offset = 11;
        while offset + chunk.len() as u64 <= capacity {
            log.write_at(offset, &chunk).unwrap();
            offset += chunk.len() as u64;
            log.sync(offset - 7).unwrap();
        }
        log.sync(offset).unwrap();
        assert!(log.write_at(capacity - 2, b"abc").is_err());
        drop(log);
        let bytes = StdFs.read_all(&path).unwrap();
        assert_eq!(&bytes[..11], b"hello world");
        for (i, piece) in bytes[11..offset as usize].chunks(chunk.len()).enumerate() {
            assert_eq!(piece, &chunk[..], "chunk {i}");
        }
        assert!(bytes[offset as usize..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_second_lock_of_the_same_file_would_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("LOCK");
        let held = StdFs.lock(&path).unwrap();
        let err = StdFs.lock(&path).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(held);
        StdFs.lock(&path).unwrap();
    }
}
