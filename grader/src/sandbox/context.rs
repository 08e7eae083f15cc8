//! The build context: the submission directory as a tar archive, honouring
//! `.dockerignore`, refusing symlinks that leave the directory and contexts
//! over the caps, before anything reaches the engine.
//!
//! Two passes: [`scan`] walks the directory reading metadata only and counts
//! what the tar will hold (entries, headers, padding and contents, so
//! 150,000 empty files are as visible as one large file); [`stream`] then
//! writes the tar into a channel in fixed-size chunks from a blocking thread,
//! so the grader never holds the whole context in memory.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

use super::SandboxError;

/// Caps on a build context.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Bytes of the tar as sent: headers, padding and contents.
    pub bytes: u64,
    /// Files, directories and links.
    pub entries: u64,
}

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File(u64),
    Symlink(PathBuf),
}

/// What the tar will hold, in order.
pub struct Plan {
    root: PathBuf,
    entries: Vec<(PathBuf, Kind)>,
    /// Files (regular) in the context.
    pub files: usize,
    /// Size of the tar as it will be sent.
    pub bytes: u64,
}

impl Plan {
    /// The context's regular files: path relative to its root, and in full.
    pub fn regular_files(&self) -> impl Iterator<Item = (&Path, PathBuf)> {
        self.entries
            .iter()
            .filter(|(_, k)| matches!(k, Kind::File(_)))
            .map(|(rel, _)| (rel.as_path(), self.root.join(rel)))
    }
}

/// One tar header block, plus a GNU long-name block and its data for paths
/// that do not fit the header's 100 bytes.
fn header_bytes(rel: &Path) -> u64 {
    512 + long_name_bytes(rel.as_os_str().len() as u64)
}

/// A name over the header's 100 bytes goes in a GNU long-name entry before
/// it: one header, and the name with its NUL padded to whole blocks.
fn long_name_bytes(n: u64) -> u64 {
    if n <= 100 {
        0
    } else {
        512 + (n + 1).div_ceil(512) * 512
    }
}

/// Walks `dir` (metadata only). Fails on a missing Dockerfile, a symlink
/// pointing outside `dir` (or anywhere absolute), or a context over `caps`.
pub fn scan(dir: &Path, caps: Caps) -> Result<Plan, SandboxError> {
    let meta = std::fs::metadata(dir).map_err(unreadable(dir))?;
    if !meta.is_dir() {
        return Err(SandboxError::Unreadable {
            path: dir.into(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    if !std::fs::symlink_metadata(dir.join("Dockerfile")).map(|m| m.is_file()).unwrap_or(false) {
        return Err(SandboxError::NoDockerfile(dir.into()));
    }
    scan_tree(dir, caps)
}

/// [`scan`] without asking for a Dockerfile (a starter; the similarity check): what a
/// build context of `dir` would hold, `.dockerignore` applied, under `caps`.
pub fn scan_tree(dir: &Path, caps: Caps) -> Result<Plan, SandboxError> {
    let ignore = DockerIgnore::load(dir).map_err(unreadable(&dir.join(".dockerignore")))?;
    // The end-of-archive marker: two zero blocks.
    let mut plan = Plan { root: dir.into(), entries: Vec::new(), files: 0, bytes: 1024 };
    walk(dir, Path::new(""), &ignore, &mut plan, caps)?;
    Ok(plan)
}

fn unreadable(path: &Path) -> impl FnOnce(std::io::Error) -> SandboxError {
    let path = path.to_path_buf();
    move |source| SandboxError::Unreadable { path, source }
}

fn walk(root: &Path, rel: &Path, ignore: &DockerIgnore, plan: &mut Plan, caps: Caps) -> Result<(), SandboxError> {
    let dir = root.join(rel);
    let mut entries: Vec<_> =
        std::fs::read_dir(&dir).map_err(unreadable(&dir))?.collect::<Result<Vec<_>, _>>().map_err(unreadable(&dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let full = entry.path();
        let rel = rel.join(entry.file_name());
        let name = rel.to_string_lossy().replace('\\', "/");
        let meta = std::fs::symlink_metadata(&full).map_err(unreadable(&full))?;
        let keep_anyway = name == "Dockerfile";
        if ignore.excluded(&name) && !keep_anyway {
            if meta.is_dir() && ignore.has_exceptions() {
                walk(root, &rel, ignore, plan, caps)?; // an exception may re-include a child
            }
            continue;
        }
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            let target = std::fs::read_link(&full).map_err(unreadable(&full))?;
            if escapes(&rel, &target) {
                return Err(SandboxError::Rejected(format!(
                    "symlink {name} points outside the submission directory (to {})",
                    target.display()
                )));
            }
            Kind::Symlink(target)
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File(meta.len())
        } else {
            continue; // sockets, FIFOs and devices have no place in a build context
        };
        plan.bytes += header_bytes(&rel);
        if let Kind::Symlink(t) = &kind {
            plan.bytes += long_name_bytes(t.as_os_str().len() as u64);
        }
        if let Kind::File(len) = kind {
            plan.bytes += len.div_ceil(512) * 512;
            plan.files += 1;
        }
        let is_dir = matches!(kind, Kind::Dir);
        plan.entries.push((rel.clone(), kind));
        if plan.entries.len() as u64 > caps.entries {
            return Err(SandboxError::Rejected(format!(
                "build context has more than {} files and directories (at {name}); list what the image does not need in .dockerignore",
                caps.entries
            )));
        }
        if plan.bytes > caps.bytes {
            return Err(SandboxError::Rejected(format!(
                "build context is larger than the {} MB limit, counting tar headers (at {name}); list large files in .dockerignore",
                caps.bytes / (1024 * 1024)
            )));
        }
        if is_dir {
            walk(root, &rel, ignore, plan, caps)?;
        }
    }
    Ok(())
}

/// A `Write` that hands fixed-size chunks to the async side, hashing what
/// it sends.
struct ChunkWriter {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    hash: sha2::Sha256,
}

const CHUNK: usize = 256 * 1024;

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        use sha2::Digest;
        self.hash.update(&self.buf);
        let chunk = bytes::Bytes::from(std::mem::take(&mut self.buf));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| std::io::Error::other("the engine stopped reading the context"))
    }
}

/// A `Write` that only hashes: the digest of a context without sending it.
struct HashWriter(sha2::Sha256);

impl Write for HashWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        self.0.update(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The digest of a context stream, once it has all been sent.
pub type SentDigest = std::sync::Arc<std::sync::OnceLock<String>>;

impl Plan {
    /// Writes the tar, with `dockerfile` in place of the submission's
    /// Dockerfile: the same bytes whether sent or hashed (mtime, owners and
    /// order fixed), so a digest names a context.
    fn write_tar<W: Write>(&self, dockerfile: &[u8], w: W) -> std::io::Result<W> {
        let mut tar = tar::Builder::new(w);
        tar.follow_symlinks(false);
        for (rel, kind) in &self.entries {
            let full = self.root.join(rel);
            let mut h = tar::Header::new_gnu();
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            match kind {
                Kind::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    tar.append_data(&mut h, rel, std::io::empty())?;
                }
                Kind::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    tar.append_link(&mut h, rel, target)?;
                }
                Kind::File(_) if rel == Path::new("Dockerfile") => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(dockerfile.len() as u64);
                    tar.append_data(&mut h, rel, dockerfile)?;
                }
                Kind::File(len) => {
                    use std::io::Read;
                    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
                    let f = std::fs::OpenOptions::new()
                        .read(true)
                        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                        .open(&full)?;
                    let mode = f.metadata()?.permissions().mode() & 0o777;
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(mode | 0o444);
                    h.set_size(*len);
                    // Exactly the scanned length: padded if it shrank.
                    let body = f.take(*len).chain(std::io::repeat(0)).take(*len);
                    tar.append_data(&mut h, rel, body)?;
                }
            }
        }
        tar.into_inner()
    }

    /// SHA-256 (hex) of the tar [`Plan::stream`] would send with `dockerfile`.
    pub fn digest(&self, dockerfile: &[u8]) -> std::io::Result<String> {
        use sha2::Digest;
        let w = self.write_tar(dockerfile, HashWriter(sha2::Sha256::new()))?;
        Ok(hex::encode(w.0.finalize()))
    }

    /// Streams the tar, with `dockerfile` in place of the submission's
    /// Dockerfile. At most a few chunks are in memory at once; a file that
    /// grew since the scan is sent at its scanned length. The digest of
    /// what was sent is set once all of it was.
    pub fn stream(
        self,
        dockerfile: Vec<u8>,
    ) -> (tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>, SentDigest) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let sent = SentDigest::default();
        let digest = sent.clone();
        std::thread::spawn(move || {
            use sha2::Digest;
            let err_tx = tx.clone();
            let writer = ChunkWriter { buf: Vec::with_capacity(CHUNK), tx, hash: sha2::Sha256::new() };
            let result = self.write_tar(&dockerfile, writer).and_then(|mut w| {
                w.flush()?;
                let _ = digest.set(hex::encode(w.hash.finalize()));
                Ok(())
            });
            if let Err(e) = result {
                let _ = err_tx.blocking_send(Err(e));
            }
        });
        (rx, sent)
    }
}

/// Whether a symlink at `link` (relative to the root) pointing at `target`
/// resolves outside the root. Judged lexically: the target may not exist.
pub fn escapes(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return true;
    }
    let mut depth: i64 = 0;
    let parent = link.parent().unwrap_or(Path::new(""));
    for c in parent.components().chain(target.components()) {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

/// `.dockerignore` as the Docker CLI reads it: patterns relative to the
/// context root, `*` and `?` within a path segment, `**` across segments,
/// `!` for exceptions, the last matching pattern wins, and a pattern that
/// matches a directory excludes everything below it.
pub struct DockerIgnore {
    rules: Vec<(GlobMatcher, bool)>,
}

impl DockerIgnore {
    pub fn load(dir: &Path) -> std::io::Result<DockerIgnore> {
        match std::fs::read_to_string(dir.join(".dockerignore")) {
            Ok(text) => Ok(DockerIgnore::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerIgnore { rules: Vec::new() }),
            Err(e) => Err(e),
        }
    }

    pub fn parse(text: &str) -> DockerIgnore {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negated, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let cleaned: PathBuf = Path::new(pattern.trim_start_matches('/'))
                .components()
                .filter(|c| !matches!(c, Component::CurDir))
                .collect();
            let pattern = cleaned.to_string_lossy().trim_end_matches('/').to_string();
            if pattern.is_empty() {
                continue;
            }
            // An invalid pattern excludes nothing, as in Docker (which errors
            // at build time; the build then reports it).
            if let Ok(g) = GlobBuilder::new(&pattern).literal_separator(true).build() {
                rules.push((g.compile_matcher(), negated));
            }
        }
        DockerIgnore { rules }
    }

    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|(_, neg)| *neg)
    }

    /// Whether `path` (relative, `/`-separated) is left out of the context.
    pub fn excluded(&self, path: &str) -> bool {
        let mut excluded = false;
        for (glob, negated) in &self.rules {
            let hit = glob.is_match(path) || ancestors(path).any(|a| glob.is_match(a));
            if hit {
                excluded = !negated;
            }
        }
        excluded
    }
}

fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_semantics() {
        let ig = DockerIgnore::parse("# comment\n*.pyc\n/data\nmodels/**/*.bin\n!models/keep.bin\n.git/\n");
        assert!(ig.excluded("a.pyc"));
        assert!(!ig.excluded("src/a.pyc"), "* does not cross directories");
        assert!(ig.excluded("data/train.csv"), "a matched directory excludes its contents");
        assert!(ig.excluded("models/x/y/w.bin"));
        assert!(ig.excluded("models/w.bin"), "** matches zero directories");
        assert!(!ig.excluded("models/keep.bin"), "the last matching pattern wins");
        assert!(ig.excluded(".git/config"));
        assert!(!ig.excluded("app.py"));
    }

    #[test]
    fn symlinks_that_leave_the_directory_are_detected() {
        assert!(escapes(Path::new("a"), Path::new("/etc/passwd")));
        assert!(escapes(Path::new("a"), Path::new("../x")));
        assert!(escapes(Path::new("d/a"), Path::new("../../x")));
        assert!(!escapes(Path::new("d/a"), Path::new("../x")));
        assert!(!escapes(Path::new("a"), Path::new("b/c")));
        assert!(escapes(Path::new("d/a"), Path::new("e/../../../x")));
    }

    /// The digest names the context: what is hashed without sending is what
    /// is sent, and any change to a file, a name or a mode changes it.
    #[test]
    fn the_digest_is_of_the_bytes_streamed_and_of_nothing_else() {
        use sha2::Digest;
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("Dockerfile"), b"FROM x\n").unwrap();
        std::fs::create_dir(t.path().join("app")).unwrap();
        std::fs::write(t.path().join("app/main.py"), b"print(1)\n").unwrap();
        std::fs::write(t.path().join(".dockerignore"), b"ignored.bin\n").unwrap();
        let caps = Caps { bytes: 1 << 20, entries: 100 };
        let digest = |df: &[u8]| scan(t.path(), caps).unwrap().digest(df).unwrap();
        let first = digest(b"FROM x\n");
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (mut rx, sent) = scan(t.path(), caps).unwrap().stream(b"FROM x\n".to_vec());
        let mut h = sha2::Sha256::new();
        rt.block_on(async {
            while let Some(chunk) = rx.recv().await {
                h.update(chunk.unwrap());
            }
        });
        let streamed = hex::encode(h.finalize());
        assert_eq!(streamed, first, "hashed and sent differ");
        assert_eq!(sent.get(), Some(&first), "the digest reported of what was sent");
        assert_eq!(digest(b"FROM x\n"), first, "the same context, the same digest");
        assert_ne!(digest(b"FROM y\n"), first, "another Dockerfile");
        std::fs::write(t.path().join("ignored.bin"), b"anything").unwrap();
        assert_eq!(digest(b"FROM x\n"), first, "what .dockerignore leaves out is not in it");
        std::fs::write(t.path().join("app/main.py"), b"print(2)\n").unwrap();
        let changed = digest(b"FROM x\n");
        assert_ne!(changed, first, "a file's bytes");
        std::fs::set_permissions(t.path().join("app/main.py"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(digest(b"FROM x\n"), changed, "a file's mode");
    }
}
