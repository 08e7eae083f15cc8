//! Intake fixtures, each made here byte by byte: every hostile case must be
//! refused with the entry named, and nothing may land outside the staging
//! area (the folder beside it is checked untouched after each refusal).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;

const CAPS: Caps = Caps { entries: 1000, bytes: 64 << 20, ratio: MAX_RATIO };

/// A scratch folder: `inbox/` for the submission, `area/` to stage into,
/// and `beside/` with one file, which must never change.
struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("inbox")).unwrap();
        std::fs::create_dir_all(root.join("beside")).unwrap();
        std::fs::write(root.join("beside/keep.txt"), b"keep").unwrap();
        Scratch { _dir: dir, root }
    }
    fn inbox(&self, name: &str) -> PathBuf {
        self.root.join("inbox").join(name)
    }
    /// Stages `src`; a refusal's record is checked by the callers that care.
    fn stage(&self, src: &Path) -> Result<Staged, IntakeError> {
        self.stage_with(src, CAPS, None)
    }
    fn stage_with(&self, src: &Path, caps: Caps, reference: Option<&str>) -> Result<Staged, IntakeError> {
        stage(src, &Plan { area: &self.root.join("area"), caps, reference, blind: false }).map_err(|r| r.error)
    }
    /// Everything under the scratch root but the staging area and the
    /// inbox: must be exactly `beside/keep.txt`.
    fn untouched(&self) {
        let mut seen = Vec::new();
        for e in std::fs::read_dir(&self.root).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name != "area" && name != "inbox" {
                seen.push(name);
            }
        }
        seen.sort();
        assert_eq!(seen, ["beside"], "something was written beside the staging area");
        let beside: Vec<_> =
            std::fs::read_dir(self.root.join("beside")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(beside, ["keep.txt"]);
        assert_eq!(std::fs::read(self.root.join("beside/keep.txt")).unwrap(), b"keep");
    }
    fn rejected(&self, src: &Path, needle: &str) -> String {
        match self.stage(src) {
            Err(IntakeError::Rejected(why)) => {
                assert!(why.contains(needle), "refused, but for {why:?}, not {needle:?}");
                self.untouched();
                why
            }
            Err(e) => panic!("refused as the grader's failure: {e}"),
            Ok(s) => panic!("accepted: {}", s.dir.display()),
        }
    }
}

enum Z<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Link(&'a str, &'a str),
    /// Name and unix mode, in the external attributes.
    Special(&'a str, u32),
}

fn zip_of(path: &Path, entries: &[Z<'_>]) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for e in entries {
        match e {
            Z::File(n, body) => {
                w.start_file(*n, o).unwrap();
                w.write_all(body).unwrap();
            }
            Z::Dir(n) => w.add_directory(*n, o).unwrap(),
            Z::Link(n, t) => w.add_symlink(*n, *t, o).unwrap(),
            Z::Special(n, mode) => {
                w.start_file(*n, o.external_attributes(mode << 16)).unwrap();
                w.write_all(b"x").unwrap();
            }
        }
    }
    w.finish().unwrap();
}

/// A tar entry with its name written raw into the header (the tar crate's
/// own setters refuse `..` and absolute names, which hostile tools do not).
fn tar_entry(b: &mut tar::Builder<impl Write>, name: &[u8], kind: tar::EntryType, body: &[u8], link: &[u8]) {
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name);
        old.linkname[..link.len()].copy_from_slice(link);
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(body.len() as u64);
    h.set_cksum();
    b.append(&h, body).unwrap();
}

/// A tar entry as written raw: name, type, body, link target.
type RawEntry<'a> = (&'a [u8], tar::EntryType, &'a [u8], &'a [u8]);

fn tar_of(path: &Path, entries: &[RawEntry<'_>]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, kind, body, link) in entries {
        tar_entry(&mut b, name, *kind, body, link);
    }
    b.finish().unwrap();
}

use tar::EntryType as T;

#[test]
fn an_archive_is_one_candidate_named_by_its_stem() {
    let k = |n: &str| archive_kind(std::ffi::OsStr::new(n)).map(|(k, s)| (k, s.into_string().unwrap()));
    assert_eq!(k("alice.zip"), Some((SourceKind::Zip, "alice".into())));
    assert_eq!(k("bob.tar.gz"), Some((SourceKind::TarGz, "bob".into())));
    assert_eq!(k("Bob.TGZ"), Some((SourceKind::TarGz, "Bob".into())));
    assert_eq!(k("c.d.tar"), Some((SourceKind::Tar, "c.d".into())));
    assert_eq!(k("eve.bundle"), Some((SourceKind::GitBundle, "eve".into())));
    assert_eq!(k("notes.txt"), None);
    assert_eq!(k(".zip"), None);
    assert_eq!(k("x.gz"), None);
}

#[test]
fn a_zip_unpacks_with_its_single_top_folder_unwrapped() {
    let s = Scratch::new();
    let src = s.inbox("alice.zip");
    zip_of(
        &src,
        &[
            Z::Dir("alice/"),
            Z::File("alice/Dockerfile", b"FROM x\n"),
            Z::File("alice/app/main.py", b"print(1)\n"),
            Z::Link("alice/app/link.py", "main.py"),
            Z::File("__MACOSX/alice/._Dockerfile", b"junk"),
        ],
    );
    let staged = s.stage(&src).unwrap();
    assert_eq!(std::fs::read(staged.dir.join("Dockerfile")).unwrap(), b"FROM x\n");
    assert_eq!(std::fs::read(staged.dir.join("app/link.py")).unwrap(), b"print(1)\n");
    assert!(staged.dir.starts_with(s.root.join("area")));
    assert!(!s.root.join("area/tree/__MACOSX").exists(), "macOS metadata is dropped");
    assert_eq!(staged.submission.kind, SourceKind::Zip);
    let digest = staged.submission.archive_sha256.clone().unwrap();
    assert_eq!(digest.len(), 64);
    assert_eq!(staged.submission.digest(), Some(format!("sha256:{digest}")));
    s.untouched();
}

#[test]
fn a_tar_and_a_tar_gz_unpack_and_keep_the_executable_bit() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let tar_path = s.inbox("bob.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o755);
    b.append_data(&mut h, "run.sh", &b"ls\n"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(7);
    h.set_mode(0o644);
    b.append_data(&mut h, "Dockerfile", &b"FROM x\n"[..]).unwrap();
    b.finish().unwrap();
    drop(b);
    let staged = s.stage(&tar_path).unwrap();
    assert_eq!(std::fs::metadata(staged.dir.join("run.sh")).unwrap().permissions().mode() & 0o777, 0o755);
    assert_eq!(staged.submission.kind, SourceKind::Tar);
    let gz = s.inbox("bob.tgz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::default());
    enc.write_all(&std::fs::read(&tar_path).unwrap()).unwrap();
    enc.finish().unwrap();
    let staged = s.stage(&gz).unwrap();
    assert_eq!(std::fs::read(staged.dir.join("Dockerfile")).unwrap(), b"FROM x\n");
    assert_eq!(staged.submission.kind, SourceKind::TarGz);
    s.untouched();
}

#[test]
fn no_entry_leaves_the_staging_folder() {
    let s = Scratch::new();
    for (i, (name, needle)) in [
        (&b"../beside/evil"[..], "leaves the submission's folder"),
        (b"ok/../../beside/evil", "leaves the submission's folder"),
        (b"/tmp/grader-intake-evil", "absolute path"),
        (b"C:/evil", "drive letter"),
        (b"..\\beside\\evil", "backslash"),
    ]
    .into_iter()
    .enumerate()
    {
        let src = s.inbox(&format!("t{i}.tar"));
        tar_of(&src, &[(b"Dockerfile", T::Regular, b"FROM x\n", b""), (name, T::Regular, b"evil", b"")]);
        let why = s.rejected(&src, needle);
        assert!(why.contains("entry"), "the entry is named: {why}");
        let zsrc = s.inbox(&format!("z{i}.zip"));
        zip_of(&zsrc, &[Z::File(std::str::from_utf8(name).unwrap(), b"evil")]);
        s.rejected(&zsrc, needle);
    }
    assert!(!Path::new("/tmp/grader-intake-evil").exists());
}

#[test]
fn links_that_leave_are_refused_and_nothing_is_written_through_a_link() {
    let s = Scratch::new();
    let cases: [(&str, Vec<RawEntry<'_>>, &str); 5] = [
        ("up", vec![(b"l", T::Symlink, b"", b"../beside")], "leaves"),
        ("abs", vec![(b"l", T::Symlink, b"", b"/etc")], "leaves"),
        // Each link alone stays inside; followed one after the other they leave.
        (
            "chain",
            vec![
                (b"d/", T::Directory, b"", b""),
                (b"d/x", T::Symlink, b"", b"."),
                (b"e", T::Symlink, b"", b"d/x/../.."),
            ],
            "resolves outside",
        ),
        // A link to a folder inside, then a file through it.
        (
            "through",
            vec![(b"sub/", T::Directory, b"", b""), (b"a", T::Symlink, b"", b"sub"), (b"a/f", T::Regular, b"x", b"")],
            "through a link",
        ),
        ("hard", vec![(b"h", T::Link, b"", b"/etc/passwd")], "absolute path"),
    ];
    for (name, entries, needle) in cases {
        let src = s.inbox(&format!("{name}.tar"));
        tar_of(&src, &entries);
        s.rejected(&src, needle);
    }
    let z = s.inbox("zl.zip");
    zip_of(&z, &[Z::Link("l", "../../beside/keep.txt")]);
    s.rejected(&z, "leaves");
}

#[test]
fn a_hard_link_to_an_earlier_file_is_a_copy() {
    let s = Scratch::new();
    let src = s.inbox("h.tar");
    tar_of(&src, &[(b"a.txt", T::Regular, b"hello", b""), (b"b.txt", T::Link, b"", b"a.txt")]);
    let staged = s.stage(&src).unwrap();
    std::fs::write(staged.dir.join("a.txt"), b"changed").unwrap();
    assert_eq!(std::fs::read(staged.dir.join("b.txt")).unwrap(), b"hello", "no inode is shared");
}

#[test]
fn devices_and_fifos_are_refused() {
    let s = Scratch::new();
    for (i, kind) in [T::Fifo, T::Char, T::Block].into_iter().enumerate() {
        let src = s.inbox(&format!("d{i}.tar"));
        tar_of(&src, &[(b"dev", kind, b"", b"")]);
        s.rejected(&src, "device or FIFO");
    }
    let z = s.inbox("fifo.zip");
    zip_of(&z, &[Z::Special("pipe", 0o010644)]);
    s.rejected(&z, "device, FIFO or socket");
}

#[test]
fn a_compression_bomb_stops_at_the_cap_not_at_the_disk() {
    let s = Scratch::new();
    let zeros = vec![0u8; 40 << 20];
    let src = s.inbox("bomb.zip");
    zip_of(&src, &[Z::File("zeros.bin", &zeros)]);
    assert!(std::fs::metadata(&src).unwrap().len() < 1 << 20, "the fixture is a bomb: small archive");
    let why = s.rejected(&src, "compression bomb");
    assert!(why.contains("zeros.bin"), "{why}");
    assert!(!s.root.join("area").exists(), "what a refused archive unpacked is removed");
    // Under a byte cap lower than the ratio allows, the byte cap is named.
    let caps = Caps { entries: 1000, bytes: 4 << 20, ratio: 1 << 30 };
    let tar_path = s.inbox("big.tar");
    tar_of(&tar_path, &[(b"big.bin", T::Regular, &vec![7u8; 6 << 20], b"")]);
    let big = s.inbox("big.tgz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&big).unwrap(), flate2::Compression::default());
    enc.write_all(&std::fs::read(&tar_path).unwrap()).unwrap();
    enc.finish().unwrap();
    match s.stage_with(&big, caps, None) {
        Err(IntakeError::Rejected(why)) => {
            assert!(why.contains("more than 4 MB") && why.contains("big.bin"), "{why}")
        }
        other => panic!("{:?}", other.map(|s| s.dir)),
    }
    // An archive file over the cap is not even opened.
    match s.stage_with(&tar_path, caps, None) {
        Err(IntakeError::Rejected(why)) => assert!(why.contains("over the cap of 4 MB"), "{why}"),
        other => panic!("{:?}", other.map(|s| s.dir)),
    }
    s.untouched();
}

#[test]
fn too_many_entries_are_refused() {
    let s = Scratch::new();
    let src = s.inbox("many.tar");
    let names: Vec<Vec<u8>> = (0..30).map(|i| format!("f{i}").into_bytes()).collect();
    let entries: Vec<RawEntry<'_>> = names.iter().map(|n| (n.as_slice(), T::Regular, &b"x"[..], &b""[..])).collect();
    tar_of(&src, &entries);
    match s.stage_with(&src, Caps { entries: 20, ..CAPS }, None) {
        Err(IntakeError::Rejected(why)) => assert!(why.contains("more than 20 entries"), "{why}"),
        other => panic!("{:?}", other.map(|s| s.dir)),
    }
    assert!(s.stage(&src).is_ok(), "and under the cap it is taken");
}

#[test]
fn an_encrypted_or_corrupt_archive_is_refused() {
    let s = Scratch::new();
    // A stored zip with the "encrypted" flag set in both headers: how
    // ZipCrypto archives announce themselves.
    let src = s.inbox("secret.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&src).unwrap());
    let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("Dockerfile", o).unwrap();
    w.write_all(b"FROM x\n").unwrap();
    w.finish().unwrap();
    let mut bytes = std::fs::read(&src).unwrap();
    for (sig, flag_at) in [(&b"PK\x03\x04"[..], 6), (&b"PK\x01\x02"[..], 8)] {
        let at = bytes.windows(4).position(|w| w == sig).unwrap();
        bytes[at + flag_at] |= 1;
    }
    std::fs::write(&src, &bytes).unwrap();
    s.rejected(&src, "encrypted");

    let junk = s.inbox("junk.zip");
    std::fs::write(&junk, b"this is not a zip archive at all").unwrap();
    s.rejected(&junk, "corrupt");
    let cut = s.inbox("cut.tgz");
    std::fs::write(&cut, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]).unwrap();
    s.rejected(&cut, "corrupt");
    let odd = s.inbox("notes.txt");
    std::fs::write(&odd, b"hello").unwrap();
    s.rejected(&odd, "not a folder, nor an archive");
}

#[test]
fn a_refused_name_is_sanitised_for_the_terminal() {
    let s = Scratch::new();
    let src = s.inbox("esc.tar");
    tar_of(&src, &[(b"../\x1b[31mred\x07", T::Regular, b"x", b"")]);
    let why = s.rejected(&src, "leaves");
    assert!(!why.contains('\x1b') && !why.contains('\x07'), "{why:?}");
}

// ---- git

fn sh_git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn repo(dir: &Path) {
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("Dockerfile"), b"FROM x\n").unwrap();
    std::fs::write(dir.join("app/main.py"), b"v1\n").unwrap();
    sh_git(dir, &["init", "-q"]);
    sh_git(dir, &["add", "-A"]);
    sh_git(dir, &["commit", "-qm", "one"]);
    std::fs::write(dir.join("app/main.py"), b"v2\n").unwrap();
    sh_git(dir, &["commit", "-qam", "two"]);
    sh_git(dir, &["tag", "first", "HEAD~1"]);
}

fn rev(dir: &Path, r: &str) -> String {
    let out = std::process::Command::new("git").args(["rev-parse", r]).current_dir(dir).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_git_bundle_is_graded_at_head_or_at_the_reference_given() {
    let s = Scratch::new();
    let work = s.root.join("inbox/work");
    repo(&work);
    let bundle = s.inbox("carol.bundle");
    sh_git(&work, &["bundle", "create", "-q", bundle.to_str().unwrap(), "--all"]);
    let staged = s.stage(&bundle).unwrap();
    assert_eq!(std::fs::read(staged.dir.join("app/main.py")).unwrap(), b"v2\n");
    let git = staged.submission.git.clone().unwrap();
    assert_eq!((git.commit.as_str(), git.reference.as_str(), git.dirty), (rev(&work, "HEAD").as_str(), "HEAD", None));
    assert!(staged.submission.archive_sha256.is_some());
    assert!(!s.root.join("area/repo.git").exists(), "the clone is removed");
    let first = s.stage_with(&bundle, CAPS, Some("first")).unwrap();
    assert_eq!(std::fs::read(first.dir.join("app/main.py")).unwrap(), b"v1\n");
    assert_eq!(first.submission.git.unwrap().commit, rev(&work, "first"));
    match s.stage_with(&bundle, CAPS, Some("no-such-branch")) {
        Err(IntakeError::Rejected(why)) => assert!(why.contains("no commit \"no-such-branch\""), "{why}"),
        other => panic!("{:?}", other.map(|s| s.dir)),
    }
    let fake = s.inbox("fake.bundle");
    std::fs::write(&fake, b"# v2 git bundle\nnot really\n").unwrap();
    s.rejected(&fake, "not a git bundle");
}

#[test]
fn a_repository_folder_is_graded_at_its_commit_and_its_dirt_is_recorded() {
    let s = Scratch::new();
    let dir = s.inbox("dave");
    repo(&dir);
    assert_eq!(kind_of(&dir), Some(SourceKind::GitRepository));
    let staged = s.stage(&dir).unwrap();
    let git = staged.submission.git.clone().unwrap();
    assert_eq!((git.commit, git.dirty), (rev(&dir, "HEAD"), Some(false)));
    assert!(!staged.dir.join(".git").exists(), "the export has no .git");
    // An uncommitted change: the commit is graded, and the tree is dirty.
    std::fs::write(dir.join("app/main.py"), b"uncommitted\n").unwrap();
    let staged = s.stage(&dir).unwrap();
    assert_eq!(std::fs::read(staged.dir.join("app/main.py")).unwrap(), b"v2\n");
    assert_eq!(staged.submission.git.unwrap().dirty, Some(true));
    sh_git(&dir, &["checkout", "-q", "--", "."]);
    std::fs::write(dir.join("new.txt"), b"untracked").unwrap();
    assert_eq!(s.stage(&dir).unwrap().submission.git.unwrap().dirty, Some(true));
}

#[test]
fn a_repository_without_a_commit_is_graded_as_the_folder_it_is() {
    let s = Scratch::new();
    let dir = s.inbox("gus");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), b"FROM x\n").unwrap();
    sh_git(&dir, &["init", "-q"]);
    let staged = s.stage(&dir).unwrap();
    assert_eq!((staged.dir.as_path(), staged.submission.kind), (dir.as_path(), SourceKind::Folder));
    assert!(staged.submission.git.is_none());
    // Asked for a reference it does not have, it is refused.
    match s.stage_with(&dir, CAPS, Some("main")) {
        Err(IntakeError::Rejected(why)) => assert!(why.contains("no commit \"main\""), "{why}"),
        other => panic!("{:?}", other.map(|s| s.dir)),
    }
}

#[test]
fn a_hostile_repository_runs_none_of_its_own_commands() {
    let s = Scratch::new();
    let dir = s.inbox("mallory");
    repo(&dir);
    let marker = s.root.join("beside/pwned");
    let cmd = format!("touch {}", marker.display());
    // Filters, an fsmonitor and hooks: git would run each in the
    // candidate's repository with its own configuration.
    std::fs::write(dir.join(".gitattributes"), b"* filter=evil\n").unwrap();
    sh_git(&dir, &["add", ".gitattributes"]);
    sh_git(&dir, &["commit", "-qm", "attrs"]);
    for (k, v) in
        [("filter.evil.smudge", cmd.as_str()), ("filter.evil.clean", cmd.as_str()), ("core.fsmonitor", cmd.as_str())]
    {
        sh_git(&dir, &["config", k, v]);
    }
    std::fs::write(dir.join(".git/hooks/post-checkout"), format!("#!/bin/sh\n{cmd}\n")).unwrap();
    std::fs::write(dir.join("app/main.py"), b"dirty\n").unwrap();
    let staged = s.stage(&dir).unwrap();
    assert_eq!(staged.submission.git.unwrap().dirty, Some(true));
    assert!(!marker.exists(), "the repository's own command ran");
    s.untouched();
}

#[test]
fn a_repository_that_points_elsewhere_is_refused() {
    let s = Scratch::new();
    let elsewhere = s.root.join("inbox/elsewhere");
    repo(&elsewhere);
    let dir = s.inbox("erin");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".git"), format!("gitdir: {}\n", elsewhere.join(".git").display())).unwrap();
    s.rejected(&dir, ".git is not a folder");
    let alt = s.inbox("frank");
    repo(&alt);
    std::fs::write(alt.join(".git/objects/info/alternates"), elsewhere.join(".git/objects").display().to_string())
        .unwrap();
    s.rejected(&alt, "borrows objects");
}
