//! `grader merge`: one batch's results from its shards' directories, for
//! the hiring team: the candidates' folders, the leaderboard, the summaries
//! and a combined batch.json, exactly as one `grader batch` would write
//! them. Shards of different exercises, exercise files or seed sources are
//! refused; missing shards, missing or duplicated candidates and ungraded
//! ones are reported, and make the exit non-zero.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::shard::Shard;
use super::{read_result_checked, state_of, Candidate, Manifest, State, CANDIDATES_DIR};
use crate::support::error::{GraderError, Result};

pub use crate::schema::{MergeSummary, MERGE_SUMMARY_VERSION as MERGE_VERSION};

impl MergeSummary {
    pub fn complete(&self) -> bool {
        self.missing_shards.is_empty()
            && self.missing.is_empty()
            && self.duplicated.is_empty()
            && self.refused.is_empty()
    }

    pub fn human(&self) -> String {
        let mut s = format!(
            "merged {} shard(s) of {}: {} candidates into {}\n",
            self.shards.len(),
            self.exercise,
            self.candidates,
            self.out.display()
        );
        let list = |v: &[String]| {
            v.iter().map(|n| crate::support::sanitize::terminal_line(n).into_owned()).collect::<Vec<_>>().join(", ")
        };
        if !self.missing_shards.is_empty() {
            s += &format!("  missing shards: {:?}\n", self.missing_shards);
        }
        if !self.missing.is_empty() {
            s += &format!("  given to a shard but not graded there: {}\n", list(&self.missing));
        }
        if !self.duplicated.is_empty() {
            s += &format!("  graded in more than one shard: {}\n", list(&self.duplicated));
        }
        if !self.refused.is_empty() {
            s += &format!("  refused: {}\n", list(&self.refused));
        }
        if !self.ungraded.is_empty() {
            s += &format!("  ungraded (run their shard again): {}\n", list(&self.ungraded));
        }
        s += &format!("summary: {}", self.out.join("summary.html").display());
        s
    }
}

fn manifest_of(dir: &Path) -> Result<Manifest> {
    let path = dir.join("batch.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        GraderError::Usage(format!(
            "{}: cannot read ({e}); a shard directory is what `grader batch --out` wrote",
            path.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| GraderError::Usage(format!("{}: not a batch manifest ({e})", path.display())))
}

pub fn run(shards: &[PathBuf], out: &Path) -> Result<MergeSummary> {
    if shards.is_empty() {
        return Err(GraderError::Usage("give at least one shard directory".into()));
    }
    crate::support::fs::check_out_dir(out).map_err(GraderError::Usage)?;
    let manifests: Vec<Manifest> = shards.iter().map(|d| manifest_of(d)).collect::<Result<_>>()?;
    let first = &manifests[0];
    let count = first.shard.map_or(1, |s| s.count);
    let mut held = BTreeMap::new();
    for (dir, m) in shards.iter().zip(&manifests) {
        let differs = |what: &str, a: &str, b: &str| {
            GraderError::Usage(format!(
                "{} is of another batch than {}: {what} {b} vs {a}; merge only shards of one batch",
                dir.display(),
                shards[0].display()
            ))
        };
        if m.exercise != first.exercise {
            return Err(differs("exercise", &first.exercise, &m.exercise));
        }
        if m.spec_sha256 != first.spec_sha256 {
            return Err(differs("exercise.toml SHA-256", &first.spec_sha256, &m.spec_sha256));
        }
        if m.blind != first.blind {
            let word = |b: bool| if b { "blind (pseudonyms)" } else { "not blind (real names)" };
            return Err(differs("review mode", word(first.blind), word(m.blind)));
        }
        if m.seeds != first.seeds {
            return Err(differs("seed source", &first.seeds.to_string(), &m.seeds.to_string()));
        }
        let shard = m.shard.unwrap_or(Shard { index: 1, count: 1 });
        if shard.count != count {
            return Err(differs("shard count", &count.to_string(), &shard.count.to_string()));
        }
        if let Some(other) = held.insert(shard.index, dir) {
            return Err(GraderError::Usage(format!(
                "{} and {} are both shard {shard}",
                other.display(),
                dir.display()
            )));
        }
    }
    let missing_shards: Vec<u32> = (1..=count).filter(|k| !held.contains_key(k)).collect();

    // Every candidate folder of every shard; the first holder wins.
    let mut found: BTreeMap<String, (PathBuf, Candidate)> = BTreeMap::new();
    let (mut missing, mut duplicated, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    // Destination folder -> the candidate that holds it.
    let mut folders: BTreeMap<std::ffi::OsString, String> = BTreeMap::new();
    for (dir, m) in shards.iter().zip(&manifests) {
        let root = dir.join(CANDIDATES_DIR);
        let mut here = Vec::new();
        if root.is_dir() {
            let entries = std::fs::read_dir(&root).map_err(|source| GraderError::Io { path: root.clone(), source })?;
            for e in entries {
                let e = e.map_err(|source| GraderError::Io { path: root.clone(), source })?;
                let shown = || crate::support::sanitize::terminal_line(&e.path().display().to_string()).into_owned();
                let r = match read_result_checked(&e.path()) {
                    Ok(r) => r,
                    Err(why) if e.path().join("result.json").exists() || !e.path().is_dir() => {
                        refused.push(format!("{}: {why}", shown()));
                        continue;
                    }
                    // A folder without results (a grading never finished): missing, not refused.
                    Err(_) => continue,
                };
                let name = r.candidate.clone().unwrap_or_else(|| e.file_name().to_string_lossy().into_owned());
                here.push(name.clone());
                if let Some((held_at, held)) = found.get(&name) {
                    // The same candidate twice is a duplicate only when the
                    // same bytes were graded; two gradings of different
                    // bytes cannot both be theirs, and no result is picked.
                    let digest = |r: &crate::schema::GradeResult| r.submission.as_ref().and_then(|s| s.digest());
                    if let (Some(a), Some(b)) = (held.result.as_ref().and_then(digest), digest(&r)) {
                        if a != b {
                            return Err(GraderError::Usage(format!(
                                "candidate {} was graded on different submissions: {a} in {} and {b} in {}; \
                                 regrade one shard or merge without the other",
                                crate::support::sanitize::terminal_line(&name),
                                held_at.display(),
                                e.path().display()
                            )));
                        }
                    }
                    duplicated.push(name);
                    continue;
                }
                match folder_size(&e.path()) {
                    Err(why) => {
                        refused.push(format!("{}: {why}", shown()));
                        continue;
                    }
                    Ok(n) if n > MAX_FOLDER_BYTES => {
                        refused.push(format!("{}: over {} MiB of files", shown(), MAX_FOLDER_BYTES >> 20));
                        continue;
                    }
                    Ok(_) => {}
                }
                if let Some(holder) = folders.get(&e.file_name()) {
                    refused
                        .push(format!("{}: its folder name is already {holder}'s (results are never mixed)", shown()));
                    continue;
                }
                folders.insert(e.file_name(), name.clone());
                let state = state_of(&r);
                let c = Candidate {
                    name: name.clone(),
                    state,
                    reused: true,
                    attempts: 0,
                    host: None,
                    error: (state == State::Ungraded)
                        .then(|| r.failure.as_ref().map(|f| f.message.clone()).unwrap_or_default()),
                    score: (state != State::Ungraded).then(|| r.score.clone()),
                    publish_failed: false,
                    note: None,
                    result: Some(r),
                };
                found.insert(name, (e.path(), c));
            }
        }
        missing.extend(m.candidates.iter().filter(|c| !here.contains(c)).cloned());
    }
    missing.sort();
    duplicated.sort();
    duplicated.dedup();

    // Written beside `out` and renamed into place, like every batch output.
    let candidates: Vec<Candidate> = crate::support::fs::build_then_rename(out, ".merge-partial-", |root| {
        for (from, _) in found.values() {
            copy_dir(from, &root.join(CANDIDATES_DIR).join(from.file_name().expect("a folder")))?;
        }
        let candidates: Vec<Candidate> = found.into_values().map(|(_, c)| c).collect();
        let manifest = Manifest {
            shard: None,
            candidates: candidates.iter().map(|c| c.name.clone()).collect(),
            merged_from: shards.iter().map(|d| d.display().to_string()).collect(),
            ..first.clone()
        };
        super::write_manifest(root, &manifest)?;
        // Reviews come along, every shard's records in shard order (the
        // results are copied byte for byte, so none turns stale).
        let mut log = Vec::new();
        for dir in shards {
            let (records, _) = crate::review::load(dir);
            for r in records {
                log.extend(serde_json::to_vec(&r).expect("plain data"));
                log.push(b'\n');
            }
        }
        if !log.is_empty() {
            crate::support::fs::write_atomic(&root.join(crate::review::LOG), &log)?;
        }
        super::summary::write(root, &first.exercise, &candidates, None)?;
        Ok(candidates)
    })?;
    Ok(MergeSummary {
        schema_version: MERGE_VERSION,
        out: out.to_path_buf(),
        exercise: first.exercise.clone(),
        shards: shards.iter().map(|d| d.display().to_string()).collect(),
        candidates: candidates.len(),
        missing_shards,
        missing,
        duplicated,
        ungraded: candidates.iter().filter(|c| c.state == State::Ungraded).map(|c| c.name.clone()).collect(),
        refused,
    })
}

/// The most a candidate's folder may hold to be merged: a grading writes
/// tens of KB plus logs the grader caps; more is not a grading's.
pub const MAX_FOLDER_BYTES: u64 = 256 << 20;

/// Bytes of the regular files under `dir`, links not followed.
fn folder_size(dir: &Path) -> std::result::Result<u64, String> {
    let mut total = 0;
    for e in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let e = e.map_err(|e| e.to_string())?;
        let meta = std::fs::symlink_metadata(e.path()).map_err(|e| e.to_string())?;
        if meta.is_dir() {
            total += folder_size(&e.path())?;
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| GraderError::Io { path: p, source }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    for e in std::fs::read_dir(from).map_err(io(from))? {
        let e = e.map_err(io(from))?;
        let ty = e.file_type().map_err(io(&e.path()))?;
        let target = to.join(e.file_name());
        if ty.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else if ty.is_file() {
            std::fs::copy(e.path(), &target).map_err(io(&target))?;
        }
        // Links are never followed: the grader writes none.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::schema::{GradeResult, SeedPolicy, MANIFEST_VERSION};

    fn golden() -> GradeResult {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/schema/result-v2.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// A shard directory `k` of `n` holding `results` (folder, candidate).
    fn shard(root: &Path, k: u32, n: u32, blind: bool, results: &[(&str, &str)]) -> PathBuf {
        let dir = root.join(format!("shard-{k}"));
        std::fs::create_dir_all(dir.join(CANDIDATES_DIR)).unwrap();
        for (folder, name) in results {
            let mut r = golden();
            r.candidate = Some(name.to_string());
            let f = dir.join(CANDIDATES_DIR).join(folder);
            std::fs::create_dir_all(&f).unwrap();
            std::fs::write(f.join("result.json"), serde_json::to_string(&r).unwrap()).unwrap();
        }
        let m = Manifest {
            schema_version: MANIFEST_VERSION,
            exercise: "churn".into(),
            spec_sha256: "s".into(),
            seeds: SeedPolicy::Fixed(1),
            shard: Some(Shard { index: k, count: n }),
            candidates: results.iter().map(|(_, n)| n.to_string()).collect(),
            merged_from: vec![],
            blind,
        };
        super::super::write_manifest(&dir, &m).unwrap();
        dir
    }

    #[test]
    fn a_blind_shard_and_a_named_one_do_not_merge() {
        let t = tempfile::tempdir().unwrap();
        let a = shard(t.path(), 1, 2, true, &[("candidate-1", "candidate-1")]);
        let b = shard(t.path(), 2, 2, false, &[("alice", "alice")]);
        let err = run(&[a, b], &t.path().join("out")).unwrap_err();
        assert!(err.to_string().contains("review mode"), "{err}");
        assert!(!t.path().join("out").exists());
    }

    /// Sets the digest a candidate's result records in a shard.
    fn graded_bytes(shard: &Path, folder: &str, archive_sha256: &str) {
        let p = shard.join(CANDIDATES_DIR).join(folder).join("result.json");
        let mut r: GradeResult = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        r.submission = Some(crate::schema::Submission {
            kind: crate::schema::SourceKind::Zip,
            archive_sha256: Some(archive_sha256.into()),
            ..Default::default()
        });
        std::fs::write(&p, serde_json::to_string(&r).unwrap()).unwrap();
    }

    #[test]
    fn one_candidate_graded_on_two_different_submissions_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let a = shard(t.path(), 1, 2, false, &[("alice", "alice")]);
        let b = shard(t.path(), 2, 2, false, &[("alice", "alice")]);
        graded_bytes(&a, "alice", &"aa".repeat(32));
        graded_bytes(&b, "alice", &"bb".repeat(32));
        let out = t.path().join("out");
        let err = run(&[a.clone(), b.clone()], &out).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("alice") && text.contains(&"aa".repeat(32)) && text.contains(&"bb".repeat(32)), "{text}");
        assert_eq!(err.exit(), crate::support::exit::Exit::Usage);
        assert!(!out.exists(), "nothing is written");
        // The same bytes in both: a duplicate, merged once.
        graded_bytes(&b, "alice", &"aa".repeat(32));
        let m = run(&[a, b], &out).unwrap();
        assert_eq!((m.candidates, m.duplicated.as_slice()), (1, &["alice".to_string()][..]));
    }

    #[test]
    fn a_clean_merge_is_complete_and_refuses_nothing() {
        let t = tempfile::tempdir().unwrap();
        let a = shard(t.path(), 1, 2, false, &[("alice", "alice")]);
        let b = shard(t.path(), 2, 2, false, &[("bob", "bob")]);
        let m = run(&[a, b], &t.path().join("out")).unwrap();
        assert!(m.complete() && m.refused.is_empty() && m.candidates == 2, "{m:?}");
    }

    #[test]
    fn edited_linked_piped_oversized_or_colliding_results_are_refused_and_named() {
        let t = tempfile::tempdir().unwrap();
        let a = shard(t.path(), 1, 2, false, &[("alice", "alice"), ("tampered", "tampered"), ("same", "carol")]);
        let b = shard(t.path(), 2, 2, false, &[("bob", "bob"), ("same", "dave")]);
        // A score edited to 100 % whose checks still sum to 40.
        let p = a.join(CANDIDATES_DIR).join("tampered/result.json");
        let mut r: GradeResult = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        r.score.points = r.score.max_points;
        r.score.percent = 100.0;
        std::fs::write(&p, serde_json::to_string(&r).unwrap()).unwrap();
        // A folder linked to results outside the shard.
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("result.json"), serde_json::to_string(&golden()).unwrap()).unwrap();
        std::fs::write(outside.join("secret.txt"), "not the shard's").unwrap();
        std::os::unix::fs::symlink(&outside, b.join(CANDIDATES_DIR).join("linked")).unwrap();
        // A FIFO named result.json (reading it would block forever).
        let fifo_dir = b.join(CANDIDATES_DIR).join("fifo");
        std::fs::create_dir(&fifo_dir).unwrap();
        let c = std::ffi::CString::new(fifo_dir.join("result.json").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        // An oversized result.json (sparse: no disk is used).
        let big = b.join(CANDIDATES_DIR).join("big");
        std::fs::create_dir(&big).unwrap();
        std::fs::File::create(big.join("result.json")).unwrap().set_len(crate::batch::MAX_RESULT_BYTES + 10).unwrap();

        // A candidate folder holding a file far larger than any grading writes.
        let hoard = b.join(CANDIDATES_DIR).join("bob/logs");
        std::fs::create_dir_all(&hoard).unwrap();
        std::fs::File::create(hoard.join("container.log")).unwrap().set_len(MAX_FOLDER_BYTES + 1).unwrap();

        let out = t.path().join("out");
        let m = run(&[a, b], &out).unwrap();
        let refused = m.refused.join("\n");
        for (what, why) in [
            ("tampered", "checks sum to"),
            ("linked", "not a directory"),
            ("fifo", "not a regular file"),
            ("big", "over 16 MiB"),
            ("same", "already carol's"),
            ("bob", "over 256 MiB"),
        ] {
            assert!(m.refused.iter().any(|r| r.contains(what) && r.contains(why)), "{what}: {why} not in\n{refused}");
        }
        assert!(!m.complete(), "a merge that refused results is incomplete");
        let folders: Vec<String> = std::fs::read_dir(out.join(CANDIDATES_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut folders = folders;
        folders.sort();
        assert_eq!(folders, ["alice", "same"]);
        assert!(!out.join(CANDIDATES_DIR).join("linked").exists());
        let leaderboard = std::fs::read_to_string(out.join("leaderboard.csv")).unwrap();
        assert_eq!(leaderboard.lines().count(), 1 + 2, "{leaderboard}");
        assert!(!leaderboard.contains("tampered") && !leaderboard.contains("dave"), "{leaderboard}");
    }
}
