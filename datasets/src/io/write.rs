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

use super::frames::Writer;
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
    /// The column naming each row (and, under contract v2, what `/feedback`
    /// names a label's row by).
    pub id_column: String,
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
    // Each file is hashed as it is written. Train (most of the bytes) is
    // written beside the other files.
    let put = |hashes: &mut BTreeMap<String, String>, dir: &Path, name: &str, df: &mut DataFrame| -> Result<()> {
        let path = dir.join(name);
        hashes.insert(rel(tmp.path(), &path), write_frame(&path, df)?);
        Ok(())
    };
    let (train_hashes, other_hashes) = crate::par::both(
        || -> Result<BTreeMap<String, String>> {
            let mut hashes = BTreeMap::new();
            let mut train = w.frame(&d.train, true)?;
            put(&mut hashes, &public, layout::TRAIN_PARQUET, &mut train)?;
            put(&mut hashes, &public, layout::TRAIN_CSV, &mut train)?;
            Ok(hashes)
        },
        || -> Result<BTreeMap<String, String>> {
            let mut hashes = BTreeMap::new();
            let mut production = w.frame(&d.production, false)?;
            put(&mut hashes, &public, layout::PRODUCTION_PARQUET, &mut production)?;
            put(&mut hashes, &public, layout::PRODUCTION_CSV, &mut production)?;
            put(&mut hashes, &sealed, layout::HOLDOUT_SERVING, &mut w.frame(&d.holdout_serving, true)?)?;
            put(&mut hashes, &sealed, layout::HOLDOUT_OFFLINE, &mut w.frame(&d.holdout_offline, true)?)?;
            put(&mut hashes, &sealed, layout::TRAFFIC, &mut w.frame(&d.traffic, false)?)?;
            put(&mut hashes, &sealed, layout::LATENCY, &mut w.frame(&d.latency, false)?)?;
            put(&mut hashes, &sealed, layout::HOLDOUT_TRUTH, &mut w.truth(&d.holdout_serving)?)?;
            if let Some(s) = &variant.stream {
                put(&mut hashes, &sealed, layout::STREAM, &mut w.stream(s)?)?;
            }
            Ok(hashes)
        },
    );
    let mut hashes = train_hashes?;
    hashes.extend(other_hashes?);

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

/// Writes `df` as CSV or Parquet (by the name's extension) and returns the
/// SHA-256 of the bytes written.
fn write_frame(path: &Path, df: &mut DataFrame) -> Result<String> {
    let file = File::create(path).map_err(|source| DatasetError::Write { path: path.into(), source })?;
    let mut out = Hashing { inner: BufWriter::new(file), hash: Sha256::new() };
    let frame_error = |e: PolarsError| DatasetError::Frame { path: path.into(), message: e.to_string() };
    if path.extension().is_some_and(|e| e == "csv") {
        CsvWriter::new(&mut out).include_header(true).finish(df).map_err(frame_error)?;
    } else {
        ParquetWriter::new(&mut out).with_compression(ParquetCompression::Snappy).finish(df).map_err(frame_error)?;
    }
    out.flush().map_err(|source| DatasetError::Write { path: path.into(), source })?;
    Ok(hex::encode(out.hash.finalize()))
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(bytes)?;
        self.hash.update(&bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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
        id_column: key.id_column.clone(),
        features,
        max_rows_per_request: spec.contract.max_rows_per_request,
    }
}
