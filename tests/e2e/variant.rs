//! `grader variant`: determinism, planted and certified defects (re-derived
//! here from the written files, not taken from the key), sealing, bad input.

use std::collections::BTreeSet;
use std::path::Path;

use datasets::stats::{auc, chi_square_two_sample, ks_two_sample, two_proportion_z, TestResult};
use datasets::Exercise;
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{churn, files, grader, json, parquet, stderr, variant, Csv};

fn key(dir: &Path) -> Value {
    json(&dir.join("sealed/answer_key.json"))
}

#[test]
fn same_seed_gives_byte_identical_files() {
    let t = TempDir::new().unwrap();
    variant(7, &t.path().join("a"));
    variant(7, &t.path().join("b"));
    let (a, b) = (files(&t.path().join("a")), files(&t.path().join("b")));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs between two runs of the same seed");
    }
    assert_eq!(a.len(), 12, "files: {:?}", a.keys());
    assert!(a.contains_key("sealed/stream.parquet"), "the production replay is sealed with the rest");
}

#[test]
fn different_seeds_give_different_defects_names_and_rows() {
    let t = TempDir::new().unwrap();
    let mut plans = BTreeSet::new();
    let mut leak_names = BTreeSet::new();
    let mut trains = BTreeSet::new();
    for seed in 0..12 {
        let dir = t.path().join(seed.to_string());
        variant(seed, &dir);
        let k = key(&dir);
        let leaks: Vec<String> = k["leakage"].as_array().unwrap().iter().map(|l| l["kind"].to_string()).collect();
        let drifts: Vec<String> =
            k["drift"].as_array().unwrap().iter().map(|d| format!("{}:{}", d["kind"], d["feature"])).collect();
        for l in k["leakage"].as_array().unwrap() {
            if l["kind"] == "target_leakage" {
                leak_names.insert(l["feature"].as_str().unwrap().to_string());
            }
        }
        plans.insert((leaks, drifts));
        trains.insert(std::fs::read(dir.join("public/train.csv")).unwrap());
    }
    assert_eq!(trains.len(), 12, "every seed has its own rows");
    assert!(plans.len() >= 10, "12 seeds gave only {} distinct defect plans: {plans:?}", plans.len());
    assert!(leak_names.len() >= 2, "post-outcome column names do not vary: {leak_names:?}");
}

/// The variant's train rows without duplicates (first occurrence of each id).
fn dedup(train: &Csv, id: &str) -> Vec<usize> {
    let mut seen = BTreeSet::new();
    (0..train.rows()).filter(|&i| seen.insert(train.col(id)[i].clone())).collect()
}

fn pick<T: Clone>(v: &[T], rows: &[usize]) -> Vec<T> {
    rows.iter().map(|&i| v[i].clone()).collect()
}

/// The fitting two-sample test of one aspect of a column, from CSV strings.
fn test_column(kind: &str, a: &[Option<String>], b: &[Option<String>]) -> TestResult {
    let missing = |v: &[Option<String>]| v.iter().filter(|x| x.is_none()).count() as u64;
    match kind {
        "ks" => {
            let num = |v: &[Option<String>]| v.iter().flatten().map(|s| s.parse::<f64>().unwrap()).collect::<Vec<_>>();
            ks_two_sample(&num(a), &num(b))
        }
        "chi_square" => {
            let cats: BTreeSet<&String> = a.iter().chain(b).flatten().collect();
            let count = |v: &[Option<String>]| {
                cats.iter().map(|c| v.iter().filter(|x| x.as_ref() == Some(*c)).count() as u64).collect::<Vec<_>>()
            };
            chi_square_two_sample(&count(a), &count(b))
        }
        "missing_rate_z" => two_proportion_z(missing(a), a.len() as u64, missing(b), b.len() as u64),
        other => panic!("unknown test {other}"),
    }
}

fn fitting_test(drift_kind: &str, categorical: bool) -> &'static str {
    match drift_kind {
        "mean_shift" | "scale_change" => "ks",
        "serving_skew" if !categorical => "ks",
        "new_category" | "serving_skew" => "chi_square",
        "missing_rate" => "missing_rate_z",
        other => panic!("unknown drift kind {other}"),
    }
}

/// The variant's generating model (the sealed key's `model`, drawn from
/// the exercise's family) on `clean` columns alone, computed from a file's
/// values (missing values and unknown categories add nothing): what a
/// model's predictions show of a prior shift.
fn partial_score(spec: &datasets::ExerciseSpec, k: &Value, csv: &Csv, rows: &[usize], clean: &[&str]) -> Vec<f64> {
    let mut out = vec![0.0; rows.len()];
    for term in k["model"]["features"].as_array().expect("the key records the model") {
        let (name, t) = (term[0].as_str().unwrap(), &term[1]);
        if !clean.contains(&name) || t["term"] == "silent" {
            continue;
        }
        let f = spec.feature(name).unwrap();
        let col = csv.col(name);
        for (o, &r) in out.iter_mut().zip(rows) {
            let Some(v) = &col[r] else { continue };
            *o += match &f.dist {
                datasets::spec::Distribution::Categorical { categories, .. } => {
                    categories.iter().position(|c| c == v).and_then(|i| t["effects"][i].as_f64()).unwrap_or(0.0)
                }
                _ => {
                    let g = |k: &str| t[k].as_f64().unwrap();
                    let z = (v.parse::<f64>().unwrap() - g("center")) / g("scale");
                    g("coef") * z + g("quadratic") * z * z
                }
            };
        }
    }
    out
}

/// Feature columns that stay clean at serving time: no planted drift, no
/// temporal leak, not bounded by a constraint on a column that moved.
fn clean_columns<'a>(spec: &'a datasets::ExerciseSpec, k: &Value) -> Vec<&'a str> {
    let drifted: BTreeSet<&str> =
        k["drift"].as_array().unwrap().iter().map(|d| d["feature"].as_str().unwrap()).collect();
    let temporal: BTreeSet<&str> = k["leakage"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "temporal")
        .map(|l| l["feature"].as_str().unwrap())
        .collect();
    let consequences: BTreeSet<&str> =
        k["clean"]["constraint_consequences"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
    spec.features
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| !drifted.contains(n) && !temporal.contains(n) && !consequences.contains(n))
        .collect()
}

#[test]
fn every_planted_defect_is_present_and_certified_from_the_files() {
    let spec = Exercise::load(&churn()).unwrap().spec;
    let c = &spec.certificate;
    let t = TempDir::new().unwrap();
    let mut kinds_seen = BTreeSet::new();
    let mut levels_seen = BTreeSet::new();
    // Together these seeds plant every leak kind and every drift kind
    // (asserted at the end, so a change to the generator cannot quietly
    // drop a kind from this test).
    for seed in [0u64, 4, 8, 13] {
        let dir = t.path().join(seed.to_string());
        variant(seed, &dir);
        let k = key(&dir);
        let train = Csv::read(&dir.join("public/train.csv"));
        let production = Csv::read(&dir.join("public/production.csv"));
        let holdout = parquet(&dir.join("sealed/holdout_serving.parquet"));
        let offline = parquet(&dir.join("sealed/holdout_offline.parquet"));
        let id = spec.exercise.id_column.as_str();
        let label = spec.label.name.as_str();
        let base = dedup(&train, id);
        assert!(!k["leakage"].as_array().unwrap().is_empty() && !k["drift"].as_array().unwrap().is_empty());

        for d in k["drift"].as_array().unwrap() {
            let (kind, feature) = (d["kind"].as_str().unwrap(), d["feature"].as_str().unwrap());
            kinds_seen.insert(kind.to_string());
            levels_seen.insert(format!("drift:{}", d["level"].as_str().unwrap()));
            if kind == "prior_shift" {
                // No column is to blame: the generating model's score over
                // the clean columns moves, deduplicated train against
                // production.
                assert_eq!(feature, datasets::PREDICTION);
                let clean = clean_columns(&spec, &k);
                let all_production: Vec<usize> = (0..production.rows()).collect();
                let r = ks_two_sample(
                    &partial_score(&spec, &k, &train, &base, &clean),
                    &partial_score(&spec, &k, &production, &all_production, &clean),
                );
                assert!(r.p_value <= c.drift_max_p, "seed {seed}: prior shift p = {}", r.p_value);
                let keyed = d["certificate"]["production"]["p_value"].as_f64().unwrap();
                assert!(
                    (r.p_value - keyed).abs() <= 1e-9 + 1e-6 * keyed,
                    "seed {seed}: key says p = {keyed}, files say {}",
                    r.p_value
                );
                // An obvious shift moves the base rate by 1.7-2.1 times; a
                // subtle one by its solved factor (at least 1.05).
                let floor = if d["level"] == "obvious" { 1.6 } else { 1.04 };
                assert!(d["serving_rate"].as_f64().unwrap() > floor * d["train_rate"].as_f64().unwrap(), "{d}");
                continue;
            }
            let categorical = spec.feature(feature).unwrap().dist.is_categorical();
            let test = fitting_test(kind, categorical);
            if kind == "serving_skew" {
                // The served encoding reaches the sealed holdout too.
                let served = holdout.col(feature).iter().flatten().cloned().collect::<BTreeSet<String>>();
                if categorical {
                    let spelling: BTreeSet<String> =
                        d["spelling"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
                    assert!(
                        served.is_subset(&spelling) && !served.is_empty(),
                        "seed {seed}: served {served:?}, spelling {spelling:?}"
                    );
                    assert!(spelling.iter().all(|c| !c.chars().any(char::is_lowercase)), "seed {seed}: {spelling:?}");
                } else {
                    let median = |v: Vec<f64>| {
                        let mut v = v;
                        v.sort_by(f64::total_cmp);
                        v[v.len() / 2]
                    };
                    let m = |csv: &Csv| median(csv.num(feature).into_iter().flatten().collect());
                    let ratio = m(&holdout) / m(&train);
                    assert!(
                        (ratio / d["factor"].as_f64().unwrap() - 1.0).abs() < 0.1,
                        "seed {seed}: {feature} served at {ratio} times"
                    );
                }
            }
            // A subtle drift (where a p-value measures it) lands in the
            // certificate's band against train.csv as published, and a
            // careful test at the family's Bonferroni level still finds it.
            let subtle = d["level"] == "subtle" && matches!(kind, "mean_shift" | "scale_change" | "missing_rate");
            let r = test_column(test, &pick(train.col(feature), &base), production.col(feature));
            let alpha = if subtle { d["detectability"]["alpha"].as_f64().unwrap() } else { c.drift_max_p };
            assert!(r.p_value <= alpha, "seed {seed}: planted {kind} on {feature} has p = {}", r.p_value);
            let keyed = d["certificate"]["production"]["p_value"].as_f64().unwrap();
            assert!(
                (r.p_value - keyed).abs() <= 1e-9 + 1e-6 * keyed,
                "seed {seed}: key says p = {keyed}, files say {}",
                r.p_value
            );
            // Also against train.csv exactly as published (duplicates in).
            let published = test_column(test, train.col(feature), production.col(feature));
            // Under a prior shift the band is judged against train at the
            // serving rate (the key's `detectability.p_value`).
            let prior = k["drift"].as_array().unwrap().iter().any(|d| d["kind"] == "prior_shift");
            let [lo, hi] = match (subtle, prior) {
                (true, false) => c.subtle_drift_p.unwrap(),
                (true, true) => [0.0, alpha],
                (false, _) => [0.0, c.drift_max_p],
            };
            assert!(
                (lo..=hi).contains(&published.p_value),
                "seed {seed}: planted {} {kind} on {feature}, published train: p = {}",
                d["level"],
                published.p_value
            );
            assert_eq!(d["certificate"]["passed"], true);
        }

        for l in k["leakage"].as_array().unwrap() {
            let y_train = train.labels(label);
            kinds_seen.insert(l["kind"].as_str().unwrap().to_string());
            levels_seen.insert(format!("leak:{}", l["level"].as_str().unwrap()));
            match l["kind"].as_str().unwrap() {
                kind @ ("target_leakage" | "identifier") => {
                    let col = l["feature"].as_str().unwrap();
                    let num = |csv: &Csv| csv.num(col).into_iter().map(|x| x.unwrap()).collect::<Vec<f64>>();
                    let a_train = auc(&num(&train), &y_train).unwrap();
                    let a_off = auc(&num(&offline), &offline.labels(label)).unwrap();
                    let a_serve = auc(&num(&holdout), &holdout.labels(label)).unwrap();
                    assert!(
                        (a_train - 0.5).abs() + 0.5 >= c.leak_min_train_auc,
                        "seed {seed}: {kind} {col} train AUC {a_train}"
                    );
                    assert!(
                        (a_off - 0.5).abs() + 0.5 >= c.leak_min_train_auc,
                        "seed {seed}: {kind} offline AUC {a_off}"
                    );
                    assert!(
                        (a_serve - 0.5).abs() <= c.leak_max_serving_gap,
                        "seed {seed}: {kind} serving AUC {a_serve}"
                    );
                    assert!(production.header.iter().any(|h| h == col), "the leak column is served in production too");
                    if kind == "identifier" {
                        // Rows shared with production (contamination) carry
                        // production's ids; the extract's own ids come before.
                        let served: BTreeSet<u64> = num(&production).iter().map(|x| x.to_bits()).collect();
                        let max_train =
                            num(&train).into_iter().filter(|x| !served.contains(&x.to_bits())).fold(f64::MIN, f64::max);
                        assert!(num(&production).iter().all(|&x| x > max_train), "new customers get new ids");
                    }
                }
                "duplicate_rows" => {
                    let dups = train.rows() - base.len();
                    assert!(
                        dups > 0 && l["certificate"]["duplicate_rows"] == dups,
                        "seed {seed}: {dups} duplicates, key {l}"
                    );
                    // Whole rows are repeated, not just ids.
                    let rows: BTreeSet<Vec<Option<String>>> =
                        (0..train.rows()).map(|i| train.columns.iter().map(|c| c[i].clone()).collect()).collect();
                    assert_eq!(rows.len(), base.len(), "seed {seed}: duplicated ids must be duplicated rows");
                    let rate = |idx: &[usize]| idx.iter().filter(|&&i| y_train[i]).count() as f64 / idx.len() as f64;
                    let all: Vec<usize> = (0..train.rows()).collect();
                    assert!(rate(&all) > rate(&base), "duplicates are mostly churners and inflate the base rate");
                }
                "temporal" => {
                    // A real feature the extract measured too late: it
                    // separates in train and in the offline holdout, much
                    // less as served, and it is never judged as drift.
                    let col = l["feature"].as_str().unwrap();
                    let num = |csv: &Csv| {
                        let v = csv.num(col);
                        let mut present: Vec<f64> = v.iter().flatten().copied().collect();
                        present.sort_by(f64::total_cmp);
                        let median = present[present.len() / 2];
                        v.into_iter().map(|x| x.unwrap_or(median)).collect::<Vec<f64>>()
                    };
                    let strength = |a: f64| (a - 0.5).abs() + 0.5;
                    let a_train = strength(auc(&num(&train), &y_train).unwrap());
                    let a_off = strength(auc(&num(&offline), &offline.labels(label)).unwrap());
                    let a_serve = strength(auc(&num(&holdout), &holdout.labels(label)).unwrap());
                    assert!(
                        a_train >= c.leak_min_train_auc && a_off >= c.leak_min_train_auc,
                        "seed {seed}: {col} {a_train} {a_off}"
                    );
                    assert!(
                        a_train - a_serve >= c.temporal_min_auc_drop && a_serve > 0.5,
                        "seed {seed}: {col} train {a_train}, served {a_serve}"
                    );
                    assert!(
                        k["drift_neutral_columns"].as_array().unwrap().iter().any(|n| n == col),
                        "seed {seed}: {col} is drift-neutral"
                    );
                }
                "contamination" => {
                    // Production's customers in train, as the extract records
                    // them: the same id, the same values wherever neither the
                    // serving period's drift nor a leak changes them.
                    let ids: BTreeSet<&Option<String>> = production.col(id).iter().collect();
                    let shared: Vec<usize> = (0..train.rows()).filter(|&i| ids.contains(&train.col(id)[i])).collect();
                    let distinct: BTreeSet<&Option<String>> = shared.iter().map(|&i| &train.col(id)[i]).collect();
                    assert!(
                        !distinct.is_empty() && l["certificate"]["contaminated_rows"] == distinct.len(),
                        "seed {seed}: {} shared, key {l}",
                        distinct.len()
                    );
                    let moved: BTreeSet<&str> = k["drift"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .chain(k["leakage"].as_array().unwrap())
                        .filter_map(|d| d["feature"].as_str())
                        .chain(
                            k["clean"]["constraint_consequences"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|c| c.as_str()),
                        )
                        .collect();
                    let at: std::collections::BTreeMap<&Option<String>, usize> =
                        (0..production.rows()).map(|i| (&production.col(id)[i], i)).collect();
                    for &i in &shared {
                        let j = at[&train.col(id)[i]];
                        for h in production.header.iter().filter(|h| !moved.contains(h.as_str())) {
                            assert_eq!(
                                train.col(h)[i],
                                production.col(h)[j],
                                "seed {seed}: train's row {i} differs from production's in {h}, which nothing moved"
                            );
                        }
                    }
                    // Drifted columns carry the extract's values: a served
                    // encoding or category never reaches train.csv.
                    for d in k["drift"].as_array().unwrap().iter().filter(|d| d["kind"] != "prior_shift") {
                        let h = d["feature"].as_str().unwrap();
                        let base: BTreeSet<&Option<String>> =
                            (0..train.rows()).filter(|i| !shared.contains(i)).map(|i| &train.col(h)[i]).collect();
                        if matches!(d["kind"].as_str(), Some("new_category" | "serving_skew"))
                            && spec.feature(h).unwrap().dist.is_categorical()
                        {
                            assert!(
                                shared.iter().all(|&i| base.contains(&train.col(h)[i])),
                                "seed {seed}: a served category of {h} in train.csv"
                            );
                        }
                    }
                }
                other => panic!("unknown leak kind {other}"),
            }
            assert_eq!(l["certificate"]["passed"], true);
        }
        let bayes = k["bayes"]["holdout_auc"].as_f64().unwrap();
        assert!((c.bayes_auc[0]..=c.bayes_auc[1]).contains(&bayes), "seed {seed}: Bayes AUC {bayes}");
    }
    let all: BTreeSet<String> = [
        "target_leakage",
        "identifier",
        "duplicate_rows",
        "temporal",
        "contamination",
        "mean_shift",
        "scale_change",
        "missing_rate",
        "new_category",
        "serving_skew",
        "prior_shift",
    ]
    .map(String::from)
    .into();
    assert_eq!(kinds_seen, all, "the chosen seeds no longer cover every defect kind");
    let levels: BTreeSet<String> =
        ["drift:obvious", "drift:subtle", "leak:obvious", "leak:subtle"].iter().map(|s| s.to_string()).collect();
    assert_eq!(levels_seen, levels, "every seed carries the mix");
}

#[test]
fn no_clean_column_drifts_beyond_the_bonferroni_bound() {
    // The family as a careful candidate could test it: every clean column ×
    // aspect × batch (production; the sealed traffic the live probe sends)
    // × reference (train.csv as published, and deduplicated).
    let spec = Exercise::load(&churn()).unwrap().spec;
    let t = TempDir::new().unwrap();
    for seed in [0u64, 1, 3, 4] {
        let dir = t.path().join(seed.to_string());
        variant(seed, &dir);
        let k = key(&dir);
        let train = Csv::read(&dir.join("public/train.csv"));
        let production = Csv::read(&dir.join("public/production.csv"));
        let traffic = parquet(&dir.join("sealed/traffic.parquet"));
        let base = dedup(&train, &spec.exercise.id_column);
        let all: Vec<usize> = (0..train.rows()).collect();
        assert!(
            k["drift"].as_array().unwrap().iter().all(|d| d["kind"] != "prior_shift"),
            "seed {seed}: pick seeds without a prior shift"
        );
        let clean = clean_columns(&spec, &k);
        // One family per batch against one reference, as a candidate tests:
        // [deduplicated, as published] x [production, traffic].
        let mut ps: [Vec<f64>; 4] = Default::default();
        let mut aspects = 0;
        for f in spec.features.iter().filter(|f| clean.contains(&f.name.as_str())) {
            let kind = if f.dist.is_categorical() { "chi_square" } else { "ks" };
            let with_missing = pick(train.col(&f.name), &base)
                .iter()
                .chain(production.col(&f.name))
                .chain(traffic.col(&f.name))
                .any(Option::is_none);
            aspects += 1 + usize::from(with_missing);
            for (ri, reference) in [&base, &all].into_iter().enumerate() {
                let a = pick(train.col(&f.name), reference);
                for (bi, b) in [production.col(&f.name), traffic.col(&f.name)].into_iter().enumerate() {
                    ps[ri * 2 + bi].push(test_column(kind, &a, b).p_value);
                    if with_missing {
                        ps[ri * 2 + bi].push(test_column("missing_rate_z", &a, b).p_value);
                    }
                }
            }
        }
        // The decoy (an honest column named from the post-outcome pool) is
        // a clean column like the others: it does not move, and it names
        // nothing about the label (single-feature AUC near 0.5 in train).
        let decoys = k["decoys"].as_array().unwrap();
        assert_eq!(decoys.len(), 1, "seed {seed}: every variant carries a decoy");
        for d in decoys {
            let name = d.as_str().unwrap();
            aspects += 1;
            for (ri, reference) in [&base, &all].into_iter().enumerate() {
                let a = pick(train.col(name), reference);
                for (bi, b) in [production.col(name), traffic.col(name)].into_iter().enumerate() {
                    ps[ri * 2 + bi].push(test_column("ks", &a, b).p_value);
                }
            }
            let values: Vec<f64> =
                base.iter().map(|&r| train.col(name)[r].as_deref().unwrap().parse().unwrap()).collect();
            let labels: Vec<bool> = base.iter().map(|&r| train.col("churned")[r].as_deref() == Some("1")).collect();
            let auc = datasets::stats::auc(&values, &labels).unwrap();
            assert!((auc - 0.5).abs() <= spec.certificate.leak_max_serving_gap, "seed {seed}: decoy {name} AUC {auc}");
        }
        // And the score over the clean columns, against deduplicated train
        // (duplicates, mostly positives, raise train.csv's by design).
        aspects += 1;
        let reference = partial_score(&spec, &k, &train, &base, &clean);
        for (bi, batch) in [&production, &traffic].into_iter().enumerate() {
            let p = ks_two_sample(
                &reference,
                &partial_score(&spec, &k, batch, &(0..batch.rows()).collect::<Vec<_>>(), &clean),
            )
            .p_value;
            ps[bi].push(p);
            ps[2 + bi].push(p);
        }
        assert_eq!(aspects as u64, k["clean"]["tests_per_batch"].as_u64().unwrap(), "seed {seed}");
        for family in &ps {
            assert_eq!(
                family.len() as u64,
                k["clean"]["family_size"].as_u64().unwrap(),
                "seed {seed}: a family counts every test of one batch against one reference"
            );
            let worst = family.iter().copied().fold(1.0, f64::min) * family.len() as f64;
            assert!(
                worst >= spec.certificate.clean_alpha,
                "seed {seed}: a clean column drifts (corrected p = {worst})"
            );
        }
    }
}

#[test]
fn sealed_files_never_reach_public() {
    let t = TempDir::new().unwrap();
    let dir = t.path().join("v");
    variant(3, &dir);
    let public: BTreeSet<String> = files(&dir.join("public")).into_keys().collect();
    let expected: BTreeSet<String> =
        ["production.csv", "production.parquet", "schema.json", "train.csv", "train.parquet"].map(String::from).into();
    assert_eq!(public, expected);
    let k = key(&dir);
    let train = Csv::read(&dir.join("public/train.csv"));
    let production = Csv::read(&dir.join("public/production.csv"));
    let mut columns: Vec<String> =
        k["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().into()).collect();
    assert_eq!(production.header, columns, "production has the feature columns and no label");
    columns.push("churned".into());
    assert_eq!(train.header, columns);
    // Holdout and traffic customers appear nowhere in the public data.
    let public_ids: BTreeSet<Option<String>> =
        train.col("customer_id").iter().chain(production.col("customer_id")).cloned().collect();
    for sealed in ["holdout_serving", "holdout_offline", "traffic"] {
        let s = parquet(&dir.join(format!("sealed/{sealed}.parquet")));
        assert!(s.col("customer_id").iter().all(|id| !public_ids.contains(id)), "{sealed} ids leak into public/");
    }
    let schema = std::fs::read_to_string(dir.join("public/schema.json")).unwrap();
    for secret in ["seed", "true_probability", "answer", "leak", "drift"] {
        assert!(!schema.contains(secret), "schema.json mentions {secret}");
    }
    // Parquet and CSV carry the same rows.
    let tp = parquet(&dir.join("public/train.parquet"));
    assert_eq!(tp.header, train.header);
    for col in ["customer_id", "monthly_charges", "age", "churned"] {
        assert_eq!(tp.num(col), train.num(col), "{col} differs between train.parquet and train.csv");
    }
    assert_eq!(tp.col("contract_type"), train.col("contract_type"));
}

#[test]
fn derived_seeds_are_stable_per_candidate_and_keyed_by_the_secret() {
    let t = TempDir::new().unwrap();
    let secret = t.path().join("secret");
    std::fs::write(&secret, b"team-secret-0123456789abcdef").unwrap();
    let run = |candidate: &str, out: &str| {
        let o = grader(&[
            "variant",
            "--exercise",
            churn().to_str().unwrap(),
            "--candidate",
            candidate,
            "--secret",
            secret.to_str().unwrap(),
            "--out",
            t.path().join(out).to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read(t.path().join(out).join("public/train.csv")).unwrap()
    };
    let a1 = run("alice", "a1");
    assert_eq!(a1, run("alice", "a2"));
    assert_ne!(a1, run("bob", "b"));
    let k = key(&t.path().join("a1"));
    assert_eq!(k["seed"]["derivation"]["candidate"], "alice");
    assert_eq!(k["seed"]["derivation"]["method"], "hmac-sha256");
    assert!(!k.to_string().contains("team-secret"), "the secret itself is never recorded");
}

/// A copy of the churn exercise with one textual change, in `dir`.
fn edited_exercise(dir: &Path, from: &str, to: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(churn().join("exercise.toml")).unwrap();
    assert!(text.contains(from), "exercise.toml no longer contains {from:?}");
    let path = dir.join("exercise.toml");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path
}

/// Runs `grader variant` on an exercise file expecting a usage error (2)
/// whose message contains every one of `needles`; nothing may be written.
fn rejects(exercise: &Path, needles: &[&str]) {
    let t = TempDir::new().unwrap();
    let out = t.path().join("out");
    let o =
        grader(&["variant", "--exercise", exercise.to_str().unwrap(), "--seed", "1", "--out", out.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "expected exit 2, got {:?}: {err}", o.status.code());
    for n in needles {
        assert!(err.contains(n), "error message lacks {n:?}: {err}");
    }
    assert!(!out.exists(), "nothing is written on bad input");
}

#[test]
fn bad_exercise_files_are_rejected_naming_file_field_and_value() {
    let t = TempDir::new().unwrap();
    let p = |name: &str| {
        let d = t.path().join(name);
        std::fs::create_dir(&d).unwrap();
        d
    };
    let malformed = edited_exercise(&p("malformed"), "[rows]", "[rows");
    rejects(&malformed, &[malformed.to_str().unwrap(), "line"]);
    let unknown =
        edited_exercise(&p("unknown"), r#"kind = "poisson", lambda = 1.1"#, r#"kind = "weibull", lambda = 1.1"#);
    rejects(&unknown, &[unknown.to_str().unwrap(), "weibull", "normal"]);
    let strength = edited_exercise(&p("strength"), "obvious = [0.12, 0.25]", "obvious = [0.12, 1.25]");
    rejects(&strength, &["defects.missing_rate.strength", "1.25", "impossible defect strength"]);
    let negative = edited_exercise(&p("negative"), "sd = 22.0", "sd = -3.0");
    rejects(&negative, &["features.monthly_charges.dist.sd", "-3"]);
    let typo = edited_exercise(&p("typo"), "missing_rate = 0.03", "missing_rat = 0.03");
    rejects(&typo, &["missing_rat"]);
    let not_a_feature = edited_exercise(
        &p("nofeature"),
        r#"features = ["monthly_charges", "tenure_months""#,
        r#"features = ["monthly_charge", "tenure_months""#,
    );
    rejects(&not_a_feature, &["defects.mean_shift.features", "monthly_charge"]);
    // Issue 14's kinds are checked as strictly.
    let unit = edited_exercise(&p("unit"), "unit = { monthly_charges = 100.0 }", "unit = { monthly_charges = 1.2 }");
    rejects(&unit, &["defects.serving_skew.unit.monthly_charges", "1.2", "unit change"]);
    let spelled = edited_exercise(
        &p("spelled"),
        r#"spelling = ["contract_type", "payment_method"]"#,
        r#"spelling = ["contract_type", "age"]"#,
    );
    rejects(&spelled, &["defects.serving_skew.spelling", "age", "categorical"]);
    let temporal = edited_exercise(
        &p("temporal"),
        r#"features = ["logins_30d", "support_tickets_90d", "avg_session_minutes"]"#,
        r#"features = ["region"]"#,
    );
    rejects(&temporal, &["defects.temporal.features", "region", "nonzero"]);
    let prior = edited_exercise(&p("prior"), "subtle = [1.05, 1.7] }", "subtle = [0.5, 1.7] }");
    rejects(&prior, &["defects.prior_shift.strength.subtle", "0.5", "impossible defect strength"]);
    let skew = edited_exercise(&p("skew"), "subtle = [0.005, 0.3] }", "subtle = [0.0, 0.3] }");
    rejects(&skew, &["defects.serving_skew.share.subtle", "above 0"]);
    // Issue 22's family is checked as strictly.
    let chance = edited_exercise(&p("chance"), "signal_chance = 0.8", "signal_chance = 1.5");
    rejects(&chance, &["features.support_tickets_90d.signal_chance", "1.5"]);
    let range = edited_exercise(&p("range"), "coef = [-1.2, -0.4]", "coef = [-0.4, -1.2]");
    rejects(&range, &["features.tenure_months.effect", "[low, high]"]);
    let skill = edited_exercise(&p("skill"), "public_skill = [0.72, 0.90]", "public_skill = [0.9, 0.7]");
    rejects(&skill, &["certificate.public_skill", "0.9"]);
    let rate = edited_exercise(&p("rate"), "positive_rate = [0.18, 0.35]", "positive_rate = [0.18, 1.35]");
    rejects(&rate, &["label.positive_rate", "1.35"]);
    rejects(&t.path().join("absent/exercise.toml"), &["absent/exercise.toml"]);
}

#[test]
fn a_non_empty_output_directory_is_never_touched() {
    let t = TempDir::new().unwrap();
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o =
        grader(&["variant", "--exercise", churn().to_str().unwrap(), "--seed", "1", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not empty") && stderr(&o).contains(out.to_str().unwrap()));
    assert_eq!(files(&out).len(), 1);
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    // No stray temporary directory is left beside it either.
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1);
    // An empty directory is fine.
    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    variant(1, &empty);
}

#[test]
fn seed_arguments_are_checked() {
    let t = TempDir::new().unwrap();
    let ex = churn();
    let out = t.path().join("o");
    let o = grader(&["variant", "--exercise", ex.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--seed"), "{}", stderr(&o));
    let short = t.path().join("short");
    std::fs::write(&short, "abc").unwrap();
    let o = grader(&[
        "variant",
        "--exercise",
        ex.to_str().unwrap(),
        "--candidate",
        "a",
        "--secret",
        short.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(short.to_str().unwrap()) && stderr(&o).contains("at least 16"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn json_summary_is_machine_readable() {
    let t = TempDir::new().unwrap();
    let out = t.path().join("v");
    let o = grader(&[
        "variant",
        "--json",
        "--exercise",
        churn().to_str().unwrap(),
        "--seed",
        "9",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["train_rows"], 20000);
    assert_eq!(v["leaks_planted"].as_u64().unwrap() as usize, key(&out)["leakage"].as_array().unwrap().len());
}
