//! Arguments are checked once, before any work: a bad value exits 2, names
//! the flag and what is allowed, and creates no output directory. One test
//! per command; none needs Docker (nothing runs that far).

use std::path::Path;

use tempfile::TempDir;

use crate::support::{churn, fixture, grader, stderr};

/// Runs `args`, expecting exit 2 with every `wanted` text in the message,
/// and that `out` was not created.
fn refused(args: &[&str], wanted: &[&str], out: &Path) {
    let o = grader(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    for w in wanted {
        assert!(err.contains(w), "{args:?}: {w:?} not in {err}");
    }
    assert!(!out.exists(), "{args:?} created {}", out.display());
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn grade_refuses_a_bad_limit_before_any_work() {
    let t = TempDir::new().unwrap();
    let out = t.path().join("out");
    let (sub, ex) = (fixture("reference"), churn());
    let base = ["grade", s(&sub), "--exercise", s(&ex), "--seed", "1", "--out", s(&out)];
    for (flag, value, wanted) in [
        ("--cpus", "0", "(0, 64]"),
        ("--memory-mb", "10", "below 64"),
        ("--pids", "3", "below 16"),
        ("--build-timeout", "0", "below 1"),
        ("--startup-timeout", "0", "below 1"),
        ("--request-timeout-ms", "0", "below 1"),
        ("--fail-under", "150", "[0, 100]"),
    ] {
        let mut args = base.to_vec();
        args.extend([flag, value]);
        refused(&args, &[flag, wanted], &out);
    }
    refused(
        &["grade", s(&t.path().join("nope")), "--exercise", s(&ex), "--seed", "1", "--out", s(&out)],
        &["SUBMISSION", "no such file or directory"],
        &out,
    );
    refused(
        &["grade", s(&sub), "--exercise", s(t.path()), "--seed", "1", "--out", s(&out)],
        &["--exercise", "no exercise.toml"],
        &out,
    );
}

#[test]
fn batch_refuses_a_bad_limit_jobs_or_shard_without_writing_its_results_directory() {
    let t = TempDir::new().unwrap();
    let out = t.path().join("results");
    let subs = t.path().join("subs");
    std::fs::create_dir(&subs).unwrap();
    let ex = churn();
    let base = ["batch", s(&subs), "--exercise", s(&ex), "--seed", "1", "--out", s(&out)];
    for (extra, wanted) in [
        (vec!["--cpus", "0"], vec!["--cpus 0", "(0, 64]"]),
        (vec!["--jobs", "0"], vec!["--jobs 0 is below 1"]),
        (vec!["--host-jobs", "0"], vec!["--host-jobs 0 is below 1"]),
        (vec!["--similarity-threshold", "2"], vec!["--similarity-threshold", "[0, 1]"]),
        (vec!["--shard", "3/2"], vec!["3/2"]),
        (vec!["--starter", "/nonexistent/starter"], vec!["--starter"]),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        refused(&args, &wanted, &out);
    }
    refused(
        &["batch", s(&t.path().join("none")), "--exercise", s(&ex), "--seed", "1", "--out", s(&out)],
        &["SUBMISSIONS_DIR"],
        &out,
    );
    refused(
        &["batch", s(&subs), "--exercise", s(&ex), "--secret", s(&t.path().join("no.secret")), "--out", s(&out)],
        &["--secret"],
        &out,
    );
}

#[test]
fn validate_refuses_zero_jobs_and_a_parity_of_one() {
    let t = TempDir::new().unwrap();
    let out = t.path().join("never");
    let ex = churn();
    refused(&["validate", s(&ex), "--jobs", "0"], &["--jobs 0 is below 1"], &out);
    refused(&["validate", s(&ex), "--parity", "1"], &["--parity 1 is below 2"], &out);
    refused(&["validate", s(&ex), "--cpus", "99"], &["--cpus 99"], &out);
    refused(&["validate", s(t.path())], &["EXERCISE", "no exercise.toml"], &out);
}

#[test]
fn self_check_refuses_a_bad_limit_and_a_missing_kit() {
    let t = TempDir::new().unwrap();
    let out = t.path().join("never");
    let sub = fixture("reference");
    refused(&["self-check", s(&sub), "--exercise", s(&churn()), "--pids", "1"], &["--pids 1 is below 16"], &out);
    refused(&["self-check", s(&sub), "--kit", s(&t.path().join("kit"))], &["--kit", "no such directory"], &out);
}

#[test]
fn run_refuses_a_bad_limit_and_a_missing_submission() {
    let t = TempDir::new().unwrap();
    let out = t.path().join("never");
    let ex = churn();
    refused(
        &["run", s(&fixture("reference")), "--exercise", s(&ex), "--seed", "1", "--memory-mb", "1"],
        &["--memory-mb 1 is below 64"],
        &out,
    );
    refused(
        &["run", s(&t.path().join("gone")), "--exercise", s(&ex), "--seed", "1"],
        &["SUBMISSION", "no such directory"],
        &out,
    );
}

#[test]
fn probe_refuses_a_used_results_directory_and_a_bad_threshold() {
    let t = TempDir::new().unwrap();
    let used = t.path().join("used");
    std::fs::create_dir(&used).unwrap();
    std::fs::write(used.join("keep.txt"), "the user's").unwrap();
    let ex = churn();
    let url = "http://127.0.0.1:9";
    let o = grader(&["probe", "--url", url, "--exercise", s(&ex), "--seed", "1", "--out", s(&used)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--out") && stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(used.join("keep.txt")).unwrap(), "the user's");
    let out = t.path().join("new");
    refused(
        &["probe", "--url", url, "--exercise", s(&ex), "--seed", "1", "--out", s(&out), "--fail-under=-1"],
        &["--fail-under -1"],
        &out,
    );
    refused(
        &[
            "probe",
            "--url",
            url,
            "--exercise",
            s(&ex),
            "--seed",
            "1",
            "--out",
            s(&out),
            "--output",
            s(&t.path().join("x")),
        ],
        &["--output"],
        &out,
    );
}

#[test]
fn a_scheduler_variable_out_of_range_is_refused_with_no_output() {
    let t = TempDir::new().unwrap();
    let out = t.path().join("results");
    let subs = t.path().join("subs");
    std::fs::create_dir(&subs).unwrap();
    let ex = churn();
    for (spec, vars, wanted) in [
        (
            "slurm",
            vec![("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_STEP", "0"), ("SLURM_ARRAY_TASK_COUNT", "2")],
            "SLURM_ARRAY_TASK_STEP=0",
        ),
        (
            "slurm",
            vec![("SLURM_ARRAY_TASK_ID", "9223372036854775807"), ("SLURM_ARRAY_TASK_COUNT", "2")],
            "SLURM_ARRAY_TASK_ID",
        ),
        ("k8s/2", vec![("JOB_COMPLETION_INDEX", "-1")], "JOB_COMPLETION_INDEX=-1"),
    ] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_grader"))
            .args(["batch", s(&subs), "--exercise", s(&ex), "--seed", "1", "--out", s(&out), "--shard", spec])
            .env_remove("SLURM_ARRAY_TASK_MIN")
            .env_remove("SLURM_ARRAY_TASK_MAX")
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{spec} {vars:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(wanted) && stderr(&o).contains("outside"), "{}", stderr(&o));
        assert!(!out.exists());
    }
}

#[test]
fn a_blind_sharded_batch_without_the_secret_is_refused() {
    let t = TempDir::new().unwrap();
    let out = t.path().join("results");
    let subs = t.path().join("subs");
    std::fs::create_dir(&subs).unwrap();
    refused(
        &["batch", s(&subs), "--exercise", s(&churn()), "--seed", "1", "--out", s(&out), "--blind", "--shard", "1/2"],
        &["--blind with --shard needs --secret"],
        &out,
    );
}
