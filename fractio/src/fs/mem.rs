//! [`MemFs`]: an in-memory [`FileSystem`] that can simulate a power loss.
//!
//! Every file is a node holding its bytes and how many of them are
//! *synced*; the directory tree is kept twice: the *live* entries (what
//! `list`, `open` and `exists` see) and the *durable* entries (what a power
//! loss would keep: the state of each directory at its last `sync_dir`).
//! [`MemFs::crash_clone`] builds a new file system from the durable entries
//! only, each file cut to its synced bytes, exactly what fractio may rely on
//! after a power loss. [`MemFs::crash_clone_torn`] is the adversarial
//! variant: some unsynced bytes survive too, page by page in any order for
//! log segments (the kernel writes dirty pages of a mapping back whenever
//! it likes) and as a prefix of the unsynced tail for written files.
//!
//! Semantics kept from POSIX (and relied on by the engine):
//! - removing or renaming over a file that is still open keeps the old
//!   bytes readable (and writable) through the open handles;
//! - `create_writable` of an existing file truncates that same file; the
//!   truncation is not durable until the file is synced, and is modelled
//!   pessimistically (a crash before the next sync leaves it empty);
//! - a log segment is preallocated: its size is its capacity from the
//!   start, unwritten bytes read as zeros;
//! - a [`LogMode::Buffered`] segment's appends are kept apart from the file
//!   until a `sync` puts them there, synced, in one step: nothing unsynced
//!   is in the file, so no crash clone (not even a process crash) keeps it;
//! - locks behave like `flock` on one open file description: a second
//!   lock of the same path fails with `WouldBlock` until the guard drops.
//!   Locks are not part of a crash clone (the process died).
//!
//! Directories are created durable (`create_dir_all` needs no sync) and are
//! never removed.
//!
//! Thread-safety: `MemFs` is a cheap handle (clones share the files);
//! the namespace is behind one mutex, each file's bytes behind its own, so
//! I/O through open handles never waits for directory operations.
//!
//! Invariants: a node's `synced` never exceeds its length; a log node's
//! length is its capacity; the durable entries only name directories that
//! exist.

use super::{FileLock, FileSystem, LogFile, LogMode, RandomAccessFile, WritableFile};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Page size used by [`MemFs::crash_clone_torn`] to decide which unsynced
/// bytes of a log segment survive.
pub const CRASH_PAGE_SIZE: usize = 4096;

/// An in-memory file system with power-loss simulation.
#[derive(Clone, Default)]
pub struct MemFs {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    tree: Mutex<Tree>,
    locks: Mutex<HashSet<PathBuf>>,
    /// How long a buffered log segment's `sync` takes (see
    /// [`MemFs::set_log_sync_latency`]).
    log_sync_latency: Mutex<Duration>,
}

#[derive(Default)]
struct Tree {
    dirs: BTreeSet<PathBuf>,
    live: BTreeMap<PathBuf, Arc<Node>>,
    durable: BTreeMap<PathBuf, Arc<Node>>,
}

/// One file (an inode).
struct Node {
    data: Mutex<FileData>,
}

#[derive(Clone)]
struct FileData {
    bytes: Vec<u8>,
    /// Bytes `[0, synced)` survive a power loss.
    synced: usize,
    /// Whether this is a preallocated log segment.
    log: bool,
    /// Log segments: bytes `[0, written)` have been written (the log only
    /// appends, so a write below it is a caller bug).
    written: usize,
}

impl Node {
    fn new(data: FileData) -> Arc<Node> {
        Arc::new(Node {
            data: Mutex::new(data),
        })
    }

    fn regular(bytes: Vec<u8>, synced: usize) -> Arc<Node> {
        Node::new(FileData {
            bytes,
            synced,
            log: false,
            written: 0,
        })
    }
}

impl fmt::Debug for MemFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tree = self.shared.tree.lock();
        f.debug_struct("MemFs")
            .field("files", &tree.live.len())
            .field("durable_files", &tree.durable.len())
            .finish()
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or_else(|| Path::new(""))
}

impl Tree {
    fn check_parent(&self, path: &Path) -> io::Result<()> {
        let parent = parent_of(path);
        if parent.as_os_str().is_empty() || self.dirs.contains(parent) {
            Ok(())
        } else {
            Err(not_found(parent))
        }
    }

    fn node(&self, path: &Path) -> io::Result<Arc<Node>> {
        self.live.get(path).cloned().ok_or_else(|| not_found(path))
    }
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> MemFs {
        MemFs::default()
    }

    /// Makes the `sync` of every log segment created from now on in
    /// [`LogMode::Buffered`] (the mode of `Durability::Sync`) take
    /// `latency` before it makes anything durable, as a disk's would: with
    /// instant syncs, concurrent `Sync` writers hardly ever wait for one
    /// another, and the group commit's gathering would go untested. Crash
    /// clones start with instant syncs.
    pub fn set_log_sync_latency(&self, latency: Duration) {
        *self.shared.log_sync_latency.lock() = latency;
    }

    /// What a power loss at this instant would leave: the durable directory
    /// entries, each file cut to its synced bytes (a log segment keeps its
    /// capacity, zeros beyond the synced prefix). The clone shares nothing
    /// with `self` and holds no locks.
    pub fn crash_clone(&self) -> MemFs {
        self.clone_durable(|_, data| data.synced_image())
    }

    /// Like [`MemFs::crash_clone`], but unsynced bytes may survive too, as
    /// after a power loss during writeback: each unsynced page of a log
    /// segment independently (so a later record can survive while an
    /// earlier one is lost), and a random prefix of the unsynced tail of
    /// other files. Deterministic for a given `seed`.
    pub fn crash_clone_torn(&self, seed: u64) -> MemFs {
        let mut rng = SplitMix64(seed);
        self.clone_durable(|_, data| data.torn_image(&mut rng))
    }

    /// What the death of the process (`kill -9`, not a power loss) at this
    /// instant would leave: every live file with all its bytes, synced or
    /// not, as a new file system in which everything is durable.
    pub fn process_crash_clone(&self) -> MemFs {
        self.clone_entries(false, |_, data| {
            let mut image = data.clone();
            image.synced = image.bytes.len();
            image.written = image.written.max(data.synced);
            image
        })
    }

    fn clone_durable(&self, image: impl FnMut(&Path, &FileData) -> FileData) -> MemFs {
        self.clone_entries(true, image)
    }

    fn clone_entries(
        &self,
        durable: bool,
        mut image: impl FnMut(&Path, &FileData) -> FileData,
    ) -> MemFs {
        let tree = self.shared.tree.lock();
        let mut clone = Tree {
            dirs: tree.dirs.clone(),
            ..Tree::default()
        };
        let entries = if durable { &tree.durable } else { &tree.live };
        // A node reachable by two names (a rename whose old entry is still
        // durable) stays one node in the clone.
        let mut copies: Vec<(*const Node, Arc<Node>)> = Vec::new();
        for (path, node) in entries {
            let key = Arc::as_ptr(node);
            let copy = match copies.iter().find(|(k, _)| *k == key) {
                Some((_, copy)) => copy.clone(),
                None => {
                    let copy = Node::new(image(path, &node.data.lock()));
                    copies.push((key, copy.clone()));
                    copy
                }
            };
            clone.live.insert(path.clone(), copy.clone());
            clone.durable.insert(path.clone(), copy);
        }
        MemFs {
            shared: Arc::new(Shared {
                tree: Mutex::new(clone),
                locks: Mutex::default(),
                log_sync_latency: Mutex::default(),
            }),
        }
    }

    /// Changes the bytes of the file at `path` in place, durably, as bit rot
    /// or a stray writer would (for corruption tests). Open handles see the
    /// change.
    pub fn edit_file(&self, path: &Path, edit: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let node = self.shared.tree.lock().node(path)?;
        let mut data = node.data.lock();
        edit(&mut data.bytes);
        data.synced = data.bytes.len();
        data.written = data.written.min(data.bytes.len());
        Ok(())
    }

    /// Writes a whole file (created or replaced), synced and durable.
    pub fn put_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut tree = self.shared.tree.lock();
        tree.check_parent(path)?;
        let node = Node::regular(bytes.to_vec(), bytes.len());
        tree.live.insert(path.to_path_buf(), node.clone());
        tree.durable.insert(path.to_path_buf(), node);
        Ok(())
    }

    /// The paths of every live file, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        self.shared.tree.lock().live.keys().cloned().collect()
    }
}

impl FileData {
    fn synced_image(&self) -> FileData {
        let mut bytes = self.bytes[..self.synced].to_vec();
        if self.log {
            bytes.resize(self.bytes.len(), 0);
        }
        FileData {
            synced: bytes.len(),
            written: self.synced,
            bytes,
            log: self.log,
        }
    }

    fn torn_image(&self, rng: &mut SplitMix64) -> FileData {
        let mut image = self.synced_image();
        if self.log {
            let first_page = self.synced / CRASH_PAGE_SIZE;
            let end = self.written.max(self.synced);
            for page in first_page..end.div_ceil(CRASH_PAGE_SIZE) {
                if rng.next() & 1 == 0 {
                    let from = (page * CRASH_PAGE_SIZE).max(self.synced);
                    let to = ((page + 1) * CRASH_PAGE_SIZE).min(self.bytes.len());
                    image.bytes[from..to].copy_from_slice(&self.bytes[from..to]);
                }
            }
        } else if self.bytes.len() > self.synced {
            let extra = (rng.next() % (self.bytes.len() - self.synced + 1) as u64) as usize;
            image
                .bytes
                .extend_from_slice(&self.bytes[self.synced..self.synced + extra]);
        }
        image.synced = image.bytes.len();
        image
    }
}

impl FileSystem for MemFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut tree = self.shared.tree.lock();
        if tree.live.contains_key(dir) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is a file", dir.display()),
            ));
        }
        for ancestor in dir.ancestors() {
            if !ancestor.as_os_str().is_empty() {
                tree.dirs.insert(ancestor.to_path_buf());
            }
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let tree = self.shared.tree.lock();
        if !tree.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let files = tree.live.keys().filter(|p| parent_of(p) == dir);
        let subdirs = tree.dirs.iter().filter(|p| parent_of(p) == dir);
        Ok(files
            .chain(subdirs)
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let tree = self.shared.tree.lock();
        tree.live.contains_key(path) || tree.dirs.contains(path)
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        let node = self.shared.tree.lock().node(path)?;
        let size = node.data.lock().bytes.len() as u64;
        Ok(size)
    }

    fn open_random(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let node = self.shared.tree.lock().node(path)?;
        Ok(Arc::new(MemHandle { node }))
    }

    fn create_writable(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut tree = self.shared.tree.lock();
        tree.check_parent(path)?;
        let node = match tree.live.get(path) {
            Some(node) => {
                let mut data = node.data.lock();
                data.bytes.clear();
                data.synced = 0;
                data.log = false;
                node.clone()
            }
            None => {
                let node = Node::regular(Vec::new(), 0);
                tree.live.insert(path.to_path_buf(), node.clone());
                node
            }
        };
        Ok(Box::new(MemHandle { node }))
    }

    fn create_log(
        &self,
        path: &Path,
        capacity: u64,
        mode: LogMode,
    ) -> io::Result<Arc<dyn LogFile>> {
        let mut tree = self.shared.tree.lock();
        tree.check_parent(path)?;
        if tree.live.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", path.display()),
            ));
        }
        let capacity = usize::try_from(capacity)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "log capacity too large"))?;
        // Like the real one, the preallocation itself is durable at once;
        // the directory entry is not until `sync_dir`.
        let node = Node::new(FileData {
            bytes: vec![0; capacity],
            synced: 0,
            log: true,
            written: 0,
        });
        tree.live.insert(path.to_path_buf(), node.clone());
        Ok(match mode {
            LogMode::Mapped => Arc::new(MemHandle { node }),
            LogMode::Buffered => Arc::new(MemBufferedLog {
                node,
                buffer: Mutex::new(Vec::new()),
                latency: *self.shared.log_sync_latency.lock(),
            }),
        })
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let node = self.shared.tree.lock().node(path)?;
        let bytes = node.data.lock().bytes.clone();
        Ok(bytes)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut tree = self.shared.tree.lock();
        tree.check_parent(to)?;
        let node = tree.live.remove(from).ok_or_else(|| not_found(from))?;
        tree.live.insert(to.to_path_buf(), node);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut tree = self.shared.tree.lock();
        tree.live
            .remove(path)
            .map(drop)
            .ok_or_else(|| not_found(path))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut tree = self.shared.tree.lock();
        if !tree.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        tree.durable.retain(|path, _| parent_of(path) != dir);
        let entries: Vec<_> = tree
            .live
            .iter()
            .filter(|(path, _)| parent_of(path) == dir)
            .map(|(path, node)| (path.clone(), node.clone()))
            .collect();
        tree.durable.extend(entries);
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        {
            let mut tree = self.shared.tree.lock();
            tree.check_parent(path)?;
            if !tree.live.contains_key(path) {
                tree.live
                    .insert(path.to_path_buf(), Node::regular(Vec::new(), 0));
            }
        }
        let mut locks = self.shared.locks.lock();
        if !locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "locked"));
        }
        Ok(Box::new(MemLock {
            shared: self.shared.clone(),
            path: path.to_path_buf(),
        }))
    }
}

/// An open file: every kind of handle is a reference to the node.
struct MemHandle {
    node: Arc<Node>,
}

impl RandomAccessFile for MemHandle {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let data = self.node.data.lock();
        let source = usize::try_from(offset)
            .ok()
            .and_then(|start| data.bytes.get(start..start.checked_add(buf.len())?))
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of file")
            })?;
        buf.copy_from_slice(source);
        Ok(())
    }

    fn size(&self) -> u64 {
        self.node.data.lock().bytes.len() as u64
    }
}

impl WritableFile for MemHandle {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.node.data.lock().bytes.extend_from_slice(data);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut data = self.node.data.lock();
        data.synced = data.bytes.len();
        Ok(())
    }
}

impl LogFile for MemHandle {
    fn capacity(&self) -> u64 {
        self.node.data.lock().bytes.len() as u64
    }

    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut data = self.node.data.lock();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start
            .checked_add(bytes.len())
            .filter(|&end| end <= data.bytes.len())
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "write past log capacity")
            })?;
        assert!(
            start >= data.written,
            "log write at {start} overlaps bytes already written up to {}",
            data.written
        );
        data.bytes[start..end].copy_from_slice(bytes);
        data.written = end;
        Ok(())
    }

    fn sync(&self, upto: u64) -> io::Result<()> {
        let mut data = self.node.data.lock();
        let upto = usize::try_from(upto)
            .unwrap_or(usize::MAX)
            .min(data.bytes.len());
        data.synced = data.synced.max(upto);
        Ok(())
    }
}

/// A [`LogMode::Buffered`] segment: appends go to `buffer` (bytes
/// `[0, buffer.len())` of the segment, zeros where nothing was appended);
/// `sync` copies the bytes not yet synced into the node and marks them
/// synced under one lock of the node, so the node never holds an unsynced
/// byte of this segment.
struct MemBufferedLog {
    node: Arc<Node>,
    buffer: Mutex<Vec<u8>>,
    /// How long `sync` takes before it makes anything durable.
    latency: Duration,
}

impl LogFile for MemBufferedLog {
    fn capacity(&self) -> u64 {
        self.node.data.lock().bytes.len() as u64
    }

    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let capacity = self.capacity() as usize;
        let mut buffer = self.buffer.lock();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start
            .checked_add(bytes.len())
            .filter(|&end| end <= capacity)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "write past log capacity")
            })?;
        assert!(
            start >= buffer.len(),
            "log write at {start} overlaps bytes already written up to {}",
            buffer.len()
        );
        buffer.resize(start, 0);
        buffer.extend_from_slice(bytes);
        debug_assert_eq!(buffer.len(), end);
        Ok(())
    }

    fn sync(&self, upto: u64) -> io::Result<()> {
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
        let buffer = self.buffer.lock();
        let mut data = self.node.data.lock();
        let upto = usize::try_from(upto)
            .unwrap_or(usize::MAX)
            .min(buffer.len());
        if upto > data.synced {
            let from = data.synced;
            data.bytes[from..upto].copy_from_slice(&buffer[from..upto]);
            data.written = data.written.max(upto);
            data.synced = upto;
        }
        Ok(())
    }
}

struct MemLock {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl FileLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.shared.locks.lock().remove(&self.path);
    }
}

/// A tiny deterministic generator (SplitMix64), so that the library needs
/// no random-number dependency for its test file systems.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs_with_dir() -> (MemFs, PathBuf) {
        let fs = MemFs::new();
        let dir = PathBuf::from("/db");
        fs.create_dir_all(&dir).unwrap();
        (fs, dir)
    }

    #[test]
    fn only_synced_bytes_of_durable_entries_survive_a_crash() {
        let (fs, dir) = fs_with_dir();
        let mut synced = fs.create_writable(&dir.join("a")).unwrap();
        synced.append(b"hello").unwrap();
        synced.sync().unwrap();
        synced.append(b" world").unwrap();
        let mut unlisted = fs.create_writable(&dir.join("b")).unwrap();
        unlisted.append(b"x").unwrap();
        unlisted.sync().unwrap();
        fs.sync_dir(&dir).unwrap();
        // Created after the directory sync: its entry is not durable.
        let mut late = fs.create_writable(&dir.join("c")).unwrap();
        late.append(b"y").unwrap();
        late.sync().unwrap();
        fs.remove_file(&dir.join("b")).unwrap();

        let crashed = fs.crash_clone();
        assert_eq!(crashed.read_all(&dir.join("a")).unwrap(), b"hello");
        // The removal was never made durable.
        assert_eq!(crashed.read_all(&dir.join("b")).unwrap(), b"x");
        assert!(!crashed.exists(&dir.join("c")));
        // The live file system is untouched.
        assert_eq!(fs.read_all(&dir.join("a")).unwrap(), b"hello world");
        assert!(!fs.exists(&dir.join("b")));
    }

    #[test]
    fn a_process_crash_keeps_every_written_byte() {
        let (fs, dir) = fs_with_dir();
        let log = fs
            .create_log(&dir.join("1.log"), 16, LogMode::Mapped)
            .unwrap();
        log.write_at(0, b"abc").unwrap();
        let mut file = fs.create_writable(&dir.join("t")).unwrap();
        file.append(b"unsynced").unwrap();
        let killed = fs.process_crash_clone();
        assert_eq!(&killed.read_all(&dir.join("1.log")).unwrap()[..4], b"abc\0");
        assert_eq!(killed.read_all(&dir.join("t")).unwrap(), b"unsynced");
        // Everything in the clone is durable.
        let crashed = killed.crash_clone();
        assert_eq!(crashed.read_all(&dir.join("t")).unwrap(), b"unsynced");
        // Entries never synced to the directory survive a process crash.
        assert_eq!(killed.files().len(), 2);
        assert!(fs.crash_clone().files().is_empty());
    }

    #[test]
    fn unsynced_log_bytes_become_zeros() {
        let (fs, dir) = fs_with_dir();
        let log = fs
            .create_log(&dir.join("1.log"), 64, LogMode::Mapped)
            .unwrap();
        fs.sync_dir(&dir).unwrap();
        log.write_at(0, b"abcd").unwrap();
        log.sync(4).unwrap();
        log.write_at(4, b"efgh").unwrap();
        let crashed = fs.crash_clone();
        let bytes = crashed.read_all(&dir.join("1.log")).unwrap();
        assert_eq!(bytes.len(), 64);
        assert_eq!(&bytes[..4], b"abcd");
        assert!(bytes[4..].iter().all(|&b| b == 0));
        assert_eq!(&fs.read_all(&dir.join("1.log")).unwrap()[..8], b"abcdefgh");
        assert!(log.write_at(60, b"toolong").is_err());
    }

    #[test]
    fn buffered_log_bytes_reach_the_file_only_when_synced() {
        let (fs, dir) = fs_with_dir();
        let path = dir.join("1.log");
        let log = fs.create_log(&path, 64, LogMode::Buffered).unwrap();
        fs.sync_dir(&dir).unwrap();
        log.write_at(0, b"abcd").unwrap();
        log.write_at(4, b"efgh").unwrap();
        // Not in the file: neither a process crash nor a torn power loss
        // keeps them.
        assert!(fs.read_all(&path).unwrap().iter().all(|&b| b == 0));
        assert!(fs.process_crash_clone().read_all(&path).unwrap()[..8]
            .iter()
            .all(|&b| b == 0));
        assert!(fs.crash_clone_torn(7).read_all(&path).unwrap()[..8]
            .iter()
            .all(|&b| b == 0));
        log.sync(4).unwrap();
        log.write_at(8, b"ijkl").unwrap();
        let crashed = fs.crash_clone();
        let bytes = crashed.read_all(&path).unwrap();
        assert_eq!(bytes.len(), 64);
        assert_eq!(&bytes[..4], b"abcd");
        assert!(bytes[4..].iter().all(|&b| b == 0));
        log.sync(12).unwrap();
        assert_eq!(
            &fs.crash_clone().read_all(&path).unwrap()[..13],
            b"abcdefghijkl\0"
        );
        assert!(log.write_at(60, b"toolong").is_err());
    }

    #[test]
    fn renames_need_a_directory_sync() {
        let (fs, dir) = fs_with_dir();
        fs.put_file(&dir.join("CURRENT"), b"old").unwrap();
        let mut tmp = fs.create_writable(&dir.join("CURRENT.tmp")).unwrap();
        tmp.append(b"new").unwrap();
        tmp.sync().unwrap();
        fs.rename(&dir.join("CURRENT.tmp"), &dir.join("CURRENT"))
            .unwrap();
        assert_eq!(
            fs.crash_clone().read_all(&dir.join("CURRENT")).unwrap(),
            b"old"
        );
        fs.sync_dir(&dir).unwrap();
        let crashed = fs.crash_clone();
        assert_eq!(crashed.read_all(&dir.join("CURRENT")).unwrap(), b"new");
        assert!(!crashed.exists(&dir.join("CURRENT.tmp")));
    }

    #[test]
    fn removed_files_stay_readable_through_open_handles() {
        let (fs, dir) = fs_with_dir();
        fs.put_file(&dir.join("t.sst"), b"table").unwrap();
        let handle = fs.open_random(&dir.join("t.sst")).unwrap();
        fs.remove_file(&dir.join("t.sst")).unwrap();
        assert!(!fs.exists(&dir.join("t.sst")));
        let mut buf = [0u8; 5];
        handle.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"table");
        assert_eq!(handle.size(), 5);
        assert!(handle.read_exact_at(&mut buf, 1).is_err());
        assert_eq!(
            fs.remove_file(&dir.join("t.sst")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn truncation_is_lost_with_unsynced_data() {
        let (fs, dir) = fs_with_dir();
        fs.put_file(&dir.join("m"), b"first").unwrap();
        let mut file = fs.create_writable(&dir.join("m")).unwrap();
        file.append(b"second").unwrap();
        assert!(fs
            .crash_clone()
            .read_all(&dir.join("m"))
            .unwrap()
            .is_empty());
        file.sync().unwrap();
        assert_eq!(
            fs.crash_clone().read_all(&dir.join("m")).unwrap(),
            b"second"
        );
    }

    #[test]
    fn locks_conflict_until_dropped_and_vanish_in_a_crash() {
        let (fs, dir) = fs_with_dir();
        let held = fs.lock(&dir.join("LOCK")).unwrap();
        let err = fs.lock(&dir.join("LOCK")).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        fs.sync_dir(&dir).unwrap();
        let crashed = fs.crash_clone();
        drop(crashed.lock(&dir.join("LOCK")).unwrap());
        drop(held);
        drop(fs.lock(&dir.join("LOCK")).unwrap());
        assert!(fs.list(&dir).unwrap().contains(&"LOCK".to_string()));
    }

    #[test]
    fn torn_clones_keep_some_unsynced_pages_and_all_synced_bytes() {
        let (fs, dir) = fs_with_dir();
        let log = fs
            .create_log(&dir.join("1.log"), 16 * 4096, LogMode::Mapped)
            .unwrap();
        fs.sync_dir(&dir).unwrap();
        log.write_at(0, &[1u8; 100]).unwrap();
        log.sync(100).unwrap();
        log.write_at(100, &vec![2u8; 12 * 4096]).unwrap();
        let mut kept_pages = BTreeSet::new();
        for seed in 0..20 {
            let bytes = fs
                .crash_clone_torn(seed)
                .read_all(&dir.join("1.log"))
                .unwrap();
            assert_eq!(bytes.len(), 16 * 4096);
            assert!(bytes[..100].iter().all(|&b| b == 1));
            for (page, chunk) in bytes.chunks(4096).enumerate() {
                if chunk.contains(&2) {
                    kept_pages.insert(page);
                }
                assert!(page <= 12 || chunk.iter().all(|&b| b == 0));
            }
        }
        assert!(kept_pages.len() > 5, "pages kept: {kept_pages:?}");
    }

    #[test]
    fn listing_and_missing_directories() {
        let fs = MemFs::new();
        assert!(fs.list(Path::new("/nope")).is_err());
        assert!(fs.create_writable(Path::new("/nope/a")).is_err());
        fs.create_dir_all(Path::new("/a/b")).unwrap();
        fs.put_file(Path::new("/a/b/f"), b"1").unwrap();
        fs.put_file(Path::new("/a/g"), b"22").unwrap();
        let mut names = fs.list(Path::new("/a")).unwrap();
        names.sort();
        assert_eq!(names, vec!["b", "g"]);
        assert_eq!(fs.file_size(Path::new("/a/g")).unwrap(), 2);
        assert!(fs.exists(Path::new("/a/b")));
    }
}
