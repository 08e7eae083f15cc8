//! `grader kit` and what a candidate does with it: nothing in the kit names
//! a planted defect of a graded variant, a changed kit is refused, and the
//! prompt's commands run word for word with only the kit and the binary.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use datasets::{Exercise, SeedSource};
use tempfile::TempDir;

use crate::support::{grader, parquet, quick_exercise, stderr};

/// Writes a kit of the quick churn exercise into `dir/kit`.
fn kit(dir: &Path, extra: &[&str]) -> PathBuf {
    let ex = quick_exercise(dir);
    let out = dir.join("kit");
    let mut args = vec!["kit", ex.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = grader(&args);
    assert!(o.status.success(), "grader kit failed: {}", stderr(&o));
    out
}

/// Every file of the kit as text a candidate could read: Parquet rendered
/// cell by cell (its strings may be compressed on disk), the rest as bytes.
fn readable(kit: &Path) -> Vec<(String, String)> {
    crate::support::files(kit)
        .into_iter()
        .map(|(rel, bytes)| {
            let text = if rel.ends_with(".parquet") {
                let t = parquet(&kit.join(&rel));
                let mut s = t.header.join(",");
                for col in &t.columns {
                    for v in col.iter().flatten() {
                        s.push('\n');
                        s.push_str(v);
                    }
                }
                s
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            };
            (rel, text)
        })
        .collect()
}

fn words(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).filter(|w| !w.is_empty()).collect()
}

#[test]
fn a_kit_holds_the_practice_data_and_names_no_defect_of_a_graded_variant() {
    let t = TempDir::new().unwrap();
    let kit = kit(t.path(), &[]);
    let ex = Exercise::load(&t.path().join("quick-churn")).unwrap();
    let spec = &ex.spec;

    // Exactly these files: no exercise.toml, no sealed data, no key.
    let names: BTreeSet<String> = crate::support::files(&kit).into_keys().collect();
    let expected: BTreeSet<String> = [
        "README.md",
        "kit.json",
        "data/train.csv",
        "data/train.parquet",
        "data/production.csv",
        "data/production.parquet",
        "data/schema.json",
        "practice/holdout.parquet",
        "practice/stream.parquet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, expected);

    // kit.json: the grading terms and nothing of the generator.
    let manifest = crate::support::json(&kit.join("kit.json"));
    let keys: BTreeSet<&str> = manifest.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "schema_version",
            "grader_version",
            "exercise",
            "practice_seed",
            "contract",
            "probes",
            "slo",
            "rubric",
            "practice",
            "files"
        ]
        .into_iter()
        .collect(),
    );
    assert_eq!(manifest["practice_seed"], spec.exercise.practice_seed);
    // The practice replay: how a day works, the stream the self-check plays.
    let l = spec.lifecycle.as_ref().expect("churn has a production replay");
    let replay = &manifest["practice"]["replay"];
    assert_eq!(replay["stream"], "practice/stream.parquet");
    assert_eq!(replay["days"], l.days);
    assert_eq!(replay["rows"], l.days as usize * l.rows_per_day);
    let stream = parquet(&kit.join("practice/stream.parquet"));
    assert_eq!(stream.columns[0].len(), l.days as usize * l.rows_per_day);
    assert!(!stream.header.iter().any(|h| h.contains("probability")), "{:?}", stream.header);
    assert_eq!(manifest["exercise"]["spec_sha256"], ex.sha256());

    // What the practice variant planted is in its public data by design;
    // everything else the pools could draw must not be recoverable.
    let practice = datasets::generate(&ex, SeedSource::given(spec.exercise.practice_seed)).unwrap();
    let public: BTreeSet<String> = readable(&kit)
        .iter()
        .filter(|(rel, _)| rel.starts_with("data/"))
        .flat_map(|(_, text)| words(text).into_iter().map(String::from).collect::<Vec<_>>())
        .collect();
    let all = readable(&kit);
    let find = |needle: &str| {
        all.iter().filter(|(_, text)| words(text).contains(needle)).map(|(rel, _)| rel.clone()).collect::<Vec<_>>()
    };
    let d = &spec.defects;
    let mut secrets: BTreeSet<String> =
        d.post_outcome.as_ref().map(|p| p.names.iter().cloned().collect()).unwrap_or_default();
    if let Some(n) = &d.new_category {
        secrets.extend(n.features.values().flatten().cloned());
    }
    // The answer keys of other seeds: every column and category they planted.
    for seed in [11, 12, 1001, 1002] {
        let v = datasets::generate(&ex, SeedSource::given(seed)).unwrap();
        // Their new categories are in the pools above.
        secrets.extend(v.key.leakage.iter().filter_map(|l| l.feature.clone()));
        secrets.extend(v.key.columns.iter().cloned());
        let text = serde_json::to_string(&v.key).unwrap();
        assert!(!all.iter().any(|(_, t)| t.contains(&text[..200])), "seed {seed}'s answer key is in the kit");
    }
    let leaked: Vec<(String, Vec<String>)> = secrets
        .iter()
        .filter(|s| !public.contains(s.as_str()))
        .map(|s| (s.clone(), find(s)))
        .filter(|(_, files)| !files.is_empty())
        .collect();
    assert!(leaked.is_empty(), "names the practice data does not show are in the kit: {leaked:?}");
    // The lists of columns that may drift, in any form a file could hold them.
    for (kind, features) in [
        ("mean_shift", d.mean_shift.as_ref().map(|f| f.features.clone())),
        ("scale_change", d.scale_change.as_ref().map(|f| f.features.clone())),
        ("missing_rate", d.missing_rate.as_ref().map(|f| f.features.clone())),
        ("temporal", d.temporal.as_ref().map(|f| f.features.clone())),
        ("serving_skew", d.serving_skew.as_ref().map(|f| f.spelling.clone())),
    ] {
        let Some(features) = features else { continue };
        for sep in [", ", ",", "\", \"", "\",\"", "\",\n    \""] {
            let list = features.join(sep);
            // Two neighbouring columns are in every CSV header by nature.
            let header = |rel: &str| sep == "," && (rel.ends_with(".csv") || rel.ends_with(".parquet"));
            assert!(
                !all.iter().any(|(rel, t)| !header(rel) && t.contains(&list)),
                "the {kind} candidates are in the kit: {list}"
            );
        }
    }
    assert!(
        !all.iter().any(|(_, t)| t.contains("[defects") || t.contains("\"defects\"")),
        "a [defects] section is in the kit"
    );

    // The holdout is the served view: a post-outcome column, when the
    // practice variant has one, carries no signal in it.
    let holdout = parquet(&kit.join("practice/holdout.parquet"));
    let col = |name: &str| holdout.columns[holdout.header.iter().position(|h| h == name).unwrap()].clone();
    let labels: Vec<bool> = col(&practice.key.label).iter().map(|v| v.as_deref() == Some("1")).collect();
    for leak in practice.key.leakage.iter().filter(|l| l.kind == datasets::LeakKind::TargetLeakage) {
        let f = leak.feature.as_deref().unwrap();
        let values: Vec<f64> =
            col(f).iter().map(|v| v.as_deref().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)).collect();
        let auc = datasets::stats::auc(&values, &labels).unwrap();
        assert!((0.4..0.6).contains(&auc), "the kit's holdout shows {f} as the extract has it (AUC {auc:.3})");
    }
}

#[test]
fn a_changed_or_foreign_kit_is_refused_naming_the_file() {
    let t = TempDir::new().unwrap();
    let kit = kit(t.path(), &[]);
    let train = kit.join("data/train.csv");
    let mut text = std::fs::read_to_string(&train).unwrap();
    let row = text.lines().nth(1).unwrap().to_owned();
    text.push_str(&row);
    std::fs::write(&train, text).unwrap();
    // Refused before any probe: the URL is never contacted.
    let o = grader(&["probe", "--kit", kit.to_str().unwrap(), "--url", "http://127.0.0.1:9"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("data/train.csv") && stderr(&o).contains("differs"), "{}", stderr(&o));

    let o = grader(&["self-check", "x", "--kit", t.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("kit.json"), "{}", stderr(&o));

    // An exercise without the candidate's prompt makes no kit.
    let bare = t.path().join("bare");
    std::fs::create_dir(&bare).unwrap();
    std::fs::copy(t.path().join("quick-churn/exercise.toml"), bare.join("exercise.toml")).unwrap();
    let o = grader(&["kit", bare.to_str().unwrap(), "--out", t.path().join("k2").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("README.md"), "{}", stderr(&o));
    assert!(!t.path().join("k2").exists(), "a failed kit left a folder");
}

/// Removes what the prompt's commands create, whatever happens.
struct PromptObjects;

impl Drop for PromptObjects {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", "churn-submission"]).output();
        let _ = Command::new("docker").args(["rmi", "-f", "churn-submission"]).output();
    }
}

/// The ```sh blocks of a Markdown file, in order.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sh") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.push(current.take().unwrap()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn a_candidate_follows_the_prompt_word_for_word_with_the_kit_and_the_binary() {
    let t = TempDir::new().unwrap();
    let kit = kit(t.path(), &["--with-base-image"]);
    let manifest = crate::support::json(&kit.join("kit.json"));
    let image = manifest["base_image"]["image"].as_str().unwrap().to_string();
    assert!(kit.join("base-image/image.tar").is_file());
    // The submission, where the prompt says to put it.
    crate::support::fixture_copy("reference", &kit);
    std::fs::rename(kit.join("reference"), kit.join("submission")).unwrap();

    let _objects = PromptObjects;
    let prompt = std::fs::read_to_string(kit.join("README.md")).unwrap();
    let blocks = sh_blocks(&prompt);
    assert!(blocks.len() >= 2, "the prompt shows its commands in ```sh blocks: {blocks:?}");
    let bin = Path::new(env!("CARGO_BIN_EXE_grader")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut outputs = Vec::new();
    for block in &blocks {
        let o = Command::new("bash")
            .args(["-euo", "pipefail", "-c", block])
            .current_dir(&kit)
            .env("PATH", &path)
            .env_remove("GRADER_LOG")
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "the prompt's commands failed as written:\n{block}\n---\n{text}");
        outputs.push(text);
    }
    // The loaded base image is the one the kit recorded.
    let id = Command::new("docker").args(["image", "inspect", "-f", "{{.Id}}", &image]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim(), manifest["base_image"]["id"].as_str().unwrap());

    let all = outputs.join("\n");
    for view in [&outputs[0], &outputs[1]] {
        assert!(
            view.contains("visible checks:")
                && view.contains("hidden checks: 8 (50 points), graded on your own variant only")
                && view.contains("production replay (contract v2): every answer in shape"),
            "{view}"
        );
    }
    // The reference earns every visible point but latency's (a measurement
    // of this busy moment), and nothing names a planted column.
    for group in ["contract  10 / 10", "correctness  20 / 20", "robustness  15 / 15"] {
        assert!(outputs[0].contains(group), "self-check: {group} missing:\n{}", outputs[0]);
    }
    let practice = Exercise::load(&t.path().join("quick-churn")).unwrap();
    let key = datasets::generate(&practice, SeedSource::given(practice.spec.exercise.practice_seed)).unwrap().key;
    let w = words(&all);
    for planted in
        key.leakage.iter().filter_map(|l| l.feature.as_deref()).chain(key.drift.iter().map(|d| d.feature.as_str()))
    {
        assert!(!w.contains(planted), "the candidate's view names the planted column {planted}:\n{all}");
    }
}

#[test]
fn the_base_image_has_the_tools_the_prompt_lists() {
    let prompt = std::fs::read_to_string(crate::support::churn().join("README.md")).unwrap();
    let ex = Exercise::load(&crate::support::churn()).unwrap();
    let image = &ex.spec.contract.base_image;
    // "(Debian bookworm, Python 3.11, numpy, pandas 1.5, …)" after the FROM line.
    let from = prompt.find(&format!("FROM {image}")).expect("the prompt names the base image");
    let list = &prompt[from..];
    let list = &list[list.find('(').unwrap() + 1..list.find(')').unwrap()];
    let listed: Vec<(String, Option<String>)> = list
        .split(',')
        .map(|item| {
            let mut parts = item.split_whitespace();
            let name = parts.next().unwrap().to_string();
            (name, parts.last().filter(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit())).map(String::from))
        })
        .collect();
    assert!(listed.len() >= 8, "{listed:?}");
    let script = r#"
import json, sys, importlib
mods = {"Python": None, "numpy": "numpy", "pandas": "pandas", "scikit-learn": "sklearn", "scipy": "scipy",
        "FastAPI": "fastapi", "uvicorn": "uvicorn", "joblib": "joblib"}
out = {"Python": sys.version.split()[0]}
for name, mod in mods.items():
    if mod:
        out[name] = importlib.import_module(mod).__version__
print(json.dumps(out))
"#;
    let o = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "--label", "org.grader.test=1", image, "sh", "-c"])
        .arg(format!("python -c '{script}' && uvicorn --version && command -v python && command -v uvicorn"))
        .output()
        .expect("docker runs (this test needs a Docker Engine)");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "python and uvicorn must be on PATH in {image}: {text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let versions: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(text.contains("Running uvicorn"), "{text}");
    for (name, version) in &listed {
        if name == "Debian" {
            continue;
        }
        let got = versions[name.as_str()]
            .as_str()
            .unwrap_or_else(|| panic!("the prompt lists {name}, which the image does not have: {versions}"));
        if let Some(v) = version {
            assert!(got == v || got.starts_with(&format!("{v}.")), "the prompt says {name} {v}, the image has {got}");
        }
    }
}
