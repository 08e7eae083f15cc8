//! Files the grader publishes, one way everywhere: a directory is built
//! beside its final place and renamed in (never half-written under its
//! name), a file is written to a temporary name and renamed, and an output
//! directory that already holds anything is refused (nothing the user had
//! is overwritten).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::support::error::{GraderError, Result};

/// The directory `out` will be renamed from: its parent (`.` for a bare name).
fn parent_of(out: &Path) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A hidden directory beside `out`, named `prefix…`, to fill before
/// [`Staging::publish`]; dropped unpublished, it is removed.
pub struct Staging {
    dir: tempfile::TempDir,
    out: PathBuf,
}

impl Staging {
    pub fn new(out: &Path, prefix: &str) -> std::io::Result<Staging> {
        let parent = parent_of(out);
        std::fs::create_dir_all(&parent)?;
        let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(&parent)?;
        Ok(Staging { dir, out: out.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Renames the staging directory to `out` (which must not exist, or be
    /// empty). `commit` wraps the rename (a batch's shutdown check); a
    /// failed rename keeps the staged files and names them, unless the
    /// wrapper says the shutdown began (`Interrupted`): then they go.
    pub fn publish_with(
        self,
        commit: impl FnOnce(&mut dyn FnMut() -> std::io::Result<()>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let kept = self.dir.keep();
        let out = self.out;
        let mut rename = || {
            if out.exists() {
                std::fs::remove_dir(&out)?; // empty: checked before any work began
            }
            std::fs::rename(&kept, &out)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{e}; the results are kept in {}", kept.display())))
        };
        commit(&mut rename).inspect_err(|e| {
            if e.kind() == std::io::ErrorKind::Interrupted {
                let _ = std::fs::remove_dir_all(&kept);
            }
        })
    }

    /// [`Staging::publish_with`] with no wrapper; on failure nothing is kept.
    pub fn publish(self) -> std::io::Result<()> {
        let kept_path = self.dir.path().to_path_buf();
        self.publish_with(|rename| rename()).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&kept_path);
        })
    }
}

/// Builds a directory beside `out` with `fill`, then renames it into
/// place, so a failure leaves nothing under `out`'s name.
pub fn build_then_rename<T>(out: &Path, prefix: &str, fill: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let parent = parent_of(out);
    let staging = Staging::new(out, prefix).map_err(|source| GraderError::Io { path: parent, source })?;
    let value = fill(staging.path())?;
    staging.publish().map_err(|source| GraderError::Io { path: out.into(), source })?;
    Ok(value)
}

/// Writes `bytes` to `path` through a temporary file beside it and a
/// rename: a reader sees the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(|source| GraderError::Io { path: tmp.clone(), source })?;
    std::fs::rename(&tmp, path).map_err(|source| GraderError::Io { path: path.into(), source })
}

/// [`write_atomic`] of a value as pretty JSON with a final newline.
pub fn write_json_atomic(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("plain data");
    text.push('\n');
    write_atomic(path, text)
}

/// A file's SHA-256, hex, read in blocks.
pub fn sha256_file(path: &Path) -> Result<String> {
    let io = |source| GraderError::Io { path: path.into(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Opens `path` without following a final symlink, refuses anything but a
/// regular file (a FIFO does not block: it is opened non-blocking, then
/// refused), and reads at most `max` bytes.
pub fn read_no_follow(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut buf = Vec::new();
    file.take(max).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Refuses an output directory that exists and holds anything.
pub fn check_out_dir(out: &Path) -> std::result::Result<(), String> {
    if out.exists() {
        let empty = out.is_dir() && std::fs::read_dir(out).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            return Err(format!(
                "results directory {} exists and is not empty; choose a new directory or empty it first",
                out.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_fill_leaves_nothing_and_a_good_one_publishes_whole() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let err = build_then_rename(&out, ".t-", |d| {
            std::fs::write(d.join("a"), "x").unwrap();
            Err::<(), _>(GraderError::Usage("no".into()))
        });
        assert!(err.is_err());
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0, "staging left behind");
        build_then_rename(&out, ".t-", |d| {
            std::fs::write(d.join("a"), "x").map_err(|source| GraderError::Io { path: d.into(), source })
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(out.join("a")).unwrap(), "x");
        assert!(check_out_dir(&out).is_err());
        assert!(check_out_dir(&root.path().join("new")).is_ok());
    }

    #[test]
    fn atomic_writes_replace_and_leave_no_temporary_file() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path().join("f.json");
        write_atomic(&p, "1").unwrap();
        write_json_atomic(&p, &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\n  \"a\": 1\n}\n");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        assert_eq!(sha256_file(&p).unwrap().len(), 64);
    }
}
