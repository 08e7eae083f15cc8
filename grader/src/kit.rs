//! `grader kit`: everything a hiring team sends a candidate, and nothing
//! more. The candidate's prompt, the practice variant's public data, its
//! labelled holdout as served, and `kit.json` with the grading terms; never
//! `exercise.toml` (its `[defects]` pools name every column that may leak or
//! drift and every category that may appear; its features' effects are the
//! model every variant shares), never an answer key.
//!
//! ```text
//! KIT/README.md                 the candidate's prompt
//! KIT/kit.json                  terms, practice seed, exercise hash, file hashes
//! KIT/data/                     the practice variant's public data (/data)
//! KIT/practice/holdout.parquet  labelled holdout as served (correctness)
//! KIT/base-image/image.tar      with --with-base-image: `docker save` of the base
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datasets::sealed::Row;
use datasets::{Exercise, SeedSource};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{GraderError, Result};
use crate::probe::correctness::Quality;
use crate::progress::Progress;
use crate::schema::{KitBaseImage, KitExercise, KitManifest, KitPractice, KIT_VERSION};

pub const MANIFEST: &str = "kit.json";
pub const README: &str = "README.md";
pub const DATA: &str = "data";
pub const HOLDOUT: &str = "practice/holdout.parquet";
pub const BASE_IMAGE_ARCHIVE: &str = "base-image/image.tar";

pub struct KitRequest {
    pub exercise: PathBuf,
    pub out: PathBuf,
    pub with_base_image: bool,
    pub docker_host: Option<String>,
}

/// Writes the kit into `req.out` (which must not exist or be empty): built
/// beside it and renamed into place, so a failed run leaves nothing half
/// written under that name.
pub async fn write(req: &KitRequest, progress: &Progress) -> Result<KitManifest> {
    crate::report::check_out_dir(&req.out).map_err(GraderError::Usage)?;
    let exercise = Exercise::load(&req.exercise)?;
    let spec = &exercise.spec;
    let prompt = exercise.dir().join(README);
    let prompt_text = std::fs::read(&prompt).map_err(|e| {
        GraderError::Usage(format!("{}: the candidate's prompt is missing ({e}); an exercise keeps it beside exercise.toml", prompt.display()))
    })?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GraderError::Io { path, source }
    };
    // The base image first (the engine's API is async), beside the kit's place.
    let saved = if req.with_base_image {
        let image = spec.contract.base_image.clone();
        progress.phase(format!("saving the base image {image} (docker save)"));
        let parent = match req.out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let tmp = tempfile::Builder::new().prefix(".kit-image-").tempdir_in(&parent).map_err(io(&parent))?;
        let archive = tmp.path().join("image.tar");
        let info = save_image(req.docker_host.as_deref(), &image, &archive).await?;
        Some((tmp, archive, info))
    } else {
        None
    };
    progress.phase(format!("generating the practice variant (seed {})", spec.exercise.practice_seed));
    crate::report::build_then_rename(&req.out, ".kit-partial-", |root| {
        let mut variant = datasets::generate(&exercise, SeedSource::given(spec.exercise.practice_seed))?;
        let scratch = tempfile::Builder::new().prefix("grader-kit-variant-").tempdir().map_err(io(&std::env::temp_dir()))?;
        let written = scratch.path().join("variant");
        datasets::write_variant(spec, &mut variant, &written)?;
        let data = root.join(DATA);
        std::fs::create_dir(&data).map_err(io(&data))?;
        for entry in std::fs::read_dir(written.join(datasets::layout::PUBLIC)).map_err(io(&written))? {
            let entry = entry.map_err(io(&written))?;
            let to = data.join(entry.file_name());
            std::fs::copy(entry.path(), &to).map_err(io(&to))?;
        }
        let holdout = root.join(HOLDOUT);
        std::fs::create_dir_all(holdout.parent().expect("has a parent")).map_err(io(&holdout))?;
        datasets::sealed::write_served_holdout(spec, &variant, &holdout)?;
        let readme = root.join(README);
        std::fs::write(&readme, &prompt_text).map_err(io(&readme))?;
        let base_image = match &saved {
            Some((_, archive, info)) => {
                let to = root.join(BASE_IMAGE_ARCHIVE);
                std::fs::create_dir_all(to.parent().expect("has a parent")).map_err(io(&to))?;
                std::fs::rename(archive, &to).map_err(io(&to))?;
                Some(info.clone())
            }
            None => None,
        };
        let mut files = BTreeMap::new();
        for rel in walk(root)? {
            if rel == BASE_IMAGE_ARCHIVE {
                continue; // content-addressed by its image id; hashing 1 GB on every self-check is waste
            }
            files.insert(rel.clone(), sha256_file(&root.join(&rel))?);
        }
        let labels = &variant.draw.holdout_serving.labels;
        let manifest = KitManifest {
            schema_version: KIT_VERSION,
            grader_version: env!("CARGO_PKG_VERSION").into(),
            exercise: KitExercise {
                id: spec.exercise.id.clone(),
                title: spec.exercise.title.clone(),
                version: spec.exercise.version,
                spec_sha256: exercise.sha256(),
            },
            practice_seed: spec.exercise.practice_seed,
            terms: spec.terms(),
            practice: KitPractice {
                holdout: HOLDOUT.into(),
                holdout_rows: labels.len(),
                bayes: Quality::of(&variant.draw.holdout_serving.probs, labels),
            },
            files,
            base_image,
        };
        let path = root.join(MANIFEST);
        let mut text = serde_json::to_string_pretty(&manifest).expect("plain data");
        text.push('\n');
        std::fs::write(&path, text).map_err(io(&path))?;
        Ok(manifest)
    })
}

/// `docker save` of `image` into `to`, and its id.
async fn save_image(host: Option<&str>, image: &str, to: &Path) -> Result<KitBaseImage> {
    let docker = crate::sandbox::docker::connect(host).await?;
    let id = docker
        .inspect_image(image)
        .await
        .map_err(|e| GraderError::Usage(format!("base image {image}: {e}; build it first with scripts/build-base-image")))?
        .id
        .unwrap_or_default();
    std::fs::create_dir_all(to.parent().expect("has a parent")).map_err(|source| GraderError::Io { path: to.into(), source })?;
    let mut file = tokio::fs::File::create(to).await.map_err(|source| GraderError::Io { path: to.into(), source })?;
    let mut stream = docker.export_image(image);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| GraderError::Infrastructure(format!("docker save {image}: {e}")))?;
        file.write_all(&chunk).await.map_err(|source| GraderError::Io { path: to.into(), source })?;
    }
    file.flush().await.map_err(|source| GraderError::Io { path: to.into(), source })?;
    Ok(KitBaseImage { image: image.into(), id, archive: BASE_IMAGE_ARCHIVE.into() })
}

/// A kit as the grader reads it back, checked against its manifest.
pub struct Kit {
    pub manifest: KitManifest,
    /// The practice variant's public data: mounted at `/data`.
    pub data: PathBuf,
    pub holdout_serving: Vec<Row>,
    pub labels: Vec<bool>,
}

impl Kit {
    /// `kit.json` alone, version checked: the grading terms, without
    /// reading or verifying the data ([`Kit::load`] does that).
    pub fn manifest(dir: &Path) -> Result<KitManifest> {
        let bad = |what: String| GraderError::Usage(format!("kit {}: {what}", dir.display()));
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| bad(format!("cannot read {MANIFEST} ({e}); a kit is the folder `grader kit` writes")))?;
        let version: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("{MANIFEST} is not JSON: {e}")))?;
        match version["schema_version"].as_u64() {
            Some(v) if v <= KIT_VERSION as u64 => {}
            Some(v) => return Err(bad(format!("{MANIFEST} has version {v}; this grader reads up to {KIT_VERSION}: use a newer grader"))),
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
            let got = sha256_file(&dir.join(rel)).map_err(|_| bad(format!("{rel} is missing")))?;
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
        let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(&schema_path).map_err(|e| bad(format!("{DATA}/schema.json: {e}")))?)
            .map_err(|e| bad(format!("{DATA}/schema.json: {e}")))?;
        let columns: Vec<String> = schema["features"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["name"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        let label = schema["label"].as_str().ok_or_else(|| bad(format!("{DATA}/schema.json names no label")))?;
        if columns.is_empty() {
            return Err(bad(format!("{DATA}/schema.json lists no features")));
        }
        let (holdout_serving, labels) = datasets::sealed::read_served_holdout(&dir.join(&manifest.practice.holdout), &columns, label)?;
        if labels.len() != manifest.practice.holdout_rows || holdout_serving.is_empty() {
            return Err(bad(format!("{} has {} rows, {MANIFEST} says {}", manifest.practice.holdout, labels.len(), manifest.practice.holdout_rows)));
        }
        Ok(Kit { manifest, data, holdout_serving, labels })
    }
}

/// Every regular file under `root`, as a `/`-separated relative path, sorted.
fn walk(root: &Path) -> Result<Vec<String>> {
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

fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|source| GraderError::Io { path: path.into(), source })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|source| GraderError::Io { path: path.into(), source })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

impl KitManifest {
    /// What `grader kit` prints for the hiring team.
    pub fn human(&self, out: &Path) -> String {
        let mut s = format!(
            "kit for {} (practice seed {}) in {}:\n",
            self.exercise.id,
            self.practice_seed,
            crate::sanitize::terminal_line(&out.display().to_string())
        );
        s += &format!("  {README}  the candidate's prompt\n  {MANIFEST}  contract, probe settings, SLOs, rubric; no defects, no pools\n");
        s += &format!("  {DATA}/  the practice variant's public data\n  {HOLDOUT}  {} labelled rows as served\n", self.practice.holdout_rows);
        if let Some(b) = &self.base_image {
            s += &format!("  {}  {} ({})\n", b.archive, b.image, b.id);
        }
        s += "Send the whole folder with the grader binary. Never send exercise.toml, a variant's sealed/ folder, or results.";
        s
    }
}
