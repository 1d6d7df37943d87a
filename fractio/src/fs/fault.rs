//! [`FaultFs`]: a [`FileSystem`] wrapper that injects I/O errors by rule,
//! and counts operations and injected faults.
//!
//! A [`Fault`] names the kind of operation it hits ([`Op`]), which paths
//! (a predicate; every path by default), when (every time, after the first
//! `n` matching operations, or with a probability drawn from a seeded
//! generator), how often at most, and the error (`EIO`, or `ENOSPC`, whose
//! kind is [`io::ErrorKind::StorageFull`]). A failing write may first write
//! part of its data ([`Fault::partial`]), as a real short write followed by
//! an error would. Rules are checked in the order they were added; the
//! first one that fires decides.
//!
//! Operations and what they count as:
//!
//! | op | calls |
//! |---|---|
//! | `Read` | `RandomAccessFile::read_exact_at`, `read_all` |
//! | `Write` | `WritableFile::append`, `LogFile::write_at` |
//! | `Sync` | `WritableFile::sync`, `LogFile::sync` |
//! | `SyncDir` | `sync_dir` |
//! | `Create` | `create_writable`, `create_log` |
//! | `Open` | `open_random`, `file_size` |
//! | `Rename` | `rename` (the rule's predicate sees the source path) |
//! | `Remove` | `remove_file` |
//! | `List` | `list` |
//!
//! `create_dir_all`, `exists` and `lock` pass through unfaulted and
//! uncounted.
//!
//! Thread-safety: `FaultFs` is a cheap handle (clones share rules and
//! counters); rules may be added or cleared while the wrapped file system
//! is in use. Counters are atomics; each rule's generator sits behind the
//! rule list's mutex, so a seeded run is reproducible when one thread does
//! the I/O.

use super::mem::SplitMix64;
use super::{FileLock, FileSystem, LogFile, LogMode, RandomAccessFile, WritableFile};
use parking_lot::Mutex;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A kind of file-system operation (see the module doc for what counts as
/// which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Reads of file bytes.
    Read,
    /// Appends and log writes.
    Write,
    /// File and log syncs.
    Sync,
    /// Directory syncs.
    SyncDir,
    /// File and log creation.
    Create,
    /// Opening a file for reads, or asking its size.
    Open,
    /// Renames.
    Rename,
    /// Removals.
    Remove,
    /// Directory listings.
    List,
}

impl Op {
    /// Every operation kind.
    pub const ALL: [Op; 9] = [
        Op::Read,
        Op::Write,
        Op::Sync,
        Op::SyncDir,
        Op::Create,
        Op::Open,
        Op::Rename,
        Op::Remove,
        Op::List,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The error a fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultError {
    /// `EIO`: the device failed.
    Io,
    /// `ENOSPC`: the device is full ([`io::ErrorKind::StorageFull`]).
    NoSpace,
}

impl FaultError {
    fn to_io(self, op: Op, path: &Path) -> io::Error {
        let errno = match self {
            FaultError::Io => 5,       // EIO
            FaultError::NoSpace => 28, // ENOSPC
        };
        let os = io::Error::from_raw_os_error(errno);
        io::Error::new(
            os.kind(),
            format!("injected {os} on {op:?} of {}", path.display()),
        )
    }
}

#[derive(Debug, Clone, Copy)]
enum Trigger {
    Always,
    After(u64),
    Probability(f64),
}

type PathPredicate = Arc<dyn Fn(&Path) -> bool + Send + Sync>;

/// One fault-injection rule; build with [`Fault::on`] and the methods
/// below, then add it with [`FaultFs::inject`].
#[derive(Clone)]
pub struct Fault {
    /// `None`: every kind of operation.
    op: Option<Op>,
    paths: Option<PathPredicate>,
    trigger: Trigger,
    limit: Option<u64>,
    error: FaultError,
    partial: bool,
    seed: u64,
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fault")
            .field("op", &self.op)
            .field("filtered", &self.paths.is_some())
            .field("trigger", &self.trigger)
            .field("limit", &self.limit)
            .field("error", &self.error)
            .field("partial", &self.partial)
            .finish()
    }
}

impl Fault {
    /// A rule failing every `op` with `EIO` until it is limited otherwise.
    pub fn on(op: Op) -> Fault {
        Fault {
            op: Some(op),
            ..Fault::any()
        }
    }

    /// A rule matching every kind of operation (with [`Fault::after`]: a
    /// device that dies after `n` operations, a simulated crash point).
    pub fn any() -> Fault {
        Fault {
            op: None,
            paths: None,
            trigger: Trigger::Always,
            limit: None,
            error: FaultError::Io,
            partial: false,
            seed: 0,
        }
    }

    /// Only paths for which `predicate` holds.
    pub fn paths(mut self, predicate: impl Fn(&Path) -> bool + Send + Sync + 'static) -> Fault {
        self.paths = Some(Arc::new(predicate));
        self
    }

    /// Only paths whose file name ends with `suffix` (such as `".log"`,
    /// `".sst"`) or, if `suffix` ends with `-`, starts with it (such as
    /// `"MANIFEST-"`).
    pub fn files(self, suffix: &'static str) -> Fault {
        self.paths(move |path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if suffix.ends_with('-') {
                name.starts_with(suffix)
            } else {
                name.ends_with(suffix)
            }
        })
    }

    /// Fires only once `n` matching operations have succeeded.
    pub fn after(mut self, n: u64) -> Fault {
        self.trigger = Trigger::After(n);
        self
    }

    /// Fires on each matching operation with probability `p`, drawn from a
    /// generator seeded with `seed`.
    pub fn probability(mut self, p: f64, seed: u64) -> Fault {
        self.trigger = Trigger::Probability(p);
        self.seed = seed;
        self
    }

    /// Fires at most `n` times (then the device "recovers").
    pub fn times(mut self, n: u64) -> Fault {
        self.limit = Some(n);
        self
    }

    /// Fires once.
    pub fn once(self) -> Fault {
        self.times(1)
    }

    /// Returns `ENOSPC` instead of `EIO`.
    pub fn no_space(mut self) -> Fault {
        self.error = FaultError::NoSpace;
        self
    }

    /// A failing write first writes a prefix of its data (possibly empty,
    /// possibly all but the last byte).
    pub fn partial(mut self) -> Fault {
        self.partial = true;
        self
    }
}

struct Rule {
    fault: Fault,
    matched: u64,
    fired: u64,
    rng: SplitMix64,
}

impl Rule {
    /// Whether this rule fails the operation; counts the match.
    fn fires(&mut self, op: Op, path: &Path) -> bool {
        if self.fault.op.is_some_and(|o| o != op)
            || self.fault.paths.as_ref().is_some_and(|p| !p(path))
        {
            return false;
        }
        if self.fault.limit.is_some_and(|limit| self.fired >= limit) {
            return false;
        }
        self.matched += 1;
        let fire = match self.fault.trigger {
            Trigger::Always => true,
            Trigger::After(n) => self.matched > n,
            Trigger::Probability(p) => self.rng.next_f64() < p,
        };
        self.fired += fire as u64;
        fire
    }
}

/// What a fault decided for one operation.
struct Injected {
    error: io::Error,
    /// For writes: bytes of the data to write before failing.
    partial_len: Option<usize>,
}

struct Shared {
    inner: Arc<dyn FileSystem>,
    rules: Mutex<Vec<Rule>>,
    ops: [AtomicU64; 9],
    injected: [AtomicU64; 9],
}

impl Shared {
    /// Counts `op` on `path` and returns the injected error, if a rule fires.
    /// `len` is the data length of a write.
    fn check(&self, op: Op, path: &Path, len: usize) -> Option<Injected> {
        self.ops[op.index()].fetch_add(1, Ordering::Relaxed);
        let mut rules = self.rules.lock();
        let index = (0..rules.len()).find(|&i| rules[i].fires(op, path))?;
        let rule = &mut rules[index];
        self.injected[op.index()].fetch_add(1, Ordering::Relaxed);
        let partial_len = (rule.fault.partial && len > 0).then(|| {
            // Anything from nothing to all but the last byte.
            (rule.rng.next() % len as u64) as usize
        });
        Some(Injected {
            error: rule.fault.error.to_io(op, path),
            partial_len,
        })
    }

    fn fail(&self, op: Op, path: &Path) -> io::Result<()> {
        match self.check(op, path, 0) {
            Some(injected) => Err(injected.error),
            None => Ok(()),
        }
    }
}

/// A file system that injects errors into another by rule.
#[derive(Clone)]
pub struct FaultFs {
    shared: Arc<Shared>,
}

impl fmt::Debug for FaultFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultFs")
            .field("inner", &self.shared.inner)
            .field("rules", &self.shared.rules.lock().len())
            .field("injected", &self.total_injected())
            .finish()
    }
}

impl FaultFs {
    /// Wraps `inner` with no rules (every operation passes through).
    pub fn new(inner: Arc<dyn FileSystem>) -> FaultFs {
        FaultFs {
            shared: Arc::new(Shared {
                inner,
                rules: Mutex::new(Vec::new()),
                ops: Default::default(),
                injected: Default::default(),
            }),
        }
    }

    /// Adds a rule.
    pub fn inject(&self, fault: Fault) {
        let seed = fault.seed;
        self.shared.rules.lock().push(Rule {
            fault,
            matched: 0,
            fired: 0,
            rng: SplitMix64(seed),
        });
    }

    /// Removes every rule (counters are kept).
    pub fn clear(&self) {
        self.shared.rules.lock().clear();
    }

    /// Operations of kind `op` seen so far, failed or not.
    pub fn ops(&self, op: Op) -> u64 {
        self.shared.ops[op.index()].load(Ordering::Relaxed)
    }

    /// Faults injected into operations of kind `op` so far.
    pub fn injected(&self, op: Op) -> u64 {
        self.shared.injected[op.index()].load(Ordering::Relaxed)
    }

    /// Faults injected so far, of every kind.
    pub fn total_injected(&self) -> u64 {
        Op::ALL.iter().map(|&op| self.injected(op)).sum()
    }

    /// The wrapped file system.
    pub fn inner(&self) -> &Arc<dyn FileSystem> {
        &self.shared.inner
    }
}

impl FileSystem for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.shared.inner.create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.shared.fail(Op::List, dir)?;
        self.shared.inner.list(dir)
    }

    fn exists(&self, path: &Path) -> bool {
        self.shared.inner.exists(path)
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.shared.fail(Op::Open, path)?;
        self.shared.inner.file_size(path)
    }

    fn open_random(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.shared.fail(Op::Open, path)?;
        let file = self.shared.inner.open_random(path)?;
        Ok(Arc::new(FaultFile {
            shared: self.shared.clone(),
            path: path.to_path_buf(),
            file,
        }))
    }

    fn create_writable(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.shared.fail(Op::Create, path)?;
        let file = self.shared.inner.create_writable(path)?;
        Ok(Box::new(FaultFile {
            shared: self.shared.clone(),
            path: path.to_path_buf(),
            file,
        }))
    }

    fn create_log(
        &self,
        path: &Path,
        capacity: u64,
        mode: LogMode,
    ) -> io::Result<Arc<dyn LogFile>> {
        self.shared.fail(Op::Create, path)?;
        let file = self.shared.inner.create_log(path, capacity, mode)?;
        Ok(Arc::new(FaultFile {
            shared: self.shared.clone(),
            path: path.to_path_buf(),
            file,
        }))
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.shared.fail(Op::Read, path)?;
        self.shared.inner.read_all(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.shared.fail(Op::Rename, from)?;
        self.shared.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.shared.fail(Op::Remove, path)?;
        self.shared.inner.remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.shared.fail(Op::SyncDir, dir)?;
        self.shared.inner.sync_dir(dir)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.shared.inner.lock(path)
    }
}

/// An open file of the wrapped file system, faulted by the same rules.
struct FaultFile<F: ?Sized> {
    shared: Arc<Shared>,
    path: PathBuf,
    file: F,
}

impl RandomAccessFile for FaultFile<Arc<dyn RandomAccessFile>> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.shared.fail(Op::Read, &self.path)?;
        self.file.read_exact_at(buf, offset)
    }

    fn size(&self) -> u64 {
        self.file.size()
    }
}

impl WritableFile for FaultFile<Box<dyn WritableFile>> {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(injected) = self.shared.check(Op::Write, &self.path, data.len()) {
            if let Some(len) = injected.partial_len {
                self.file.append(&data[..len])?;
            }
            return Err(injected.error);
        }
        self.file.append(data)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.shared.fail(Op::Sync, &self.path)?;
        self.file.sync()
    }
}

impl LogFile for FaultFile<Arc<dyn LogFile>> {
    fn capacity(&self) -> u64 {
        self.file.capacity()
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        if let Some(injected) = self.shared.check(Op::Write, &self.path, data.len()) {
            if let Some(len) = injected.partial_len {
                self.file.write_at(offset, &data[..len])?;
            }
            return Err(injected.error);
        }
        self.file.write_at(offset, data)
    }

    fn sync(&self, upto: u64) -> io::Result<()> {
        self.shared.fail(Op::Sync, &self.path)?;
        self.file.sync(upto)
    }

    fn prefault(&self, from: u64, to: u64) {
        // A hint that cannot fail: passed through, never faulted.
        self.file.prefault(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    fn setup() -> (FaultFs, PathBuf) {
        let fs = FaultFs::new(Arc::new(MemFs::new()));
        let dir = PathBuf::from("/db");
        fs.create_dir_all(&dir).unwrap();
        (fs, dir)
    }

    #[test]
    fn after_n_fails_every_later_matching_operation() {
        let (fs, dir) = setup();
        fs.inject(Fault::on(Op::Write).files(".sst").after(2));
        let mut table = fs.create_writable(&dir.join("1.sst")).unwrap();
        let mut other = fs.create_writable(&dir.join("MANIFEST-000001")).unwrap();
        table.append(b"a").unwrap();
        table.append(b"b").unwrap();
        other.append(b"m").unwrap();
        let err = table.append(b"c").unwrap_err();
        assert!(err.to_string().contains("os error 5"), "{err}");
        assert!(err.to_string().contains("1.sst"), "{err}");
        assert!(table.append(b"d").is_err());
        other.append(b"m").unwrap();
        assert_eq!(fs.ops(Op::Write), 6);
        assert_eq!(fs.injected(Op::Write), 2);
        assert_eq!(fs.read_all(&dir.join("1.sst")).unwrap(), b"ab");
        fs.clear();
        table.append(b"e").unwrap();
        assert_eq!(fs.total_injected(), 2);
    }

    #[test]
    fn any_after_n_is_a_device_that_dies() {
        let (fs, dir) = setup();
        fs.inject(Fault::any().after(3));
        let mut file = fs.create_writable(&dir.join("a")).unwrap();
        file.append(b"x").unwrap();
        file.sync().unwrap();
        assert!(fs.sync_dir(&dir).is_err());
        assert!(fs.list(&dir).is_err());
        assert!(fs.read_all(&dir.join("a")).is_err());
        assert_eq!(fs.total_injected(), 3);
        assert_eq!(fs.injected(Op::List), 1);
    }

    #[test]
    fn no_space_is_storage_full_and_once_recovers() {
        let (fs, dir) = setup();
        fs.inject(Fault::on(Op::Create).files(".log").no_space().once());
        let err = fs
            .create_log(&dir.join("1.log"), 64, LogMode::Mapped)
            .err()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(!fs.exists(&dir.join("1.log")));
        fs.create_log(&dir.join("1.log"), 64, LogMode::Mapped)
            .unwrap();
        assert_eq!(fs.injected(Op::Create), 1);
    }

    #[test]
    fn probability_faults_are_reproducible() {
        let pattern = |seed| {
            let (fs, dir) = setup();
            fs.inject(Fault::on(Op::Sync).probability(0.3, seed));
            let mut file = fs.create_writable(&dir.join("f")).unwrap();
            (0..200).map(|_| file.sync().is_err()).collect::<Vec<_>>()
        };
        let first = pattern(9);
        assert_eq!(first, pattern(9));
        assert_ne!(first, pattern(10));
        let failed = first.iter().filter(|&&f| f).count();
        assert!((30..100).contains(&failed), "{failed} of 200 failed");
    }

    #[test]
    fn partial_writes_leave_a_prefix() {
        let (fs, dir) = setup();
        fs.inject(Fault::on(Op::Write).partial().probability(1.0, 3));
        let log = fs
            .create_log(&dir.join("1.log"), 64, LogMode::Mapped)
            .unwrap();
        assert!(log.write_at(0, b"0123456789").is_err());
        let bytes = fs.read_all(&dir.join("1.log")).unwrap();
        let written = bytes.iter().take_while(|&&b| b != 0).count();
        assert!(written < 10);
        assert_eq!(&bytes[..written], &b"0123456789"[..written]);
    }

    #[test]
    fn reads_renames_and_syncs_of_the_directory_fail_by_rule() {
        let (fs, dir) = setup();
        let mem = fs.inner().clone();
        let mut file = mem.create_writable(&dir.join("CURRENT.tmp")).unwrap();
        file.append(b"x").unwrap();
        fs.inject(Fault::on(Op::Rename).once());
        fs.inject(Fault::on(Op::Read).files("CURRENT.tmp"));
        fs.inject(Fault::on(Op::SyncDir).once());
        assert!(fs
            .rename(&dir.join("CURRENT.tmp"), &dir.join("CURRENT"))
            .is_err());
        assert!(fs.read_all(&dir.join("CURRENT.tmp")).is_err());
        let handle = fs.open_random(&dir.join("CURRENT.tmp")).unwrap();
        assert!(handle.read_exact_at(&mut [0u8; 1], 0).is_err());
        assert!(fs.sync_dir(&dir).is_err());
        fs.sync_dir(&dir).unwrap();
        fs.rename(&dir.join("CURRENT.tmp"), &dir.join("CURRENT"))
            .unwrap();
        assert_eq!(fs.read_all(&dir.join("CURRENT")).unwrap(), b"x");
        assert_eq!(fs.total_injected(), 4);
    }
}
