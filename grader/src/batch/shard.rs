//! Shards: which candidates one grader process of several grades, so a
//! scheduler a hiring team already runs (a Slurm array, a Kubernetes
//! Indexed Job, a CI matrix) spreads a batch over machines, one grader and
//! one engine per shard.
//!
//! A candidate's shard is a stable hash of their folder name (SHA-256, first
//! 8 bytes, modulo the shard count), like cargo-nextest's `--partition
//! hash:K/N`: adding or removing a candidate moves no other one.

use std::ffi::OsStr;

pub use crate::schema::Shard;
use sha2::{Digest, Sha256};

/// The 0-based bucket of `id` among `count`.
pub fn bucket(id: &OsStr, count: u32) -> u32 {
    use std::os::unix::ffi::OsStrExt;
    let h = Sha256::digest(id.as_bytes());
    let v = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"));
    (v % count.max(1) as u64) as u32
}

impl Shard {
    pub fn contains(&self, id: &OsStr) -> bool {
        bucket(id, self.count) + 1 == self.index
    }

    fn new(index: u32, count: u32, what: &str) -> Result<Shard, String> {
        if count == 0 || index == 0 || index > count {
            return Err(format!("{what}: shard {index} of {count} does not exist (shards are 1 to N, N at least 1)"));
        }
        Ok(Shard { index, count })
    }

    /// Parses `--shard`: `K/N` (1-based, for CI matrices and by hand),
    /// `slurm` (a job array's `SLURM_ARRAY_TASK_*` variables) or `k8s/N`
    /// (a Kubernetes Indexed Job's 0-based `JOB_COMPLETION_INDEX`, with the
    /// job's completions as N). `env` reads a variable.
    pub fn parse(spec: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let var = |name: &str| -> Result<i64, String> {
            let v = env(name).ok_or_else(|| {
                format!(
                    "--shard {spec}: {name} is not set (is this running as a {} task?)",
                    if spec == "slurm" { "Slurm array" } else { "Kubernetes Indexed Job" }
                )
            })?;
            v.trim().parse::<i64>().map_err(|_| format!("--shard {spec}: {name}={v:?} is not a number"))
        };
        let number = |s: &str, what: &str| {
            s.trim().parse::<u32>().map_err(|_| format!("--shard {spec}: {what} {s:?} is not a whole number"))
        };
        if spec == "slurm" {
            let id = var("SLURM_ARRAY_TASK_ID")?;
            let min = if env("SLURM_ARRAY_TASK_MIN").is_some() { var("SLURM_ARRAY_TASK_MIN")? } else { 0 };
            let step = if env("SLURM_ARRAY_TASK_STEP").is_some() { var("SLURM_ARRAY_TASK_STEP")?.max(1) } else { 1 };
            let count = if env("SLURM_ARRAY_TASK_COUNT").is_some() {
                var("SLURM_ARRAY_TASK_COUNT")?
            } else {
                (var("SLURM_ARRAY_TASK_MAX")? - min) / step + 1
            };
            if (id - min) % step != 0 || id < min {
                return Err(format!("--shard slurm: task {id} is not on the array's grid (min {min}, step {step})"));
            }
            let index = (id - min) / step + 1;
            return Shard::new(u32::try_from(index).unwrap_or(0), u32::try_from(count).unwrap_or(0), "--shard slurm");
        }
        if let Some(n) = spec.strip_prefix("k8s/") {
            let count = number(n, "the count")?;
            let index = var("JOB_COMPLETION_INDEX")? + 1;
            return Shard::new(
                u32::try_from(index).unwrap_or(0),
                count,
                &format!("--shard {spec} (JOB_COMPLETION_INDEX {})", index - 1),
            );
        }
        match spec.split_once('/') {
            Some((k, n)) => Shard::new(number(k, "the shard")?, number(n, "the count")?, &format!("--shard {spec}")),
            None => Err(format!("--shard {spec:?}: expected K/N (1-based), slurm, or k8s/N")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::ffi::OsString;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn every_candidate_is_in_exactly_one_shard_and_adding_one_moves_no_other() {
        let ids: Vec<OsString> = (0..500).map(|i| OsString::from(format!("cand-{i}"))).collect();
        for n in [1, 2, 3, 7] {
            for id in &ids {
                let owners: Vec<u32> = (1..=n).filter(|k| Shard { index: *k, count: n }.contains(id)).collect();
                assert_eq!(owners.len(), 1, "{id:?} in shards {owners:?} of {n}");
            }
            // Roughly even: no shard holds more than twice its share.
            for k in 1..=n {
                let held = ids.iter().filter(|id| Shard { index: k, count: n }.contains(id)).count();
                assert!(held * n as usize <= 2 * ids.len(), "shard {k}/{n} holds {held}");
            }
        }
        // The bucket depends on the id alone, never on who else is there.
        assert_eq!(bucket(OsStr::new("alice"), 4), bucket(OsStr::new("alice"), 4));
        let before: Vec<u32> = ids.iter().map(|id| bucket(id, 5)).collect();
        let mut more = ids.clone();
        more.push(OsString::from("a-late-candidate"));
        assert_eq!(before, more[..ids.len()].iter().map(|id| bucket(id, 5)).collect::<Vec<_>>());
    }

    #[test]
    fn shards_come_from_flags_slurm_arrays_and_indexed_jobs() {
        let none = env(&[]);
        assert_eq!(Shard::parse("2/4", &none), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "x/2", "2", "k8s/x"] {
            assert!(Shard::parse(bad, &none).is_err(), "{bad} parsed");
        }
        // sbatch --array=1-3: ids 1..3, count 3.
        let s = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert_eq!(Shard::parse("slurm", &s), Ok(Shard { index: 3, count: 3 }));
        // --array=0-8:4 → ids 0, 4, 8.
        let s = env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "8"),
            ("SLURM_ARRAY_TASK_STEP", "4"),
        ]);
        assert_eq!(Shard::parse("slurm", &s), Ok(Shard { index: 2, count: 3 }));
        let s = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "8"),
            ("SLURM_ARRAY_TASK_STEP", "4"),
        ]);
        assert!(Shard::parse("slurm", &s).is_err());
        let e = Shard::parse("slurm", &none).unwrap_err();
        assert!(e.contains("SLURM_ARRAY_TASK_ID"), "{e}");
        let k = env(&[("JOB_COMPLETION_INDEX", "0")]);
        assert_eq!(Shard::parse("k8s/3", &k), Ok(Shard { index: 1, count: 3 }));
        let k = env(&[("JOB_COMPLETION_INDEX", "3")]);
        assert!(Shard::parse("k8s/3", &k).is_err(), "index 3 of a 3-completion job");
        assert!(Shard::parse("k8s/3", &none).unwrap_err().contains("JOB_COMPLETION_INDEX"));
    }
}
