//! Reading a variant back for grading: the sealed holdout (both views),
//! true probabilities, monitoring traffic and the answer key, as JSON rows
//! ready to send to a candidate's `/predict`.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde_json::{Map, Value};

use super::frames::{sealed_frames, write_parquet, Frames};
use super::layout;
use crate::error::{DatasetError, Result};
use crate::variant::AnswerKey;

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
    /// The public formula's probabilities on the same rows (absent in a
    /// variant written before the family existed).
    pub public_probabilities: Option<Vec<f64>>,
    /// Drifted rows for the live monitoring probe.
    pub traffic: Vec<Row>,
    /// Rows for the latency windows alone, as served, never sent by another probe.
    pub latency: Vec<Row>,
    /// The production replay (exercises with `[lifecycle]`).
    pub replay: Option<Replay>,
}

/// The production replay's rows in day order, as `/predict` gets them,
/// with the day each is sent, the day its label arrives and the label.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub rows: Vec<Row>,
    pub ids: Vec<i64>,
    pub day: Vec<u32>,
    pub feedback_day: Vec<Option<u32>>,
    pub labels: Vec<bool>,
}

impl Sealed {
    /// Reads a variant written by [`crate::write_variant`] (`grader probe`
    /// and tests; `grade` takes [`Sealed::from_variant`]).
    pub fn load(variant: &Path) -> Result<Sealed> {
        let sealed = variant.join(layout::SEALED);
        let key_path = sealed.join(layout::ANSWER_KEY);
        let text = std::fs::read_to_string(&key_path)
            .map_err(|source| DatasetError::Write { path: key_path.clone(), source })?;
        let key: AnswerKey = serde_json::from_str(&text)
            .map_err(|e| DatasetError::Frame { path: key_path.clone(), message: e.to_string() })?;
        let frames = Frames {
            serving: read(&sealed.join(layout::HOLDOUT_SERVING))?,
            offline: read(&sealed.join(layout::HOLDOUT_OFFLINE))?,
            traffic: read(&sealed.join(layout::TRAFFIC))?,
            latency: read(&sealed.join(layout::LATENCY))?,
            truth: read(&sealed.join(layout::HOLDOUT_TRUTH))?,
            stream: match key.lifecycle {
                Some(_) => Some(read(&sealed.join(layout::STREAM))?),
                None => None,
            },
        };
        Sealed::from_frames(key, &frames, &sealed)
    }

    /// The same data straight from the generated variant, in memory: the
    /// grader never reads the answer key back from disk. Equal to
    /// [`Sealed::load`] of the written variant (a test checks it).
    pub fn from_variant(spec: &crate::spec::ExerciseSpec, variant: &crate::Variant) -> Result<Sealed> {
        let frames = sealed_frames(spec, variant)?;
        Sealed::from_frames(variant.key.clone(), &frames, Path::new("<in memory>"))
    }

    fn from_frames(key: AnswerKey, f: &Frames, sealed: &Path) -> Result<Sealed> {
        let labels = f
            .serving
            .column(&key.label)
            .and_then(|c| c.i64().cloned())
            .map_err(|e| frame_err(&sealed.join(layout::HOLDOUT_SERVING), e))?
            .iter()
            .map(|v| v == Some(1))
            .collect();
        let true_probabilities = f
            .truth
            .column(layout::TRUE_PROBABILITY)
            .and_then(|c| c.f64().cloned())
            .map_err(|e| frame_err(&sealed.join(layout::HOLDOUT_TRUTH), e))?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect();
        let public_probabilities = f
            .truth
            .column(layout::PUBLIC_PROBABILITY)
            .ok()
            .and_then(|c| c.f64().ok().map(|c| c.iter().map(|v| v.unwrap_or(f64::NAN)).collect()));
        let replay = match &f.stream {
            None => None,
            Some(df) => Some(replay(df, &key, &sealed.join(layout::STREAM))?),
        };
        Ok(Sealed {
            replay,
            public_probabilities,
            holdout_serving: rows(&f.serving, &key.columns, &sealed.join(layout::HOLDOUT_SERVING))?,
            holdout_offline: rows(&f.offline, &key.columns, &sealed.join(layout::HOLDOUT_OFFLINE))?,
            traffic: rows(&f.traffic, &key.columns, &sealed.join(layout::TRAFFIC))?,
            latency: rows(&f.latency, &key.columns, &sealed.join(layout::LATENCY))?,
            labels,
            true_probabilities,
            key,
        })
    }
}

/// The labelled holdout as served, alone: what a candidate's kit carries
/// for the practice correctness check. Not the extract's view of the same
/// rows (it would show which columns leak), not the generating model's
/// probabilities (they would give away the model every variant shares).
pub fn write_served_holdout(spec: &crate::spec::ExerciseSpec, variant: &crate::Variant, path: &Path) -> Result<()> {
    let mut frames = sealed_frames(spec, variant)?;
    write_parquet(path, &mut frames.serving)
}

/// Reads a file written by [`write_served_holdout`]: the rows with
/// `columns` as JSON, and the labels from `label`.
pub fn read_served_holdout(path: &Path, columns: &[String], label: &str) -> Result<(Vec<Row>, Vec<bool>)> {
    let df = read(path)?;
    let labels = df
        .column(label)
        .and_then(|c| c.i64().cloned())
        .map_err(|e| frame_err(path, e))?
        .iter()
        .map(|v| v == Some(1))
        .collect();
    Ok((rows(&df, columns, path)?, labels))
}

/// The production replay as a candidate's kit carries it for the
/// practice self-check: day, feedback day, the public columns as served and
/// the label; not the generating model's probabilities (they would give
/// away the model). `None` for an exercise without `[lifecycle]`.
pub fn write_practice_stream(
    spec: &crate::spec::ExerciseSpec,
    variant: &crate::Variant,
    path: &Path,
) -> Result<Option<usize>> {
    let Some(stream) = &variant.stream else { return Ok(None) };
    // The stream's frame alone (not every sealed frame), less its probabilities.
    let mut df = super::frames::Writer { spec, variant }.stream(stream)?;
    let _ = df.drop_in_place(layout::TRUE_PROBABILITY).map_err(|e| frame_err(path, e))?;
    write_parquet(path, &mut df)?;
    Ok(Some(df.height()))
}

/// Reads a file written by [`write_practice_stream`] (or a sealed stream):
/// the replay, with `columns` as JSON and the ids from `id_column`.
pub fn read_practice_stream(path: &Path, id_column: &str, columns: &[String], label: &str) -> Result<Replay> {
    let df = read(path)?;
    replay_of(&df, id_column, columns, label, path)
}

fn replay(df: &DataFrame, key: &AnswerKey, path: &Path) -> Result<Replay> {
    replay_of(df, &key.id_column, &key.columns, &key.label, path)
}

fn replay_of(df: &DataFrame, id_column: &str, columns: &[String], label: &str, path: &Path) -> Result<Replay> {
    let ints = |name: &str| -> Result<Vec<Option<i64>>> {
        Ok(df.column(name).and_then(|c| c.i64().cloned()).map_err(|e| frame_err(path, e))?.iter().collect())
    };
    let day = ints(layout::STREAM_DAY)?.into_iter().map(|d| d.unwrap_or(0) as u32).collect();
    let feedback_day = ints(layout::STREAM_FEEDBACK_DAY)?.into_iter().map(|d| d.map(|d| d as u32)).collect();
    let ids = ints(id_column)?.into_iter().map(|d| d.unwrap_or(0)).collect();
    let labels = ints(label)?.into_iter().map(|v| v == Some(1)).collect();
    Ok(Replay { rows: rows(df, columns, path)?, ids, day, feedback_day, labels })
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
                return Err(DatasetError::Frame {
                    path: path.into(),
                    message: format!("column {name} has unexpected type {other}"),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::Sealed;

    #[test]
    fn the_sealed_data_in_memory_equals_what_is_written_and_read_back() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../exercises/churn");
        let ex = crate::Exercise::load(&dir).expect("the churn exercise loads");
        let mut v = crate::generate(&ex, crate::SeedSource::given(3)).expect("seed 3 certifies");
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("v");
        crate::write_variant(&ex.spec, &mut v, &out).unwrap();
        let (disk, memory) = (Sealed::load(&out).unwrap(), Sealed::from_variant(&ex.spec, &v).unwrap());
        assert_eq!(disk.holdout_serving, memory.holdout_serving);
        assert_eq!(disk.holdout_offline, memory.holdout_offline);
        assert_eq!(disk.traffic, memory.traffic);
        assert_eq!(disk.latency, memory.latency);
        assert_eq!(disk.labels, memory.labels);
        let bits = |p: &[f64]| p.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&disk.true_probabilities), bits(&memory.true_probabilities));
        // The key on disk went through JSON text once (serde_json parses
        // floats to the nearest ulp, not always exactly): compare it with
        // the in-memory key after the same trip.
        let trip: crate::AnswerKey = serde_json::from_str(&serde_json::to_string(&memory.key).unwrap()).unwrap();
        assert_eq!(serde_json::to_value(&disk.key).unwrap(), serde_json::to_value(&trip).unwrap());
        assert!(!disk.holdout_serving.is_empty() && !disk.traffic.is_empty());
        // The kit's practice stream: the same replay, without the
        // generating model's probabilities.
        let practice = tmp.path().join("stream.parquet");
        let rows = super::write_practice_stream(&ex.spec, &v, &practice).unwrap().expect("churn has a replay");
        let k = &memory.key;
        let read = super::read_practice_stream(&practice, &k.id_column, &k.columns, &k.label).unwrap();
        assert_eq!(Some(&read), memory.replay.as_ref());
        assert_eq!(read.labels.len(), rows);
        let df = super::read(&practice).unwrap();
        assert!(df.column(super::layout::TRUE_PROBABILITY).is_err(), "no probabilities in a kit");
        let plain = ex.without_lifecycle().unwrap().unwrap();
        let mut pv = crate::generate(&plain, crate::SeedSource::given(3)).unwrap();
        assert_eq!(super::write_practice_stream(&plain.spec, &pv, &practice).unwrap(), None);
        crate::write_variant(&plain.spec, &mut pv, &tmp.path().join("v1")).unwrap();
        assert!(Sealed::load(&tmp.path().join("v1")).unwrap().replay.is_none());
    }
}
