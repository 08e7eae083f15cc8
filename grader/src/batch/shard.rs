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

/// The 0-based bucket of `id` among `count`, under a secret key (HMAC-SHA256):
/// without the key, the assignment says nothing about the names.
pub fn keyed_bucket(id: &OsStr, count: u32, key: &[u8]) -> u32 {
    use hmac::{Hmac, KeyInit, Mac};
    use std::os::unix::ffi::OsStrExt;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    let h = mac.finalize().into_bytes();
    let v = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"));
    (v % count.max(1) as u64) as u32
}

impl Shard {
    pub fn contains(&self, id: &OsStr) -> bool {
        bucket(id, self.count) + 1 == self.index
    }

    /// [`Shard::contains`], keyed in a blind batch.
    pub fn contains_keyed(&self, id: &OsStr, key: Option<&[u8]>) -> bool {
        match key {
            Some(k) => keyed_bucket(id, self.count, k) + 1 == self.index,
            None => self.contains(id),
        }
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
        // A scheduler's variable, in `[min, max]`: a value out of range is
        // an error naming it, never clamped into something that runs.
        let var = |name: &str, min: i64, max: i64| -> Result<i64, String> {
            let v = env(name).ok_or_else(|| {
                format!(
                    "--shard {spec}: {name} is not set (is this running as a {} task?)",
                    if spec == "slurm" { "Slurm array" } else { "Kubernetes Indexed Job" }
                )
            })?;
            let n = v.trim().parse::<i64>().map_err(|_| format!("--shard {spec}: {name}={v:?} is not a number"))?;
            if n < min || n > max {
                return Err(format!("--shard {spec}: {name}={n} is outside [{min}, {max}]"));
            }
            Ok(n)
        };
        let most = u32::MAX as i64;
        let number = |s: &str, what: &str| {
            s.trim().parse::<u32>().map_err(|_| format!("--shard {spec}: {what} {s:?} is not a whole number"))
        };
        if spec == "slurm" {
            let id = var("SLURM_ARRAY_TASK_ID", 0, most - 1)?;
            let min = if env("SLURM_ARRAY_TASK_MIN").is_some() { var("SLURM_ARRAY_TASK_MIN", 0, id)? } else { 0 };
            let step = if env("SLURM_ARRAY_TASK_STEP").is_some() { var("SLURM_ARRAY_TASK_STEP", 1, most)? } else { 1 };
            let count = if env("SLURM_ARRAY_TASK_COUNT").is_some() {
                var("SLURM_ARRAY_TASK_COUNT", 1, most)?
            } else {
                (var("SLURM_ARRAY_TASK_MAX", id, most)? - min) / step + 1
            };
            if (id - min) % step != 0 {
                return Err(format!("--shard slurm: task {id} is not on the array's grid (min {min}, step {step})"));
            }
            let index = (id - min) / step + 1;
            return Shard::new(index as u32, count as u32, "--shard slurm");
        }
        if let Some(n) = spec.strip_prefix("k8s/") {
            let count = number(n, "the count")?;
            if count == 0 {
                return Shard::new(1, 0, &format!("--shard {spec}"));
            }
            let index = var("JOB_COMPLETION_INDEX", 0, count as i64 - 1)? + 1;
            return Shard::new(index as u32, count, &format!("--shard {spec} (JOB_COMPLETION_INDEX {})", index - 1));
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
    fn keyed_shards_cover_everyone_once_and_differ_from_the_public_hash() {
        let ids: Vec<OsString> = (0..200).map(|i| OsString::from(format!("cand-{i}"))).collect();
        let key = [7u8; 32];
        let mut moved = 0;
        for id in &ids {
            let owners: Vec<u32> =
                (1..=3).filter(|k| Shard { index: *k, count: 3 }.contains_keyed(id, Some(&key))).collect();
            assert_eq!(owners.len(), 1);
            moved += (keyed_bucket(id, 3, &key) != bucket(id, 3)) as usize;
        }
        assert!(moved > 100, "the keyed assignment is not the public one ({moved} of 200 differ)");
        assert_eq!(keyed_bucket(OsStr::new("alice"), 3, &key), keyed_bucket(OsStr::new("alice"), 3, &key));
    }

    #[test]
    fn shards_come_from_flags_slurm_arrays_and_indexed_jobs() {
        let none = env(&[]);
        assert_eq!(Shard::parse("2/4", &none), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "x/2", "2", "k8s/x"] {
            assert!(Shard::parse(bad, &none).is_err(), "{bad} parsed");
        }
        // Out-of-range scheduler variables are errors naming them.
        for (vars, wanted) in [
            (
                vec![("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_STEP", "0"), ("SLURM_ARRAY_TASK_COUNT", "2")],
                "SLURM_ARRAY_TASK_STEP=0",
            ),
            (
                vec![("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_STEP", "-2"), ("SLURM_ARRAY_TASK_COUNT", "2")],
                "SLURM_ARRAY_TASK_STEP=-2",
            ),
            (
                vec![("SLURM_ARRAY_TASK_ID", "9223372036854775807"), ("SLURM_ARRAY_TASK_COUNT", "2")],
                "SLURM_ARRAY_TASK_ID=9223372036854775807",
            ),
            (
                vec![("SLURM_ARRAY_TASK_ID", "4294967295"), ("SLURM_ARRAY_TASK_COUNT", "2")],
                "SLURM_ARRAY_TASK_ID=4294967295",
            ),
            (vec![("SLURM_ARRAY_TASK_ID", "-1"), ("SLURM_ARRAY_TASK_COUNT", "2")], "SLURM_ARRAY_TASK_ID=-1"),
            (vec![("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "0")], "SLURM_ARRAY_TASK_COUNT=0"),
            (
                vec![("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "2"), ("SLURM_ARRAY_TASK_MAX", "3")],
                "SLURM_ARRAY_TASK_MIN=2",
            ),
            (vec![("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MAX", "3")], "SLURM_ARRAY_TASK_MAX=3"),
        ] {
            let err = Shard::parse("slurm", &env(&vars)).unwrap_err();
            assert!(err.contains(wanted) && err.contains("outside"), "{err}");
        }
        for bad in ["-1", "3", "9223372036854775807"] {
            let err = Shard::parse("k8s/3", &env(&[("JOB_COMPLETION_INDEX", bad)])).unwrap_err();
            assert!(err.contains("JOB_COMPLETION_INDEX") && err.contains("outside [0, 2]"), "{err}");
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
