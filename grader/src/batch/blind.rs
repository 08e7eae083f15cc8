//! Blind review (`grader batch --blind`): every reviewer-facing output
//! (candidate folders, result.json, report.md, report.html, summaries,
//! leaderboard, batch.json) names candidates by a stable pseudonym; the one
//! file that ties pseudonyms to candidates is `identities.json`, to be kept
//! from reviewers.
//!
//! A pseudonym is `candidate-` and 8 hex digits of HMAC-SHA256(key, id).
//! With `--secret` the key derives from the team's secret, so shards and
//! re-runs agree without sharing anything else; with `--seed` it is drawn
//! once and kept in identities.json, which a resumed batch reads back.

use std::collections::BTreeMap;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::Seeds;
use crate::support::error::{GraderError, Result};

pub const IDENTITIES: &str = "identities.json";
pub use crate::schema::{Identities, IDENTITIES_VERSION};

/// The pseudonym key of this batch, and where it came from.
fn key(out: &Path, seeds: &Seeds) -> Result<(Vec<u8>, Option<Identities>)> {
    let path = out.join(IDENTITIES);
    let existing: Option<Identities> = match std::fs::read_to_string(&path) {
        Ok(text) => {
            Some(serde_json::from_str(&text).map_err(|e| GraderError::Usage(format!("{}: {e}", path.display())))?)
        }
        Err(_) => None,
    };
    match seeds {
        Seeds::Secret(secret) => {
            let bytes = std::fs::read(secret)
                .map_err(|e| GraderError::Usage(format!("secret file {}: {e}", secret.display())))?;
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&bytes).expect("HMAC takes any key length");
            mac.update(b"grader blind review v1");
            Ok((mac.finalize().into_bytes().to_vec(), existing))
        }
        Seeds::Fixed(_) => match existing.as_ref().and_then(|i| i.key.as_deref()).and_then(|h| hex::decode(h).ok()) {
            Some(k) => Ok((k, existing)),
            None => {
                let mut k = vec![0u8; 32];
                getrandom::fill(&mut k)
                    .map_err(|e| GraderError::Usage(format!("no random source for the pseudonym key: {e}")))?;
                Ok((k, existing))
            }
        },
    }
}

/// Pseudonyms for `ids` (id → pseudonym), unique within them, and the
/// identities to write (merged with what an earlier run recorded).
pub fn assign(out: &Path, seeds: &Seeds, ids: &[String]) -> Result<(BTreeMap<String, String>, Identities)> {
    let (key, existing) = key(out, seeds)?;
    let name = |id: &str, digits: usize| {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("any key length");
        mac.update(id.as_bytes());
        format!("candidate-{}", &hex::encode(mac.finalize().into_bytes())[..digits])
    };
    let mut by_id: BTreeMap<String, String> = ids.iter().map(|id| (id.clone(), name(id, 8))).collect();
    // Two ids on one 8-digit pseudonym (about one in 4 billion per pair):
    // both get 16 digits, which depends on neither's neighbours but each other.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for p in by_id.values() {
        *counts.entry(p.clone()).or_default() += 1;
    }
    for (id, p) in by_id.iter_mut() {
        if counts[p.as_str()] > 1 {
            *p = name(id, 16);
        }
    }
    let mut candidates: BTreeMap<String, String> = existing.as_ref().map(|i| i.candidates.clone()).unwrap_or_default();
    candidates.extend(by_id.iter().map(|(id, p)| (p.clone(), id.clone())));
    let identities = Identities {
        schema_version: IDENTITIES_VERSION,
        note: "The only file that ties pseudonyms to candidates: keep it from reviewers.".into(),
        key_source: match seeds {
            Seeds::Secret(_) => "secret".into(),
            Seeds::Fixed(_) => "random".into(),
        },
        key: match seeds {
            Seeds::Secret(_) => None,
            Seeds::Fixed(_) => Some(hex::encode(key)),
        },
        candidates,
    };
    Ok((by_id, identities))
}

/// The key that assigns candidates to shards in a blind batch: derived from
/// the team's secret, so every shard agrees on it, and a shard's folder
/// tells nothing of which names it holds to someone without the secret.
/// (A blind batch is sharded only with `--secret`; the CLI refuses others.)
pub fn shard_key(seeds: &Seeds) -> Result<Option<Vec<u8>>> {
    match seeds {
        Seeds::Secret(secret) => {
            let bytes = std::fs::read(secret)
                .map_err(|e| GraderError::Usage(format!("secret file {}: {e}", secret.display())))?;
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&bytes).expect("HMAC takes any key length");
            mac.update(b"grader blind shards v1");
            Ok(Some(mac.finalize().into_bytes().to_vec()))
        }
        Seeds::Fixed(_) => Ok(None),
    }
}

pub fn write(out: &Path, identities: &Identities) -> Result<()> {
    crate::support::fs::write_json_atomic(&out.join(IDENTITIES), identities)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_unique_and_keyed() {
        let t = tempfile::tempdir().unwrap();
        let secret = t.path().join("s");
        std::fs::write(&secret, [7u8; 32]).unwrap();
        let ids: Vec<String> = (0..300).map(|i| format!("person-{i}")).collect();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let first = assign(&a, &Seeds::Secret(secret.clone()), &ids).unwrap().0;
        let again = assign(&b, &Seeds::Secret(secret.clone()), &ids[..10]).unwrap().0;
        for (id, p) in &again {
            assert_eq!(&first[id], p, "the same secret gives the same pseudonym anywhere");
        }
        let unique: std::collections::BTreeSet<&String> = first.values().collect();
        assert_eq!(unique.len(), ids.len());
        assert!(first.values().all(|p| !p.contains("person")));
        // A fixed seed: a random key, kept for the resume.
        let c = t.path().join("c");
        std::fs::create_dir_all(&c).unwrap();
        let (one, kept) = assign(&c, &Seeds::Fixed(1), &ids[..5]).unwrap();
        write(&c, &kept).unwrap();
        let two = assign(&c, &Seeds::Fixed(1), &ids[..5]).unwrap().0;
        assert_eq!(one, two);
        assert_ne!(one[&ids[0]], first[&ids[0]]);
        let kept: Identities = serde_json::from_str(&std::fs::read_to_string(c.join(IDENTITIES)).unwrap()).unwrap();
        assert_eq!(kept.candidates[&one[&ids[0]]], ids[0]);
    }
}
