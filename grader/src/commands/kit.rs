//! `grader kit`: everything a hiring team sends a candidate, and nothing
//! more. The candidate's prompt, the practice variant's public data, its
//! labelled holdout as served, and `kit.json` with the grading terms; never
//! `exercise.toml` (its `[defects]` pools name every column that may leak or
//! drift and every category that may appear; it is public in the grader's
//! repository anyway, and nothing in it decides a grade: each variant draws
//! its own model from its family and carries decoys named from its pools),
//! never an answer key.
//!
//! ```text
//! KIT/README.md                 the candidate's prompt
//! KIT/kit.json                  terms, practice seed, exercise hash, file hashes
//! KIT/data/                     the practice variant's public data (/data)
//! KIT/practice/holdout.parquet  labelled holdout as served (correctness)
//! KIT/practice/stream.parquet   with [lifecycle]: the practice replay's days
//! KIT/base-image/image.tar      with --with-base-image: `docker save` of the base
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datasets::{Exercise, SeedSource};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::probe::correctness::Quality;
use crate::schema::{KitBaseImage, KitExercise, KitManifest, KitPractice, KitReplay, KIT_VERSION};
use crate::support::error::{GraderError, Result};
use crate::support::progress::Progress;

use crate::pipeline::kit::{walk, BASE_IMAGE_ARCHIVE, DATA, HOLDOUT, MANIFEST, README, STREAM};

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
    crate::support::fs::check_out_dir(&req.out).map_err(GraderError::Usage)?;
    let exercise = Exercise::load(&req.exercise)?;
    let spec = &exercise.spec;
    let prompt = exercise.dir().join(README);
    let prompt_text = std::fs::read(&prompt).map_err(|e| {
        GraderError::Usage(format!(
            "{}: the candidate's prompt is missing ({e}); an exercise keeps it beside exercise.toml",
            prompt.display()
        ))
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
    crate::support::fs::build_then_rename(&req.out, ".kit-partial-", |root| {
        let mut variant = datasets::generate(&exercise, SeedSource::given(spec.exercise.practice_seed))?;
        let scratch =
            tempfile::Builder::new().prefix("grader-kit-variant-").tempdir().map_err(io(&std::env::temp_dir()))?;
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
        let stream = root.join(STREAM);
        let replay_rows = datasets::sealed::write_practice_stream(spec, &variant, &stream)?;
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
            files.insert(rel.clone(), crate::support::fs::sha256_file(&root.join(&rel))?);
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
                public: Some(Quality::of(&variant.draw.holdout_serving.public, labels)),
                replay: spec.lifecycle.as_ref().zip(replay_rows).map(|(l, rows)| KitReplay {
                    stream: STREAM.into(),
                    rows,
                    days: l.days,
                    rows_per_day: l.rows_per_day,
                    label_lag_days: l.label_lag_days,
                    label_fraction: l.label_fraction,
                    feedback_timeout_ms: l.feedback_timeout_ms,
                }),
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
        .map_err(|e| {
            GraderError::Usage(format!("base image {image}: {e}; build it first with scripts/build-base-image"))
        })?
        .id
        .unwrap_or_default();
    std::fs::create_dir_all(to.parent().expect("has a parent"))
        .map_err(|source| GraderError::Io { path: to.into(), source })?;
    let mut file = tokio::fs::File::create(to).await.map_err(|source| GraderError::Io { path: to.into(), source })?;
    let mut stream = docker.export_image(image);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| GraderError::Infrastructure(format!("docker save {image}: {e}")))?;
        file.write_all(&chunk).await.map_err(|source| GraderError::Io { path: to.into(), source })?;
    }
    file.flush().await.map_err(|source| GraderError::Io { path: to.into(), source })?;
    Ok(KitBaseImage { image: image.into(), id, archive: BASE_IMAGE_ARCHIVE.into() })
}

impl KitManifest {
    /// What `grader kit` prints for the hiring team.
    pub fn human(&self, out: &Path) -> String {
        let mut s = format!(
            "kit for {} (practice seed {}) in {}:\n",
            self.exercise.id,
            self.practice_seed,
            crate::support::sanitize::terminal_line(&out.display().to_string())
        );
        s += &format!("  {README}  the candidate's prompt\n  {MANIFEST}  contract, probe settings, SLOs, rubric; no defects, no pools\n");
        s += &format!(
            "  {DATA}/  the practice variant's public data\n  {HOLDOUT}  {} labelled rows as served\n",
            self.practice.holdout_rows
        );
        if let Some(r) = &self.practice.replay {
            s += &format!(
                "  {}  the practice replay: {} days of {} rows, late labels\n",
                r.stream, r.days, r.rows_per_day
            );
        }
        if let Some(b) = &self.base_image {
            s += &format!("  {}  {} ({})\n", b.archive, b.image, b.id);
        }
        s += "Send the whole folder with the grader binary. Never send exercise.toml, a variant's sealed/ folder, or results.";
        s
    }
}

pub fn execute(req: &KitRequest, ui: super::Ui) -> Result<()> {
    let manifest = super::runtime()?.block_on(write(req, &ui.progress()))?;
    if ui.json {
        ui.print_json(&manifest);
    } else if !ui.quiet {
        eprintln!("{}", manifest.human(&req.out));
    }
    Ok(())
}
