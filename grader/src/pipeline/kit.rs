//! A candidate's kit as the grader reads it back (`self-check --kit`,
//! `probe --kit`, `run --kit`): `kit.json`, every file checked against its
//! hash, the practice holdout read. `commands::kit` writes kits.

use std::path::{Path, PathBuf};

use datasets::sealed::Row;

use crate::pipeline::material::ReplayPlan;

use crate::schema::{KitManifest, KIT_VERSION};
use crate::support::error::{GraderError, Result};

pub const MANIFEST: &str = "kit.json";
pub const README: &str = "README.md";
pub const DATA: &str = "data";
pub const HOLDOUT: &str = "practice/holdout.parquet";
pub const STREAM: &str = "practice/stream.parquet";
pub const BASE_IMAGE_ARCHIVE: &str = "base-image/image.tar";

/// A kit as the grader reads it back, checked against its manifest.
pub struct Kit {
    pub manifest: KitManifest,
    /// The practice variant's public data: mounted at `/data`.
    pub data: PathBuf,
    pub holdout_serving: Vec<Row>,
    pub labels: Vec<bool>,
    /// The practice replay and how to send it.
    pub replay: Option<ReplayPlan>,
}

impl Kit {
    /// `kit.json` alone, version checked: the grading terms, without
    /// reading or verifying the data ([`Kit::load`] does that).
    pub fn manifest(dir: &Path) -> Result<KitManifest> {
        let bad = |what: String| GraderError::Usage(format!("kit {}: {what}", dir.display()));
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| bad(format!("cannot read {MANIFEST} ({e}); a kit is the folder `grader kit` writes")))?;
        let version: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("{MANIFEST} is not JSON: {e}")))?;
        match version["schema_version"].as_u64() {
            Some(v) if v <= KIT_VERSION as u64 => {}
            Some(v) => {
                return Err(bad(format!(
                    "{MANIFEST} has version {v}; this grader reads up to {KIT_VERSION}: use a newer grader"
                )))
            }
            None => return Err(bad(format!("{MANIFEST} has no schema_version"))),
        }
        serde_json::from_value(version).map_err(|e| bad(format!("{MANIFEST}: {e}")))
    }

    /// The kit, every file checked against `kit.json`, the holdout read.
    pub fn load(dir: &Path) -> Result<Kit> {
        let bad = |what: String| GraderError::Usage(format!("kit {}: {what}", dir.display()));
        let manifest = Kit::manifest(dir)?;
        for (rel, want) in &manifest.files {
            if rel.split('/').any(|c| c == ".." || c.is_empty()) || rel.starts_with('/') {
                return Err(bad(format!("{MANIFEST} names a path outside the kit: {rel}")));
            }
            let got = crate::support::fs::sha256_file(&dir.join(rel)).map_err(|_| bad(format!("{rel} is missing")))?;
            if &got != want {
                return Err(bad(format!("{rel} differs from the one the kit was made with (sha256 {got}, expected {want}); ask for a fresh copy of the kit")));
            }
        }
        for needed in [format!("{DATA}/{}", datasets::layout::SCHEMA), manifest.practice.holdout.clone()] {
            if !manifest.files.contains_key(&needed) {
                return Err(bad(format!("{MANIFEST} lists no {needed}")));
            }
        }
        let data = dir.join(DATA);
        let schema_path = data.join(datasets::layout::SCHEMA);
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&schema_path).map_err(|e| bad(format!("{DATA}/schema.json: {e}")))?)
                .map_err(|e| bad(format!("{DATA}/schema.json: {e}")))?;
        let columns: Vec<String> = schema["features"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["name"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        let label = schema["label"].as_str().ok_or_else(|| bad(format!("{DATA}/schema.json names no label")))?;
        if columns.is_empty() {
            return Err(bad(format!("{DATA}/schema.json lists no features")));
        }
        let (holdout_serving, labels) =
            datasets::sealed::read_served_holdout(&dir.join(&manifest.practice.holdout), &columns, label)?;
        if labels.len() != manifest.practice.holdout_rows || holdout_serving.is_empty() {
            return Err(bad(format!(
                "{} has {} rows, {MANIFEST} says {}",
                manifest.practice.holdout,
                labels.len(),
                manifest.practice.holdout_rows
            )));
        }
        let replay = match &manifest.practice.replay {
            None => None,
            Some(r) => {
                if !manifest.files.contains_key(&r.stream) {
                    return Err(bad(format!("{MANIFEST} lists no {}", r.stream)));
                }
                let id_column = schema["id_column"]
                    .as_str()
                    .ok_or_else(|| bad(format!("{DATA}/schema.json names no id_column, which the replay needs")))?;
                let replay = datasets::sealed::read_practice_stream(&dir.join(&r.stream), id_column, &columns, label)?;
                if replay.labels.len() != r.rows {
                    return Err(bad(format!(
                        "{} has {} rows, {MANIFEST} says {}",
                        r.stream,
                        replay.labels.len(),
                        r.rows
                    )));
                }
                Some(ReplayPlan {
                    replay,
                    id_column: id_column.into(),
                    label: label.into(),
                    days: r.days,
                    rows_per_day: r.rows_per_day,
                    feedback_timeout_ms: r.feedback_timeout_ms,
                })
            }
        };
        Ok(Kit { manifest, data, holdout_serving, labels, replay })
    }
}

/// Every regular file under `root`, as a `/`-separated relative path, sorted.
pub(crate) fn walk(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|source| GraderError::Io { path: d.clone(), source })? {
            let e = e.map_err(|source| GraderError::Io { path: d.clone(), source })?;
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}
