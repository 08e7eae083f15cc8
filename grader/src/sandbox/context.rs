//! The build context: the submission directory as a tar archive, honouring
//! `.dockerignore`, refusing symlinks that leave the directory and contexts
//! over the size cap, before anything reaches the engine.

use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

use super::SandboxError;

/// A packed context.
pub struct Context {
    pub tar: Vec<u8>,
    pub files: usize,
    pub bytes: u64,
}

/// Packs `dir`. Fails on a missing Dockerfile, a symlink pointing outside
/// `dir` (or anywhere absolute), or more than `max_bytes` of file content.
pub fn pack(dir: &Path, max_bytes: u64) -> Result<Context, SandboxError> {
    let unreadable = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SandboxError::Unreadable { path, source }
    };
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
    let ignore = DockerIgnore::load(dir).map_err(unreadable(&dir.join(".dockerignore")))?;
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut ctx = Context { tar: Vec::new(), files: 0, bytes: 0 };
    walk(dir, Path::new(""), &ignore, &mut builder, &mut ctx, max_bytes)?;
    ctx.tar = builder.into_inner().map_err(unreadable(dir))?;
    Ok(ctx)
}

fn walk(
    root: &Path,
    rel: &Path,
    ignore: &DockerIgnore,
    tar: &mut tar::Builder<Vec<u8>>,
    ctx: &mut Context,
    max_bytes: u64,
) -> Result<(), SandboxError> {
    let dir = root.join(rel);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SandboxError::Unreadable { path, source }
    };
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(io(&dir))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io(&dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let full = entry.path();
        let rel = rel.join(entry.file_name());
        let name = rel.to_string_lossy().replace('\\', "/");
        let meta = std::fs::symlink_metadata(&full).map_err(io(&full))?;
        let keep_anyway = name == "Dockerfile";
        if ignore.excluded(&name) && !keep_anyway {
            if meta.is_dir() && ignore.has_exceptions() {
                walk(root, &rel, ignore, tar, ctx, max_bytes)?; // an exception may re-include a child
            }
            continue;
        }
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(&full).map_err(io(&full))?;
            if escapes(&rel, &target) {
                return Err(SandboxError::Rejected(format!(
                    "symlink {name} points outside the submission directory (to {})",
                    target.display()
                )));
            }
            tar.append_path_with_name(&full, &rel).map_err(io(&full))?;
        } else if ft.is_dir() {
            tar.append_dir(&rel, &full).map_err(io(&full))?;
            walk(root, &rel, ignore, tar, ctx, max_bytes)?;
        } else if ft.is_file() {
            ctx.bytes += meta.len();
            ctx.files += 1;
            if ctx.bytes > max_bytes {
                return Err(SandboxError::Rejected(format!(
                    "build context is larger than the {} MB limit (at {name}); list large files in .dockerignore",
                    max_bytes / (1024 * 1024)
                )));
            }
            tar.append_path_with_name(&full, &rel).map_err(io(&full))?;
        }
        // Sockets, FIFOs and devices have no place in a build context: skipped.
    }
    Ok(())
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
}
