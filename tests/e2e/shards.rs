//! Sharded batches: `grader batch --shard`, `grader merge`, and a real
//! Slurm array of shards (a single-node cluster `scripts/ensure-slurm`
//! starts; `scripts/test` runs it first).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::{fixture_copy, grader, json, quick_exercise, stderr};

/// Candidates named `who`, each a copy of the fixture `what`.
fn submissions(dir: &Path, who: &[(&str, &str)]) -> PathBuf {
    let subs = dir.join("subs");
    for (i, (name, what)) in who.iter().enumerate() {
        let copied = fixture_copy(what, &dir.join(format!("copy-{i}")));
        std::fs::create_dir_all(&subs).unwrap();
        std::fs::rename(copied, subs.join(name)).unwrap();
    }
    subs
}

/// Each candidate's state and every check's points but latency's (a
/// measurement of the moment: shards ran beside each other).
fn graded(out: &Path) -> BTreeMap<String, (String, Vec<(String, f64)>)> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(out.join("candidates")).unwrap() {
        let r = json(&e.unwrap().path().join("result.json"));
        let checks = r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["group"] != "latency")
            .map(|c| (c["id"].as_str().unwrap().to_string(), c["points"].as_f64().unwrap()))
            .collect();
        m.insert(r["candidate"].as_str().unwrap().to_string(), (r["outcome"].as_str().unwrap().to_string(), checks));
    }
    m
}

fn leaderboard_names(out: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(out.join("leaderboard.csv")).unwrap();
    let mut names: Vec<String> = text.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().to_string()).collect();
    names.sort();
    names
}

#[test]
fn shards_partition_a_batch_and_merge_refuses_what_does_not_belong() {
    // Submissions that fail to build: real shard directories in seconds.
    let t = TempDir::new().unwrap();
    let names = ["ann", "ben", "cat", "dan", "eve", "fay"];
    let who: Vec<(&str, &str)> = names.iter().map(|n| (*n, "broken/failed-build")).collect();
    let subs = submissions(t.path(), &who);
    let ex = quick_exercise(t.path());
    let shard = |k: u32, seed: &str| {
        let out = t.path().join(format!("shard-{k}-{seed}"));
        let o = grader(&[
            "batch",
            subs.to_str().unwrap(),
            "--exercise",
            ex.to_str().unwrap(),
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
            "--shard",
            &format!("{k}/3"),
            "--json",
        ]);
        assert!(o.status.success(), "shard {k}: {}", stderr(&o));
        out
    };
    let dirs: Vec<PathBuf> = (1..=3).map(|k| shard(k, "4")).collect();
    // Every candidate in exactly one shard, as the manifest says.
    let mut seen = Vec::new();
    for d in &dirs {
        let m = json(&d.join("batch.json"));
        assert_eq!(m["shard"]["count"], 3);
        let given: Vec<String> =
            m["candidates"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
        let held: Vec<String> = graded(d).into_keys().collect();
        assert_eq!(given, held, "{}", d.display());
        seen.extend(given);
    }
    seen.sort();
    assert_eq!(seen, names.iter().map(|s| s.to_string()).collect::<Vec<_>>());

    let dir_args = |ds: &[&PathBuf]| ds.iter().map(|d| d.to_str().unwrap().to_string()).collect::<Vec<_>>();
    let merge = |ds: &[&PathBuf], out: &str| {
        let mut args = vec!["merge".to_string()];
        args.extend(dir_args(ds));
        args.extend(["--out".to_string(), t.path().join(out).to_str().unwrap().to_string(), "--json".to_string()]);
        grader(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = merge(&dirs.iter().collect::<Vec<_>>(), "merged");
    assert!(o.status.success(), "{}", stderr(&o));
    let merged = t.path().join("merged");
    assert_eq!(leaderboard_names(&merged), names.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert!(merged.join("summary.html").is_file() && merged.join("summary.md").is_file());
    let m = json(&merged.join("batch.json"));
    assert!(m["shard"].is_null() && m["merged_from"].as_array().unwrap().len() == 3, "{m}");

    // A missing shard: reported, exit 1, the rest still merged.
    let o = merge(&[&dirs[0], &dirs[1]], "partial");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["missing_shards"], serde_json::json!([3]));

    // Another seed source: refused, nothing written.
    let other = shard(3, "5");
    let o = merge(&[&dirs[0], &dirs[1], &other], "mixed");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("seed source"), "{}", stderr(&o));
    assert!(!t.path().join("mixed").exists());

    // A candidate graded in two shards, and one given but not graded.
    let first = graded(&dirs[0]).into_keys().next().expect("shard 1 holds someone");
    let copy_to = dirs[1].join("candidates").join(&first);
    let status =
        Command::new("cp").arg("-r").arg(dirs[0].join("candidates").join(&first)).arg(&copy_to).status().unwrap();
    assert!(status.success());
    let o = merge(&dirs.iter().collect::<Vec<_>>(), "twice");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["duplicated"], serde_json::json!([first]));
    std::fs::remove_dir_all(&copy_to).unwrap();
    std::fs::remove_dir_all(dirs[0].join("candidates").join(&first)).unwrap();
    let o = merge(&dirs.iter().collect::<Vec<_>>(), "short");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["missing"], serde_json::json!([first]));

    // A shard resumed as another shard is refused.
    let o = grader(&[
        "batch",
        subs.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "4",
        "--out",
        dirs[0].to_str().unwrap(),
        "--shard",
        "2/3",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("shard 1/3"), "{}", stderr(&o));
}

#[test]
fn a_remote_engine_is_refused_up_front_pointing_to_shards() {
    let t = TempDir::new().unwrap();
    let subs = submissions(t.path(), &[("ann", "trivial")]);
    let ex = quick_exercise(t.path());
    for args in [
        vec![
            "batch",
            subs.to_str().unwrap(),
            "--exercise",
            ex.to_str().unwrap(),
            "--seed",
            "1",
            "--out",
            "unused",
            "--docker-host",
            "tcp://192.0.2.1:2375",
        ],
        vec![
            "grade",
            subs.join("ann").to_str().unwrap(),
            "--exercise",
            ex.to_str().unwrap(),
            "--seed",
            "1",
            "--out",
            "unused",
            "--docker-host",
            "tcp://build-host:2376",
        ],
    ] {
        let o = grader(&args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("--shard") && stderr(&o).contains("merge"), "{}", stderr(&o));
        assert!(!Path::new("unused").exists());
    }
}

/// Slurm's commands, or a loud failure: this test never skips.
fn slurm_up() {
    let sinfo = Command::new("sinfo").args(["-h", "-N", "-o", "%T"]).output();
    match sinfo {
        Ok(o) if String::from_utf8_lossy(&o.stdout).lines().any(|l| ["idle", "mixed", "allocated", "completing"].contains(&l.trim())) => {}
        other => panic!(
            "this test needs a running Slurm cluster and root: run scripts/ensure-slurm (scripts/test does). sinfo: {:?}",
            other.map(|o| String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
        ),
    }
}

#[test]
fn a_slurm_array_of_shards_merges_into_what_one_batch_grades() {
    slurm_up();
    let t = TempDir::new().unwrap();
    let subs = submissions(
        t.path(),
        &[
            ("alice", "reference"),
            ("bob", "naive"),
            ("carol", "trivial"),
            ("dave", "constant"),
            ("erin", "broken/failed-build"),
        ],
    );
    let ex = quick_exercise(t.path());
    let results = t.path().join("results");
    std::fs::create_dir(&results).unwrap();
    // The recipe README shows, as shipped: one whole node per task, so the
    // three tasks take turns on this one node.
    let recipe = crate::support::root().join("deploy/slurm/grader-shards.sbatch");
    let o = Command::new("sbatch")
        .args(["--wait", "--array=1-3", "--job-name=grader-shards-test"])
        .arg(format!("--output={}/slurm-%a.out", results.display()))
        .arg(&recipe)
        .current_dir(&results)
        .env("GRADER", env!("CARGO_BIN_EXE_grader"))
        .env("SUBMISSIONS", &subs)
        .env("EXERCISE", &ex)
        .env("SEED", "21")
        .env("RESULTS", &results)
        .env("JOBS", "1")
        .env_remove("SECRET")
        .output()
        .expect("sbatch runs");
    let logs: String =
        (1..=3).map(|k| std::fs::read_to_string(results.join(format!("slurm-{k}.out"))).unwrap_or_default()).collect();
    assert!(
        o.status.success(),
        "the Slurm array failed: {}{}\n{logs}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let shards: Vec<PathBuf> = (1..=3).map(|k| results.join(format!("shard-{k}"))).collect();
    for (k, d) in shards.iter().enumerate() {
        assert_eq!(json(&d.join("batch.json"))["shard"]["index"], k as u64 + 1, "{logs}");
    }
    let merged = t.path().join("merged");
    let mut args = vec!["merge".to_string()];
    args.extend(shards.iter().map(|d| d.to_str().unwrap().to_string()));
    args.extend(["--out".into(), merged.to_str().unwrap().into()]);
    let o = grader(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));

    let single = t.path().join("single");
    let o = grader(&[
        "batch",
        subs.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "21",
        "--out",
        single.to_str().unwrap(),
        "--jobs",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(leaderboard_names(&merged), leaderboard_names(&single));
    assert_eq!(graded(&merged), graded(&single), "the shards graded differently from one batch");
}

/// A recipe's commands, read by PyYAML (which the validators bring).
fn yaml_to_json(path: &Path) -> Value {
    let o = Command::new("python3")
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        o.status.success(),
        "PyYAML (installed with the recipe validators by scripts/test): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn validator(cmd: &str, args: &[&str], file: &Path) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("this test needs {cmd} from PyPI (scripts/test installs it with pip): {e}"))
}

fn parses(argv: &[String]) {
    if let Err(e) = <grader::cli::Cli as clap::Parser>::try_parse_from(argv) {
        panic!("the recipe's command does not parse: {argv:?}\n{e}");
    }
}

#[test]
fn the_kubernetes_recipe_is_a_valid_indexed_job_whose_shards_match_its_completions() {
    let file = crate::support::root().join("deploy/kubernetes/grader-shards.yaml");
    let o = validator("kubernetes-validate", &["--strict", "-k", "1.30.0"], &file);
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let job = yaml_to_json(&file);
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    let completions = job["spec"]["completions"].as_u64().unwrap();
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    let mut argv: Vec<String> = c["command"]
        .as_array()
        .unwrap()
        .iter()
        .chain(c["args"].as_array().unwrap())
        .map(|v| v.as_str().unwrap().replace("$(JOB_COMPLETION_INDEX)", "0"))
        .collect();
    let shard = argv.iter().position(|a| a == "--shard").map(|i| argv[i + 1].clone()).expect("--shard");
    assert_eq!(shard, format!("k8s/{completions}"), "the shard count must be the job's completions");
    argv[0] = "grader".into();
    parses(&argv);
    let env: Vec<&str> = c["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(env.contains(&"JOB_COMPLETION_INDEX") && env.contains(&"TMPDIR"), "{env:?}");
}

#[test]
fn the_actions_recipe_is_a_valid_workflow_whose_matrix_covers_every_shard() {
    let file = crate::support::root().join("deploy/github-actions/sharded-batch.yml");
    let o = validator("check-jsonschema", &["--builtin-schema", "vendor.github-workflows"], &file);
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let wf = yaml_to_json(&file);
    let shards: Vec<u64> = wf["jobs"]["shard"]["strategy"]["matrix"]["shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let n = shards.len() as u64;
    assert_eq!(shards, (1..=n).collect::<Vec<_>>());
    let runs: Vec<String> = ["shard", "merge"]
        .iter()
        .flat_map(|j| {
            wf["jobs"][j]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["run"].as_str().map(String::from))
                .collect::<Vec<_>>()
        })
        .filter(|r| r.trim_start().starts_with("grader "))
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in runs {
        let argv: Vec<String> = run
            .replace("${{ matrix.shard }}", "1")
            .replace("\"$RUNNER_TEMP/team.secret\"", "team.secret")
            .split_whitespace()
            .map(String::from)
            .collect();
        if let Some(i) = argv.iter().position(|a| a == "--shard") {
            assert_eq!(argv[i + 1], format!("1/{n}"), "the shard count must be the matrix's size");
        }
        if argv[1] == "merge" {
            assert_eq!(argv.iter().filter(|a| a.starts_with("results/shard-")).count() as u64, n, "merge every shard");
        }
        parses(&argv);
    }
}
