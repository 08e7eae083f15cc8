//! Build limits the engine's build API cannot set: the legacy builder's
//! `RUN` containers get no pids limit, and memory only per step. The build
//! API's `cgroupparent` places every `RUN` container of a build under a
//! cgroup of the grader's, whose limits then bind the whole build (measured:
//! `../shared/FACTS.md`). Needs a local engine with the cgroupfs driver and
//! a grader that may write the cgroup filesystem (root).

use std::path::PathBuf;

const ROOT: &str = "/sys/fs/cgroup";
/// Name prefix of the grader's build cgroups (`grader clean` removes
/// leftovers by it).
pub const PREFIX: &str = "grader-build-";

/// A build cgroup: created with its limits, removed on drop.
#[derive(Debug)]
pub struct BuildCgroup {
    /// What the engine is given as `cgroupparent`.
    pub parent: String,
    dirs: Vec<PathBuf>,
}

fn v2() -> bool {
    std::path::Path::new(ROOT).join("cgroup.controllers").exists()
}

impl BuildCgroup {
    /// Creates `grader-build-<run>` with the limits. An error says why
    /// the limits cannot be enforced here.
    pub fn create(run: &str, memory_mb: u64, pids: i64) -> std::io::Result<BuildCgroup> {
        let name = format!("{PREFIX}{run}");
        let bytes = (memory_mb * 1024 * 1024).to_string();
        let mut cg = BuildCgroup { parent: format!("/{name}"), dirs: Vec::new() };
        let write = |dir: &PathBuf, file: &str, value: &str| -> std::io::Result<()> {
            std::fs::write(dir.join(file), value)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.join(file).display())))
        };
        if v2() {
            let dir = PathBuf::from(ROOT).join(&name);
            std::fs::create_dir(&dir).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
            cg.dirs.push(dir.clone());
            write(&dir, "pids.max", &pids.to_string())?;
            write(&dir, "memory.max", &bytes)?;
            write(&dir, "memory.swap.max", "0")?;
        } else {
            for (controller, files) in [
                ("pids", vec![("pids.max", pids.to_string())]),
                // Memory first, then memory+swap equal to it: no swap.
                (
                    "memory",
                    vec![("memory.limit_in_bytes", bytes.clone()), ("memory.memsw.limit_in_bytes", bytes.clone())],
                ),
            ] {
                let dir = PathBuf::from(ROOT).join(controller).join(&name);
                std::fs::create_dir(&dir)
                    .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
                cg.dirs.push(dir.clone());
                for (file, value) in files {
                    if file.contains("memsw") && !dir.join(file).exists() {
                        continue; // swap accounting off: memory alone binds
                    }
                    write(&dir, file, &value)?;
                }
            }
        }
        Ok(cg)
    }
}

impl Drop for BuildCgroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            remove_dir(dir);
        }
    }
}

/// Removes a cgroup directory once its children (the build's containers)
/// are gone: a few tries over two seconds.
fn remove_dir(dir: &std::path::Path) {
    for _ in 0..20 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
    tracing::warn!(dir = %dir.display(), "build cgroup still busy; `grader clean` removes it");
}

/// Removes leftover build cgroups: those of `run`, or every one of the
/// grader's (`None`). Only empty ones can go, which is what is wanted.
pub fn remove_leftovers(run: Option<&str>) -> usize {
    let mut parents = vec![PathBuf::from(ROOT)];
    if !v2() {
        parents = ["pids", "memory"].iter().map(|c| PathBuf::from(ROOT).join(c)).collect();
    }
    let mut removed = 0;
    for p in parents {
        let Ok(rd) = std::fs::read_dir(&p) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = match run {
                Some(r) => name == format!("{PREFIX}{r}"),
                None => name.starts_with(PREFIX),
            };
            if ours && std::fs::remove_dir(e.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}
