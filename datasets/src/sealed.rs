//! Reading a variant back for grading: the sealed holdout (both views),
//! true probabilities, monitoring traffic and the answer key, as JSON rows
//! ready to send to a candidate's `/predict`.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde_json::{Map, Value};

use crate::error::{DatasetError, Result};
use crate::variant::AnswerKey;
use crate::write::layout;

/// One request row: feature name → value or null.
pub type Row = Map<String, Value>;

pub struct Sealed {
    pub key: AnswerKey,
    /// Holdout as served (what a real system knows at prediction time).
    pub holdout_serving: Vec<Row>,
    /// The same rows as the careless extract has them.
    pub holdout_offline: Vec<Row>,
    pub labels: Vec<bool>,
    pub true_probabilities: Vec<f64>,
    /// Drifted rows for the live monitoring probe.
    pub traffic: Vec<Row>,
}

impl Sealed {
    pub fn load(variant: &Path) -> Result<Sealed> {
        let sealed = variant.join(layout::SEALED);
        let key_path = sealed.join(layout::ANSWER_KEY);
        let text = std::fs::read_to_string(&key_path).map_err(|source| DatasetError::Write { path: key_path.clone(), source })?;
        let key: AnswerKey = serde_json::from_str(&text)
            .map_err(|e| DatasetError::Frame { path: key_path.clone(), message: e.to_string() })?;
        let serving = read(&sealed.join(layout::HOLDOUT_SERVING))?;
        let labels = serving
            .column(&key.label)
            .and_then(|c| c.i64().cloned())
            .map_err(|e| frame_err(&sealed.join(layout::HOLDOUT_SERVING), e))?
            .iter()
            .map(|v| v == Some(1))
            .collect();
        let truth_path = sealed.join(layout::HOLDOUT_TRUTH);
        let truth = read(&truth_path)?;
        let true_probabilities = truth
            .column(layout::TRUE_PROBABILITY)
            .and_then(|c| c.f64().cloned())
            .map_err(|e| frame_err(&truth_path, e))?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect();
        Ok(Sealed {
            holdout_serving: rows(&serving, &key.columns, &sealed.join(layout::HOLDOUT_SERVING))?,
            holdout_offline: rows(&read(&sealed.join(layout::HOLDOUT_OFFLINE))?, &key.columns, &sealed.join(layout::HOLDOUT_OFFLINE))?,
            traffic: rows(&read(&sealed.join(layout::TRAFFIC))?, &key.columns, &sealed.join(layout::TRAFFIC))?,
            labels,
            true_probabilities,
            key,
        })
    }
}

fn frame_err(path: &Path, e: PolarsError) -> DatasetError {
    DatasetError::Frame { path: PathBuf::from(path), message: e.to_string() }
}

fn read(path: &Path) -> Result<DataFrame> {
    let file = File::open(path).map_err(|source| DatasetError::Write { path: path.into(), source })?;
    ParquetReader::new(file).finish().map_err(|e| frame_err(path, e))
}

/// The frame's `columns` as JSON rows (integers stay integers).
fn rows(df: &DataFrame, columns: &[String], path: &Path) -> Result<Vec<Row>> {
    let mut out: Vec<Row> = (0..df.height()).map(|_| Map::with_capacity(columns.len())).collect();
    for name in columns {
        let col = df.column(name).map_err(|e| frame_err(path, e))?;
        match col.dtype() {
            DataType::Int64 => {
                for (row, v) in out.iter_mut().zip(col.i64().map_err(|e| frame_err(path, e))?.iter()) {
                    row.insert(name.clone(), v.map_or(Value::Null, Value::from));
                }
            }
            DataType::Float64 => {
                for (row, v) in out.iter_mut().zip(col.f64().map_err(|e| frame_err(path, e))?.iter()) {
                    row.insert(name.clone(), v.map_or(Value::Null, Value::from));
                }
            }
            DataType::String => {
                for (row, v) in out.iter_mut().zip(col.str().map_err(|e| frame_err(path, e))?.iter()) {
                    row.insert(name.clone(), v.map_or(Value::Null, Value::from));
                }
            }
            other => {
                return Err(DatasetError::Frame { path: path.into(), message: format!("column {name} has unexpected type {other}") })
            }
        }
    }
    Ok(out)
}
