//! Every value of exercise.toml checked once, naming the field in its
//! error (`features.age.dist.sd`); each defect kind checks its own section
//! (`defects::catalog`).

use std::collections::BTreeSet;

use super::*;

impl ExerciseSpec {
    /// Checks every value; the error names the field (`features.age.dist.sd`).
    pub fn validate(&self) -> std::result::Result<(), (String, String)> {
        let e = |field: String, msg: String| Err((field, msg));
        let r = &self.rows;
        for (name, n, min) in [
            ("rows.train", r.train, 200),
            ("rows.production", r.production, 100),
            ("rows.holdout", r.holdout, 100),
            ("rows.traffic", r.traffic, 100),
        ] {
            if n < min {
                return e(name.into(), format!("{n} rows is too few to certify defects (at least {min})"));
            }
        }
        if self.label.name.trim().is_empty() {
            return e("label.name".into(), "must not be empty".into());
        }
        if !self.label.intercept.is_finite() {
            return e("label.intercept".into(), "must be a finite number or a [low, high] range".into());
        }
        if let Some(r) = self.label.positive_rate {
            check_range("certificate.label.positive_rate", r, 0.001, 0.999)
                .map_err(|(_, m)| ("label.positive_rate".to_string(), m))?;
        }
        if self.features.is_empty() {
            return e("features".into(), "an exercise needs at least one feature".into());
        }
        let mut names = BTreeSet::new();
        names.insert(self.label.name.clone());
        if !names.insert(self.exercise.id_column.clone()) {
            return e("exercise.id_column".into(), "must differ from the label".into());
        }
        for f in &self.features {
            let at = format!("features.{}", f.name);
            if f.name.trim().is_empty() {
                return e("features.name".into(), "must not be empty".into());
            }
            if !names.insert(f.name.clone()) {
                return e(
                    format!("{at}.name"),
                    format!("`{}` is used twice (or clashes with the label or id column)", f.name),
                );
            }
            validate_distribution(&f.dist).or_else(|(k, m)| e(format!("{at}.dist.{k}"), m))?;
            if !(0.0..0.9).contains(&f.missing_rate) {
                return e(format!("{at}.missing_rate"), format!("{} is outside [0, 0.9)", f.missing_rate));
            }
            if let Some([lo, hi]) = f.clip {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return e(format!("{at}.clip"), format!("[{lo}, {hi}] is not a range with low < high"));
                }
            }
            if let Some(c) = f.signal_chance {
                if !(c > 0.0 && c <= 1.0) {
                    return e(format!("{at}.signal_chance"), format!("{c} is outside (0, 1]"));
                }
            }
            if f.decimals() > 6 {
                return e(format!("{at}.decimals"), format!("{} is more than 6", f.decimals()));
            }
            match &f.dist {
                Distribution::Categorical { categories, .. } => {
                    if f.effect.is_some() {
                        return e(
                            format!("{at}.effect"),
                            "a categorical feature takes `effects` per category, not `effect`".into(),
                        );
                    }
                    if f.clip.is_some() || f.decimals.is_some() {
                        return e(format!("{at}.clip"), "clip and decimals apply to numeric features only".into());
                    }
                    for (cat, v) in &f.effects {
                        if !categories.contains(cat) {
                            return e(
                                format!("{at}.effects.{cat}"),
                                format!("`{cat}` is not one of the categories {categories:?}"),
                            );
                        }
                        if !v.is_finite() {
                            return e(
                                format!("{at}.effects.{cat}"),
                                "must be a finite number or a [low, high] range".into(),
                            );
                        }
                    }
                }
                _ => {
                    if !f.effects.is_empty() {
                        return e(
                            format!("{at}.effects"),
                            "a numeric feature takes one `effect`, not per-category `effects`".into(),
                        );
                    }
                    if let Some(ef) = f.effect {
                        if !(ef.scale.is_finite() && ef.scale > 0.0) {
                            return e(format!("{at}.effect.scale"), format!("{} must be positive", ef.scale));
                        }
                        if !(ef.coef.is_finite() && ef.center.is_finite() && ef.quadratic.is_finite()) {
                            return e(
                                format!("{at}.effect"),
                                "coef and quadratic must be finite numbers or [low, high] ranges, center finite".into(),
                            );
                        }
                    }
                }
            }
        }
        crate::joint::validate(self)?;
        crate::defects::catalog::validate(self, &names)?;
        self.validate_certificate()?;
        if let Some(l) = &self.lifecycle {
            crate::lifecycle::validate(self, l)?;
        }
        if self.lifecycle.is_some() != self.rubric.lifecycle.is_some() {
            return e(
                "rubric.lifecycle".into(),
                "an exercise with [lifecycle] weighs its group here, and only such an exercise".into(),
            );
        }
        if let Some(v) = &self.validate {
            if v.seeds.is_empty() {
                return e("validate.seeds".into(), "needs at least one seed".into());
            }
            for f in &v.fixtures {
                if !(0.0..=100.0).contains(&f.min_percent)
                    || !(0.0..=100.0).contains(&f.max_percent)
                    || f.min_percent > f.max_percent
                {
                    return e(
                        format!("validate.fixtures.{}", f.path),
                        format!("[{}, {}] is not a band within [0, 100]", f.min_percent, f.max_percent),
                    );
                }
            }
            if let Some(p) = &v.parity {
                for (field, value) in [
                    ("validate.parity.max_score_spread", p.max_score_spread),
                    ("validate.parity.max_gap_spread", p.max_gap_spread),
                ] {
                    if !(0.0..=100.0).contains(&value) {
                        return e(field.into(), format!("{value} is outside [0, 100] points"));
                    }
                }
                if let Some(m) = p.max_careless_auc_sd {
                    if !(0.0..=0.5).contains(&m) {
                        return e("validate.parity.max_careless_auc_sd".into(), format!("{m} is outside [0, 0.5]"));
                    }
                }
            }
        }
        self.validate_operations()
    }

    fn validate_certificate(&self) -> std::result::Result<(), (String, String)> {
        let c = &self.certificate;
        let e = |field: &str, msg: String| Err((format!("certificate.{field}"), msg));
        if !(c.drift_max_p > 0.0 && c.drift_max_p < 0.05) {
            return e("drift_max_p", format!("{} is outside (0, 0.05)", c.drift_max_p));
        }
        if !(c.clean_alpha > 0.0 && c.clean_alpha < 1.0) {
            return e("clean_alpha", format!("{} is outside (0, 1)", c.clean_alpha));
        }
        if !(0.5..=1.0).contains(&c.leak_min_train_auc) {
            return e("leak_min_train_auc", format!("{} is outside [0.5, 1]", c.leak_min_train_auc));
        }
        if let Some(h) = c.honest_max_auc {
            if !(0.5..0.97).contains(&h) {
                return e(
                    "honest_max_auc",
                    format!("{h} is outside [0.5, 0.97): a temporal leak must stand out above it"),
                );
            }
        }
        if let Some([lo, hi]) = c.subtle_drift_p {
            if !(lo > 0.0 && lo < hi && hi <= c.drift_max_p.max(1e-3)) {
                return e("subtle_drift_p", format!("[{lo:e}, {hi:e}] needs 0 < low < high <= 1e-3"));
            }
        }
        if !(0.5..=1.0).contains(&c.subtle_min_power) {
            return e("subtle_min_power", format!("{} is outside [0.5, 1]", c.subtle_min_power));
        }
        if !(c.subtle_max_psi > 0.0 && c.subtle_max_psi <= 1.0) {
            return e("subtle_max_psi", format!("{} is outside (0, 1]", c.subtle_max_psi));
        }
        if let Some([lo, hi]) = c.subtle_leak_auc {
            if !(0.5 < lo && lo < hi && hi < 1.0) {
                return e("subtle_leak_auc", format!("[{lo}, {hi}] needs 0.5 < low < high < 1"));
            }
            if let Some(h) = c.honest_max_auc.filter(|h| lo < h + crate::certify::LEAK_MARGIN - 1e-9) {
                return e(
                    "subtle_leak_auc",
                    format!(
                        "its low end {lo} must stand {} above honest_max_auc {h}: a subtle leak still stands out",
                        crate::certify::LEAK_MARGIN
                    ),
                );
            }
        }
        if !(0.0..0.5).contains(&c.leak_max_serving_gap) {
            return e("leak_max_serving_gap", format!("{} is outside [0, 0.5)", c.leak_max_serving_gap));
        }
        check_range("certificate.bayes_auc", c.bayes_auc, 0.5, 1.0)
            .map_err(|(_, m)| ("certificate.bayes_auc".into(), m))?;
        if let Some(r) = c.public_skill {
            check_range("certificate.public_skill", r, -1.0, 1.0)
                .map_err(|(_, m)| ("certificate.public_skill".into(), m))?;
        }
        if c.max_attempts == 0 || c.max_attempts > 1000 {
            return e("max_attempts", format!("{} is outside [1, 1000]", c.max_attempts));
        }
        Ok(())
    }

    fn validate_operations(&self) -> std::result::Result<(), (String, String)> {
        let c = &self.contract;
        let e = |field: &str, msg: String| Err((field.to_string(), msg));
        // v2 is v1 plus `/feedback` and `/monitor` (issue 25): it is the
        // contract of an exercise with a production replay, and only of one.
        match (c.version, self.lifecycle.is_some()) {
            (1, false) | (2, true) => {}
            (1, true) => {
                return e("contract.version", "is 1, but [lifecycle] needs contract v2 (/feedback, /monitor)".into())
            }
            (2, false) => return e("contract.version", "is 2, which needs a [lifecycle] section".into()),
            (v, _) => return e("contract.version", format!("{v} is unknown; this grader speaks contract v1 and v2")),
        }
        if c.base_image.trim().is_empty() {
            return e("contract.base_image", "must name an image".into());
        }
        if c.max_rows_per_request == 0 {
            return e("contract.max_rows_per_request", "must be at least 1".into());
        }
        for (f, v) in [
            ("contract.build_timeout_seconds", c.build_timeout_seconds),
            ("contract.startup_timeout_seconds", c.startup_timeout_seconds),
            ("contract.request_timeout_ms", c.request_timeout_ms),
            ("contract.memory_mb", c.memory_mb),
            ("contract.nofile", c.nofile),
            ("contract.log_bytes", c.log_bytes),
            ("contract.max_context_mb", c.max_context_mb),
            ("contract.max_context_entries", c.max_context_entries),
            ("contract.build_memory_mb", c.build_memory_mb),
            ("contract.build_disk_mb", c.build_disk_mb),
            ("contract.max_image_mb", c.max_image_mb),
            ("contract.output_mb", c.output_mb),
            ("probes.latency_timeout_ms", self.probes.latency_timeout_ms),
        ] {
            if v == 0 {
                return e(f, "must be greater than 0".into());
            }
        }
        if c.build_pids < 16 {
            return e("contract.build_pids", format!("{} is below 16", c.build_pids));
        }
        if !(c.build_cpus > 0.0 && c.build_cpus <= 64.0) {
            return e("contract.build_cpus", format!("{} is outside (0, 64]", c.build_cpus));
        }
        if c.build_memory_mb > 2047 {
            return e(
                "contract.build_memory_mb",
                format!("{} MB is over the engine's 2047 MB build limit", c.build_memory_mb),
            );
        }
        if c.memory_mb < 64 {
            return e("contract.memory_mb", format!("{} MB is too little to run Python", c.memory_mb));
        }
        if !(c.cpus > 0.0 && c.cpus <= 64.0) {
            return e("contract.cpus", format!("{} is outside (0, 64]", c.cpus));
        }
        if c.pids < 16 {
            return e("contract.pids", format!("{} is below 16", c.pids));
        }
        let p = &self.probes;
        if p.correctness_batch_rows == 0 || p.correctness_batch_rows > c.max_rows_per_request {
            return e(
                "probes.correctness_batch_rows",
                format!("{} must be in [1, contract.max_rows_per_request]", p.correctness_batch_rows),
            );
        }
        if !(p.latency_rate_per_second > 0.0 && p.latency_rate_per_second <= 100_000.0) {
            return e(
                "probes.latency_rate_per_second",
                format!("{} is outside (0, 100000]", p.latency_rate_per_second),
            );
        }
        // NaN fails both checks, as it should.
        let (duration, warmup) = (p.latency_duration_seconds, p.latency_warmup_seconds);
        if duration.is_nan() || duration <= 0.0 || warmup.is_nan() || warmup < 0.0 {
            return e("probes.latency_duration_seconds", "duration must be positive and warm-up not negative".into());
        }
        if p.max_response_bytes < 1024 {
            return e("probes.max_response_bytes", "must be at least 1024".into());
        }
        let s = &self.slo;
        if !(s.p50_ms > 0.0 && s.p99_ms >= s.p50_ms) {
            return e("slo.p99_ms", format!("needs 0 < p50_ms ({}) <= p99_ms ({})", s.p50_ms, s.p99_ms));
        }
        if !(0.0..=1.0).contains(&s.max_error_rate) {
            return e("slo.max_error_rate", format!("{} is outside [0, 1]", s.max_error_rate));
        }
        if !(0.0..=1.0).contains(&s.min_auc_fraction) {
            return e("slo.min_auc_fraction", format!("{} is outside [0, 1]", s.min_auc_fraction));
        }
        let r = &self.rubric;
        let weights = [
            r.contract,
            r.correctness,
            r.leak_reliance,
            r.latency,
            r.robustness,
            r.drift_monitoring,
            r.findings,
            r.lifecycle.unwrap_or(0.0),
        ];
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || weights.iter().sum::<f64>() <= 0.0 {
            return e("rubric", "weights must be non-negative and not all zero".into());
        }
        Ok(())
    }
}

pub(crate) fn check_range(
    field: &str,
    [lo, hi]: Range,
    min: f64,
    max: f64,
) -> std::result::Result<(), (String, String)> {
    let field = if field.starts_with("certificate.") { field.to_string() } else { format!("defects.{field}") };
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return Err((field, format!("[{lo}, {hi}] is not a range with low <= high")));
    }
    if lo < min || hi > max {
        return Err((
            field,
            format!("[{lo}, {hi}] is outside the possible [{min}, {max}]: impossible defect strength"),
        ));
    }
    Ok(())
}

fn validate_distribution(d: &Distribution) -> std::result::Result<(), (String, String)> {
    let pos = |k: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err((k.to_string(), format!("{v} must be a positive number")))
        }
    };
    let fin = |k: &str, v: f64| {
        if v.is_finite() {
            Ok(())
        } else {
            Err((k.to_string(), format!("{v} must be finite")))
        }
    };
    match d {
        Distribution::Normal { mean, sd } => {
            fin("mean", *mean)?;
            pos("sd", *sd)
        }
        Distribution::Lognormal { mu, sigma } => {
            fin("mu", *mu)?;
            pos("sigma", *sigma)
        }
        Distribution::Uniform { low, high } => {
            fin("low", *low)?;
            fin("high", *high)?;
            if low < high {
                Ok(())
            } else {
                Err(("high".into(), format!("{high} must exceed low {low}")))
            }
        }
        Distribution::Exponential { mean } => pos("mean", *mean),
        Distribution::Poisson { lambda } => {
            pos("lambda", *lambda)?;
            if *lambda > 1e6 {
                Err(("lambda".into(), format!("{lambda} is too large")))
            } else {
                Ok(())
            }
        }
        Distribution::Categorical { categories, weights } => {
            if categories.len() < 2 {
                return Err(("categories".into(), "needs at least two categories".into()));
            }
            if categories.len() != weights.len() {
                return Err((
                    "weights".into(),
                    format!("{} weights for {} categories", weights.len(), categories.len()),
                ));
            }
            let unique: BTreeSet<_> = categories.iter().collect();
            if unique.len() != categories.len() || categories.iter().any(|c| c.is_empty()) {
                return Err(("categories".into(), "categories must be distinct and non-empty".into()));
            }
            if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
                return Err(("weights".into(), format!("{w} must be a positive number")));
            }
            Ok(())
        }
    }
}
