//! What a range of seeds plants, at which level and how findable, and why
//! draws were rejected: a tuning aid for an exercise's bands.
//!
//! usage: cargo run --release -p grader-datasets --example explore -- EXERCISE_DIR FIRST N [WHY]
//! (WHY: print every rejection reason containing it in full).

use std::collections::BTreeMap;
use std::path::Path;

use datasets::{generate, Exercise, SeedSource};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, first, n, ..] = args.as_slice() else {
        eprintln!("usage: explore EXERCISE_DIR FIRST N [WHY]");
        std::process::exit(2);
    };
    let why = args.get(3);
    let ex = Exercise::load(Path::new(dir)).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let (first, n): (u64, u64) = (first.parse().expect("FIRST: a seed"), n.parse().expect("N: a count"));
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut rejected = 0;
    for seed in first..first + n {
        let v = match generate(&ex, SeedSource::given(seed)) {
            Ok(v) => v,
            Err(e) => {
                println!("seed {seed}: FAILED {e}");
                continue;
            }
        };
        rejected += v.key.attempt;
        for r in v.key.rejected_draws.iter().flat_map(|r| &r.reasons) {
            if why.is_some_and(|w| r.contains(w.as_str())) {
                println!("  why: {r}");
            }
            let short: String = r.split(':').next().unwrap_or("").chars().take(60).collect();
            *reasons.entry(short).or_default() += 1;
        }
        let leaks: Vec<String> = v
            .key
            .leakage
            .iter()
            .map(|l| {
                let auc = l.certificate.train_auc.map(|a| format!(" auc {:.3}", (a - 0.5).abs() + 0.5));
                format!("{}:{}:{}{}", l.level, l.kind, l.feature.as_deref().unwrap_or("-"), auc.unwrap_or_default())
            })
            .collect();
        let drifts: Vec<String> = v
            .key
            .drift
            .iter()
            .map(|d| {
                let det = d.detectability.as_ref();
                format!(
                    "{}:{}:{} p {:.1e} psi {:.3} power {:?}/{:?}",
                    d.level,
                    d.change.kind(),
                    d.feature,
                    det.map_or(d.certificate.production_published.p_value, |x| x.p_value),
                    det.and_then(|x| x.psi).unwrap_or(f64::NAN),
                    det.and_then(|x| x.power_production),
                    det.and_then(|x| x.power_traffic)
                )
            })
            .collect();
        println!("seed {seed} attempt {}: {leaks:?} {drifts:?}", v.key.attempt);
    }
    println!("{rejected} rejected draws; reasons: {reasons:#?}");
}
