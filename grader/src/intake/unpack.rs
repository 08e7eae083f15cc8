//! The one place a submission's entries land on disk. Every archive reader
//! (zip, tar, a git export) hands its entries here, so the rules hold for
//! all of them: a checked relative path, no entry written through a link or
//! over one, no device or FIFO, links that stay inside, and caps on entries,
//! bytes and the compression ratio counted on what is really written (an
//! archive's declared sizes are never trusted).

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{Caps, IntakeError};

/// A name as messages show it: lossy, one line, capped (it is the candidate's).
pub(crate) fn shown(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut line = crate::support::sanitize::terminal_line(&text).into_owned();
    if line.chars().count() > 120 {
        line = line.chars().take(117).collect::<String>() + "...";
    }
    line
}

fn refuse(raw: &[u8], why: &str) -> IntakeError {
    IntakeError::Rejected(format!("entry {:?} {why}", shown(raw)))
}

/// An archive entry's name as a path inside the staging folder: relative,
/// `/`-separated, no `..`, no absolute path, no drive letter, no backslash
/// (a Windows separator another tool would honour), no NUL. `.` and empty
/// components are dropped; `None` is the root itself.
pub(crate) fn entry_path(raw: &[u8]) -> Result<Option<PathBuf>, IntakeError> {
    if raw.contains(&0) {
        return Err(refuse(raw, "has a NUL byte in its name"));
    }
    if raw.contains(&b'\\') {
        return Err(refuse(raw, "has a backslash in its name (a Windows path separator)"));
    }
    if raw.first() == Some(&b'/') {
        return Err(refuse(raw, "is an absolute path"));
    }
    if raw.len() >= 2 && raw[0].is_ascii_alphabetic() && raw[1] == b':' {
        return Err(refuse(raw, "starts with a drive letter"));
    }
    if raw.len() > 1024 {
        return Err(refuse(raw, "has a name over 1024 bytes"));
    }
    let mut out = PathBuf::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(refuse(raw, "leaves the submission's folder (`..`)")),
            p if p.len() > 255 => return Err(refuse(raw, "has a path component over 255 bytes")),
            p => out.push(std::ffi::OsStr::from_bytes(p)),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Whether a link at `rel` pointing at `target` leaves the root, judged on
/// the names (the real path is checked again once everything is written).
fn link_leaves(rel: &Path, target: &[u8]) -> bool {
    target.is_empty()
        || target.contains(&0)
        || target.contains(&b'\\')
        || crate::sandbox::context::escapes(rel, Path::new(std::ffi::OsStr::from_bytes(target)))
}

/// Writes entries under `root`, counting against the caps.
pub(crate) struct Unpacker {
    root: PathBuf,
    caps: Caps,
    /// Bytes allowed in all: the byte cap, or the ratio times the archive's
    /// size when that is lower.
    budget: u64,
    entries: u64,
    bytes: u64,
    links: Vec<PathBuf>,
}

/// Below this much, an archive is never refused for its ratio (a few small
/// text files compress well, and cannot fill a disk).
const RATIO_FLOOR: u64 = 1 << 20;

impl Unpacker {
    /// `root` must not exist yet; `archive_bytes` is the size of what is
    /// unpacked (for the ratio).
    pub(crate) fn new(root: &Path, caps: Caps, archive_bytes: u64) -> Result<Unpacker, IntakeError> {
        std::fs::create_dir(root).map_err(|e| IntakeError::infra(root, e))?;
        let by_ratio = archive_bytes.saturating_mul(caps.ratio).max(RATIO_FLOOR);
        Ok(Unpacker {
            root: root.into(),
            caps,
            budget: caps.bytes.min(by_ratio),
            entries: 0,
            bytes: 0,
            links: Vec::new(),
        })
    }

    fn count(&mut self, raw: &[u8]) -> Result<(), IntakeError> {
        self.entries += 1;
        if self.entries > self.caps.entries {
            return Err(IntakeError::Rejected(format!(
                "the archive has more than {} entries (at {:?})",
                self.caps.entries,
                shown(raw)
            )));
        }
        Ok(())
    }

    /// The parent folders of `rel`, created as real folders; refused when
    /// one of them is a link or a file (nothing is written through a link).
    fn parents(&self, raw: &[u8], rel: &Path) -> Result<PathBuf, IntakeError> {
        let mut at = self.root.clone();
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                at.push(c);
                match std::fs::symlink_metadata(&at) {
                    Ok(m) if m.is_dir() => {}
                    Ok(m) if m.file_type().is_symlink() => return Err(refuse(raw, "would be written through a link")),
                    Ok(_) => return Err(refuse(raw, "would be written inside a file")),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        std::fs::create_dir(&at).map_err(|e| IntakeError::infra(&at, e))?;
                    }
                    Err(e) => return Err(IntakeError::infra(&at, e)),
                }
            }
        }
        Ok(self.root.join(rel))
    }

    /// Makes room for a new entry at `full`: a regular file there (a later
    /// copy of the same name) is replaced; anything else is refused.
    fn clear(raw: &[u8], full: &Path) -> Result<(), IntakeError> {
        match std::fs::symlink_metadata(full) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Ok(m) if m.is_file() => std::fs::remove_file(full).map_err(|e| IntakeError::infra(full, e)),
            Ok(_) => Err(refuse(raw, "replaces a folder or a link of the same name")),
            Err(e) => Err(IntakeError::infra(full, e)),
        }
    }

    pub(crate) fn dir(&mut self, raw: &[u8]) -> Result<(), IntakeError> {
        self.count(raw)?;
        let Some(rel) = entry_path(raw)? else { return Ok(()) };
        let full = self.parents(raw, &rel)?;
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(refuse(raw, "is a folder where a file or link of the same name is")),
            Err(_) => std::fs::create_dir(&full).map_err(|e| IntakeError::infra(&full, e)),
        }
    }

    /// A regular file: its bytes as read (never more than the budget left).
    pub(crate) fn file(&mut self, raw: &[u8], body: &mut dyn Read, executable: bool) -> Result<(), IntakeError> {
        self.count(raw)?;
        let Some(rel) = entry_path(raw)? else { return Err(refuse(raw, "is a file without a name")) };
        let full = self.parents(raw, &rel)?;
        Self::clear(raw, &full)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(if executable { 0o755 } else { 0o644 })
            .open(&full)
            .map_err(|e| IntakeError::infra(&full, e))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // A reader's error is the archive's: corrupt, truncated, or
                // encrypted past what its headers said.
                Err(e) => return Err(refuse(raw, &format!("cannot be read: {}", shown(e.to_string().as_bytes())))),
            };
            self.bytes += n as u64;
            if self.bytes > self.budget {
                return Err(self.over_budget(raw));
            }
            f.write_all(&buf[..n]).map_err(|e| IntakeError::infra(&full, e))?;
        }
        Ok(())
    }

    fn over_budget(&self, raw: &[u8]) -> IntakeError {
        if self.budget < self.caps.bytes {
            IntakeError::Rejected(format!(
                "the archive unpacks to more than {} times its size (at {:?}): refused as a compression bomb",
                self.caps.ratio,
                shown(raw)
            ))
        } else {
            IntakeError::Rejected(format!(
                "the archive unpacks to more than {} MB (at {:?})",
                self.caps.bytes >> 20,
                shown(raw)
            ))
        }
    }

    /// A symbolic link, refused when its target leaves the folder.
    pub(crate) fn symlink(&mut self, raw: &[u8], target: &[u8]) -> Result<(), IntakeError> {
        self.count(raw)?;
        let Some(rel) = entry_path(raw)? else { return Err(refuse(raw, "is a link without a name")) };
        if link_leaves(&rel, target) {
            return Err(refuse(
                raw,
                &format!("is a link that leaves the submission's folder (to {:?})", shown(target)),
            ));
        }
        let full = self.parents(raw, &rel)?;
        Self::clear(raw, &full)?;
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &full)
            .map_err(|e| IntakeError::infra(&full, e))?;
        self.links.push(full);
        Ok(())
    }

    /// A hard link to an earlier entry: written as a copy of it (no inode is
    /// shared, and a target that is not a file already unpacked is refused).
    pub(crate) fn hardlink(&mut self, raw: &[u8], target: &[u8]) -> Result<(), IntakeError> {
        let Some(to) = entry_path(target)? else { return Err(refuse(raw, "is a hard link to the folder itself")) };
        let source = self.root.join(&to);
        // The target's own folders must be real ones too (not a link's).
        self.parents(target, &to)?;
        let meta = std::fs::symlink_metadata(&source);
        if !meta.map(|m| m.is_file()).unwrap_or(false) {
            return Err(refuse(raw, &format!("is a hard link to {:?}, not a file unpacked before it", shown(target))));
        }
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&source)
            .map_err(|e| IntakeError::infra(&source, e))?;
        self.file(raw, &mut f, false)
    }

    /// Checks the links once everything is written (a chain of links can
    /// leave where each alone stays), then unwraps a single top-level
    /// folder (macOS's `__MACOSX` and `.DS_Store` beside it do not count and
    /// are dropped). Returns the submission's folder.
    pub(crate) fn finish(self) -> Result<PathBuf, IntakeError> {
        let root = std::fs::canonicalize(&self.root).map_err(|e| IntakeError::infra(&self.root, e))?;
        for link in &self.links {
            if let Ok(real) = std::fs::canonicalize(link) {
                if !real.starts_with(&root) {
                    let rel = link.strip_prefix(&self.root).unwrap_or(link);
                    return Err(refuse(
                        rel.as_os_str().as_bytes(),
                        "is a link that resolves outside the submission's folder",
                    ));
                }
            }
        }
        let mut top = Vec::new();
        for e in std::fs::read_dir(&self.root).map_err(|e| IntakeError::infra(&self.root, e))? {
            let e = e.map_err(|e| IntakeError::infra(&self.root, e))?;
            let name = e.file_name();
            if name == "__MACOSX" || name == ".DS_Store" {
                let p = e.path();
                let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                continue;
            }
            top.push(e);
        }
        if let [only] = top.as_slice() {
            if only.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                return Ok(only.path());
            }
        }
        Ok(self.root)
    }
}
