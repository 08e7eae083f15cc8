//! Submissions as they arrive: a folder, an archive (`.zip`, `.tar`,
//! `.tar.gz` / `.tgz`), a git bundle (`.bundle`), or a folder that is a git
//! repository (graded at a commit). [`stage`] turns each into a folder to
//! build and a [`Submission`] record of which bytes it was.
//!
//! Everything in an archive is the candidate's and hostile, like the build
//! context: entries, bytes and the compression ratio are capped on what is
//! really written; no entry leaves the staging folder; links that leave it,
//! devices and FIFOs are refused; an encrypted or corrupt archive is
//! refused. A refusal is the candidate's ([`IntakeError::Rejected`], graded
//! as `intake_rejected`); the grader's own trouble (git missing, its
//! staging area unwritable) is infrastructure.

mod archive;
mod git;
mod unpack;

#[cfg(test)]
mod tests;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub use crate::schema::{GitInfo, SourceKind, Submission};

/// Caps on what one submission may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Files, folders and links.
    pub entries: u64,
    /// Bytes written, and the largest archive file taken.
    pub bytes: u64,
    /// Bytes written at most per byte of archive (past the first MiB).
    pub ratio: u64,
}

/// How many times its size an archive may unpack to. Source code and
/// models compress 3–10×; a bomb compresses thousands of times.
pub const MAX_RATIO: u64 = 100;

impl Caps {
    /// An archive unpacks to a folder that becomes the build context, minus
    /// what `.dockerignore` leaves out: four times the context's byte cap,
    /// and its entry cap.
    pub fn from_limits(l: &crate::sandbox::Limits) -> Caps {
        Caps { entries: l.max_context_entries, bytes: l.max_context_bytes.saturating_mul(4), ratio: MAX_RATIO }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The submission's: graded as `intake_rejected`.
    #[error("{0}")]
    Rejected(String),
    /// The grader's: the candidate is left ungraded, never charged.
    #[error("{0}")]
    Infrastructure(String),
}

impl IntakeError {
    /// A failure writing into the grader's own staging folder.
    pub(crate) fn infra(path: &Path, e: std::io::Error) -> IntakeError {
        IntakeError::Infrastructure(format!("cannot write the staging folder {}: {e}", path.display()))
    }
}

/// The archive suffixes taken, longest first (`.tar.gz` before `.gz`).
const SUFFIXES: [(&str, SourceKind); 5] = [
    (".tar.gz", SourceKind::TarGz),
    (".tgz", SourceKind::TarGz),
    (".tar", SourceKind::Tar),
    (".zip", SourceKind::Zip),
    (".bundle", SourceKind::GitBundle),
];

/// The kind an archive file's name says it is, and the candidate's name
/// (the file's stem): `alice.tar.gz` → (TarGz, `alice`). None for any other
/// file, and for a bare suffix (`.zip`).
pub fn archive_kind(file_name: &OsStr) -> Option<(SourceKind, OsString)> {
    let bytes = file_name.as_bytes();
    let lower = bytes.to_ascii_lowercase();
    SUFFIXES.iter().find_map(|(suffix, kind)| {
        let stem = lower.strip_suffix(suffix.as_bytes())?;
        (!stem.is_empty()).then(|| (*kind, OsStr::from_bytes(&bytes[..stem.len()]).to_os_string()))
    })
}

/// What `path` is: a folder (a repository when it holds `.git`) or an
/// archive by its name. None: neither (a link, another file).
pub fn kind_of(path: &Path) -> Option<SourceKind> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.is_dir() {
        let repo = std::fs::symlink_metadata(path.join(".git")).is_ok();
        return Some(if repo { SourceKind::GitRepository } else { SourceKind::Folder });
    }
    if meta.is_file() {
        return archive_kind(path.file_name()?).map(|(k, _)| k);
    }
    None
}

/// A submission ready to build.
#[derive(Debug, Clone)]
pub struct Staged {
    /// The folder to build: the submission itself for a folder, else
    /// inside the staging area.
    pub dir: PathBuf,
    pub submission: Submission,
}

/// A submission refused, with the record of what was received (its kind
/// and digest: a resume compares it, result.json shows it).
#[derive(Debug)]
pub struct Refused {
    pub submission: Submission,
    pub error: IntakeError,
}

/// A submission staged, or refused.
pub type Received = Result<Staged, Box<Refused>>;

/// How to stage: where, under which caps, at which git reference.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// A folder of the grader's that does not exist yet (or is removed
    /// first): everything unpacked goes under it.
    pub area: &'a Path,
    pub caps: Caps,
    /// The git reference to grade (`HEAD` when None).
    pub reference: Option<&'a str>,
    /// Blind review: the path names the candidate, and is not recorded.
    pub blind: bool,
}

/// SHA-256 of a file (no link followed), hex.
fn sha256_of(path: &Path) -> Result<String, IntakeError> {
    use sha2::Digest;
    let mut f = archive::open(path)?;
    use std::io::Read;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(IntakeError::Rejected(format!("cannot read the archive: {e}"))),
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// Stages `src` for building. On a refusal, the record of what was
/// received (kind, digest) comes back with the reason.
pub fn stage(src: &Path, plan: &Plan<'_>) -> Received {
    let mut record = Submission {
        path: (!plan.blind).then(|| src.display().to_string()),
        kind: kind_of(src).unwrap_or_default(),
        ..Default::default()
    };
    match stage_into(src, plan, &mut record) {
        Ok(dir) => Ok(Staged { dir, submission: record }),
        Err(e) => {
            // What a refused archive unpacked is never built: not kept.
            if record.kind != SourceKind::Folder {
                let _ = std::fs::remove_dir_all(plan.area);
            }
            Err(Box::new(Refused { submission: record, error: e }))
        }
    }
}

fn stage_into(src: &Path, plan: &Plan<'_>, record: &mut Submission) -> Result<PathBuf, IntakeError> {
    let reference = plan.reference.unwrap_or("HEAD");
    let meta = std::fs::symlink_metadata(src)
        .map_err(|e| IntakeError::Rejected(format!("cannot read the submission: {e}")))?;
    if meta.file_type().is_symlink() {
        return Err(IntakeError::Rejected("the submission is a link (links are not followed)".into()));
    }
    if record.kind == SourceKind::Folder && meta.is_dir() {
        return Ok(src.to_path_buf());
    }
    if meta.is_file() && archive_kind(src.file_name().unwrap_or_default()).is_none() {
        return Err(IntakeError::Rejected(
            "not a folder, nor an archive this grader reads (.zip, .tar, .tar.gz, .tgz, .bundle)".into(),
        ));
    }
    fresh(plan.area)?;
    if record.kind == SourceKind::GitRepository {
        return Ok(match git::from_repository(src, plan.area, plan.caps, reference)? {
            Some((tree, git)) => {
                record.git = Some(git);
                tree
            }
            None => {
                record.kind = SourceKind::Folder;
                src.to_path_buf()
            }
        });
    }
    if meta.len() > plan.caps.bytes {
        return Err(IntakeError::Rejected(format!(
            "the archive is {} MB, over the cap of {} MB",
            meta.len() >> 20,
            plan.caps.bytes >> 20
        )));
    }
    record.archive_sha256 = Some(sha256_of(src)?);
    let tree = plan.area.join("tree");
    match record.kind {
        SourceKind::GitBundle => {
            let (tree, git) = git::from_bundle(src, plan.area, plan.caps, reference)?;
            record.git = Some(git);
            Ok(tree)
        }
        SourceKind::Zip => {
            let mut out = unpack::Unpacker::new(&tree, plan.caps, meta.len())?;
            archive::unzip(archive::open(src)?, &mut out, plan.caps.entries)?;
            out.finish()
        }
        SourceKind::Tar => {
            let mut out = unpack::Unpacker::new(&tree, plan.caps, meta.len())?;
            archive::untar(std::io::BufReader::new(archive::open(src)?), &mut out, "tar archive")?;
            out.finish()
        }
        SourceKind::TarGz => {
            let mut out = unpack::Unpacker::new(&tree, plan.caps, meta.len())?;
            archive::untar_gz(archive::open(src)?, &mut out)?;
            out.finish()
        }
        SourceKind::Folder | SourceKind::GitRepository | SourceKind::Url => unreachable!("handled above"),
    }
}

/// The staging area, empty: a leftover of an interrupted run is the
/// grader's own, and removed.
fn fresh(area: &Path) -> Result<(), IntakeError> {
    if std::fs::symlink_metadata(area).is_ok() {
        std::fs::remove_dir_all(area).map_err(|e| IntakeError::infra(area, e))?;
    }
    std::fs::create_dir_all(area).map_err(|e| IntakeError::infra(area, e))
}
