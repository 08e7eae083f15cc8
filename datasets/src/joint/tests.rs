//! The joint distribution's invariants: declared dependence shows in the
//! rows, no row breaks a constraint (drifted or not), and a bad
//! `[dependence]` or `[[constraints]]` is refused naming its field.

use std::path::Path;

use super::{Joint, Shift};
use crate::draw::Values;
use crate::rng::Rng;
use crate::spec::ExerciseSpec;
use crate::stats::spearman;

fn spec(id: &str) -> (ExerciseSpec, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../exercises").join(id).join("exercise.toml");
    let raw = std::fs::read_to_string(&path).unwrap();
    (ExerciseSpec::parse(&raw, &path).unwrap(), raw)
}

/// A column as numbers (categories as their codes; missing as NaN).
fn numbers(v: &Values) -> Vec<f64> {
    match v {
        Values::Num(x) => x.iter().map(|x| x.unwrap_or(f64::NAN)).collect(),
        Values::Cat(x) => x.iter().map(|c| c.map(f64::from).unwrap_or(f64::NAN)).collect(),
    }
}

/// The rank correlation matrix of the rows, printed for README's table.
fn matrix(spec: &ExerciseSpec, values: &[Values]) -> Vec<Vec<f64>> {
    let cols: Vec<Vec<f64>> = values.iter().map(numbers).collect();
    let names: Vec<&str> = spec.features.iter().map(|f| f.name.as_str()).collect();
    let m: Vec<Vec<f64>> = cols.iter().map(|a| cols.iter().map(|b| spearman(a, b)).collect()).collect();
    eprintln!("{}: Spearman rank correlations of {} rows", spec.exercise.id, values[0].len());
    for (i, row) in m.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|x| format!("{x:+.2}")).collect();
        eprintln!("{:>24} {}", names[i], cells.join(" "));
    }
    m
}

#[test]
fn declared_dependence_shows_and_undeclared_pairs_stay_near_independent() {
    for id in ["churn", "fraud"] {
        let (spec, _) = spec(id);
        let joint = Joint::new(&spec);
        let (values, _) = joint.sample(20_000, &mut Rng::stream(3, 0, "joint-test"));
        let m = matrix(&spec, &values);
        let index = |n: &str| spec.features.iter().position(|f| f.name == n).unwrap();
        let declared = &spec.dependence.as_ref().unwrap().correlations;
        for (a, b, rho) in declared {
            let got = m[index(a)][index(b)];
            // Rank correlation of a Gaussian copula is 6/pi asin(rho/2);
            // counts, categories and truncation pull it towards 0.
            assert!(got.signum() == rho.signum() && got.abs() >= 0.4 * rho.abs(), "{id}: {a} ~ {b}: {got} for {rho}");
            assert!(got.abs() <= rho.abs() + 0.05, "{id}: {a} ~ {b}: {got} for {rho}");
        }
        let strongest = declared.iter().map(|(_, _, r)| r.abs()).fold(0.0, f64::max);
        let max_offdiag =
            (0..m.len()).flat_map(|i| (0..i).map(move |j| (i, j))).map(|(i, j)| m[i][j].abs()).fold(0.0, f64::max);
        assert!(max_offdiag >= 0.4 * strongest, "{id}: strongest dependence {max_offdiag}");
    }
}

#[test]
fn no_row_breaks_a_constraint_before_or_after_a_latent_shift() {
    for id in ["churn", "fraud"] {
        let (spec, _) = spec(id);
        let joint = Joint::new(&spec);
        let (mut values, mut latent) = joint.sample(20_000, &mut Rng::stream(4, 0, "joint-test"));
        assert_eq!(joint.violations(&values), 0, "{id}: clean rows");
        // Shift every numeric feature down and up, as a drift or a
        // temporal leak would: the columns bounded by them follow.
        let rows: Vec<usize> = (0..20_000).collect();
        for (i, f) in spec.features.iter().enumerate().filter(|(_, f)| !f.dist.is_categorical()) {
            for s in [Shift::Mean(-1.5), Shift::Scale(2.2), Shift::Mean(1.5)] {
                joint.rerender(&mut values, &mut latent, &[(i, s)], &rows);
                assert_eq!(joint.violations(&values), 0, "{id}: {} after {s:?}", f.name);
            }
        }
    }
    // What the audit found impossible no longer happens: churn customers
    // who joined before 16, fraud accounts opened before 18, card-present
    // online purchases.
    let (spec, _) = spec("fraud");
    let (v, _) = Joint::new(&spec).sample(20_000, &mut Rng::stream(5, 0, "joint-test"));
    let col = |n: &str| numbers(&v[spec.features.iter().position(|f| f.name == n).unwrap()]);
    let (age, account, merchant, present) =
        (col("customer_age"), col("account_age_days"), col("merchant_category"), col("card_present"));
    assert!((0..20_000).all(|r| account[r] <= 365.0 * (age[r] - 17.0)), "an account opened before 18");
    assert!((0..20_000).all(|r| !(merchant[r] == 3.0 && present[r] == 0.0)), "a card-present online purchase");
}

#[test]
fn a_bad_dependence_or_constraint_is_refused_naming_its_field() {
    let (_, raw) = spec("churn");
    let path = Path::new("exercise.toml");
    let cases = [
        // Pairwise fine, jointly impossible.
        (
            raw.replace(
                "  [\"age\", \"logins_30d\", -0.15],",
                "  [\"age\", \"logins_30d\", -0.15],\n  [\"region\", \"num_devices\", 0.9],\n  [\"region\", \"plan_tier\", -0.9],",
            ),
            "dependence.correlations",
            "not positive definite",
        ),
        (raw.replace("[\"age\", \"logins_30d\", -0.15]", "[\"age\", \"logins\", -0.15]"), "dependence.correlations", "`logins`"),
        (raw.replace("plus = { tenure_months = 0.0833333333 }", "plus = { tenure = 0.08 }"), "constraints[0].plus.tenure", "not a numeric feature"),
        (raw.replace("column = \"age\"\nat_least = 16", "column = \"agee\"\nat_least = 16"), "constraints[0].column", "`agee`"),
        (raw.replace("at_least = 16\n", "at_least = 80\n"), "constraints[0].at_least", "could not satisfy"),
        (
            format!("{raw}\n[[constraints]]\ncolumn = \"tenure_months\"\nat_most = 900\nplus = {{ age = 12 }}\n"),
            "constraints",
            "circle",
        ),
        (
            format!("{raw}\n[[constraints]]\ncolumn = \"plan_tier\"\nallowed = [\"basic\", \"gold\"]\n"),
            "constraints[1].allowed",
            "`gold`",
        ),
    ];
    for (text, field, needle) in cases {
        let err = ExerciseSpec::parse(&text, path).expect_err(field).to_string();
        assert!(err.contains(field) && err.contains(needle), "{field}: {err}");
    }
}

#[test]
fn a_bad_mix_or_level_band_is_refused_naming_its_field() {
    let (_, raw) = spec("churn");
    let path = Path::new("exercise.toml");
    let cases = [
        (raw.replace("leak_count = [2, 2]", "leak_count = [2, 3]"), "defects.mix.leaks", "must be [2, 2]"),
        (
            raw.replace("strength = { obvious = [0.06, 0.12], subtle = [0.015, 0.03] }", "strength = [0.06, 0.12]"),
            "defects.contamination.strength",
            "subtle = [min, max]",
        ),
        (
            raw.replace("subtle = [0.02, 0.04] }", "subtle = [0.0001, 0.04] }"),
            "defects.duplicate_rows.strength.subtle",
            "impossible",
        ),
        (
            raw.replace("subtle_leak_auc = [0.81, 0.87]", "subtle_leak_auc = [0.79, 0.87]"),
            "certificate.subtle_leak_auc",
            "above honest_max_auc",
        ),
        (
            raw.replace("subtle_drift_p = [1e-12, 1e-6]", "subtle_drift_p = [1e-6, 1e-12]"),
            "certificate.subtle_drift_p",
            "low < high",
        ),
    ];
    for (text, field, needle) in cases {
        assert_ne!(text, raw, "{field}: the case changes nothing");
        let err = ExerciseSpec::parse(&text, path).expect_err(field).to_string();
        assert!(err.contains(field) && err.contains(needle), "{field}: {err}");
    }
}
