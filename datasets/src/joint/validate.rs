//! `[dependence]` and `[[constraints]]` checked and compiled once: every
//! name known, the correlation matrix positive definite, no constraint
//! reading its own column through others, and every constraint
//! satisfiable by every row the other columns allow. Errors name the field
//! (`constraints[1].plus.tenure`, `dependence.correlations`).

use super::{Cats, Joint, Rule, RuleKind};
use crate::spec::{Distribution, ExerciseSpec, FeatureSpec};

type Invalid = (String, String);

pub(crate) fn validate(spec: &ExerciseSpec) -> Result<(), Invalid> {
    compile(spec).map(|_| ())
}

pub(super) fn compile(spec: &ExerciseSpec) -> Result<Joint, Invalid> {
    let chol = cholesky_of(spec)?;
    let mut rules = Vec::new();
    for (n, c) in spec.constraints.iter().enumerate() {
        rules.push(rule(spec, n, c)?);
    }
    let k = spec.features.len();
    // Kahn's order, lowest feature index first: a column after the ones it reads.
    let parents: Vec<Vec<usize>> = (0..k)
        .map(|i| {
            let mut p: Vec<usize> = rules
                .iter()
                .filter(|r| r.column == i)
                .flat_map(|r| r.when.iter().map(|(w, _)| *w).chain(reads(&r.kind)))
                .collect();
            p.sort_unstable();
            p.dedup();
            p
        })
        .collect();
    let mut order = Vec::with_capacity(k);
    let mut done = vec![false; k];
    while order.len() < k {
        let Some(next) = (0..k).find(|&i| !done[i] && parents[i].iter().all(|p| done[*p])) else {
            let stuck: Vec<&str> = (0..k).filter(|i| !done[*i]).map(|i| spec.features[i].name.as_str()).collect();
            return Err((
                "constraints".into(),
                format!(
                    "the constraints read each other in a circle (among {}): a column cannot bound itself",
                    stuck.join(", ")
                ),
            ));
        };
        done[next] = true;
        order.push(next);
    }
    let dependents = (0..k)
        .map(|i| {
            let mut out: Vec<usize> = Vec::new();
            let mut frontier = vec![i];
            while let Some(x) = frontier.pop() {
                for (j, p) in parents.iter().enumerate() {
                    if p.contains(&x) && !out.contains(&j) {
                        out.push(j);
                        frontier.push(j);
                    }
                }
            }
            out.sort_unstable();
            out
        })
        .collect();
    let joint = Joint { chol, order, rules, dependents, features: spec.features.clone(), admitted: vec![None; k] };
    satisfiable(spec, &joint)?;
    Ok(joint)
}

fn reads(kind: &RuleKind) -> Vec<usize> {
    match kind {
        RuleKind::AtLeast { plus, .. } | RuleKind::AtMost { plus, .. } => plus.iter().map(|(i, _)| *i).collect(),
        RuleKind::Allowed(_) => Vec::new(),
    }
}

/// The lower Cholesky factor of the latent correlation matrix.
fn cholesky_of(spec: &ExerciseSpec) -> Result<Vec<Vec<f64>>, Invalid> {
    let k = spec.features.len();
    let field = "dependence.correlations".to_string();
    let mut m = vec![vec![0.0; k]; k];
    (0..k).for_each(|i| m[i][i] = 1.0);
    let index = |name: &str| spec.features.iter().position(|f| f.name == name);
    for (a, b, rho) in spec.dependence.iter().flat_map(|d| &d.correlations) {
        let (Some(i), Some(j)) = (index(a), index(b)) else {
            let unknown = if index(a).is_none() { a } else { b };
            return Err((field, format!("`{unknown}` is not a feature of this exercise")));
        };
        if i == j {
            return Err((field, format!("[{a}, {b}] pairs a feature with itself")));
        }
        if !(rho.is_finite() && rho.abs() < 1.0) {
            return Err((field, format!("[{a}, {b}, {rho}]: a correlation lies strictly between -1 and 1")));
        }
        if m[i][j] != 0.0 {
            return Err((field, format!("[{a}, {b}] is given twice")));
        }
        m[i][j] = *rho;
        m[j][i] = *rho;
    }
    let mut l = vec![vec![0.0; k]; k];
    for i in 0..k {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m2| l[i][m2] * l[j][m2]).sum();
            if i == j {
                let d = m[i][i] - s;
                if d <= 1e-9 {
                    return Err((
                        field,
                        format!(
                            "the correlation matrix is not positive definite (it fails at `{}`): no joint distribution has these correlations",
                            spec.features[i].name
                        ),
                    ));
                }
                l[i][i] = libm::sqrt(d);
            } else {
                l[i][j] = (m[i][j] - s) / l[j][j];
            }
        }
    }
    Ok(l)
}

fn rule(spec: &ExerciseSpec, n: usize, c: &super::ConstraintSpec) -> Result<Rule, Invalid> {
    let at = format!("constraints[{n}]");
    let index = |name: &str| spec.features.iter().position(|f| f.name == name);
    let Some(column) = index(&c.column) else {
        return Err((format!("{at}.column"), format!("`{}` is not a feature of this exercise", c.column)));
    };
    let f = &spec.features[column];
    // A training category by code, or a name of the feature's new-category pool.
    let codes = |f: &FeatureSpec, names: &[String], field: String| -> Result<Cats, Invalid> {
        let Distribution::Categorical { categories, .. } = &f.dist else {
            return Err((field, format!("`{}` is numeric; categories name a categorical feature's values", f.name)));
        };
        if names.is_empty() {
            return Err((field, "needs at least one category".into()));
        }
        let pool: &[String] =
            spec.defects.new_category.as_ref().and_then(|n| n.features.get(&f.name)).map(Vec::as_slice).unwrap_or(&[]);
        let mut cats = Cats { codes: Vec::new(), pool: Vec::new() };
        for x in names {
            if let Some(p) = categories.iter().position(|c| c == x) {
                cats.codes.push(p as u32);
            } else if pool.contains(x) {
                cats.pool.push(x.clone());
            } else {
                return Err((
                    field,
                    format!(
                        "`{x}` is neither one of `{}`'s categories {categories:?} nor in its new-category pool",
                        f.name
                    ),
                ));
            }
        }
        if cats.codes.is_empty() && matches!(field.rsplit('.').next(), Some("allowed")) {
            return Err((
                field,
                "needs at least one training category (pool categories are planted, not drawn)".into(),
            ));
        }
        Ok(cats)
    };
    let mut when = Vec::new();
    for (name, cats) in &c.when {
        let Some(i) = index(name) else {
            return Err((format!("{at}.when.{name}"), format!("`{name}` is not a feature of this exercise")));
        };
        if i == column {
            return Err((format!("{at}.when.{name}"), "a constraint cannot depend on its own column".into()));
        }
        when.push((i, codes(&spec.features[i], cats, format!("{at}.when.{name}"))?));
    }
    let kind = match (c.at_least, c.at_most, &c.allowed) {
        (Some(_), None, None) | (None, Some(_), None) => {
            if f.dist.is_categorical() {
                return Err((
                    format!("{at}.column"),
                    format!("`{}` is categorical: bound it with `allowed`, not at_least/at_most", f.name),
                ));
            }
            let mut plus = Vec::new();
            for (name, w) in &c.plus {
                let Some(i) = index(name).filter(|i| !spec.features[*i].dist.is_categorical()) else {
                    return Err((
                        format!("{at}.plus.{name}"),
                        format!("`{name}` is not a numeric feature of this exercise"),
                    ));
                };
                if i == column || !w.is_finite() {
                    return Err((
                        format!("{at}.plus.{name}"),
                        format!("{w}: a finite weight on another column than the bounded one"),
                    ));
                }
                plus.push((i, *w));
            }
            let constant = c.at_least.or(c.at_most).expect("one of them");
            if !constant.is_finite() {
                return Err((format!("{at}.at_least"), format!("{constant} must be finite")));
            }
            if c.at_least.is_some() {
                RuleKind::AtLeast { constant, plus }
            } else {
                RuleKind::AtMost { constant, plus }
            }
        }
        (None, None, Some(allowed)) => {
            if !c.plus.is_empty() {
                return Err((format!("{at}.plus"), "`plus` moves a numeric bound; `allowed` takes none".into()));
            }
            RuleKind::Allowed(codes(f, allowed, format!("{at}.allowed"))?)
        }
        _ => {
            return Err((
                at,
                "needs exactly one of `at_least`, `at_most` (a numeric column) or `allowed` (a categorical one)".into(),
            ))
        }
    };
    Ok(Rule { column, when, kind })
}

/// The range a numeric feature's values can take: its clip, or its
/// distribution's support.
fn range_of(f: &FeatureSpec) -> (f64, f64) {
    if let Some([lo, hi]) = f.clip {
        return (lo, hi);
    }
    match f.dist {
        Distribution::Normal { .. } => (f64::NEG_INFINITY, f64::INFINITY),
        Distribution::Uniform { low, high } => (low, high),
        _ => (0.0, f64::INFINITY),
    }
}

/// Every row the other columns allow leaves the bounded column room: a
/// numeric bound stays inside the column's range at its extremes, and the
/// categorical constraints that can hold at once leave a category.
fn satisfiable(spec: &ExerciseSpec, joint: &Joint) -> Result<(), Invalid> {
    for (n, rule) in joint.rules.iter().enumerate() {
        let at = format!("constraints[{n}]");
        let f = &spec.features[rule.column];
        let (lo, hi) = range_of(f);
        let extreme = |constant: f64, plus: &[(usize, f64)], upward: bool| -> Result<f64, Invalid> {
            plus.iter().try_fold(constant, |acc, (i, w)| {
                let (a, b) = range_of(&spec.features[*i]);
                let x = if (*w > 0.0) == upward { b } else { a };
                if x.is_finite() {
                    Ok(acc + w * x)
                } else {
                    Err((
                        format!("{at}.plus.{}", spec.features[*i].name),
                        format!(
                            "`{}` has no finite range (give it a `clip`): the bound would be unbounded",
                            spec.features[*i].name
                        ),
                    ))
                }
            })
        };
        match &rule.kind {
            RuleKind::AtLeast { constant, plus } => {
                let worst = extreme(*constant, plus, true)?;
                if worst >= hi {
                    return Err((
                        format!("{at}.at_least"),
                        format!("`{}` would have to reach {worst}, at or above its upper end {hi}: some rows could not satisfy it", f.name),
                    ));
                }
            }
            RuleKind::AtMost { constant, plus } => {
                let worst = extreme(*constant, plus, false)?;
                if worst <= lo {
                    return Err((
                        format!("{at}.at_most"),
                        format!("`{}` would have to fall to {worst}, at or below its lower end {lo}: some rows could not satisfy it", f.name),
                    ));
                }
            }
            RuleKind::Allowed(_) => {}
        }
    }
    // Categorical: every combination of the conditioning categories leaves
    // the bounded column at least one category.
    for (i, f) in spec.features.iter().enumerate() {
        let mine: Vec<&Rule> =
            joint.rules.iter().filter(|r| r.column == i && matches!(r.kind, RuleKind::Allowed(_))).collect();
        if mine.is_empty() {
            continue;
        }
        let mut cols: Vec<usize> = mine.iter().flat_map(|r| r.when.iter().map(|(w, _)| *w)).collect();
        cols.sort_unstable();
        cols.dedup();
        let sizes: Vec<u32> = cols
            .iter()
            .map(|c| match &spec.features[*c].dist {
                Distribution::Categorical { categories, .. } => categories.len() as u32,
                _ => 1,
            })
            .collect();
        let Distribution::Categorical { categories, .. } = &f.dist else { continue };
        let combos: u64 = sizes.iter().map(|s| *s as u64).product();
        if combos > 1_000_000 {
            return Err((
                "constraints".into(),
                format!("the constraints on `{}` condition on too many combinations", f.name),
            ));
        }
        for code in 0..combos {
            let mut rest = code;
            let pick: Vec<u32> = sizes
                .iter()
                .map(|s| {
                    let x = (rest % *s as u64) as u32;
                    rest /= *s as u64;
                    x
                })
                .collect();
            let holds = |r: &Rule| {
                r.when
                    .iter()
                    .all(|(w, cats)| cats.codes.contains(&pick[cols.iter().position(|c| c == w).expect("listed")]))
            };
            let mut left: Vec<u32> = (0..categories.len() as u32).collect();
            for r in mine.iter().filter(|r| holds(r)) {
                if let RuleKind::Allowed(a) = &r.kind {
                    left.retain(|c| a.codes.contains(c));
                }
            }
            if left.is_empty() {
                let n = joint.rules.iter().position(|r| r == *mine.last().expect("non-empty")).unwrap_or(0);
                return Err((
                    format!("constraints[{n}].allowed"),
                    format!("the constraints on `{}` leave it no category for some rows", f.name),
                ));
            }
        }
    }
    Ok(())
}
