//! Writes a variant to disk: `public/` for the candidate's container and
//! `sealed/` for the grader only.
//!
//! Everything is written into a hidden temporary directory beside the target
//! and renamed into place at the end, so a failed or interrupted run never
//! leaves a half-written variant, and an existing non-empty directory is
//! never touched.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::frames::{write_parquet, Writer};
use super::layout;
use crate::error::{DatasetError, Result};
use crate::spec::ExerciseSpec;
use crate::variant::Variant;

/// `public/schema.json`: what the candidate is told about the columns.
#[derive(Debug, Serialize)]
pub struct PublicSchema {
    pub schema_version: u32,
    pub exercise: String,
    pub contract_version: u32,
    pub label: String,
    pub features: Vec<ColumnType>,
    pub max_rows_per_request: usize,
}

#[derive(Debug, Serialize)]
pub struct ColumnType {
    pub name: String,
    /// `integer`, `number` or `string`; any value may also be null.
    #[serde(rename = "type")]
    pub ty: &'static str,
}

/// Writes `variant` to `out`, which must not exist or be an empty directory.
pub fn write_variant(spec: &ExerciseSpec, variant: &mut Variant, out: &Path) -> Result<()> {
    if out.exists() {
        let empty = out.is_dir()
            && std::fs::read_dir(out)
                .map_err(|source| DatasetError::Write { path: out.into(), source })?
                .next()
                .is_none();
        if !empty {
            return Err(DatasetError::OutputNotEmpty(out.into()));
        }
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|source| DatasetError::Write { path: parent.clone(), source })?;
    let tmp = tempfile::Builder::new()
        .prefix(".variant-partial-")
        .tempdir_in(&parent)
        .map_err(|source| DatasetError::Write { path: parent.clone(), source })?;

    let public = tmp.path().join(layout::PUBLIC);
    let sealed = tmp.path().join(layout::SEALED);
    for d in [&public, &sealed] {
        std::fs::create_dir(d).map_err(|source| DatasetError::Write { path: d.clone(), source })?;
    }
    let w = Writer { spec, variant };
    let d = &variant.draw;
    let mut hashes = BTreeMap::new();
    let mut put = |dir: &Path, name: &str, df: &mut DataFrame| -> Result<()> {
        let path = dir.join(name);
        if name.ends_with(".csv") {
            write_csv(&path, df)?
        } else {
            write_parquet(&path, df)?
        }
        hashes.insert(rel(tmp.path(), &path), sha256_file(&path)?);
        Ok(())
    };
    let mut train = w.frame(&d.train, true)?;
    put(&public, layout::TRAIN_PARQUET, &mut train)?;
    put(&public, layout::TRAIN_CSV, &mut train)?;
    let mut production = w.frame(&d.production, false)?;
    put(&public, layout::PRODUCTION_PARQUET, &mut production)?;
    put(&public, layout::PRODUCTION_CSV, &mut production)?;
    put(&sealed, layout::HOLDOUT_SERVING, &mut w.frame(&d.holdout_serving, true)?)?;
    put(&sealed, layout::HOLDOUT_OFFLINE, &mut w.frame(&d.holdout_offline, true)?)?;
    put(&sealed, layout::TRAFFIC, &mut w.frame(&d.traffic, false)?)?;
    put(&sealed, layout::LATENCY, &mut w.frame(&d.latency, false)?)?;
    put(&sealed, layout::HOLDOUT_TRUTH, &mut w.truth(&d.holdout_serving)?)?;

    let schema_path = public.join(layout::SCHEMA);
    write_json(&schema_path, &schema(spec, variant))?;
    hashes.insert(rel(tmp.path(), &schema_path), sha256_file(&schema_path)?);
    variant.key.files = hashes;
    write_json(&sealed.join(layout::ANSWER_KEY), &variant.key)?;

    // Into place: rename is atomic, and an empty target directory is replaced.
    if out.exists() {
        std::fs::remove_dir(out).map_err(|source| DatasetError::Write { path: out.into(), source })?;
    }
    let tmp_path = tmp.keep();
    std::fs::rename(&tmp_path, out).map_err(|source| {
        let _ = std::fs::remove_dir_all(&tmp_path);
        DatasetError::Write { path: out.into(), source }
    })
}

fn write_csv(path: &Path, df: &mut DataFrame) -> Result<()> {
    let file = File::create(path).map_err(|source| DatasetError::Write { path: path.into(), source })?;
    let mut buf = BufWriter::new(file);
    CsvWriter::new(&mut buf)
        .include_header(true)
        .finish(df)
        .map_err(|e| DatasetError::Frame { path: path.into(), message: e.to_string() })?;
    buf.flush().map_err(|source| DatasetError::Write { path: path.into(), source })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("plain data serialises");
    text.push('\n');
    std::fs::write(path, text).map_err(|source| DatasetError::Write { path: path.into(), source })
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Write { path: path.into(), source })?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

fn rel(base: &Path, path: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

/// `public/schema.json` of `variant`.
fn schema(spec: &ExerciseSpec, variant: &Variant) -> PublicSchema {
    let key = &variant.key;
    let features = key
        .columns
        .iter()
        .map(|name| {
            let ty = match spec.feature(name) {
                Some(f) if f.dist.is_categorical() => "string",
                Some(f) if f.is_integer() => "integer",
                Some(_) => "number",
                None if *name == key.id_column => "integer",
                None => "number",
            };
            ColumnType { name: name.clone(), ty }
        })
        .collect();
    PublicSchema {
        schema_version: 1,
        exercise: spec.exercise.id.clone(),
        contract_version: spec.contract.version,
        label: key.label.clone(),
        features,
        max_rows_per_request: spec.contract.max_rows_per_request,
    }
}
