//! The manifest: an append-only log of [`VersionEdit`]s, and `CURRENT`, the
//! file naming the live manifest.
//!
//! Record layout (the same framing as log records, without sequence
//! numbers):
//!
//! ```text
//! +----------+----------+---------------------------+
//! | crc: u32 | len: u32 | payload: VersionEdit bytes |
//! +----------+----------+---------------------------+
//! crc = checksum(len as 4 bytes ++ payload)
//! ```
//!
//! Each edit is synced before anything depends on it, so a crash leaves
//! either the version before an edit or the one after. A cut-off last
//! record is such an unfinished edit and is ignored; a bad record followed
//! by more bytes is corruption. `CURRENT` is replaced atomically (written
//! to `CURRENT.tmp`, synced, renamed, directory synced), so it always names
//! a complete manifest.

use super::edit::VersionEdit;
use crate::coding::{checksum, get_u32};
use crate::fs::{FileSystem, WritableFile};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The name of the file naming the live manifest.
pub const CURRENT: &str = "CURRENT";

/// The file name of manifest `id`.
pub fn manifest_name(id: u64) -> String {
    format!("MANIFEST-{id:06}")
}

/// The id of a manifest file name.
pub fn parse_manifest_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("MANIFEST-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Appends edits to a manifest.
pub struct ManifestWriter {
    file: Box<dyn WritableFile>,
    id: u64,
    failed: bool,
    /// Bytes written so far.
    bytes: u64,
}

impl ManifestWriter {
    /// Creates manifest `id` in `dir` holding `snapshot` (the whole current
    /// version as one edit), syncs it and makes `CURRENT` name it.
    pub fn create(
        fs: &dyn FileSystem,
        dir: &Path,
        id: u64,
        snapshot: &VersionEdit,
    ) -> Result<ManifestWriter> {
        let file = fs.create_writable(&dir.join(manifest_name(id)))?;
        let mut writer = ManifestWriter {
            file,
            id,
            failed: false,
            bytes: 0,
        };
        writer.append(snapshot)?;
        set_current(fs, dir, &manifest_name(id))?;
        Ok(writer)
    }

    /// The manifest's file number.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes written to it so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends `edit` and syncs it.
    pub fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        let payload = edit.encode();
        let mut record = Vec::with_capacity(8 + payload.len());
        record.extend_from_slice(&[0; 4]);
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(&payload);
        let crc = checksum(&record[4..]);
        record[..4].copy_from_slice(&crc.to_le_bytes());
        if self.failed {
            return Err(Error::Io(std::io::Error::other(
                "manifest unusable after a failed write",
            )));
        }
        let result = self.file.append(&record).and_then(|()| self.file.sync());
        if result.is_err() {
            self.failed = true;
        }
        result?;
        self.bytes += record.len() as u64;
        Ok(())
    }
}

fn set_current(fs: &dyn FileSystem, dir: &Path, name: &str) -> Result<()> {
    let tmp = dir.join("CURRENT.tmp");
    let mut file = fs.create_writable(&tmp)?;
    file.append(format!("{name}\n").as_bytes())?;
    file.sync()?;
    drop(file);
    fs.rename(&tmp, &dir.join(CURRENT))?;
    fs.sync_dir(dir)?;
    Ok(())
}

/// The live manifest's path, or `None` for a directory with no `CURRENT`.
pub fn read_current(fs: &dyn FileSystem, dir: &Path) -> Result<Option<(u64, PathBuf)>> {
    let path = dir.join(CURRENT);
    if !fs.exists(&path) {
        return Ok(None);
    }
    let bytes = fs.read_all(&path)?;
    let name = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| text.strip_suffix('\n'))
        .filter(|name| parse_manifest_name(name).is_some())
        .ok_or_else(|| Error::corruption(&path, 0, "CURRENT does not name a manifest"))?;
    let id = parse_manifest_name(name).unwrap_or_default();
    let manifest = dir.join(name);
    if !fs.exists(&manifest) {
        return Err(Error::corruption(
            &path,
            0,
            format!("CURRENT names {name}, which does not exist"),
        ));
    }
    Ok(Some((id, manifest)))
}

/// Reads every edit of the manifest at `path`, ignoring a cut-off last one.
pub fn read_manifest(fs: &dyn FileSystem, path: &Path) -> Result<Vec<VersionEdit>> {
    let bytes = fs.read_all(path)?;
    decode_manifest(&bytes, path)
}

/// Decodes manifest bytes (see the module doc). Never panics.
pub fn decode_manifest(bytes: &[u8], path: &Path) -> Result<Vec<VersionEdit>> {
    let mut edits = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let (Some(crc), Some(len)) = (get_u32(rest, 0), get_u32(rest, 4)) else {
            break; // a cut-off header at the very end: an unfinished edit
        };
        let end = 8usize.saturating_add(len as usize);
        let Some(body) = rest.get(4..end) else {
            if let Some(later) = next_valid_frame(bytes, pos + 1) {
                return Err(Error::corruption(path, pos as u64, format!("manifest record length runs past the file; a valid record follows at {later}")));
            }
            break; // a cut-off record at the very end
        };
        if checksum(body) != crc {
            if end >= rest.len() {
                break; // the last record, torn
            }
            return Err(Error::corruption(
                path,
                pos as u64,
                "manifest record checksum mismatch",
            ));
        }
        let edit = VersionEdit::decode(&body[4..]).map_err(|reason| {
            Error::corruption(path, pos as u64, format!("manifest edit: {reason}"))
        })?;
        edits.push(edit);
        pos += end;
    }
    if edits.is_empty() {
        return Err(Error::corruption(
            path,
            0,
            "manifest holds no complete edit",
        ));
    }
    Ok(edits)
}

/// The first offset at or after `from` in manifest `bytes` holding a whole
/// record frame with a good checksum (to tell damage followed by good
/// records from a torn last record).
pub fn next_valid_frame(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(8)).find(|&pos| {
        let rest = &bytes[pos..];
        let (Some(crc), Some(len)) = (get_u32(rest, 0), get_u32(rest, 4)) else {
            return false;
        };
        len > 0
            && rest
                .get(4..8usize.saturating_add(len as usize))
                .is_some_and(|b| checksum(b) == crc)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;

    #[test]
    fn manifest_round_trip_and_current() {
        let dir = tempfile::tempdir().unwrap();
        let first = VersionEdit {
            next_file_number: Some(3),
            ..VersionEdit::default()
        };
        let second = VersionEdit {
            log_number: Some(2),
            last_seq: Some(10),
            ..VersionEdit::default()
        };
        let mut writer = ManifestWriter::create(&StdFs, dir.path(), 1, &first).unwrap();
        writer.append(&second).unwrap();
        let (id, path) = read_current(&StdFs, dir.path()).unwrap().unwrap();
        assert_eq!(id, 1);
        assert_eq!(
            read_manifest(&StdFs, &path).unwrap(),
            vec![first.clone(), second.clone()]
        );

        // A torn last record is ignored; a damaged earlier one is corruption.
        let bytes = std::fs::read(&path).unwrap();
        let cut = &bytes[..bytes.len() - 2];
        assert_eq!(decode_manifest(cut, &path).unwrap(), vec![first]);
        let mut damaged = bytes.clone();
        damaged[9] ^= 1;
        assert!(decode_manifest(&damaged, &path)
            .unwrap_err()
            .is_corruption());
    }

    #[test]
    fn garbage_current_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CURRENT), b"nonsense").unwrap();
        assert!(read_current(&StdFs, dir.path())
            .unwrap_err()
            .is_corruption());
        assert_eq!(parse_manifest_name("MANIFEST-000012"), Some(12));
        assert_eq!(parse_manifest_name("MANIFEST-"), None);
    }
}
