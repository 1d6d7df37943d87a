//! `fractio check DIR`: verifies every checksum of a closed database
//! directory without changing it, and prints each problem with its file
//! and offset.
//!
//! What is checked, through the engine's public decoders (the database is
//! not opened: `open` would replay the log and rewrite the manifest):
//! - `CURRENT` names an existing manifest;
//! - every manifest record: frame, checksum, edit — walked here rather
//!   than by `decode_manifest`, so that a damaged length or a damaged last
//!   record is reported instead of being taken for a torn write;
//! - every live table: present, of the size the manifest records, every
//!   block's checksum, entry order, filter and properties
//!   (`Table::verify`), and the manifest's key and sequence ranges;
//! - every log segment at or above the manifest's log number: every
//!   record's checksum and entries, and sequence numbers that continue one
//!   another from the manifest's last sequence number.
//!
//! A torn last log record (a write cut short by a crash), obsolete
//! segments, manifests and orphan tables are reported as notes: `open`
//! deals with them. Problems make the exit code 1; a directory that could
//! not be checked at all (missing, locked by a running database) gives 2.
//!
//! Thread-safety: single-threaded; it takes the directory's lock (when
//! there is one) for the duration of the check, so a database cannot open
//! it meanwhile, and a database that is open is not checked.

use fractio::cache::BlockCache;
use fractio::coding::{checksum, get_u32};
use fractio::fs::{FileSystem, StdFs};
use fractio::version::manifest::{next_valid_frame, parse_manifest_name, read_current};
use fractio::version::{TableMeta, VersionEdit};
use fractio::wal::parse_segment_name;
use fractio::wal::reader::{read_segment, SegmentEnd};
use fractio::Error;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// One thing wrong with the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The damaged (or missing) file.
    pub file: PathBuf,
    /// Where in the file, when known.
    pub offset: Option<u64>,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(offset) => write!(f, "{}: offset {offset}: {}", self.file.display(), self.what),
            None => write!(f, "{}: {}", self.file.display(), self.what),
        }
    }
}

/// What a check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Damage that loses or may lose data.
    pub problems: Vec<Problem>,
    /// Things `open` tidies up by itself.
    pub notes: Vec<String>,
    /// Manifest edits read.
    pub edits: usize,
    /// Live tables verified.
    pub tables: usize,
    /// Log segments read, and the records in them.
    pub segments: usize,
    /// Log records read.
    pub records: u64,
}

impl Report {
    fn problem(&mut self, file: &Path, offset: Option<u64>, what: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_path_buf(),
            offset,
            what: what.into(),
        });
    }

    /// Records an engine error: a corruption keeps its own file and offset.
    fn error(&mut self, file: &Path, error: Error) {
        match error {
            Error::Corruption {
                file,
                offset,
                reason,
            } => self.problem(&file, Some(offset), reason),
            other => self.problem(file, None, other.to_string()),
        }
    }
}

/// Arguments of `fractio check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The database directory (closed: a running database holds its lock).
    pub dir: PathBuf,
}

/// Runs `fractio check DIR` on the real file system: prints the problems
/// and notes and returns the exit code.
pub fn run(args: CheckArgs) -> ExitCode {
    let dir = args.dir.as_path();
    let report = match check_dir(&StdFs, dir) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("fractio check: cannot check {}: {error}", dir.display());
            return ExitCode::from(2);
        }
    };
    for note in &report.notes {
        println!("note: {note}");
    }
    for problem in &report.problems {
        println!("{problem}");
    }
    println!(
        "checked {} manifest edits, {} tables, {} log segments ({} records): {} problems",
        report.edits,
        report.tables,
        report.segments,
        report.records,
        report.problems.len()
    );
    if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Checks the database directory `dir` (see the module doc). `Err` only
/// when the directory cannot be checked at all.
pub fn check_dir(fs: &dyn FileSystem, dir: &Path) -> io::Result<Report> {
    let names = fs.list(dir)?;
    // Every open database holds its LOCK; a directory without one was
    // never opened, and is not given one.
    let _lock = match names.iter().any(|n| n == "LOCK") {
        true => Some(fs.lock(&dir.join("LOCK")).map_err(|e| {
            if e.kind() == io::ErrorKind::WouldBlock {
                io::Error::new(e.kind(), "the database is open (its LOCK is held)")
            } else {
                e
            }
        })?),
        false => None,
    };
    let mut report = Report::default();
    let Some(state) = check_manifest(fs, dir, &names, &mut report) else {
        return Ok(report);
    };
    check_tables(fs, dir, &names, &state, &mut report);
    check_log(fs, dir, &names, &state, &mut report);
    Ok(report)
}

/// The version the manifest describes.
#[derive(Default)]
struct ManifestState {
    tables: BTreeMap<u64, (usize, TableMeta)>,
    log_number: u64,
    last_seq: u64,
}

impl ManifestState {
    fn apply(&mut self, edit: VersionEdit) {
        for (_, id) in &edit.deleted {
            self.tables.remove(id);
        }
        for (level, meta) in edit.added {
            self.tables.insert(meta.id, (level, meta));
        }
        self.log_number = self.log_number.max(edit.log_number.unwrap_or(0));
        self.last_seq = self.last_seq.max(edit.last_seq.unwrap_or(0));
    }
}

fn check_manifest(
    fs: &dyn FileSystem,
    dir: &Path,
    names: &[String],
    report: &mut Report,
) -> Option<ManifestState> {
    let current = dir.join("CURRENT");
    let (manifest_id, path) = match read_current(fs, dir) {
        Ok(Some(found)) => found,
        Ok(None) => {
            if names
                .iter()
                .any(|n| n.ends_with(".sst") || n.starts_with("MANIFEST-"))
            {
                report.problem(
                    &current,
                    None,
                    "missing, but the directory holds tables or manifests",
                );
            } else {
                report
                    .notes
                    .push("no CURRENT: an empty or never-opened database".into());
                return Some(ManifestState::default());
            }
            return None;
        }
        Err(error) => {
            report.error(&current, error);
            return None;
        }
    };
    let bytes = match fs.read_all(&path) {
        Ok(bytes) => bytes,
        Err(error) => {
            let what = format!("names {}, which cannot be read: {error}", path.display());
            report.problem(&current, None, what);
            return None;
        }
    };
    let mut state = ManifestState::default();
    for edit in walk_manifest(&bytes, &path, report) {
        state.apply(edit);
        report.edits += 1;
    }
    if report.edits == 0 {
        report.problem(&path, Some(0), "holds no complete edit");
    }
    for name in names {
        if parse_manifest_name(name).is_some_and(|id| id != manifest_id) {
            report.notes.push(format!(
                "{name}: an obsolete manifest (deleted at the next open)"
            ));
        }
    }
    Some(state)
}

/// The edits of a manifest, reporting every bad record: the record frame
/// is the log's (checksum, length, payload). A bad last record is a note
/// (a torn write, or damage: the two cannot be told apart) unless a valid
/// record follows the place it claims to end or any later offset.
fn walk_manifest(bytes: &[u8], path: &Path, report: &mut Report) -> Vec<VersionEdit> {
    let mut edits = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let frame = get_u32(rest, 0).zip(get_u32(rest, 4));
        let body = frame.and_then(|(_, len)| rest.get(4..8usize.checked_add(len as usize)?));
        match (frame, body) {
            (Some((crc, _)), Some(body)) if checksum(body) == crc => {
                match VersionEdit::decode(&body[4..]) {
                    Ok(edit) => edits.push(edit),
                    Err(reason) => {
                        report.problem(path, Some(pos as u64), format!("bad edit: {reason}"))
                    }
                }
                pos += 4 + body.len();
            }
            _ => {
                if let Some(later) = next_valid_frame(bytes, pos + 1) {
                    let what = format!("damaged record (a valid record follows at offset {later}): later edits are unreadable");
                    report.problem(path, Some(pos as u64), what);
                } else {
                    report.notes.push(format!(
                        "{}: the last record (offset {pos}, {} bytes) is incomplete: a torn write, or damage to the last edit",
                        path.display(),
                        bytes.len() - pos
                    ));
                }
                break;
            }
        }
    }
    edits
}

fn table_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(fractio::table::table_file_name(id))
}

fn check_tables(
    fs: &dyn FileSystem,
    dir: &Path,
    names: &[String],
    state: &ManifestState,
    report: &mut Report,
) {
    let cache = Arc::new(BlockCache::new(8 << 20));
    for (level, meta) in state.tables.values() {
        let path = table_path(dir, meta.id);
        report.tables += 1;
        match fs.file_size(&path) {
            Ok(size) if size == meta.file_size => {}
            Ok(size) => {
                let what = format!("{size} bytes, the manifest records {}", meta.file_size);
                report.problem(&path, None, what);
                continue;
            }
            Err(error) => {
                let what =
                    format!("table of L{level} named by the manifest cannot be read: {error}");
                report.problem(&path, None, what);
                continue;
            }
        }
        if let Err(error) = check_table(fs, &path, meta, &cache) {
            report.error(&path, error);
        }
    }
    for name in names {
        let id = name
            .strip_suffix(".sst")
            .and_then(|d| d.parse::<u64>().ok());
        if id.is_some_and(|id| !state.tables.contains_key(&id)) {
            report.notes.push(format!(
                "{name}: a table no version names (deleted at the next open)"
            ));
        }
    }
}

/// Opens and verifies one table and compares it with its manifest record.
fn check_table(
    fs: &dyn FileSystem,
    path: &Path,
    meta: &TableMeta,
    cache: &Arc<BlockCache>,
) -> fractio::Result<()> {
    let file = fs.open_random(path)?;
    let table = fractio::table::Table::open(file, path.to_path_buf(), meta.id, cache.clone())?;
    table.verify()?;
    let properties = table.properties();
    let recorded = (
        &meta.smallest_key,
        &meta.largest_key,
        meta.smallest_seq,
        meta.largest_seq,
        meta.entries,
        meta.tombstones,
    );
    let found = (
        &properties.smallest_key,
        &properties.largest_key,
        properties.smallest_seq,
        properties.largest_seq,
        properties.entries,
        properties.tombstones,
    );
    if recorded != found {
        return Err(Error::corruption(
            path,
            0,
            "the table's key range, sequence range or counts differ from the manifest's record",
        ));
    }
    Ok(())
}

fn check_log(
    fs: &dyn FileSystem,
    dir: &Path,
    names: &[String],
    state: &ManifestState,
    report: &mut Report,
) {
    let mut segments: Vec<u64> = names.iter().filter_map(|n| parse_segment_name(n)).collect();
    segments.sort_unstable();
    let mut last_seq = state.last_seq;
    let mut torn: Option<PathBuf> = None;
    for id in segments {
        let path = dir.join(fractio::wal::segment_name(id));
        if id < state.log_number {
            report.notes.push(format!(
                "{}: an obsolete log segment (deleted at the next open)",
                path.display()
            ));
            continue;
        }
        let bytes = match fs.read_all(&path) {
            Ok(bytes) => bytes,
            Err(error) => {
                report.problem(&path, None, format!("cannot be read: {error}"));
                continue;
            }
        };
        report.segments += 1;
        let mut records = 0u64;
        let mut gap = None;
        let end = read_segment(&bytes, &path, last_seq, |record| {
            let record_last = record.first_seq + u64::from(record.count) - 1;
            if record_last > last_seq && record.first_seq != last_seq + 1 && gap.is_none() {
                gap = Some((record.offset, last_seq, record.first_seq));
            }
            last_seq = last_seq.max(record_last);
            records += 1;
            Ok(())
        });
        report.records += records;
        if let Some(torn_segment) = torn.take().filter(|_| records > 0) {
            let what = format!(
                "the segment ends in a damaged record, yet {} holds later records",
                path.display()
            );
            report.problem(&torn_segment, None, what);
        }
        if let Some((offset, expected, found)) = gap {
            let what = format!(
                "records {}..{found} are missing (the log or the manifest lost data)",
                expected + 1
            );
            report.problem(&path, Some(offset), what);
        }
        match end {
            Ok(SegmentEnd::Clean { .. }) => {}
            Ok(SegmentEnd::Torn { offset, bytes }) => {
                report.notes.push(format!(
                    "{}: a torn last record at offset {offset} ({bytes} bytes), dropped at the next open",
                    path.display()
                ));
                torn = Some(path.clone());
            }
            Err(error) => report.error(&path, error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fractio::fs::MemFs;
    use fractio::{Db, Durability};

    /// A closed database with tables, a manifest of several edits and log
    /// records, on an in-memory file system.
    fn database() -> (MemFs, PathBuf) {
        let fs = MemFs::new();
        let dir = PathBuf::from("/db");
        let db = Db::builder(&dir)
            .fs(Arc::new(fs.clone()))
            .durability(Durability::Sync)
            .memtable_size(64 << 10)
            .open()
            .unwrap();
        for i in 0..1500u32 {
            db.insert(format!("key{i:05}"), vec![b'v'; 100 + (i % 50) as usize])
                .unwrap();
        }
        db.flush().unwrap();
        for i in 0..200u32 {
            db.insert(format!("late{i:04}"), b"x").unwrap();
        }
        drop(db);
        (fs, dir)
    }

    fn files(fs: &MemFs, suffix: &str) -> Vec<PathBuf> {
        fs.files()
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(suffix))
            .collect()
    }

    #[test]
    fn a_sound_database_has_no_problem() {
        let (fs, dir) = database();
        let report = check_dir(&fs, &dir).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.tables >= 2 && report.edits >= 2 && report.records >= 200);
        // Checking changes nothing: the database still opens with its data.
        let db = Db::builder(&dir).fs(Arc::new(fs)).open().unwrap();
        assert_eq!(db.get("late0199").unwrap().unwrap(), b"x");
    }

    #[test]
    fn damage_anywhere_is_a_problem_naming_the_file() {
        let (golden, dir) = database();
        let mut targets = files(&golden, ".sst");
        targets.extend(files(&golden, ".log"));
        targets.extend(files(&golden, "MANIFEST-"));
        assert!(targets.len() >= 4, "{targets:?}");
        for target in targets {
            let size = golden.read_all(&target).unwrap().len();
            let used = golden
                .read_all(&target)
                .unwrap()
                .iter()
                .rposition(|&b| b != 0)
                .unwrap_or(0);
            // Damage at the start, the middle and just before the end of
            // the written bytes (the last log record and manifest edit are
            // the torn-write cases, reported as notes: see below).
            for at in [0, used / 2, used.saturating_sub(40)] {
                let fs = golden.process_crash_clone();
                fs.edit_file(&target, |b| b[at] ^= 0x10).unwrap();
                let report = check_dir(&fs, &dir).unwrap();
                let named = report.problems.iter().any(|p| p.file == target);
                let noted = report
                    .notes
                    .iter()
                    .any(|n| n.contains("torn") || n.contains("incomplete"));
                assert!(
                    named || (noted && at + 100 > used),
                    "{} ({size} bytes) damaged at {at}: {:?} {:?}",
                    target.display(),
                    report.problems,
                    report.notes
                );
            }
        }
    }

    #[test]
    fn a_missing_table_or_current_is_a_problem() {
        let (golden, dir) = database();
        let fs = golden.process_crash_clone();
        let table = files(&fs, ".sst").remove(0);
        fs.remove_file(&table).unwrap();
        let report = check_dir(&fs, &dir).unwrap();
        assert!(
            report.problems.iter().any(|p| p.file == table),
            "{:?}",
            report.problems
        );

        let fs = golden.process_crash_clone();
        fs.put_file(&dir.join("CURRENT"), b"MANIFEST-999999\n")
            .unwrap();
        let report = check_dir(&fs, &dir).unwrap();
        assert!(report
            .problems
            .iter()
            .any(|p| p.file == dir.join("CURRENT")));
    }

    #[test]
    fn an_open_database_is_not_checked() {
        let (fs, dir) = database();
        let db = Db::builder(&dir).fs(Arc::new(fs.clone())).open().unwrap();
        let error = check_dir(&fs, &dir).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        drop(db);
        check_dir(&fs, &dir).unwrap();
    }
}
