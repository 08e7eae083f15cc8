//! Git submissions: a bundle, or a folder that is a repository, graded at
//! a commit (`HEAD` unless `--ref` names another).
//!
//! The `git` command does the git work (a well-kept, complete
//! implementation of bundles, packs and object checks; gix would add a
//! large build for the same). It never runs inside the candidate's
//! repository with its configuration: the repository is first cloned
//! (`--no-local`, so objects pass through git's own checks) into a bare
//! repository of the grader's, whose configuration is ours alone; the
//! commit is exported from there (`git archive`, so no checkout, hook,
//! filter or fsmonitor of the candidate's ever runs) and unpacked through
//! the same [`Unpacker`] as an archive.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::unpack::{shown, Unpacker};
use super::{Caps, IntakeError};
use crate::schema::GitInfo;

/// A git step taking longer than this is the submission's problem (a
/// repository built to be slow), and is refused.
const GIT_DEADLINE: Duration = Duration::from_secs(120);

/// `git`, with no system or user configuration and settings that keep a
/// repository's own from mattering (they are passed as environment
/// configuration, which outranks a repository's and reaches the
/// `upload-pack` a clone starts).
fn git(home: &Path) -> Command {
    let mut c = Command::new("git");
    c.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        c.env("PATH", path);
    }
    let settings = [
        ("safe.directory", "*"),
        ("core.hooksPath", "/dev/null"),
        ("core.fsmonitor", "false"),
        ("protocol.allow", "never"),
        ("protocol.file.allow", "always"),
        ("transfer.fsckObjects", "true"),
        ("advice.detachedHead", "false"),
    ];
    c.env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env("GIT_CONFIG_COUNT", settings.len().to_string());
    for (i, (k, v)) in settings.iter().enumerate() {
        c.env(format!("GIT_CONFIG_KEY_{i}"), k).env(format!("GIT_CONFIG_VALUE_{i}"), v);
    }
    c.stdin(Stdio::null());
    c
}

fn spawn(mut c: Command) -> Result<Child, IntakeError> {
    c.spawn()
        .map_err(|e| IntakeError::Infrastructure(format!("cannot run git, which grading a git submission needs: {e}")))
}

/// Kills `child` once the deadline passes, unless `done` first.
fn watchdog(pid: u32) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(GIT_DEADLINE) {
            // SAFETY: kill(2) on our own child's pid; it is reaped by the caller.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    });
    tx
}

/// Runs a git step to the end: its stdout, or its stderr as the reason.
fn run(c: Command, step: &str) -> Result<Vec<u8>, IntakeError> {
    let mut c = c;
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let child = spawn(c)?;
    let done = watchdog(child.id());
    let out = child.wait_with_output().map_err(|e| IntakeError::Infrastructure(format!("git {step}: {e}")))?;
    let _ = done.send(());
    if started.elapsed() >= GIT_DEADLINE {
        return Err(IntakeError::Rejected(format!("git {step} ran past {} s", GIT_DEADLINE.as_secs())));
    }
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("failed");
        return Err(IntakeError::Rejected(format!("git {step}: {}", shown(why.as_bytes()))));
    }
    Ok(out.stdout)
}

/// The commit `reference` names in `repo`.
fn resolve(repo: &Path, home: &Path, reference: &str) -> Result<String, IntakeError> {
    let mut c = git(home);
    c.arg("--git-dir")
        .arg(repo)
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{reference}^{{commit}}"));
    let out = run(c, "rev-parse").map_err(|_| {
        IntakeError::Rejected(format!(
            "the repository has no commit {:?}{}",
            shown(reference.as_bytes()),
            if reference == "HEAD" { " (no HEAD: name a branch or tag with --ref)" } else { "" }
        ))
    })?;
    let id = String::from_utf8_lossy(&out).trim().to_string();
    if !(id.len() == 40 || id.len() == 64) || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IntakeError::Rejected(format!(
            "git rev-parse answered {:?}, not an object id",
            shown(id.as_bytes())
        )));
    }
    Ok(id)
}

/// Exports `commit` of `repo` into `tree` through the unpacker.
fn export(
    repo: &Path,
    home: &Path,
    commit: &str,
    tree: &Path,
    caps: Caps,
    source_bytes: u64,
) -> Result<PathBuf, IntakeError> {
    let mut out = Unpacker::new(tree, caps, source_bytes)?;
    let mut c = git(home);
    c.arg("--git-dir").arg(repo).args(["archive", "--format=tar", commit]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn(c)?;
    let done = watchdog(child.id());
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let errs = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut s);
        s
    });
    let unpacked = super::archive::untar(stdout, &mut out, "commit's export");
    if unpacked.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| IntakeError::Infrastructure(format!("git archive: {e}")))?;
    let _ = done.send(());
    let errs = errs.join().unwrap_or_default();
    unpacked?;
    if !status.success() {
        let why = String::from_utf8_lossy(&errs);
        return Err(IntakeError::Rejected(format!("git archive: {}", shown(why.trim().as_bytes()))));
    }
    out.finish()
}

/// A bundle file: cloned, resolved, exported.
pub(crate) fn from_bundle(
    bundle: &Path,
    area: &Path,
    caps: Caps,
    reference: &str,
) -> Result<(PathBuf, GitInfo), IntakeError> {
    let size = std::fs::symlink_metadata(bundle).map(|m| m.len()).unwrap_or(0);
    let repo = area.join("repo.git");
    let mut c = git(area);
    c.args(["clone", "--bare", "--quiet", "--"]).arg(bundle).arg(&repo);
    run(c, "clone of the bundle").map_err(|e| match e {
        IntakeError::Rejected(why) => IntakeError::Rejected(format!("not a git bundle git can read ({why})")),
        other => other,
    })?;
    let commit = resolve(&repo, area, reference)?;
    let tree = export(&repo, area, &commit, &area.join("tree"), caps, size)?;
    let _ = std::fs::remove_dir_all(&repo);
    Ok((tree, GitInfo { commit, reference: reference.into(), dirty: None }))
}

/// Bytes under `dir`, links not followed; stops counting past `cap`.
fn size_of(dir: &Path, cap: u64) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(m) = std::fs::symlink_metadata(e.path()) else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
            if total > cap {
                return total;
            }
        }
    }
    total
}

/// A folder holding a `.git` folder: cloned into the grader's own bare
/// repository, resolved, exported, and compared with its working tree.
/// None: a repository without a single commit (graded as a folder).
pub(crate) fn from_repository(
    dir: &Path,
    area: &Path,
    caps: Caps,
    reference: &str,
) -> Result<Option<(PathBuf, GitInfo)>, IntakeError> {
    let dot_git = dir.join(".git");
    let meta = std::fs::symlink_metadata(&dot_git).map_err(|e| IntakeError::Rejected(format!(".git: {e}")))?;
    if !meta.is_dir() {
        // A `.git` file or link points at a repository elsewhere on this machine.
        return Err(IntakeError::Rejected(
            ".git is not a folder (a worktree's pointer or a link to a repository elsewhere): send the repository itself".into(),
        ));
    }
    for elsewhere in ["objects/info/alternates", "commondir"] {
        if std::fs::symlink_metadata(dot_git.join(elsewhere)).is_ok() {
            return Err(IntakeError::Rejected(format!(
                ".git/{elsewhere} borrows objects from another repository on this machine: send a self-contained repository"
            )));
        }
    }
    let size = size_of(&dot_git, caps.bytes);
    if size > caps.bytes {
        return Err(IntakeError::Rejected(format!("the repository's .git holds more than {} MB", caps.bytes >> 20)));
    }
    let repo = area.join("repo.git");
    let mut c = git(area);
    c.args(["clone", "--bare", "--no-local", "--quiet", "--"]).arg(dir).arg(&repo);
    run(c, "clone of the repository")?;
    if reference == "HEAD" && no_commits(&repo, area) {
        // `git init` and nothing committed: the folder is the submission.
        let _ = std::fs::remove_dir_all(&repo);
        return Ok(None);
    }
    let commit = resolve(&repo, area, reference)?;
    let tree = export(&repo, area, &commit, &area.join("tree"), caps, size)?;
    let dirty = dirty(&repo, area, dir, &commit);
    let _ = std::fs::remove_dir_all(&repo);
    let _ = std::fs::remove_file(area.join("index"));
    Ok(Some((tree, GitInfo { commit, reference: reference.into(), dirty })))
}

/// Whether `repo` has no reference at all (nothing was ever committed).
fn no_commits(repo: &Path, home: &Path) -> bool {
    let mut c = git(home);
    c.arg("--git-dir").arg(repo).args(["for-each-ref", "--count=1"]);
    run(c, "for-each-ref").is_ok_and(|out| out.iter().all(u8::is_ascii_whitespace))
}

/// Whether `work` differs from `commit`: tracked files changed or removed,
/// or files added that its `.gitignore` does not ignore. Judged with the
/// grader's clone and a fresh index, so the candidate's configuration
/// (filters, fsmonitor) plays no part; None when git cannot tell.
fn dirty(repo: &Path, area: &Path, work: &Path, commit: &str) -> Option<bool> {
    let index = area.join("index");
    let with_tree = |args: &[&str]| {
        let mut c = git(area);
        c.env("GIT_INDEX_FILE", &index).arg("--git-dir").arg(repo).arg("--work-tree").arg(work).args(args);
        c
    };
    run(with_tree(&["read-tree", commit]), "read-tree").ok()?;
    let out = run(with_tree(&["status", "--porcelain", "-z", "--untracked-files=normal"]), "status").ok()?;
    Some(!out.is_empty())
}
