//! Generation benchmark: wall time and peak memory of writing a variant.
//!
//! `cargo bench -p grader-datasets --bench generate` runs each case in a
//! fresh child process (so peak RSS belongs to that case alone), several
//! times, and prints median, min and max. Cases:
//! - `default`: the churn exercise without its production replay (20k
//!   train, 5k production, 5k holdout, 2k traffic), generated, certified
//!   and written.
//! - `million`: the same exercise widened to 19 features (21 columns with id
//!   and label) and 1,000,000 train rows.
//! - `replay`: churn as shipped: `default` plus the sealed production
//!   replay (32 days of 400 rows, each day certified clean, three
//!   certified events).
//!
//! Beside the first two, the same generation with numpy + pandas
//! (`numpy_generate.py`, timed inside Python, without certification) in the
//! same run, and the ratio; the script draws no replay, so the replay's
//! case is timed alone against its own target.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use datasets::{generate, write_variant, Exercise, SeedSource};

const RUNS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        return run_case(&args[i + 1]);
    }
    println!("\n### Variant generation (each case in a fresh process, {RUNS} runs)\n");
    println!(
        "| case | train rows × columns | Rust median | min – max | peak RSS | numpy + pandas median | ratio | target |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (case, rows, extra, target) in [
        ("default", 20_000, 0, "< 500 ms, ≥ 3× numpy"),
        ("million", 1_000_000, 6, "≥ 3× numpy"),
        ("replay", 20_000, 0, "< 1.5 s"),
    ] {
        let mut ms = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..RUNS {
            let out = Command::new(&args[0]).args(["--case", case]).output().expect("run case");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let line = String::from_utf8_lossy(&out.stdout);
            let mut it = line.split_whitespace().map(|x| x.parse::<f64>().unwrap());
            ms.push(it.next().unwrap());
            rss.push(it.next().unwrap());
        }
        ms.sort_by(f64::total_cmp);
        rss.sort_by(f64::total_cmp);
        let py = if case == "replay" { None } else { numpy_median(rows, extra) };
        let cols = 15 + extra;
        println!(
            "| {case} | {rows} × {cols} | {:.0} ms | {:.0} – {:.0} ms | {:.0} MB | {} | {} | {target} |",
            ms[RUNS / 2],
            ms[0],
            ms[RUNS - 1],
            rss[RUNS / 2],
            match (py, case) {
                (_, "replay") => "— (draws no replay)".to_string(),
                (Some(p), _) => format!("{p:.0} ms"),
                (None, _) => "n/a (numpy, pandas, pyarrow, scipy missing)".into(),
            },
            py.map(|p| format!("{:.1}×", p / ms[RUNS / 2])).unwrap_or_else(|| "—".into()),
        );
    }
}

/// Median wall time of numpy_generate.py (3 runs), if its packages import.
fn numpy_median(rows: usize, extra: usize) -> Option<f64> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = here.join("benches/numpy_generate.py");
    let spec = here.parent().unwrap().join("exercises/churn/exercise.toml");
    let ok = Command::new("python3").args(["-c", "import numpy, pandas, pyarrow, scipy"]).status().ok()?.success();
    if !ok {
        return None;
    }
    let mut times = Vec::new();
    for _ in 0..3 {
        let tmp = tempfile::tempdir().ok()?;
        let out = Command::new("python3")
            .arg(&script)
            .arg(&spec)
            .arg(tmp.path().join("out"))
            .arg(rows.to_string())
            .arg(extra.to_string())
            .output()
            .ok()?;
        times.push(String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().ok()? * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Some(times[1])
}

/// One generation; prints `elapsed_ms peak_rss_mb`.
fn run_case(case: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let shipped = Exercise::load(&root.join("exercises/churn")).unwrap();
    // numpy_generate.py draws no replay: the compared cases leave it out.
    let mut ex = match case {
        "replay" => shipped,
        _ => shipped.without_lifecycle().expect("churn has a replay").unwrap(),
    };
    if case == "million" {
        ex.spec.rows.train = 1_000_000;
        let numeric: Vec<_> = ex.spec.features.iter().filter(|f| !f.dist.is_categorical()).take(6).cloned().collect();
        for (i, mut f) in numeric.into_iter().enumerate() {
            f.name = format!("extra_{i}");
            f.effect = None;
            ex.spec.features.push(f);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut v = generate(&ex, SeedSource::given(42)).unwrap();
    write_variant(&ex.spec, &mut v, &tmp.path().join("v")).unwrap();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    println!("{ms:.1} {:.1}", peak_rss_mb());
}

/// Peak resident set size of this process (Linux: VmHWM).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
