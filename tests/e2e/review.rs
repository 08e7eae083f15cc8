//! The reviewer's view: report.html per candidate (rendered in headless
//! Chromium), similarity across a batch (checked against copydetect from
//! PyPI), and blind review.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::support::{fixture, fixture_copy, grader, json, quick_exercise, stderr};

#[test]
fn report_html_shows_a_hostile_candidates_text_as_text_in_chromium() {
    let t = TempDir::new().unwrap();
    let (o, r, out) = crate::support::grade(&fixture("hostile/markup"), 2, t.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(r.is_some());
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for raw in ["<script", "<img", "<iframe", "<style>body", "<style>*", "<h1>log", "<b>bold"] {
        assert!(!html.contains(raw), "{raw} reached report.html as markup");
    }
    assert!(!html.contains("http://") && !html.contains("https://"), "report.html must need no network");
    assert!(html.len() < 2_000_000, "long lines are capped: {} bytes", html.len());

    // What a reviewer's browser shows: the text, not the candidate's markup.
    let dom = crate::support::chromium(t.path(), &["--dump-dom".into(), format!("file://{}", page.display())]);
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(
        dom.contains("Candidate") || dom.contains("Submission"),
        "nothing rendered: {}",
        &dom[..dom.len().min(500)]
    );
    assert!(dom.contains("&lt;script&gt;"), "the candidate's script is shown as text");
    assert!(
        !dom.contains("owned-by-candidate</body>") && dom.contains("Checks") && dom.contains("NOTES.md"),
        "the page was replaced"
    );
    let shot = crate::support::screenshot(&page, t.path(), "1200,1600");
    let count = |rgb| crate::support::pixels_of(&shot, rgb);
    let not_white = shot.0.chunks(shot.1).filter(|p| p[0] < 240 || p[1] < 240 || p[2] < 240).count();
    assert!(not_white > 20_000, "a blank page ({not_white} non-white pixels)");
    use grader::report::palette::{BAR_RGB, HEADER_RGB};
    assert!(count(HEADER_RGB) > 2000, "no table header visible ({} px)", count(HEADER_RGB));
    assert!(count(BAR_RGB) > 500, "no chart visible ({} px)", count(BAR_RGB));
}

/// Fixtures as independent solutions, and the reference disguised (names,
/// literals, comments, function order changed).
fn similarity_set() -> Vec<(String, PathBuf)> {
    ["reference", "copied-reference", "naive", "constant", "trivial", "busy-neighbour"]
        .iter()
        .map(|n| (n.to_string(), fixture(n)))
        .collect()
}

#[test]
fn similarity_flags_the_disguised_copy_and_no_independent_pair_as_copydetect_does() {
    let set = similarity_set();
    let pairs = grader::batch::similarity::compare(&set, None, grader::batch::similarity::THRESHOLD);
    let flagged: Vec<(String, String)> = pairs.iter().map(|p| (p.a.clone(), p.b.clone())).collect();
    assert_eq!(flagged, vec![("reference".to_string(), "copied-reference".to_string())], "{pairs:#?}");
    assert!(pairs[0].score >= 0.7 && !pairs[0].spans.is_empty(), "{pairs:#?}");

    // An established tool on the same folders: copydetect (PyPI).
    let script = r#"
import json, sys
from copydetect import CopyDetector
dirs = sys.argv[1:]
d = CopyDetector(test_dirs=dirs, extensions=["py"], display_t=0.0, silent=True, autoopen=False, disable_filtering=False)
d.run()
best = {}
for test_sim, ref_sim, test_file, ref_file, *_ in d.get_copied_code_list():
    a = [x for x in dirs if test_file.startswith(x + "/")][0]
    b = [x for x in dirs if ref_file.startswith(x + "/")][0]
    if a == b:
        continue
    key = "|".join(sorted([a.rsplit("/", 1)[1], b.rsplit("/", 1)[1]]))
    best[key] = max(best.get(key, 0.0), float(min(test_sim, ref_sim)))
print(json.dumps(best))
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(set.iter().map(|(_, d)| d.to_str().unwrap().to_string()))
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(
        o.status.success(),
        "this test needs copydetect from PyPI (scripts/test installs it): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let best: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let score = |a: &str, b: &str| {
        let mut k = [a, b];
        k.sort();
        best.get(&k.join("|")).and_then(|v| v.as_f64()).unwrap_or(0.0)
    };
    let copy = score("reference", "copied-reference");
    assert!(copy >= 0.5, "copydetect does not see the disguised copy ({copy:.2}): {best:?}");
    for (i, (a, _)) in set.iter().enumerate() {
        for (b, _) in &set[i + 1..] {
            if [a.as_str(), b.as_str()] != ["reference", "copied-reference"] {
                assert!(
                    score(a, b) < copy / 2.0,
                    "copydetect rates the independent pair {a}/{b} at {:.2} (the copy {copy:.2}): {best:?}",
                    score(a, b)
                );
            }
        }
    }
}

#[test]
fn a_starter_directory_counts_for_no_one() {
    let t = TempDir::new().unwrap();
    // Two candidates who both kept the starter's server and wrote little else.
    let starter = fixture("reference").join("app");
    let mut set = Vec::new();
    for (who, extra) in [("ann", "def f(a):\n    return a + 1\n"), ("ben", "class K:\n    pass\n")] {
        let d = t.path().join(who);
        std::fs::create_dir_all(&d).unwrap();
        for f in std::fs::read_dir(&starter).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), d.join(f.file_name())).unwrap();
        }
        std::fs::write(d.join("mine.py"), extra).unwrap();
        set.push((who.to_string(), d));
    }
    let threshold = grader::batch::similarity::THRESHOLD;
    assert_eq!(
        grader::batch::similarity::compare(&set, None, threshold).len(),
        1,
        "the shared starter alone looks like a copy"
    );
    assert!(grader::batch::similarity::compare(&set, Some(&starter), threshold).is_empty(), "the starter still counts");
}

/// Every file under `dir` but `skip`, and every path, for the blind check.
fn texts(dir: &Path, skip: &str) -> Vec<(String, String)> {
    crate::support::files(dir)
        .into_iter()
        .filter(|(rel, _)| rel != skip)
        .map(|(rel, bytes)| (rel.clone(), String::from_utf8_lossy(&bytes).into_owned()))
        .collect()
}

#[test]
fn a_blind_batch_names_no_candidate_and_flags_the_copy_by_pseudonym() {
    let t = TempDir::new().unwrap();
    let subs = t.path().join("subs");
    let ids = ["alice-smith-7", "bob-jones-8", "carol-white-9", "dave-brown-10"];
    for (id, what) in ids.iter().zip(["reference", "copied-reference", "broken/failed-build", "naive"]) {
        let copied = fixture_copy(what, &t.path().join(format!("copy-{id}")));
        std::fs::create_dir_all(&subs).unwrap();
        std::fs::rename(copied, subs.join(id)).unwrap();
    }
    // Dave's Dockerfile sits one folder too deep: the grader's own message
    // about it quotes the submission's path, which names him.
    let dave = subs.join("dave-brown-10");
    std::fs::create_dir(dave.join("app")).unwrap();
    std::fs::rename(dave.join("Dockerfile"), dave.join("app/Dockerfile")).unwrap();
    let ex = quick_exercise(t.path());
    let secret = t.path().join("team.secret");
    std::fs::write(&secret, [42u8; 32]).unwrap();
    let out = t.path().join("results");
    let run = || {
        grader(&[
            "batch",
            subs.to_str().unwrap(),
            "--exercise",
            ex.to_str().unwrap(),
            "--secret",
            secret.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--jobs",
            "2",
            "--blind",
        ])
    };
    let o = run();
    assert!(o.status.success(), "{}", stderr(&o));
    let identities = json(&out.join("identities.json"));
    let map = identities["candidates"].as_object().unwrap();
    assert_eq!(map.len(), 4);
    // batch.json lists pseudonyms in their own order, not the real names'.
    let listed: Vec<String> = json(&out.join("batch.json"))["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    let dave_result =
        out.join("candidates").join(map.iter().find(|(_, v)| v.as_str() == Some("dave-brown-10")).unwrap().0);
    assert_eq!(json(&dave_result.join("result.json"))["failure"]["class"], "build_rejected");
    let back: BTreeSet<&str> = map.values().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(back, ids.iter().copied().collect());
    // No id in any reviewer-facing file or path.
    let all = texts(&out, "identities.json");
    assert!(
        all.iter().any(|(rel, _)| rel.ends_with("report.html")) && all.iter().any(|(rel, _)| rel == "similarity.csv")
    );
    for (rel, text) in &all {
        for id in ids {
            assert!(!rel.contains(id), "{rel} names {id}");
            assert!(!text.contains(id), "{rel} names {id}");
        }
    }
    // The copy is flagged, by pseudonyms.
    let pseudonym = |id: &str| map.iter().find(|(_, v)| v.as_str() == Some(id)).map(|(k, _)| k.clone()).unwrap();
    let csv = std::fs::read_to_string(out.join("similarity.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert!(rows[0].contains(&pseudonym("alice-smith-7")) && rows[0].contains(&pseudonym("bob-jones-8")), "{csv}");
    let summary = std::fs::read_to_string(out.join("summary.html")).unwrap();
    assert!(summary.contains("Please review") && summary.contains(&pseudonym("bob-jones-8")));
    // Stable: a resumed run keeps every pseudonym.
    let o = run();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&out.join("identities.json"))["candidates"], identities["candidates"]);
}
