//! Submissions as they arrive (issue 26): archives, bundles and repositories
//! in a batch folder, graded on the real engine; hostile archives refused
//! as the candidate's failure while the others are graded; provenance in
//! result.json and report.md; resume by digest.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::Digest;
use tempfile::TempDir;

use crate::support::{fixture, grader, json, quick_exercise, stderr};

fn zip_dir(src: &Path, prefix: &str, out: &Path, extra: &[(&str, &[u8])]) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(out).unwrap());
    let o = zip::write::SimpleFileOptions::default();
    if !prefix.is_empty() {
        w.add_directory(prefix, o).unwrap();
    }
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        w.start_file(format!("{prefix}{}", e.file_name().to_str().unwrap()), o).unwrap();
        w.write_all(&std::fs::read(e.path()).unwrap()).unwrap();
    }
    for (name, body) in extra {
        w.start_file(*name, o).unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap();
}

fn tgz_dir(src: &Path, out: &Path) {
    let enc = flate2::write::GzEncoder::new(std::fs::File::create(out).unwrap(), flate2::Compression::default());
    let mut b = tar::Builder::new(enc);
    b.append_dir_all(".", src).unwrap();
    b.into_inner().unwrap().finish().unwrap();
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn repo_of(src: &Path, dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "submission"]);
    git(dir, &["rev-parse", "HEAD"])
}

/// Every file under `dir` with its SHA-256 (links as their targets).
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
                out.insert(p, "dir".into());
            } else if m.file_type().is_symlink() {
                out.insert(p.clone(), std::fs::read_link(&p).unwrap().display().to_string());
            } else {
                out.insert(p.clone(), hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap())));
            }
        }
    }
    out
}

fn sha256_file(p: &Path) -> String {
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

fn result_of(out: &Path, who: &str) -> Value {
    json(&out.join("candidates").join(who).join("result.json"))
}

#[test]
fn a_batch_takes_archives_bundles_and_repositories_and_refuses_hostile_ones_alone() {
    let t = TempDir::new().unwrap();
    let subs = t.path().join("inbox");
    std::fs::create_dir_all(&subs).unwrap();
    let (trivial, constant) = (fixture("trivial"), fixture("constant"));
    // alice: a zip of her folder (one top-level folder, unwrapped).
    zip_dir(&trivial, "alice/", &subs.join("alice.zip"), &[]);
    // bob: a gzip-compressed tar.
    tgz_dir(&constant, &subs.join("bob.tar.gz"));
    // carol: a git bundle.
    let work = t.path().join("carol-work");
    let carol_commit = repo_of(&trivial, &work);
    git(&work, &["bundle", "create", "-q", subs.join("carol.bundle").to_str().unwrap(), "--all"]);
    // dave: a repository folder with an uncommitted change.
    let dave_commit = repo_of(&constant, &subs.join("dave"));
    std::fs::write(subs.join("dave/serve.py"), b"raise SystemExit('the uncommitted change was graded')\n").unwrap();
    // eve: a zip slip; mallory: a compression bomb.
    zip_dir(&trivial, "", &subs.join("eve.zip"), &[("../../escaped.txt", b"out of the folder")]);
    zip_dir(&trivial, "", &subs.join("mallory.zip"), &[("zeros.bin", &vec![0u8; 100 << 20])]);
    std::fs::write(subs.join("readme.txt"), b"not a submission").unwrap();
    let before = tree(&subs);

    let ex = quick_exercise(t.path());
    let out = t.path().join("out");
    let (s, e, o) = (subs.to_str().unwrap(), ex.to_str().unwrap(), out.to_str().unwrap());
    let args = ["batch", s, "--exercise", e, "--seed", "3", "--out", o, "--jobs", "2"];
    let run = grader(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    let err = stderr(&run);
    assert!(err.contains("readme.txt") && err.contains("not graded"), "what is left out is said: {err}");
    assert!(err.contains("eve: 0 / ") && err.contains("IntakeRejected"), "{err}");
    let manifest = json(&out.join("batch.json"));
    assert_eq!(manifest["candidates"], serde_json::json!(["alice", "bob", "carol", "dave", "eve", "mallory"]));

    let alice = result_of(&out, "alice");
    assert_eq!(alice["schema_version"], 3);
    assert_eq!(alice["outcome"], "graded", "{}", alice["failure"]);
    let sub = &alice["submission"];
    assert_eq!(sub["kind"], "zip");
    assert_eq!(sub["archive_sha256"], sha256_file(&subs.join("alice.zip")));
    let context = sub["context_sha256"].as_str().expect("the context's digest");
    assert_eq!(context.len(), 64);
    let sent = alice["image"]["context_sha256"].as_str().expect("the digest of what the engine got");
    assert_ne!(sent, context, "the engine's copy carries the run's labels");
    let report = std::fs::read_to_string(out.join("candidates/alice/report.md")).unwrap();
    assert!(report.contains(&format!("archive SHA-256: `{}`", sub["archive_sha256"].as_str().unwrap())), "{report}");
    let html = std::fs::read_to_string(out.join("candidates/alice/report.html")).unwrap();
    assert!(html.contains(context), "report.html shows the context digest");

    let bob = result_of(&out, "bob");
    assert_eq!((bob["outcome"].as_str(), bob["submission"]["kind"].as_str()), (Some("graded"), Some("tar_gz")));
    let carol = result_of(&out, "carol");
    assert_eq!(carol["outcome"], "graded", "{}", carol["failure"]);
    assert_eq!(carol["submission"]["kind"], "git_bundle");
    assert_eq!(carol["submission"]["git"]["commit"], carol_commit.as_str());
    let dave = result_of(&out, "dave");
    assert_eq!(dave["outcome"], "graded", "the commit is graded, not the broken working tree: {}", dave["failure"]);
    assert_eq!(dave["submission"]["git"]["commit"], dave_commit.as_str());
    assert_eq!(dave["submission"]["git"]["dirty"], true);
    assert!(std::fs::read_to_string(out.join("candidates/dave/report.md")).unwrap().contains("working tree dirty"));

    for (who, why) in [("eve", "leaves the submission's folder"), ("mallory", "compression bomb")] {
        let r = result_of(&out, who);
        assert_eq!(r["outcome"], "failed", "{who}");
        assert_eq!(r["failure"]["class"], "intake_rejected", "{who}");
        assert!(r["failure"]["message"].as_str().unwrap().contains(why), "{who}: {}", r["failure"]["message"]);
        assert_eq!(r["score"]["points"], 0.0, "{who}");
        assert_eq!(r["submission"]["archive_sha256"], sha256_file(&subs.join(format!("{who}.zip"))));
    }
    // Nothing left the batch's own directories; the inbox is as it was.
    assert!(!t.path().join("escaped.txt").exists() && !subs.join("escaped.txt").exists());
    assert!(!out.join(".intake").exists(), "what was unpacked is removed at the end");
    assert_eq!(tree(&subs), before, "the submissions directory was changed");
    let mut top: Vec<String> =
        std::fs::read_dir(t.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    top.sort();
    assert_eq!(top, ["carol-work", "inbox", "out", "quick-churn"]);

    // Resumed: the same bytes, the same grades.
    let args = [&args[..], &["--json"]].concat();
    let again = grader(&args);
    assert!(again.status.success(), "{}", stderr(&again));
    let summary: Value = serde_json::from_slice(&again.stdout).unwrap();
    for c in summary["candidates"].as_array().unwrap() {
        assert_eq!(c["reused"], true, "{c}");
    }
    // New bytes for alice: graded again, and said so; the others kept.
    zip_dir(&trivial, "alice/", &subs.join("alice.zip"), &[("alice/NOTES.md", b"a second try")]);
    let third = grader(&args);
    assert!(third.status.success(), "{}", stderr(&third));
    let summary: Value = serde_json::from_slice(&third.stdout).unwrap();
    for c in summary["candidates"].as_array().unwrap() {
        assert_eq!(c["reused"], c["name"] != "alice", "{c}");
        if c["name"] == "alice" {
            let note = c["note"].as_str().unwrap_or_default();
            assert!(note.starts_with("the submission changed since it was graded (sha256:"), "{c}");
        }
    }
    assert_eq!(result_of(&out, "alice")["submission"]["archive_sha256"], sha256_file(&subs.join("alice.zip")));
}

#[test]
fn two_submissions_of_one_candidate_are_a_usage_error_and_a_hostile_archive_graded_alone_fails() {
    let t = TempDir::new().unwrap();
    let subs = t.path().join("inbox");
    let alice = subs.join("alice");
    std::fs::create_dir_all(&alice).unwrap();
    std::fs::copy(fixture("trivial").join("Dockerfile"), alice.join("Dockerfile")).unwrap();
    zip_dir(&fixture("trivial"), "", &subs.join("alice.zip"), &[]);
    let ex = quick_exercise(t.path());
    let out = t.path().join("out");
    let o = grader(&[
        "batch",
        subs.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("two submissions of candidate alice"), "{}", stderr(&o));
    assert!(!out.exists(), "nothing written");

    // `grader grade` of a hostile archive: the candidate's failure, recorded.
    let evil = t.path().join("evil.tar");
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..10].copy_from_slice(b"/etc/evil\0");
    h.set_size(1);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut b = tar::Builder::new(std::fs::File::create(&evil).unwrap());
    b.append(&h, &b"x"[..]).unwrap();
    b.finish().unwrap();
    drop(b);
    let res = t.path().join("res");
    let o = grader(&[
        "grade",
        evil.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "1",
        "--out",
        res.to_str().unwrap(),
    ]);
    // Graded (as a failure), like a refused build: the grade is the answer.
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("0 / 110 points"), "{}", stderr(&o));
    let r = json(&res.join("result.json"));
    assert_eq!(r["failure"]["class"], "intake_rejected");
    assert!(r["failure"]["message"].as_str().unwrap().contains("absolute path"), "{}", r["failure"]["message"]);
    assert_eq!(r["submission"]["kind"], "tar");
    let bad_ref = grader(&[
        "grade",
        evil.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "1",
        "--out",
        t.path().join("r2").to_str().unwrap(),
        "--ref=--upload-pack=evil",
    ]);
    assert_eq!(bad_ref.status.code(), Some(2));
    assert!(stderr(&bad_ref).contains("--ref"), "{}", stderr(&bad_ref));
}
